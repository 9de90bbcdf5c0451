// Collective HDF5 I/O of NMF factors: W (m x k) and H (k x n, written from H^T) on every grid shape with
// awkward sizes and blocks, read back serially (as any other tool would) and in parallel on another grid
// and block size; bounded rounds; ranks with empty slabs; shape errors on every rank.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "prism/factor.hpp"
#include "prism/io/factor_io.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"

using namespace prism;
using prism::test::world;

namespace {

// Entry (global index g, column l) of W and of H^T: distinct, exact in float, and never the same for W
// and H^T (a mix-up of the two fails).
double w_value(gidx i, gidx l) {
    return 1000.0 * static_cast<double>(i) + static_cast<double>(l) + 0.25;
}
double ht_value(gidx j, gidx l) {
    return -(500.0 * static_cast<double>(j) + 10.0 * static_cast<double>(l) + 0.5);
}

template <typename T> void fill(Factor<T> &f, const std::function<double(gidx, gidx)> &value) {
    for (lidx r = 0; r < f.rows(); ++r) {
        for (gidx l = 0; l < f.k(); ++l) {
            f.at(r, l) = static_cast<T>(value(f.global_index(r), l));
        }
    }
}

// Largest |f - value| over this rank's slab (NaN-propagating). Local.
template <typename T> double max_error(const Factor<T> &f, const std::function<double(gidx, gidx)> &value) {
    double worst = 0;
    for (lidx r = 0; r < f.rows(); ++r) {
        for (gidx l = 0; l < f.k(); ++l) {
            const double d = std::abs(static_cast<double>(f.at(r, l)) - value(f.global_index(r), l));
            worst = d > worst || d != d ? d : worst;
        }
    }
    return worst;
}

// Every rank's slab rows, summed: each factor row must be stored exactly once.
template <typename T> gidx total_rows(const Factor<T> &f) {
    return mpi::allreduce_value(f.grid().comm(), static_cast<std::int64_t>(f.rows()), mpi::Op::sum);
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

struct Case {
    gidx m, n, mb, nb;
};

} // namespace

TEST(FactorIo, SlabRunsCoverExactlyTheSlabInOrderWithAtMostThreeRuns) {
    // Every distribution and every sub-range of every process's local indices: expanding the runs gives
    // exactly to_global(l0), ..., to_global(l1 - 1).
    int checked = 0;
    for (gidx size : {0, 1, 7, 23, 37, 64, 130}) {
        for (gidx block : {1, 3, 4, 64}) {
            for (int procs : {1, 2, 3, 4}) {
                const BlockCyclic dist(size, block, procs);
                for (int p = 0; p < procs; ++p) {
                    const lidx n = dist.local_size(p);
                    for (lidx l0 = 0; l0 <= n; ++l0) {
                        for (lidx l1 = l0; l1 <= n; ++l1) {
                            const auto runs = io::slab_runs(dist, p, l0, l1);
                            ASSERT_LE(runs.size(), 3u);
                            std::vector<gidx> expanded;
                            for (const auto &r : runs) {
                                ASSERT_GE(r.count, 1u);
                                ASSERT_GE(r.block, 1u);
                                ASSERT_TRUE(r.count == 1 || r.stride >= r.block);
                                for (hsize_t c = 0; c < r.count; ++c) {
                                    for (hsize_t e = 0; e < r.block; ++e) {
                                        expanded.push_back(static_cast<gidx>(r.start + c * r.stride + e));
                                    }
                                }
                            }
                            ASSERT_EQ(static_cast<lidx>(expanded.size()), l1 - l0);
                            for (lidx l = l0; l < l1; ++l) {
                                ASSERT_EQ(expanded[static_cast<std::size_t>(l - l0)], dist.to_global(l, p))
                                    << "size " << size << " block " << block << " procs " << procs << " proc "
                                    << p << " range [" << l0 << ", " << l1 << ")";
                            }
                            ++checked;
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(checked, 10000);
    // A long slab of many blocks is still three runs (not one per block).
    const BlockCyclic dist(100000, 4, 3);
    const auto runs = io::slab_runs(dist, 1, 2, dist.local_size(1) - 1);
    ASSERT_EQ(runs.size(), 3u);
    EXPECT_EQ(runs[0].start, 6u);
    EXPECT_EQ(runs[0].block, 2u);
    EXPECT_EQ(runs[1].start, 16u);
    EXPECT_EQ(runs[1].stride, 12u);
    EXPECT_EQ(runs[1].block, 4u);
}

TEST(FactorIo, RoundTripOnEveryGridAwkwardSizesAndBlocks) {
    const std::string file = test::temp_path("factors");
    const Case cases[] = {{37, 23, 4, 4}, {37, 23, 3, 3}, {37, 23, 64, 64}, {37, 23, 4, 3},
                          {3, 2, 4, 4},   {2, 3, 1, 1},   {1, 1, 2, 2}};
    const auto shapes = test::all_grid_shapes(world().size());
    int files = 0;
    for (std::size_t s = 0; s < shapes.size(); ++s) {
        Grid grid(world(), shapes[s]);
        // Read back on another grid shape (the reverse factorisation) and another block size.
        Grid other(world(), shapes[shapes.size() - 1 - s]);
        for (const Case &c : cases) {
            DistMatrix<double> x(grid, c.m, c.n, c.mb, c.nb);
            DistMatrix<float> y(other, c.m, c.n, c.nb + 1, c.mb + 2);
            for (gidx k = 1; k <= 5; ++k) {
                const std::string what = "grid " + grid.shape_string() + " m " + std::to_string(c.m) + " n " +
                                         std::to_string(c.n) + " mb " + std::to_string(c.mb) + " nb " +
                                         std::to_string(c.nb) + " k " + std::to_string(k);
                Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
                ASSERT_EQ(total_rows(w), c.m) << what;
                ASSERT_EQ(total_rows(ht), c.n) << what;
                fill(w, w_value);
                fill(ht, ht_value);
                {
                    io::Writer out(world(), file, /*overwrite=*/true);
                    io::write_factor(out, "/W", w);
                    io::write_factor(out, "/H", ht);
                    // Tiny rounds: many collective calls, ranks running out of rows at different rounds.
                    io::write_factor(out, "/rounds/W", w, /*round_elements=*/7);
                    io::write_factor(out, "/rounds/H", ht, /*round_elements=*/3);
                    out.close();
                }
                ++files;
                // Serially, the way h5py or R would read it. Rank 0 only, so no ASSERT (an early return
                // would leave the other ranks waiting in the next collective): count mismatches instead.
                if (world().rank() == 0) {
                    for (const std::string prefix : {"", "/rounds"}) {
                        gidx rows = 0, cols = 0;
                        const auto wv = test::read_serial_matrix(file, prefix + "/W", rows, cols);
                        EXPECT_TRUE(rows == c.m && cols == k)
                            << what << prefix << " W is " << rows << " x " << cols;
                        int bad = 0;
                        for (gidx i = 0; i < c.m && rows == c.m && cols == k; ++i) {
                            for (gidx l = 0; l < k; ++l) {
                                bad += wv[static_cast<std::size_t>(i * k + l)] != w_value(i, l);
                            }
                        }
                        EXPECT_EQ(bad, 0) << what << prefix << " W";
                        const auto hv = test::read_serial_matrix(file, prefix + "/H", rows, cols);
                        EXPECT_TRUE(rows == k && cols == c.n)
                            << what << prefix << " H is " << rows << " x " << cols;
                        bad = 0;
                        for (gidx l = 0; l < k && rows == k && cols == c.n; ++l) {
                            for (gidx j = 0; j < c.n; ++j) {
                                bad += hv[static_cast<std::size_t>(l * c.n + j)] != ht_value(j, l);
                            }
                        }
                        EXPECT_EQ(bad, 0) << what << prefix << " H";
                    }
                }
                // In parallel on the same layout, in small rounds.
                Factor<double> w_same(x, FactorSide::w, k), ht_same(x, FactorSide::ht, k);
                io::read_factor({file, "/W"}, w_same, 5);
                io::read_factor({file, "/rounds/H"}, ht_same, 2);
                EXPECT_EQ(max_error(w_same, w_value), 0.0) << what;
                EXPECT_EQ(max_error(ht_same, ht_value), 0.0) << what;
                // On the other grid and block size, converted to float (the values are exact in float).
                Factor<float> w_other(y, FactorSide::w, k), ht_other(y, FactorSide::ht, k);
                io::read_factor({file, "/rounds/W"}, w_other);
                io::read_factor({file, "/H"}, ht_other);
                EXPECT_EQ(max_error(w_other, w_value), 0.0) << what;
                EXPECT_EQ(max_error(ht_other, ht_value), 0.0) << what;
            }
        }
    }
    EXPECT_EQ(files, static_cast<int>(shapes.size()) * 7 * 5);
    test::remove_file(world(), file);
}

TEST(FactorIo, FloatFactorsAreWrittenAsFloat32) {
    const std::string file = test::temp_path("factors_f32");
    Grid grid(world(), choose_grid_shape(world().size(), 37, 23));
    DistMatrix<float> x(grid, 37, 23, 4, 4);
    Factor<float> w(x, FactorSide::w, 3), ht(x, FactorSide::ht, 3);
    fill(w, w_value);
    fill(ht, ht_value);
    {
        io::Writer out(world(), file, true);
        io::write_factor(out, "/W", w);
        io::write_factor(out, "/H", ht);
        out.close();
    }
    const io::DatasetInfo info_w = io::inspect_dataset(world(), {file, "/W"});
    const io::DatasetInfo info_h = io::inspect_dataset(world(), {file, "/H"});
    EXPECT_EQ(info_w.type, "float32");
    EXPECT_EQ(info_w.dims, (std::vector<gidx>{37, 3}));
    EXPECT_EQ(info_h.dims, (std::vector<gidx>{3, 23}));
    DistMatrix<double> xd(grid, 37, 23, 5, 2);
    Factor<double> w_back(xd, FactorSide::w, 3), ht_back(xd, FactorSide::ht, 3);
    io::read_factor({file, "/W"}, w_back);
    io::read_factor({file, "/H"}, ht_back);
    EXPECT_EQ(max_error(w_back, w_value), 0.0);
    EXPECT_EQ(max_error(ht_back, ht_value), 0.0);
    test::remove_file(world(), file);
}

TEST(FactorIo, WrongShapesAndMissingDatasetsFailOnEveryRank) {
    const std::string file = test::temp_path("factors_bad");
    Grid grid(world(), choose_grid_shape(world().size(), 37, 23));
    DistMatrix<double> x(grid, 37, 23, 4, 4);
    Factor<double> w(x, FactorSide::w, 3), ht(x, FactorSide::ht, 3);
    fill(w, w_value);
    fill(ht, ht_value);
    {
        io::Writer out(world(), file, true);
        io::write_factor(out, "/W", w);
        io::write_factor(out, "/H", ht);
        out.close();
    }
    // H^T is not W: a k x n dataset cannot be read as an m x k factor, nor the other way round.
    EXPECT_EQ(expect_collective_error([&] {
                  io::read_factor({file, "/H"}, w);
              }),
              "'" + file + "': dataset '/H' is 3 x 23; expected 37 x 3 for W (m x k)");
    EXPECT_EQ(expect_collective_error([&] {
                  io::read_factor({file, "/W"}, ht);
              }),
              "'" + file + "': dataset '/W' is 37 x 3; expected 3 x 23 for H (k x n)");
    Factor<double> w4(x, FactorSide::w, 4);
    EXPECT_EQ(expect_collective_error([&] {
                  io::read_factor({file, "/W"}, w4);
              }),
              "'" + file + "': dataset '/W' is 37 x 3; expected 37 x 4 for W (m x k)");
    EXPECT_EQ(expect_collective_error([&] {
                  io::read_factor({file, "/nope"}, w);
              }),
              "'" + file + "': no dataset '/nope' (found: /H, /W)");
    // The factor is untouched by a failed read.
    EXPECT_EQ(max_error(w, w_value), 0.0);
    // Writing the same name twice is an error, not a silent overwrite.
    {
        io::Writer out(world(), file, true);
        io::write_factor(out, "/W", w);
        EXPECT_EQ(expect_collective_error([&] { io::write_factor(out, "/W", w); }),
                  "'" + file + "': cannot create dataset '/W'");
        out.close();
    }
    test::remove_file(world(), file);
}
