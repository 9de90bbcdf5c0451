// Sparse readers: HDF5 CSR/CSC groups (any orientation, index and value types, chunked rounds), AnnData and
// 10x layouts, MatrixMarket, dense transposed reads, relabelling maps; every local entry compared with a
// serial reference at every grid shape, and every malformed field refused with one clear collective error.

#include <gtest/gtest.h>

#include <mpi.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>

#include "prism/factor_relabel.hpp"
#include "prism/io/compressed_reader.hpp"
#include "prism/io/input_source.hpp"
#include "prism/io/matrix_market.hpp"
#include "prism/io/sparse_assembly.hpp"
#include "prism/io/transposed_reader.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/permutation.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"

using namespace prism;
using prism::test::world;

namespace {

constexpr gidx M = 37, N = 23;

// ~25 % non-zero, row 5 and column 7 empty, small integers so every type holds them exactly.
double value_at(gidx i, gidx j) {
    if (i == 5 || j == 7) {
        return 0.0;
    }
    const double u = test::uniform_at(11, i, j);
    return u < 0.25 ? std::floor(u * 400.0) + 1.0 : 0.0;
}

// Rank-0-only serial HDF5 writing of the pieces of a sparse file.
struct SerialFile {
    hid_t id = -1;
    explicit SerialFile(const std::string &file) {
        if (world().rank() == 0) {
            id = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        }
    }
    ~SerialFile() {
        if (id >= 0) {
            H5Fclose(id);
        }
        MPI_Barrier(world().get());
    }
    void group(const std::string &name) {
        if (id >= 0) {
            H5Gclose(H5Gcreate2(id, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        }
    }
    // A 1-D dataset of `file_type` from doubles (values or indices). Chunked, as anndata writes them.
    void vector(const std::string &name, const std::vector<double> &v, hid_t file_type) {
        if (id < 0) {
            return;
        }
        const hsize_t n = v.size(), chunk = 7, max = H5S_UNLIMITED;
        hid_t space = H5Screate_simple(1, &n, &max);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 1, &chunk);
        hid_t d = H5Dcreate2(id, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (n > 0) {
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
        }
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(space);
    }
    void strings(const std::string &name, const std::vector<std::string> &v) {
        if (id < 0) {
            return;
        }
        const hsize_t n = v.size();
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, H5T_VARIABLE);
        H5Tset_cset(type, H5T_CSET_UTF8);
        std::vector<const char *> ptrs;
        for (const auto &s : v) {
            ptrs.push_back(s.c_str());
        }
        hid_t space = H5Screate_simple(1, &n, nullptr);
        hid_t d = H5Dcreate2(id, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
        H5Dclose(d);
        H5Sclose(space);
        H5Tclose(type);
    }
    void attribute(const std::string &object, const std::string &key, const std::string &value) {
        if (id < 0) {
            return;
        }
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, H5T_VARIABLE);
        H5Tset_cset(type, H5T_CSET_UTF8);
        hid_t space = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate_by_name(id, object.c_str(), key.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT);
        const char *p = value.c_str();
        H5Awrite(a, type, &p);
        H5Aclose(a);
        H5Sclose(space);
        H5Tclose(type);
    }
    void shape_attribute(const std::string &object, gidx r, gidx c) {
        if (id < 0) {
            return;
        }
        const hsize_t two = 2;
        const std::int64_t v[2] = {r, c};
        hid_t space = H5Screate_simple(1, &two, nullptr);
        hid_t a = H5Acreate_by_name(id, object.c_str(), "shape", H5T_STD_I64LE, space, H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT64, v);
        H5Aclose(a);
        H5Sclose(space);
    }
};

// The compressed arrays of the r x c matrix f, by rows (CSR) or by columns (CSC).
struct Compressed {
    std::vector<double> data, indices, indptr;
};
Compressed compress(gidx r, gidx c, const std::function<double(gidx, gidx)> &f, bool by_rows) {
    Compressed out;
    const gidx major = by_rows ? r : c, minor = by_rows ? c : r;
    out.indptr.push_back(0);
    for (gidx a = 0; a < major; ++a) {
        for (gidx b = 0; b < minor; ++b) {
            const double v = by_rows ? f(a, b) : f(b, a);
            if (v != 0) {
                out.data.push_back(v);
                out.indices.push_back(static_cast<double>(b));
            }
        }
        out.indptr.push_back(static_cast<double>(out.data.size()));
    }
    return out;
}

struct GroupSpec {
    std::string encoding = "csr_matrix"; ///< "" = no attribute
    hid_t data_type = H5T_IEEE_F64LE, index_type = H5T_STD_I32LE, indptr_type = H5T_STD_I64LE;
    bool shape_as_dataset = false;
};

void write_group(
    SerialFile &f, const std::string &group, gidx r, gidx c, const Compressed &a, const GroupSpec &s) {
    f.group(group);
    if (!s.encoding.empty()) {
        f.attribute(group, "encoding-type", s.encoding);
    }
    f.vector(group + "/data", a.data, s.data_type);
    f.vector(group + "/indices", a.indices, s.index_type);
    f.vector(group + "/indptr", a.indptr, s.indptr_type);
    if (s.shape_as_dataset) {
        f.vector(group + "/shape", {static_cast<double>(r), static_cast<double>(c)}, H5T_STD_I32LE);
    } else {
        f.shape_attribute(group, r, c);
    }
}

// Every local entry of `a` equals f (stored entries and the zeros between them), and the stored count
// equals the non-zero count of f on this rank's block.
template <typename T>
void expect_equals(const SparseDistMatrix<T> &a,
                   const std::function<double(gidx, gidx)> &f,
                   const std::string &what) {
    const CsrBlock<T> &b = a.block();
    gidx mismatches = 0, expected_nnz = 0;
    for (lidx i = 0; i < a.local_rows(); ++i) {
        std::map<lidx, double> stored;
        for (auto p = b.row_ptr[static_cast<std::size_t>(i)]; p < b.row_ptr[static_cast<std::size_t>(i + 1)];
             ++p) {
            stored[b.col[static_cast<std::size_t>(p)]] =
                static_cast<double>(b.values[static_cast<std::size_t>(p)]);
        }
        for (lidx j = 0; j < a.local_cols(); ++j) {
            const double want = f(a.global_row(i), a.global_col(j));
            expected_nnz += want != 0;
            const auto it = stored.find(j);
            mismatches += (it == stored.end() ? 0.0 : it->second) != want;
        }
    }
    EXPECT_EQ(mismatches, 0) << what;
    EXPECT_EQ(a.local_nnz(), expected_nnz) << what;
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

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

} // namespace

TEST(SparseIo, CsrAndCscGroupsInBothOrientationsEqualTheSerialReferenceOnEveryGrid) {
    const std::string file = test::temp_path("sparse_groups.h5");
    const auto transposed = [](gidx i, gidx j) { return value_at(j, i); };
    {
        SerialFile f(file);
        write_group(f, "/csr", M, N, compress(M, N, value_at, true), {});
        GroupSpec csc;
        csc.encoding = "csc_matrix";
        csc.data_type = H5T_STD_I32BE; // integer counts, big-endian, 64-bit indices, 32-bit indptr
        csc.index_type = H5T_STD_I64LE;
        csc.indptr_type = H5T_STD_I32LE;
        write_group(f, "/csc", M, N, compress(M, N, value_at, false), csc);
        GroupSpec t;
        t.data_type = H5T_IEEE_F32BE;
        t.shape_as_dataset = true;
        write_group(f, "/csr_t", N, M, compress(N, M, transposed, true), t); // cells x genes
        t.encoding = "csc_matrix";
        write_group(f, "/csc_t", N, M, compress(N, M, transposed, false), t);
    }
    for (const GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const gidx round : {lidx{3}, lidx{1} << 22}) {
            const std::string where = grid.shape_string() + " round " + std::to_string(round);
            expect_equals(io::read_compressed<double>(grid, {file, "/csr", true, M, N}, {}, 4, 3, round),
                          value_at, "csr " + where);
            expect_equals(io::read_compressed<float>(grid, {file, "/csc", false, M, N}, {}, 5, 2, round),
                          value_at, "csc " + where);
            io::Orientation t;
            t.transpose = true;
            expect_equals(io::read_compressed<double>(grid, {file, "/csr_t", true, N, M}, t, 4, 4, round),
                          value_at, "csr transposed " + where);
            expect_equals(io::read_compressed<double>(grid, {file, "/csc_t", false, N, M}, t, 3, 5, round),
                          value_at, "csc transposed " + where);
        }
        // Detection from metadata alone: encoding-type attribute, shape attribute or dataset.
        const io::InputSource src = io::describe_input(world(), file + ":/csc");
        EXPECT_TRUE(src.sparse);
        EXPECT_FALSE(src.compressed.by_rows);
        EXPECT_EQ(src.rows, M);
        EXPECT_EQ(src.cols, N);
        expect_equals(io::read_sparse_source<double>(grid, src, 4, 4), value_at,
                      "csc source " + grid.shape_string());
    }
    test::remove_file(world(), file);
}

TEST(SparseIo, EmptyLocalBlocksAllZeroMatricesAndMoreRanksThanRows) {
    const std::string file = test::temp_path("sparse_small.h5");
    const auto tiny = [](gidx i, gidx j) { return i == 1 && j == 0 ? 3.0 : 0.0; };
    const auto zero = [](gidx, gidx) { return 0.0; };
    {
        SerialFile f(file);
        write_group(f, "/tiny", 2, 3, compress(2, 3, tiny, true), {});
        write_group(f, "/zero", 10, 8, compress(10, 8, zero, true), {});
        write_group(f, "/none", 0, 4, compress(0, 4, zero, true), {});
    }
    for (const GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        expect_equals(io::read_compressed<double>(grid, {file, "/tiny", true, 2, 3}, {}, 1, 1), tiny, "tiny");
        const auto z = io::read_compressed<double>(grid, {file, "/zero", true, 10, 8}, {}, 4, 4);
        EXPECT_EQ(mpi::allreduce_value(world(), z.local_nnz(), mpi::Op::sum), 0);
        const auto none = io::read_compressed<double>(grid, {file, "/none", true, 0, 4}, {}, 4, 4);
        EXPECT_EQ(none.rows(), 0);
    }
    test::remove_file(world(), file);
}

TEST(SparseIo, RelabellingMapsPlaceRowsAndColumnsAndUnsortedIndicesAreSorted) {
    const std::string file = test::temp_path("sparse_maps.h5");
    Compressed a = compress(M, N, value_at, true);
    // Reverse the entries within every row: unsorted, as scipy allows (AnnData does not require sorted).
    Compressed unsorted = a;
    for (gidx i = 0; i < M; ++i) {
        const auto b = static_cast<std::ptrdiff_t>(a.indptr[static_cast<std::size_t>(i)]);
        const auto e = static_cast<std::ptrdiff_t>(a.indptr[static_cast<std::size_t>(i + 1)]);
        std::reverse(unsorted.data.begin() + b, unsorted.data.begin() + e);
        std::reverse(unsorted.indices.begin() + b, unsorted.indices.begin() + e);
    }
    {
        SerialFile f(file);
        write_group(f, "/unsorted", M, N, unsorted, {});
    }
    // Rows reversed; columns placed among 30 with a gap (as a modality's samples among all samples).
    io::Orientation o;
    for (gidx i = 0; i < M; ++i) {
        o.row_map.push_back(M - 1 - i);
    }
    for (gidx j = 0; j < N; ++j) {
        o.col_map.push_back(j < 10 ? j : j + 7);
    }
    o.cols = N + 7;
    const auto mapped = [](gidx i, gidx j) {
        if (j >= 10 && j < 17) {
            return 0.0;
        }
        return value_at(M - 1 - i, j < 10 ? j : j - 7);
    };
    for (const GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        expect_equals(io::read_compressed<double>(grid, {file, "/unsorted", true, M, N}, {}, 4, 3, 5),
                      value_at, "unsorted");
        expect_equals(io::read_compressed<double>(grid, {file, "/unsorted", true, M, N}, o, 4, 3, 5), mapped,
                      "mapped");
        io::CompressedGroup strict{file, "/unsorted", true, M, N, true};
        EXPECT_TRUE(
            contains(expect_collective_error([&] { io::read_compressed<double>(grid, strict, {}, 4, 4); }),
                     "are not strictly increasing within row"));
    }
    test::remove_file(world(), file);
}

TEST(SparseIo, MalformedGroupsAreOneClearErrorNamingFileAndField) {
    const std::string file = test::temp_path("sparse_bad.h5");
    const Compressed good = compress(M, N, value_at, true);
    const auto variant = [&](const std::function<void(Compressed &)> &edit) {
        Compressed c = good;
        edit(c);
        return c;
    };
    {
        SerialFile f(file);
        write_group(f, "/short_indptr", M, N, variant([](Compressed &c) { c.indptr.pop_back(); }), {});
        write_group(f, "/decreasing", M, N,
                    variant([](Compressed &c) { std::swap(c.indptr[20], c.indptr[21]); }), {});
        write_group(f, "/start", M, N, variant([](Compressed &c) { c.indptr[0] = 1; }), {});
        write_group(f, "/end", M, N, variant([](Compressed &c) { c.indptr.back() -= 1; }), {});
        write_group(f, "/end_beyond", M, N, variant([](Compressed &c) { c.indptr.back() += 1; }), {});
        write_group(f, "/range", M, N, variant([](Compressed &c) { c.indices[c.indices.size() - 2] = N; }),
                    {});
        write_group(f, "/negative", M, N, variant([](Compressed &c) { c.indices[3] = -1; }), {});
        write_group(f, "/lengths", M, N, variant([](Compressed &c) { c.indices.pop_back(); }), {});
        write_group(f, "/duplicate", M, N, variant([](Compressed &c) {
                        // row 0's second entry gets the first entry's column
                        c.indices[1] = c.indices[0];
                    }),
                    {});
        write_group(f, "/shape", M + 1, N, good, {});
        GroupSpec wrong;
        wrong.encoding = "dense_matrix";
        write_group(f, "/encoding", M, N, good, wrong);
        GroupSpec none;
        none.encoding = "";
        write_group(f, "/no_encoding", M, N, good, none);
        f.group("/no_data");
        f.attribute("/no_data", "encoding-type", "csr_matrix");
        f.shape_attribute("/no_data", M, N);
        f.group("/no_shape");
        f.attribute("/no_shape", "encoding-type", "csr_matrix");
        f.vector("/no_shape/data", good.data, H5T_IEEE_F64LE);
        f.group("/strings");
        f.attribute("/strings", "encoding-type", "csr_matrix");
        f.shape_attribute("/strings", M, N);
        f.strings("/strings/data", {"a"});
        f.vector("/strings/indices", {0}, H5T_STD_I32LE);
        f.vector("/strings/indptr", std::vector<double>(M + 1, 0.0), H5T_STD_I32LE);
        f.group("/float_indices");
        f.attribute("/float_indices", "encoding-type", "csr_matrix");
        f.shape_attribute("/float_indices", M, N);
        f.vector("/float_indices/data", good.data, H5T_IEEE_F64LE);
        f.vector("/float_indices/indices", good.indices, H5T_IEEE_F64LE);
        f.vector("/float_indices/indptr", good.indptr, H5T_STD_I64LE);
    }
    Grid grid(world(), choose_grid_shape(world().size(), M, N));
    const auto read = [&](const std::string &group) {
        return expect_collective_error([&] {
            const io::InputSource src = io::describe_input(world(), file + ":" + group);
            io::read_sparse_source<double>(grid, src, 4, 4);
        });
    };
    const std::string q = "'" + file + "':";
    EXPECT_TRUE(contains(read("/short_indptr"), q + "/short_indptr/indptr has 37 entries"))
        << read("/short_indptr");
    EXPECT_TRUE(contains(read("/decreasing"), q + "/decreasing/indptr is not monotone"))
        << read("/decreasing");
    EXPECT_TRUE(contains(read("/start"), q + "/start/indptr[0] = 1")) << read("/start");
    const std::string nnz = std::to_string(good.data.size());
    EXPECT_TRUE(contains(read("/end"), q + "/end/indptr must end at len(data) (= " + nnz + "), but indptr[" +
                                           std::to_string(M) + "] = " + std::to_string(good.data.size() - 1)))
        << read("/end");
    // The usual off-by-one: one past len(data) is named as that, not as "not monotone".
    EXPECT_TRUE(contains(read("/end_beyond"), q + "/end_beyond/indptr must end at len(data) (= " + nnz +
                                                  "), but indptr[" + std::to_string(M) +
                                                  "] = " + std::to_string(good.data.size() + 1)))
        << read("/end_beyond");
    EXPECT_TRUE(contains(read("/range"), q + "/range/indices[")) << read("/range");
    EXPECT_TRUE(contains(read("/range"), "is outside [0, 23)"));
    EXPECT_TRUE(contains(read("/negative"), q + "/negative/indices[3] = -1 is outside")) << read("/negative");
    EXPECT_TRUE(contains(read("/lengths"), "/lengths/indices has")) << read("/lengths");
    EXPECT_TRUE(contains(read("/duplicate"), "is stored twice")) << read("/duplicate");
    EXPECT_TRUE(contains(read("/duplicate"), "(row 0, column")) << read("/duplicate");
    EXPECT_TRUE(contains(read("/shape"), "shape mismatch")) << read("/shape");
    EXPECT_TRUE(contains(read("/encoding"), "encoding-type is 'dense_matrix'")) << read("/encoding");
    EXPECT_TRUE(contains(read("/no_encoding"), "not a recognised sparse matrix")) << read("/no_encoding");
    EXPECT_TRUE(contains(read("/no_data"), "has no 'data' dataset")) << read("/no_data");
    EXPECT_TRUE(contains(read("/no_shape"), "no valid 'shape'")) << read("/no_shape");
    EXPECT_TRUE(contains(read("/strings"), "/strings/data has a non-numeric type")) << read("/strings");
    EXPECT_TRUE(contains(read("/float_indices"), "/float_indices/indices has a non-integer type"))
        << read("/float_indices");
    EXPECT_TRUE(contains(read("/missing"), "no dataset '/missing' (nor a sparse matrix group"))
        << read("/missing");
    test::remove_file(world(), file);
}

TEST(SparseIo, AnnDataAnd10xLayoutsAreDetectedOrientedAndNamed) {
    const std::string h5ad = test::temp_path("layout.h5ad"), tenx = test::temp_path("layout_10x.h5");
    const auto transposed = [](gidx i, gidx j) { return value_at(j, i); };
    std::vector<std::string> genes, cells;
    for (gidx i = 0; i < M; ++i) {
        genes.push_back("gene" + std::to_string(i));
    }
    for (gidx j = 0; j < N; ++j) {
        cells.push_back("cell-" + std::to_string(j));
    }
    {
        SerialFile f(h5ad); // AnnData: X cells x genes, CSR; obs/var indexes named by _index
        f.attribute("/", "encoding-type", "anndata");
        write_group(f, "/X", N, M, compress(N, M, transposed, true), {});
        f.group("/obs");
        f.attribute("/obs", "_index", "cell_id");
        f.strings("/obs/cell_id", cells);
        f.group("/var");
        f.attribute("/var", "_index", "_index");
        f.strings("/var/_index", genes);
        // A dense AnnData in a MuData-like sub-group, and a broken one whose obs has too few names.
        f.group("/mod");
        f.group("/mod/dense");
        std::vector<double> rows;
        f.group("/mod/dense/obs");
        f.strings("/mod/dense/obs/_index", cells);
        f.group("/mod/dense/var");
        f.strings("/mod/dense/var/_index", genes);
        f.group("/mod/bad");
        write_group(f, "/mod/bad/X", N, M, compress(N, M, transposed, true), {});
        f.group("/mod/bad/obs");
        f.strings("/mod/bad/obs/_index", {"a", "b"});
        f.group("/mod/bad/var");
    }
    if (world().rank() == 0) { // the dense X, cells x genes
        test::SerialDataset d;
        d.name = "/mod/dense/X";
        d.rows = N;
        d.cols = M;
        for (gidx j = 0; j < N; ++j) {
            for (gidx i = 0; i < M; ++i) {
                d.row_major.push_back(value_at(i, j));
            }
        }
        hid_t fid = H5Fopen(h5ad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        const hsize_t dims[2] = {static_cast<hsize_t>(N), static_cast<hsize_t>(M)};
        hid_t space = H5Screate_simple(2, dims, nullptr);
        hid_t ds =
            H5Dcreate2(fid, d.name.c_str(), H5T_STD_U16LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        std::vector<double> v = d.row_major;
        for (double &x : v) {
            x = std::round(x * 2); // u16 holds 2 * value exactly
        }
        H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
        H5Dclose(ds);
        H5Sclose(space);
        H5Fclose(fid);
    }
    MPI_Barrier(world().get());
    {
        SerialFile f(tenx); // 10x: /matrix CSC genes x cells, shape dataset, barcodes, features/name|id
        GroupSpec s;
        s.encoding = "";
        s.shape_as_dataset = true;
        s.data_type = H5T_STD_I32LE;
        write_group(f, "/matrix", M, N, compress(M, N, value_at, false), s);
        f.strings("/matrix/barcodes", cells);
        f.group("/matrix/features");
        f.strings("/matrix/features/name", genes);
        f.strings("/matrix/features/id", genes);
    }
    for (const GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const io::InputSource a = io::describe_input(world(), h5ad);
        EXPECT_EQ(a.format, io::InputFormat::anndata);
        EXPECT_TRUE(a.transpose);
        EXPECT_EQ(a.rows, M);
        EXPECT_EQ(a.cols, N);
        EXPECT_EQ(a.row_names, "/var/_index");
        EXPECT_EQ(a.col_names, "/obs/cell_id");
        EXPECT_TRUE(contains(a.orientation, "factorizing its transpose, genes x cells (37 x 23)"))
            << a.orientation;
        expect_equals(io::read_sparse_source<double>(grid, a, 4, 3), value_at, "h5ad " + grid.shape_string());
        EXPECT_EQ(io::read_unique_names(world(), h5ad, a.col_names, N), cells);
        const io::InputSource named_x = io::describe_input(world(), h5ad + ":/X"); // X named: still AnnData
        EXPECT_EQ(named_x.format, io::InputFormat::anndata);
        EXPECT_TRUE(named_x.transpose);
        EXPECT_EQ(named_x.rows, M);

        const io::InputSource d = io::describe_input(world(), h5ad + ":/mod/dense");
        EXPECT_FALSE(d.sparse);
        EXPECT_TRUE(d.transpose);
        const auto doubled = [](gidx i, gidx j) { return 2 * value_at(i, j); };
        EXPECT_EQ(test::max_local_error(io::read_dense_source<double>(grid, d, 4, 3), doubled), 0.0);
        // Columns placed among 30 (a modality's samples among all): result column j is file row map[j].
        std::vector<gidx> map(30, -1);
        for (gidx j = 0; j < N; ++j) {
            map[static_cast<std::size_t>(29 - j)] = j;
        }
        const auto placed = [&](gidx i, gidx j) { return map[j] < 0 ? 0.0 : 2 * value_at(i, map[j]); };
        EXPECT_EQ(test::max_local_error(io::read_dense_source<double>(grid, d, 3, 2, map), placed), 0.0);

        const io::InputSource t = io::describe_input(world(), tenx);
        EXPECT_EQ(t.format, io::InputFormat::tenx);
        EXPECT_FALSE(t.transpose);
        EXPECT_EQ(t.row_names, "/matrix/features/name");
        EXPECT_EQ(t.col_names, "/matrix/barcodes");
        expect_equals(io::read_sparse_source<float>(grid, t, 4, 4), value_at, "10x " + grid.shape_string());
    }
    EXPECT_TRUE(
        contains(expect_collective_error([&] { io::describe_input(world(), h5ad + ":/mod/bad"); }),
                 "/mod/bad/obs/_index has 2 names but X is 23 x 37 (n_obs x n_vars): shape mismatch"));
    test::remove_file(world(), h5ad);
    test::remove_file(world(), tenx);
}

TEST(SparseIo, DuplicateNamesAreRefusedWithTheNames) {
    const std::string file = test::temp_path("names.h5");
    {
        SerialFile f(file);
        f.strings("/names", {"s1", "s2", "s2", "s3", "s1"});
    }
    const std::string e = expect_collective_error([&] { io::read_unique_names(world(), file, "/names", 5); });
    EXPECT_TRUE(contains(e, "/names has 2 duplicated names: 's2', 's1'")) << e;
    EXPECT_TRUE(contains(expect_collective_error([&] { io::read_unique_names(world(), file, "/names", 4); }),
                         "has 5 names, expected 4"));
    test::remove_file(world(), file);
}

namespace {
void write_text(const std::string &file, const std::string &text) {
    if (world().rank() == 0) {
        std::ofstream(file) << text;
    }
    MPI_Barrier(world().get());
}
} // namespace

TEST(SparseIo, MatrixMarketGeneralAndSymmetricEqualTheReference) {
    const std::string general = test::temp_path("general.mtx"), symmetric = test::temp_path("symmetric.mtx");
    std::string text = "%%MatrixMarket matrix coordinate real general\n% a comment\n" + std::to_string(M) +
                       " " + std::to_string(N) + " ";
    std::string body;
    int count = 0;
    for (gidx j = N - 1; j >= 0; --j) { // any order
        for (gidx i = 0; i < M; ++i) {
            if (value_at(i, j) != 0) {
                body += std::to_string(i + 1) + " " + std::to_string(j + 1) + " " +
                        std::to_string(value_at(i, j)) + "\n";
                ++count;
            }
        }
    }
    write_text(general, text + std::to_string(count) + "\n" + body);
    const auto sym = [](gidx i, gidx j) {
        return i == j ? 1.0 + i : (std::max(i, j) - std::min(i, j) == 3 ? 0.5 : 0.0);
    };
    std::string lower;
    count = 0;
    for (gidx i = 0; i < 11; ++i) {
        for (gidx j = 0; j <= i; ++j) {
            if (sym(i, j) != 0) {
                lower += std::to_string(i + 1) + " " + std::to_string(j + 1) + " " +
                         std::to_string(sym(i, j)) + "\n";
                ++count;
            }
        }
    }
    write_text(symmetric, "%%MatrixMarket matrix coordinate integer symmetric\n11 11 " +
                              std::to_string(count) + "\n" + lower);
    for (const GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const io::InputSource src = io::describe_input(world(), general);
        EXPECT_EQ(src.format, io::InputFormat::matrix_market);
        EXPECT_EQ(src.rows, M);
        expect_equals(io::read_sparse_source<double>(grid, src, 4, 3), value_at,
                      "mtx " + grid.shape_string());
        expect_equals(io::read_matrix_market<double>(grid, symmetric, 2, 3), sym, "symmetric mtx");
    }
    test::remove_file(world(), general);
    test::remove_file(world(), symmetric);
}

TEST(SparseIo, MalformedMatrixMarketIsOneClearErrorNamingTheLine) {
    const std::string file = test::temp_path("bad.mtx");
    Grid grid(world(), choose_grid_shape(world().size(), 4, 4));
    const auto error_for = [&](const std::string &text) {
        write_text(file, text);
        return expect_collective_error([&] { io::read_matrix_market<double>(grid, file, 2, 2); });
    };
    const std::string h = "%%MatrixMarket matrix coordinate real general\n";
    EXPECT_TRUE(contains(error_for("hello\n"), "line 1 is not a MatrixMarket banner"));
    EXPECT_TRUE(contains(error_for("%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n"),
                         "format 'array' is not supported"));
    EXPECT_TRUE(contains(error_for("%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1 0\n"),
                         "field 'complex' is not supported"));
    EXPECT_TRUE(contains(error_for(h + "4 4\n"), "line 2: expected the size line"));
    EXPECT_TRUE(
        contains(error_for(h + "4 4 2\n1 1 1.5\n5 1 2\n"), "line 4: entry (5, 1) lies outside the 4 x 4"));
    EXPECT_TRUE(contains(error_for(h + "4 4 2\n1 1 1.5\n0 1 2\n"), "line 4: entry (0, 1) lies outside"));
    EXPECT_TRUE(contains(error_for(h + "4 4 3\n1 1 1.5\n2 1 2\n"), "ends after 2 of the 3 entries"));
    EXPECT_TRUE(contains(error_for(h + "4 4 1\n1 1 1.5\n2 1 2\n"), "line 4: more entries than the 1"));
    EXPECT_TRUE(contains(error_for(h + "4 4 1\n1 1 abc\n"), "line 3: expected a value"));
    // Duplicates are named as the file names them: 1-based, with both lines.
    EXPECT_TRUE(contains(error_for(h + "4 4 3\n1 2 1\n3 3 1\n1 2 3\n"),
                         "'" + file + "': lines 3 and 5 both give the entry (1, 2) (duplicate entry"));
    EXPECT_TRUE(contains(error_for("%%MatrixMarket matrix coordinate real symmetric\n4 4 2\n2 1 1\n1 2 3\n"),
                         "lines 3 and 4 both give the entry (2, 1) of the symmetric matrix"));
    EXPECT_TRUE(
        contains(error_for("%%MatrixMarket matrix coordinate real symmetric\n3 4 0\n"), "must be square"));
    // Negative and NaN values are kept for validation to report (never silently dropped).
    write_text(file, h + "4 4 2\n1 1 -1.5\n2 2 nan\n");
    const auto a = io::read_matrix_market<double>(grid, file, 2, 2);
    EXPECT_EQ(mpi::allreduce_value(world(), a.local_nnz(), mpi::Op::sum), 2);
    test::remove_file(world(), file);
}

TEST(SparseIo, RealMicrobiomeCountsThroughCsrEqualTheDenseRead) {
    // The bundled lung microbiome counts (51891 x 78, 2.3 % non-zero), converted here to CSR and CSC.
    const std::string dense = std::string(PRISM_SHARED_DATA_DIR) + "/lung_microbiome_counts.h5";
    const std::string file = test::temp_path("lung_csr.h5");
    gidx m = 0, n = 0;
    std::vector<double> x;
    if (world().rank() == 0) {
        x = test::read_serial_matrix(dense, "/X", m, n);
    }
    mpi::bcast(world(), &m, 1, 0);
    mpi::bcast(world(), &n, 1, 0);
    {
        SerialFile f(file);
        if (world().rank() == 0) {
            const auto at = [&](gidx i, gidx j) { return x[static_cast<std::size_t>(i * n + j)]; };
            write_group(f, "/csr", m, n, compress(m, n, at, true), {});
            GroupSpec s;
            s.encoding = "csc_matrix";
            write_group(f, "/csc_t", n, m,
                        compress(
                            n, m, [&](gidx i, gidx j) { return at(j, i); }, false),
                        s);
        }
    }
    Grid grid(world(), choose_grid_shape(world().size(), m, n));
    const DistMatrix<double> reference = io::read_matrix<double>(grid, {dense, "/X"}, 64, 8);
    const auto from_reference = [&](gidx i, gidx j) {
        const lidx il = reference.row_dist().to_local(i), jl = reference.col_dist().to_local(j);
        return reference.local(il, jl);
    };
    io::Orientation t;
    t.transpose = true;
    for (const auto &[group, by_rows, orientation] :
         {std::make_tuple(std::string("/csr"), true, io::Orientation{}),
          std::make_tuple(std::string("/csc_t"), false, t)}) {
        const auto s = io::read_compressed<double>(
            grid, {file, group, by_rows, orientation.transpose ? n : m, orientation.transpose ? m : n},
            orientation, 64, 8, 10000);
        expect_equals(s, from_reference, group); // same layout, so every entry is local to both
        const gidx nnz = mpi::allreduce_value(world(), s.local_nnz(), mpi::Op::sum);
        EXPECT_NEAR(static_cast<double>(nnz) / static_cast<double>(m * n), 0.023, 0.002);
    }
    test::remove_file(world(), file);
}

TEST(SparseIo, RelabelledFactorRowsLandAtTheirTargetsOnEveryGrid) {
    // The --permute output step: row g of a factor moves to row target[g]; relabelling by the inverse
    // permutation restores the original, on every grid, for W and H^T sides.
    for (const GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const auto x = test::sparse_matrix<double>(grid, M, N, 4, 3, value_at);
        for (const FactorSide side : {FactorSide::w, FactorSide::ht}) {
            Factor<double> f(x, side, 3);
            for (lidx r = 0; r < f.rows(); ++r) {
                for (gidx l = 0; l < 3; ++l) {
                    f.at(r, l) = static_cast<double>(f.global_index(r) * 10 + l);
                }
            }
            const std::vector<gidx> perm = random_permutation(7, PermutedAxis::rows, f.global_rows());
            const Factor<double> moved = relabel_rows(f, perm);
            const std::vector<gidx> inverse = inverse_permutation(perm);
            gidx wrong = 0;
            for (lidx r = 0; r < moved.rows(); ++r) {
                for (gidx l = 0; l < 3; ++l) {
                    wrong += moved.at(r, l) !=
                             static_cast<double>(
                                 inverse[static_cast<std::size_t>(moved.global_index(r))] * 10 + l);
                }
            }
            EXPECT_EQ(wrong, 0) << grid.shape_string();
            const Factor<double> back = relabel_rows(moved, inverse);
            for (lidx r = 0; r < back.rows(); ++r) {
                wrong += back.at(r, 0) != static_cast<double>(back.global_index(r) * 10);
            }
            EXPECT_EQ(wrong, 0) << grid.shape_string();
        }
    }
}

TEST(SparseIo, EntriesReachTheirOwnersInOneOrManyBoundedRounds) {
    // Every rank holds an arbitrary share of the entries (rows i = rank mod P, in reverse order); tiny
    // round sizes force many all-to-all rounds (the > 2 GiB path), and the result is the same matrix.
    const int p = world().size(), r = world().rank();
    for (const GridShape shape : test::all_grid_shapes(p)) {
        Grid grid(world(), shape);
        for (const std::int64_t round_bytes : {std::int64_t{1} << 30, std::int64_t{100}, std::int64_t{1}}) {
            std::vector<io::Entry<double>> entries;
            for (gidx i = M - 1; i >= 0; --i) {
                for (gidx j = 0; j < N; ++j) {
                    if (i % p == r && value_at(i, j) != 0) {
                        entries.push_back({i, j, value_at(i, j)});
                    }
                }
            }
            const auto a = io::assemble_sparse<double>(grid, M, N, 4, 3, std::move(entries), "entries", {},
                                                       {}, round_bytes);
            expect_equals(a, value_at, grid.shape_string() + " round bytes " + std::to_string(round_bytes));
        }
        std::vector<io::Entry<double>> outside = {{r == p - 1 ? M : 0, 0, 1.0}};
        EXPECT_TRUE(contains(expect_collective_error([&] {
                                 io::assemble_sparse<double>(grid, M, N, 4, 3, std::move(outside), "'f'");
                             }),
                             p == 1 ? "'f': entry (row 37, column 0) lies outside the 37 x 23 matrix"
                                    : "lies outside the 37 x 23 matrix"));
    }
}
