// Parallel HDF5 reading/writing of distributed blocks: round trips over every grid and awkward block
// sizes, files written by a serial writer (chunked, compressed, integer, big-endian), names, and errors.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "prism/io/hdf5_matrix.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"

using namespace prism;
using prism::test::world;

namespace {

double value_at(gidx i, gidx j) {
    return std::floor(test::uniform_at(5, i, j) * 1e6) / 64.0;
}

test::SerialDataset make_dataset(const std::string &name, gidx m, gidx n) {
    test::SerialDataset d;
    d.name = name;
    d.rows = m;
    d.cols = n;
    for (gidx i = 0; i < m; ++i) {
        for (gidx j = 0; j < n; ++j) {
            d.row_major.push_back(value_at(i, j));
        }
    }
    return d;
}

// Every rank checks its own block against the formula; the verdict is agreed by the test main.
template <typename T> void expect_matches(const DistMatrix<T> &a, const std::string &what) {
    EXPECT_EQ(test::max_local_error(a, value_at), 0.0) << what;
}

std::string expect_collective_error(const std::function<void()> &f) {
    try {
        f();
    } catch (const Error &e) {
        EXPECT_TRUE(e.collective());
        return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
}

} // namespace

TEST(Hdf5Io, RoundTripOnEveryGridAndAwkwardBlocks) {
    const std::string file = test::temp_path("roundtrip");
    struct Case {
        gidx m, n, mb, nb;
    };
    const Case cases[] = {{37, 23, 4, 4}, {37, 23, 3, 5}, {37, 23, 64, 64}, {7, 10, 8, 8},
                          {1, 50, 2, 2},  {2, 1, 1, 1},   {0, 5, 4, 4}};
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            DistMatrix<double> a(grid, c.m, c.n, c.mb, c.nb);
            test::fill(a, value_at);
            {
                io::Writer w(world(), file, /*overwrite=*/true);
                w.write_matrix("/X", a);
                w.write_matrix("/nested/group/Xf", a);
                w.close();
            }
            // Read back with a different block size: the file holds the global matrix, not a layout.
            auto b = io::read_matrix<double>(grid, {file, "/X"}, c.nb + 1, c.mb + 2);
            EXPECT_EQ(b.rows(), c.m);
            EXPECT_EQ(b.cols(), c.n);
            expect_matches(b, "grid " + grid.shape_string());
            auto f = io::read_matrix<float>(grid, {file, "/nested/group/Xf"}, c.mb, c.nb);
            EXPECT_LT(test::max_local_error(f, value_at), 1e-7 * 1e6 / 64);
            // And serially, the way any other tool would read it.
            if (world().rank() == 0) {
                gidx rows = 0, cols = 0;
                const auto serial = test::read_serial_matrix(file, "/X", rows, cols);
                ASSERT_EQ(rows, c.m);
                ASSERT_EQ(cols, c.n);
                for (gidx i = 0; i < rows; ++i) {
                    for (gidx j = 0; j < cols; ++j) {
                        ASSERT_EQ(serial[i * cols + j], value_at(i, j));
                    }
                }
            }
        }
    }
    test::remove_file(world(), file);
}

TEST(Hdf5Io, ReadsChunkedCompressedIntegerAndBigEndianFiles) {
    const std::string file = test::temp_path("types");
    std::vector<test::SerialDataset> sets;
    auto add = [&](const std::string &name, hid_t type, std::vector<hsize_t> chunk, bool deflate) {
        auto d = make_dataset(name, 45, 31);
        d.file_type = type;
        d.chunk = std::move(chunk);
        d.deflate = deflate;
        if (H5Tget_class(type) == H5T_INTEGER) { // integer files hold integers
            for (auto &v : d.row_major) {
                v = std::floor(v / 1000);
            }
        }
        sets.push_back(std::move(d));
    };
    add("/f64", H5T_IEEE_F64LE, {}, false);
    add("/f64_deflate", H5T_IEEE_F64LE, {7, 31}, true);
    add("/f64_odd_chunks", H5T_IEEE_F64LE, {4, 5}, true);
    add("/f64_be", H5T_IEEE_F64BE, {}, false);
    add("/f32", H5T_IEEE_F32LE, {}, false);
    add("/i32_be", H5T_STD_I32BE, {8, 8}, true);
    add("/u16", H5T_STD_U16LE, {}, false);
    add("/i64", H5T_STD_I64LE, {}, false);
    test::write_serial_file(world(), file, sets);
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const auto &d : sets) {
            auto a = io::read_matrix<double>(grid, {file, d.name}, 4, 3);
            const double tol = d.name == "/f32" ? 1e-7 * 1e6 / 64 : 0.0;
            EXPECT_LE(test::max_local_error(a, [&](gidx i, gidx j) { return d.row_major[i * d.cols + j]; }),
                      tol)
                << d.name;
        }
    }
    test::remove_file(world(), file);
}

TEST(Hdf5Io, CompressedChunksReadInUnitsOfWholeChunksOnEveryGrid) {
    // Each chunk is read by one rank and redistributed: units of one chunk (more units than ranks, the last
    // round partial), of several chunks (whole chunk columns first), and one unit for the whole file (every
    // other rank idle), with chunks that do not divide the shape and blocks that straddle chunks.
    const std::string file = test::temp_path("units");
    std::vector<test::SerialDataset> sets;
    for (std::vector<hsize_t> chunk : {std::vector<hsize_t>{4, 5}, {7, 31}, {45, 1}, {1, 31}, {45, 31}}) {
        auto d = make_dataset("/c" + std::to_string(chunk[0]) + "x" + std::to_string(chunk[1]), 45, 31);
        d.chunk = chunk;
        d.deflate = true;
        sets.push_back(std::move(d));
    }
    test::write_serial_file(world(), file, sets);
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const auto &d : sets) {
            for (lidx unit : {lidx{1}, lidx{50}, lidx{300}, io::default_unit_elements}) {
                for (auto [mb, nb] : {std::pair<gidx, gidx>{4, 3}, {64, 64}, {1, 1}}) {
                    auto a = io::read_matrix<double>(grid, {file, d.name}, mb, nb, unit);
                    EXPECT_EQ(
                        test::max_local_error(a, [&](gidx i, gidx j) { return d.row_major[i * d.cols + j]; }),
                        0.0)
                        << d.name << " grid " << grid.shape_string() << " unit " << unit << " blocks " << mb
                        << "x" << nb;
                }
            }
            auto f = io::read_matrix<float>(grid, {file, d.name}, 4, 3, 1);
            EXPECT_EQ(test::max_local_error(
                          f, [&](gidx i, gidx j) { return double(float(d.row_major[i * d.cols + j])); }),
                      0.0)
                << d.name;
        }
    }
    test::remove_file(world(), file);
}

TEST(Hdf5Io, CorruptCompressedChunkIsOneErrorOnEveryRank) {
    // One chunk's deflate stream overwritten: the rank that reads it fails, every rank reports it, none
    // hangs.
    const std::string file = test::temp_path("badchunk");
    auto d = make_dataset("/X", 45, 31);
    d.chunk = {4, 31};
    d.deflate = true;
    test::write_serial_file(world(), file, {d});
    int corrupted = 0; // rank 0 overwrites chunk 5; every rank checks it did (no rank may stop alone)
    if (world().rank() == 0) {
        hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t ds = H5Dopen2(f, "/X", H5P_DEFAULT);
        hid_t space = H5Dget_space(ds);
        hsize_t offset[2] = {0, 0};
        unsigned mask = 0;
        haddr_t address = 0;
        hsize_t size = 0;
        const bool found = H5Dget_chunk_info(ds, space, 5, offset, &mask, &address, &size) >= 0 && size > 0;
        H5Sclose(space);
        H5Dclose(ds);
        H5Fclose(f);
        std::FILE *raw = found ? std::fopen(file.c_str(), "r+b") : nullptr;
        if (raw != nullptr) {
            const std::vector<unsigned char> garbage(static_cast<std::size_t>(size), 0xA5);
            corrupted = std::fseek(raw, static_cast<long>(address), SEEK_SET) == 0 &&
                        std::fwrite(garbage.data(), 1, garbage.size(), raw) == garbage.size();
            std::fclose(raw);
        }
    }
    mpi::bcast(world(), &corrupted, 1, 0);
    ASSERT_EQ(corrupted, 1);
    Grid grid(world(), choose_grid_shape(world().size()));
    for (lidx unit : {lidx{1}, io::default_unit_elements}) {
        EXPECT_EQ(expect_collective_error([&] {
                      io::read_matrix<double>(grid, {file, "/X"}, 4, 4, unit);
                  }),
                  "'" + file + "': reading dataset '/X' failed (corrupt or truncated data?)");
    }
    test::remove_file(world(), file);
}

TEST(Hdf5Io, ReadsColumnsThroughAMapAlignedToAnotherSampleOrder) {
    // A modality's 11 samples placed among 17 study samples, out of order, with gaps (-1: not measured).
    const std::string file = test::temp_path("colmap");
    auto d = make_dataset("/X", 9, 11);
    d.chunk = {4, 3};
    d.deflate = true;
    test::write_serial_file(world(), file, {d});
    const std::vector<gidx> map = {10, -1, 0, 1, 2, 9, -1, -1, 3, 8, 7, 4, -1, 5, 6, -1, -1};
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (gidx nb : {1, 2, 5, 64}) {
            // Units of 1 chunk (4 x 3), of 2 x 2 chunks, and the whole file (the default for so small a
            // file).
            for (lidx unit : {lidx{1}, lidx{40}, io::default_unit_elements}) {
                auto a = io::read_matrix_columns<double>(grid, {file, "/X"}, map, 4, nb, unit);
                EXPECT_EQ(a.cols(), 17);
                EXPECT_EQ(test::max_local_error(
                              a, [&](gidx i, gidx j) { return map[j] < 0 ? 0.0 : value_at(i, map[j]); }),
                          0.0)
                    << grid.shape_string() << " nb " << nb << " unit " << unit;
            }
        }
    }
    Grid grid(world(), choose_grid_shape(world().size()));
    EXPECT_EQ(expect_collective_error([&] {
                  io::read_matrix_columns<double>(grid, {file, "/X"}, {0, 11}, 4, 4);
              }),
              "'" + file + "': column map for '/X' names a column outside 0..10");
    EXPECT_EQ(io::list_group(world(), file, "/"), std::vector<std::string>{"X"});
    test::remove_file(world(), file);
}

TEST(Hdf5Io, ReadsNamesFixedAndVariableLength) {
    const std::string file = test::temp_path("names");
    test::write_serial_file(world(), file, {make_dataset("/X", 3, 2)});
    const std::vector<std::string> names = {"TP53", "gène-é", "", "a much longer name than the others"};
    test::write_serial_strings(world(), file, "/vl", names, true);
    test::write_serial_strings(world(), file, "/fixed", names, false);
    EXPECT_EQ(io::read_strings(world(), {file, "/vl"}), names);
    EXPECT_EQ(io::read_strings(world(), {file, "/fixed"}), names);
    // Our own writer (fixed-length UTF-8) round-trips too.
    const std::string out = test::temp_path("names_out");
    {
        io::Writer w(world(), out, true);
        w.write_strings("/row_names", names);
        w.write_vector("/history/relative_error", {0.5, 0.25});
        w.write_attribute("algorithm", std::string("hals"));
        w.write_attribute("rank", std::int64_t{3});
        w.close();
    }
    EXPECT_EQ(io::read_strings(world(), {out, "/row_names"}), names);
    EXPECT_TRUE(io::dataset_exists(world(), out, "/history/relative_error"));
    EXPECT_FALSE(io::dataset_exists(world(), out, "/history/nothing"));
    test::remove_file(world(), file);
    test::remove_file(world(), out);
}

TEST(Hdf5Io, BadInputIsOneClearErrorOnEveryRank) {
    const std::string file = test::temp_path("errors");
    test::write_serial_file(world(), file, {make_dataset("/X", 3, 2)});
    test::write_serial_strings(world(), file, "/names", {"a", "b"}, true);
    {
        if (world().rank() == 0) { // a 1-D and a 3-D numeric dataset
            hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
            hsize_t d1 = 4, d3[3] = {2, 2, 2};
            hid_t s1 = H5Screate_simple(1, &d1, nullptr), s3 = H5Screate_simple(3, d3, nullptr);
            H5Dclose(H5Dcreate2(f, "/v", H5T_IEEE_F64LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
            H5Dclose(H5Dcreate2(f, "/cube", H5T_IEEE_F64LE, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
            H5Sclose(s1);
            H5Sclose(s3);
            H5Fclose(f);
        }
        MPI_Barrier(world().get());
    }
    Grid grid(world(), choose_grid_shape(world().size()));
    auto read = [&](const std::string &f, const std::string &d) {
        return [&grid, f, d] { io::read_matrix<double>(grid, {f, d}, 4, 4); };
    };
    EXPECT_EQ(expect_collective_error(read(file, "/Y")),
              "'" + file + "': no dataset '/Y' (found: /X, /cube, /names, /v)");
    EXPECT_EQ(expect_collective_error(read(file, "/group/X")), "'" + file + "': no dataset '/group/X'");
    EXPECT_EQ(expect_collective_error(read("no_such_file.h5", "/X")), "'no_such_file.h5': no such file");
    EXPECT_EQ(expect_collective_error(read(file, "/v")),
              "'" + file + "': dataset '/v' has 1 dimensions; expected a 2-D matrix (features x samples)");
    EXPECT_EQ(expect_collective_error(read(file, "/cube")),
              "'" + file + "': dataset '/cube' has 3 dimensions; expected a 2-D matrix (features x samples)");
    EXPECT_NE(expect_collective_error(read(file, "/names")).find("has 1 dimensions"), std::string::npos);
    // A file that is not HDF5 (truncated copy of a real one).
    const std::string corrupt = test::temp_path("corrupt");
    if (world().rank() == 0) {
        std::filesystem::copy_file(file, corrupt, std::filesystem::copy_options::overwrite_existing);
        std::filesystem::resize_file(corrupt, 100);
    }
    MPI_Barrier(world().get());
    EXPECT_EQ(expect_collective_error(read(corrupt, "/X")),
              "'" + corrupt + "': not a readable HDF5 file (corrupt, truncated, or another format)");
    // The writer never overwrites unless told to.
    EXPECT_EQ(expect_collective_error([&] { io::Writer w(world(), file); }),
              "'" + file + "': already exists (refusing to overwrite it)");
    EXPECT_NE(
        expect_collective_error([&] { io::Writer w(world(), "no/such/dir/out.h5"); }).find("cannot create"),
        std::string::npos);
    test::remove_file(world(), corrupt);
    test::remove_file(world(), file);
}

TEST(Hdf5Io, RealBundledDataMatchesASerialRead) {
    const std::string file = std::string(PRISM_DATA_DIR) + "/golub_esgolub.h5";
    gidx rows = 0, cols = 0;
    const auto serial = test::read_serial_matrix(file, "/X", rows, cols); // every rank: small file
    ASSERT_EQ(rows, 5000);
    ASSERT_EQ(cols, 38);
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        auto a = io::read_matrix<double>(grid, io::parse_dataset_path(file), 64, 8);
        EXPECT_EQ(test::max_local_error(a, [&](gidx i, gidx j) { return serial[i * cols + j]; }), 0.0);
    }
    const auto names = io::read_strings(world(), {file, "/col_names"});
    ASSERT_EQ(names.size(), 38u);
    EXPECT_FALSE(names[0].empty());
}

TEST(Hdf5Io, ParsesFileColonDataset) {
    EXPECT_EQ(io::parse_dataset_path("a.h5").dataset, "/X");
    EXPECT_EQ(io::parse_dataset_path("a.h5:/RNA/X").file, "a.h5");
    EXPECT_EQ(io::parse_dataset_path("a.h5:/RNA/X").dataset, "/RNA/X");
    EXPECT_EQ(io::parse_dataset_path("a.h5:counts").dataset, "/counts");
    EXPECT_EQ(io::parse_dataset_path("a.h5:").file, "a.h5:");
}

TEST(Hdf5Io, ReadsStringListAttributesAndGroupMembers) {
    const std::string file = std::string(PRISM_DATA_DIR) + "/miniacc_multiomics.h5";
    // h5py wrote this attribute as a variable-length UTF-8 string array.
    EXPECT_EQ(io::read_string_attribute(world(), file, "/", "modalities"),
              (std::vector<std::string>{"RNASeq2GeneNorm", "miRNASeqGene", "Mutations", "gistict"}));
    EXPECT_TRUE(io::read_string_attribute(world(), file, "/", "no_such_attribute").empty());
    EXPECT_EQ(io::list_group(world(), file, "/Mutations"),
              (std::vector<std::string>{"X", "original_col_names", "row_names"}));
    const std::string missing = expect_collective_error([&] { io::list_group(world(), file, "/Proteins"); });
    EXPECT_NE(missing.find("no group '/Proteins'"), std::string::npos) << missing;
}
