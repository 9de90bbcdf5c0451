// Sparse data through the one algorithm code: sparse x dense kernels against the dense BLAS products,
// statistics and validation of stored values, and NMF / joint NMF / NNDSVD on a SparseDistMatrix equal to
// the same runs on the dense twin of the data (and to the serial reference: grid independence).

#include <gtest/gtest.h>

#include <cmath>
#include <omp.h>
#include <sys/resource.h>

#include "prism/algorithms/init_nndsvd.hpp"
#include "prism/algorithms/joint.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/error.hpp"
#include "prism/linalg/dist_products.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/matrix_stats.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/permutation.hpp"
#include "prism/transform.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

using namespace prism;
using prism::test::world;

namespace {

const Algorithm all_algorithms[] = {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu};

// A planted non-negative rank-3 matrix masked to about `density`, with empty row 5 and empty column 7.
std::function<double(gidx, gidx)> masked_planted(double density) {
    return [density](gidx i, gidx j) {
        if (i == 5 || j == 7 || test::uniform_at(41, i, j) >= density) {
            return 0.0;
        }
        double s = 0.05;
        for (int l = 0; l < 3; ++l) {
            s += test::uniform_at(31, i, l) * test::uniform_at(32, j, l);
        }
        return s;
    };
}

// Explicit zeros stored here and there: they must change nothing.
bool some_zeros(gidx i, gidx j) {
    return (i * 7 + j) % 13 == 0;
}

double max_rel_diff(const std::vector<double> &a, const std::vector<double> &b) {
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) || std::isnan(b[i])) {
            return INFINITY;
        }
        scale = std::max(scale, std::abs(b[i]));
        diff = std::max(diff, std::abs(a[i] - b[i]));
    }
    return a.size() != b.size() ? INFINITY : diff / std::max(scale, 1e-300);
}

// Worst relative difference over all ranks. Collective.
double worst(double local) {
    return mpi::allreduce_value(world(), local, mpi::Op::max);
}

struct RunResult {
    NmfInfo info;
    std::vector<double> w, ht;
    double exact_error = 0;
};

template <typename T>
RunResult run(MatrixRef<T> x, gidx k, const NmfOptions &opts, std::uint64_t seed = 7, bool nndsvd = false) {
    Factor<T> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    if (nndsvd) {
        initialize_nndsvd<T>(x, w, ht, false, seed);
    } else {
        initialize_random<T>(x, w, ht, seed);
    }
    RunResult r;
    r.info = nmf<T>(x, w, ht, opts);
    r.w = test::gather_global(w);
    r.ht = test::gather_global(ht);
    r.exact_error = relative_error_exact<T>(x, w, ht);
    return r;
}

} // namespace

TEST(SparseProducts, MatchDenseBlasOnEveryGridIncludingEmptyBlocks) {
    const gidx k = 5;
    struct Case {
        const char *name;
        gidx m, n, mb, nb;
        std::function<double(gidx, gidx)> f;
    };
    const std::vector<Case> cases = {
        {"5 % planted", 61, 47, 4, 3, masked_planted(0.05)},
        {"one quadrant", 40, 40, 20, 20,
         [](gidx i, gidx j) { return i < 20 && j < 20 ? 1.0 + i + 0.5 * j : 0.0; }},
        {"smaller than the grid", 2, 3, 1, 1, [](gidx i, gidx j) { return i == j ? 0.0 : 1.0 + i + j; }},
        {"only explicit zeros", 9, 8, 2, 2, [](gidx, gidx) { return 0.0; }},
    };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            DistMatrix<double> d(grid, c.m, c.n, c.mb, c.nb);
            test::fill(d, c.f);
            const SparseDistMatrix<double> s =
                test::sparse_matrix<double>(grid, c.m, c.n, c.mb, c.nb, c.f, some_zeros);
            for (FactorSide side : {FactorSide::w, FactorSide::ht}) {
                // The gathered other factor: one row per local column (side w) or local row (side ht).
                const bool w = side == FactorSide::w;
                const lidx other_rows = w ? d.local_cols() : d.local_rows();
                std::vector<double> other(static_cast<std::size_t>(other_rows * k));
                for (lidx r = 0; r < other_rows; ++r) {
                    const gidx g = w ? d.global_col(r) : d.global_row(r);
                    for (gidx l = 0; l < k; ++l) {
                        other[static_cast<std::size_t>(r * k + l)] = test::uniform_at(w ? 5 : 6, g, l);
                    }
                }
                std::vector<double> dense_partial, sparse_partial;
                local_product(d, other, side, k, dense_partial);
                local_product(s, other, side, k, sparse_partial);
                ASSERT_EQ(sparse_partial.size(), dense_partial.size());
                double diff = 0;
                for (std::size_t i = 0; i < dense_partial.size(); ++i) {
                    diff = std::max(diff, std::abs(dense_partial[i] - sparse_partial[i]) /
                                              std::max(1.0, std::abs(dense_partial[i])));
                }
                EXPECT_LT(worst(diff), 1e-14)
                    << c.name << " side " << (w ? "w" : "ht") << " grid " << grid.shape_string();
            }
        }
    }
}

TEST(SparseProducts, ThreadSplitsGiveBitwiseTheSameProducts) {
    // Rows (side w) and column ranges (side ht) are split between threads: every output row keeps one
    // writer and its summation order, so any thread count gives the same bits.
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx m = 700, n = 500, k = 16;
    const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, m, n, 8, 8, masked_planted(0.3));
    const int threads_before = omp_get_max_threads();
    for (FactorSide side : {FactorSide::w, FactorSide::ht}) {
        const lidx other_rows = side == FactorSide::w ? s.local_cols() : s.local_rows();
        std::vector<double> other(static_cast<std::size_t>(other_rows * k));
        for (std::size_t i = 0; i < other.size(); ++i) {
            other[i] = test::uniform_at(9, static_cast<std::int64_t>(i), 0);
        }
        std::vector<double> one, many;
        omp_set_num_threads(1);
        local_product(s, other, side, k, one);
        for (int threads : {2, 3, 4}) {
            omp_set_num_threads(threads);
            local_product(s, other, side, k, many);
            EXPECT_EQ(worst(max_rel_diff(many, one)), 0.0) << threads << " threads";
        }
    }
    omp_set_num_threads(threads_before);
}

TEST(SparseStats, StoredValuesGiveTheDenseStatisticsAndBalanceCounts) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const auto f = masked_planted(0.05);
        DistMatrix<double> d(grid, 61, 47, 4, 3);
        test::fill(d, f);
        const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, 61, 47, 4, 3, f, some_zeros);
        const MatrixStats a = compute_stats(d), b = compute_stats(s);
        EXPECT_EQ(a.nonzeros, b.nonzeros);
        EXPECT_EQ(a.zero_rows, b.zero_rows);
        EXPECT_EQ(a.zero_cols, b.zero_cols);
        EXPECT_EQ(a.first_zero_row_col.row, b.first_zero_row_col.row);
        EXPECT_EQ(a.first_zero_row_col.col, b.first_zero_row_col.col);
        EXPECT_GE(b.zero_rows, 1); // row 5
        EXPECT_GE(b.zero_cols, 1); // column 7
        EXPECT_EQ(a.min, b.min);
        EXPECT_EQ(a.max, b.max);
        EXPECT_NEAR(a.sum_squares, b.sum_squares, 1e-12 * a.sum_squares);
        const NnzBalance bal = nnz_balance(s);
        EXPECT_EQ(bal.total, mpi::allreduce_value(world(), s.local_nnz(), mpi::Op::sum));
        EXPECT_LE(bal.min, s.local_nnz());
        EXPECT_GE(bal.max, s.local_nnz());
        EXPECT_NEAR(bal.mean * world().size(), static_cast<double>(bal.total), 1e-9);
    }
}

TEST(SparseStats, BadStoredValuesAreRefusedWithTheirGlobalPositionOnEveryRank) {
    const int p = world().size();
    Grid grid(world(), choose_grid_shape(p));
    const gidx m = 30, n = 20;
    const gidx bad_i = m - 2, bad_j = n - 3; // owned by the last ranks of the grid with 4 x 4 blocks
    auto with = [&](double bad) {
        return [=](gidx i, gidx j) { return i == bad_i && j == bad_j ? bad : masked_planted(0.2)(i, j); };
    };
    auto message = [&](const SparseDistMatrix<double> &x) {
        try {
            validate_nmf_input(x, 2, "'x.h5':/X");
        } catch (const Error &e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    const std::string at = "row " + std::to_string(bad_i) + ", column " + std::to_string(bad_j);
    const std::string nan = message(test::sparse_matrix<double>(grid, m, n, 4, 4, with(NAN)));
    EXPECT_NE(nan.find("1 NaN entries; the first is at " + at), std::string::npos) << nan;
    const std::string inf = message(test::sparse_matrix<double>(grid, m, n, 4, 4, with(INFINITY)));
    EXPECT_NE(inf.find("infinite entries; the first is at " + at), std::string::npos) << inf;
    const std::string neg = message(test::sparse_matrix<double>(grid, m, n, 4, 4, with(-2.5)));
    EXPECT_NE(neg.find("negative entries; the first is -2.5 at " + at), std::string::npos) << neg;
    // nnz = 0: no entries at all, or only explicit zeros: the dense message.
    const auto zero = [](gidx, gidx) { return 0.0; };
    for (bool explicit_zeros : {false, true}) {
        const std::string none = message(test::sparse_matrix<double>(
            grid, m, n, 4, 4, zero, explicit_zeros ? std::function<bool(gidx, gidx)>(some_zeros) : nullptr));
        EXPECT_NE(none.find("'x.h5':/X has no nonzero entries (30 x 20): nothing to factorize"),
                  std::string::npos)
            << none;
    }
    // -0.0 is zero, not negative, stored or not.
    EXPECT_EQ(message(test::sparse_matrix<double>(grid, m, n, 4, 4, with(-0.0), some_zeros)), "accepted");
}

TEST(SparseNmf, EqualsDenseAndSerialForEveryAlgorithmOnEveryGrid) {
    const gidx m = 90, n = 70, k = 4;
    const auto f = masked_planted(0.05);
    for (Algorithm algorithm : all_algorithms) {
        NmfOptions opts;
        opts.algorithm = algorithm;
        opts.max_iter = 25;
        opts.tol = 0;
        auto serial = test::make_serial(m, n, k, f, 7);
        test::run_serial(serial, opts, 25);
        for (GridShape shape : test::all_grid_shapes(world().size())) {
            Grid grid(world(), shape);
            DistMatrix<double> d(grid, m, n, 8, 6);
            test::fill(d, f);
            const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, m, n, 8, 6, f, some_zeros);
            const RunResult rd = run<double>(d, k, opts), rs = run<double>(s, k, opts);
            const std::string where = to_string(algorithm) + " grid " + grid.shape_string();
            EXPECT_LT(max_rel_diff(rs.w, rd.w), 1e-10) << where;
            EXPECT_LT(max_rel_diff(rs.ht, rd.ht), 1e-10) << where;
            EXPECT_NEAR(rs.info.relative_error, rd.info.relative_error, 1e-10) << where;
            EXPECT_NEAR(rs.exact_error, rd.exact_error, 1e-10) << where;
            // Grid independence: the same answer as the serial reference at every rank count and grid.
            EXPECT_NEAR(rs.exact_error, serial.history.back(), 1e-10) << where;
            EXPECT_LT(max_rel_diff(rs.w, serial.w), 1e-9) << where;
            for (gidx l = 0; l < k; ++l) { // empty row 5 / column 7: zero factor rows, no NaN
                EXPECT_LE(rs.w[static_cast<std::size_t>(5 * k + l)], opts.hals_floor) << where;
                EXPECT_LE(rs.ht[static_cast<std::size_t>(7 * k + l)], opts.hals_floor) << where;
                if (algorithm != Algorithm::hals) {
                    EXPECT_EQ(rs.w[static_cast<std::size_t>(5 * k + l)], 0.0) << where;
                    EXPECT_EQ(rs.ht[static_cast<std::size_t>(7 * k + l)], 0.0) << where;
                }
            }
        }
    }
}

TEST(SparseNmf, EmptyLocalBlocksAndVerySparseDataWork) {
    // Nonzeros only in the top-left quadrant: on 2 x 2 and larger grids three quarters of the ranks hold
    // empty blocks; and a 1e-2 density matrix where most rows and columns are empty.
    const auto quadrant = [](gidx i, gidx j) {
        return i < 16 && j < 16 ? 0.5 + test::uniform_at(3, i, j) * (test::uniform_at(4, i, j) < 0.5) : 0.0;
    };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const auto &[f, m, n] :
             {std::tuple<std::function<double(gidx, gidx)>, gidx, gidx>{quadrant, 32, 32},
              {masked_planted(0.01), 150, 120}}) {
            NmfOptions opts;
            opts.algorithm = Algorithm::anls_bpp;
            opts.max_iter = 15;
            opts.tol = 0;
            DistMatrix<double> d(grid, m, n, 16, 16);
            test::fill(d, f);
            const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, m, n, 16, 16, f);
            const RunResult rd = run<double>(d, 3, opts), rs = run<double>(s, 3, opts);
            EXPECT_LT(max_rel_diff(rs.w, rd.w), 1e-10) << grid.shape_string();
            EXPECT_LT(max_rel_diff(rs.ht, rd.ht), 1e-10) << grid.shape_string();
            EXPECT_TRUE(std::isfinite(rs.exact_error));
            for (gidx i = 0; i < m; ++i) { // empty rows give exact zero rows of W
                bool empty = true;
                for (gidx j = 0; j < n; ++j) {
                    empty = empty && f(i, j) == 0;
                }
                for (gidx l = 0; empty && l < 3; ++l) {
                    EXPECT_EQ(rs.w[static_cast<std::size_t>(i * 3 + l)], 0.0) << "row " << i;
                }
            }
        }
    }
}

TEST(SparseNmf, FloatAgreesWithDoubleAndNndsvdEqualsDense) {
    const gidx m = 90, n = 70, k = 4;
    const auto f = masked_planted(0.05);
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        NmfOptions opts;
        opts.algorithm = Algorithm::hals;
        opts.max_iter = 20;
        opts.tol = 0;
        const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, m, n, 8, 6, f);
        const SparseDistMatrix<float> sf = test::sparse_matrix<float>(grid, m, n, 8, 6, f);
        const RunResult rd = run<double>(s, k, opts), rf = run<float>(sf, k, opts);
        EXPECT_NEAR(rf.exact_error, rd.exact_error, 1e-4) << grid.shape_string();
        EXPECT_LT(max_rel_diff(rf.w, rd.w), 1e-3) << grid.shape_string();

        // NNDSVD from the sparse matrix (sparse x dense range finder) equals NNDSVD from the dense twin.
        DistMatrix<double> d(grid, m, n, 8, 6);
        test::fill(d, f);
        for (bool fill_mean : {false, true}) {
            Factor<double> wd(d, FactorSide::w, k), hd(d, FactorSide::ht, k);
            Factor<double> ws(s, FactorSide::w, k), hs(s, FactorSide::ht, k);
            initialize_nndsvd(d, wd, hd, fill_mean, 5);
            initialize_nndsvd(s, ws, hs, fill_mean, 5);
            EXPECT_LT(max_rel_diff(test::gather_global(ws), test::gather_global(wd)), 1e-10)
                << grid.shape_string();
            EXPECT_LT(max_rel_diff(test::gather_global(hs), test::gather_global(hd)), 1e-10)
                << grid.shape_string();
        }
        // ... and a run started from it too.
        opts.algorithm = Algorithm::anls_bpp;
        const RunResult nd = run<double>(d, k, opts, 5, true), ns = run<double>(s, k, opts, 5, true);
        EXPECT_NEAR(ns.exact_error, nd.exact_error, 1e-10) << grid.shape_string();
    }
}

TEST(SparseJoint, SparseAndDenseModalitiesEqualTheAllDenseRun) {
    const gidx n = 60, k = 3;
    const auto f0 = masked_planted(0.08);
    const auto f1 = [](gidx i, gidx j) { return 0.2 + test::uniform_at(77, i, j); };
    std::vector<char> observed0(static_cast<std::size_t>(n), 1), observed1(static_cast<std::size_t>(n), 1);
    for (gidx j = 0; j < n; j += 7) {
        observed0[static_cast<std::size_t>(j)] = 0; // modality 0 misses every 7th sample
    }
    for (gidx j = 3; j < n; j += 5) {
        observed1[static_cast<std::size_t>(j)] = 0;
    }
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        DistMatrix<double> d0(grid, 50, n, 4, 5), d1(grid, 35, n, 6, 5);
        test::fill(d0, f0);
        test::fill(d1, f1);
        const SparseDistMatrix<double> s0 = test::sparse_matrix<double>(grid, 50, n, 4, 5, f0, some_zeros);
        for (Algorithm algorithm : all_algorithms) {
            JointOptions opts;
            opts.algorithm = algorithm;
            opts.max_iter = 20;
            opts.tol = 0;
            auto solve = [&](MatrixPtr<double> x0, std::vector<double> &w0, std::vector<double> &w1,
                             std::vector<double> &h) {
                std::vector<JointModality<double>> mods{{x0, observed0, 1.0, {}, "sparse"},
                                                        {&d1, observed1, 1.0, {}, "dense"}};
                const std::vector<double> norms = validate_joint_input(mods, k);
                const std::vector<double> lambda = joint_weights(mods, JointWeighting::automatic);
                for (std::size_t v = 0; v < mods.size(); ++v) {
                    mods[v].weight = lambda[v];
                }
                std::vector<Factor<double>> w = make_joint_w(mods, k);
                Factor<double> ht(*mods[0].x, FactorSide::ht, k);
                initialize_random_joint(mods, w, ht, 11);
                const JointInfo info = joint_nmf(mods, w, ht, opts);
                w0 = test::gather_global(w[0]);
                w1 = test::gather_global(w[1]);
                h = test::gather_global(ht);
                std::vector<double> out = joint_relative_errors_exact(mods, w, ht);
                out.push_back(info.relative_error);
                out.push_back(norms[0]);
                return out;
            };
            std::vector<double> dw0, dw1, dh, sw0, sw1, sh;
            const std::vector<double> de = solve(&d0, dw0, dw1, dh), se = solve(&s0, sw0, sw1, sh);
            const std::string where = to_string(algorithm) + " grid " + grid.shape_string();
            EXPECT_LT(max_rel_diff(sw0, dw0), 1e-10) << where;
            EXPECT_LT(max_rel_diff(sw1, dw1), 1e-10) << where;
            EXPECT_LT(max_rel_diff(sh, dh), 1e-10) << where;
            ASSERT_EQ(se.size(), de.size());
            for (std::size_t i = 0; i < de.size(); ++i) {
                EXPECT_NEAR(se[i], de[i], 1e-10 * std::max(1.0, std::abs(de[i]))) << where << " value " << i;
            }
        }
    }
}

TEST(SparseNmf, PermutedRunEqualsTheUnpermutedRunAndBalancesClusteredNonzeros) {
    // --permute: a reader places original row i at random_permutation(seed, rows, m)[i] (columns alike);
    // initialisers keyed by the original indices make the permuted run the unpermuted one, relabelled.
    const gidx m = 90, n = 70, k = 4;
    const std::uint64_t seed = 99;
    const auto f = masked_planted(0.05);
    const IndexOrigin origin = permutation_origin(seed, m, n);
    const std::vector<gidx> new_row = random_permutation(seed, PermutedAxis::rows, m);
    const std::vector<gidx> new_col = random_permutation(seed, PermutedAxis::cols, n);
    const auto permuted = [&](gidx i, gidx j) { return f(origin.row(i), origin.col(j)); };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, m, n, 8, 6, f);
        const SparseDistMatrix<double> sp = test::sparse_matrix<double>(grid, m, n, 8, 6, permuted);
        for (Algorithm algorithm : all_algorithms) {
            for (bool nndsvd : {false, true}) {
                NmfOptions opts;
                opts.algorithm = algorithm;
                opts.max_iter = 15;
                opts.tol = 0;
                Factor<double> w(s, FactorSide::w, k), ht(s, FactorSide::ht, k);
                Factor<double> wp(sp, FactorSide::w, k), htp(sp, FactorSide::ht, k);
                if (nndsvd) {
                    initialize_nndsvd(s, w, ht, false, 3);
                    initialize_nndsvd(sp, wp, htp, false, 3, 2, 10, origin);
                } else {
                    initialize_random(s, w, ht, 3);
                    initialize_random(sp, wp, htp, 3, origin);
                }
                nmf(s, w, ht, opts);
                nmf(sp, wp, htp, opts);
                const std::vector<double> a = test::gather_global(w), b = test::gather_global(wp);
                const std::vector<double> c = test::gather_global(ht), d = test::gather_global(htp);
                std::vector<double> b_back(a.size()), d_back(c.size()); // un-permuted as a writer would
                for (gidx i = 0; i < m; ++i) {
                    for (gidx l = 0; l < k; ++l) {
                        b_back[static_cast<std::size_t>(i * k + l)] =
                            b[static_cast<std::size_t>(new_row[i] * k + l)];
                    }
                }
                for (gidx j = 0; j < n; ++j) {
                    for (gidx l = 0; l < k; ++l) {
                        d_back[static_cast<std::size_t>(j * k + l)] =
                            d[static_cast<std::size_t>(new_col[j] * k + l)];
                    }
                }
                const std::string where =
                    to_string(algorithm) + (nndsvd ? " nndsvd" : " random") + " grid " + grid.shape_string();
                EXPECT_LT(max_rel_diff(b_back, a), 1e-10) << where;
                EXPECT_LT(max_rel_diff(d_back, c), 1e-10) << where;
            }
        }
    }
    // Nonzeros clustered in one quadrant, one distribution block per quadrant: unpermuted, one rank holds
    // them all on a 2 x 2 grid; permuted, every rank holds about its share.
    if (world().size() > 1) {
        Grid grid(world(), choose_grid_shape(world().size()));
        const gidx q = 120;
        const auto quadrant = [](gidx i, gidx j) { return i < 60 && j < 60 ? 1.0 : 0.0; };
        const IndexOrigin o = permutation_origin(5, q, q);
        const auto spread = [&](gidx i, gidx j) { return quadrant(o.row(i), o.col(j)); };
        const gidx mb = (q + grid.rows() - 1) / grid.rows(), nb = (q + grid.cols() - 1) / grid.cols();
        const NnzBalance before = nnz_balance(test::sparse_matrix<double>(grid, q, q, mb, nb, quadrant));
        const NnzBalance after = nnz_balance(test::sparse_matrix<double>(grid, q, q, mb, nb, spread));
        EXPECT_EQ(before.total, 3600);
        EXPECT_EQ(after.total, 3600);
        EXPECT_GT(before.imbalance(), 1.9);
        EXPECT_LT(after.imbalance(), 1.3);
    }
}

namespace {

// This rank's block of a huge very sparse matrix, generated without visiting the m x n entries: row i
// keeps the columns of a geometric skip sequence of density d keyed by (seed, i), values in [0.5, 1.5).
SparseDistMatrix<double> huge_sparse(const Grid &grid, gidx m, gidx n, double d, gidx block) {
    const BlockCyclic rd(m, block, grid.rows()), cd(n, block, grid.cols());
    CsrBlock<double> b;
    b.rows = rd.local_size(grid.my_row());
    b.cols = cd.local_size(grid.my_col());
    b.row_ptr.push_back(0);
    for (lidx i = 0; i < b.rows; ++i) {
        const gidx gi = rd.to_global(i, grid.my_row());
        gidx j = -1;
        for (std::int64_t step = 0;; ++step) {
            j += 1 + static_cast<gidx>(std::log(1.0 - test::uniform_at(17, gi, step)) / std::log1p(-d));
            if (j >= n) {
                break;
            }
            if (cd.owner(j) == grid.my_col()) {
                b.col.push_back(static_cast<std::int32_t>(cd.to_local(j)));
                b.values.push_back(0.5 + test::uniform_at(18, gi, j));
            }
        }
        b.row_ptr.push_back(b.nnz());
    }
    return SparseDistMatrix<double>(grid, m, n, block, block, std::move(b));
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

} // namespace

TEST(SparseNmf, HugeVerySparseInputNeverDensifies) {
    // ROBUSTNESS 13 / 18: 100 000 x 50 000 (m n = 5e9: a dense X would be 40 GB, 6.7 GB per rank at 6
    // ranks) with ~2e5 nonzeros, most rows and columns empty; NNDSVD (sparse range finder) then ANLS.
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx m = 100000, n = 50000, k = 10;
    const SparseDistMatrix<double> x = huge_sparse(grid, m, n, 4e-5, 64);
    validate_nmf_input(x, k, "huge");
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_nndsvd(x, w, ht, false, 1);
    NmfOptions opts;
    opts.algorithm = Algorithm::anls_bpp;
    opts.max_iter = 3;
    opts.tol = 0;
    const NmfInfo info = nmf(x, w, ht, opts);
    EXPECT_TRUE(std::isfinite(info.relative_error));
    EXPECT_LT(info.relative_error, 1.0);
    // Empty columns of X give exact zero rows of H^T: count X's column nonzeros from the blocks.
    std::vector<std::int64_t> col_nnz(static_cast<std::size_t>(x.local_cols()));
    for (std::size_t j = 0; j < col_nnz.size(); ++j) {
        col_nnz[j] = x.column_prefix()[j + 1] - x.column_prefix()[j];
    }
    mpi::allreduce(grid.col_comm(), col_nnz.data(), static_cast<std::int64_t>(col_nnz.size()), mpi::Op::sum);
    std::int64_t empty_nonzero = 0, empty = 0;
    for (lidx r = 0; r < ht.rows(); ++r) {
        if (col_nnz[static_cast<std::size_t>(ht.offset() + r)] == 0) {
            ++empty;
            for (gidx l = 0; l < k; ++l) {
                empty_nonzero += ht.at(r, l) != 0.0;
            }
        }
    }
    EXPECT_EQ(mpi::allreduce_value(world(), empty_nonzero, mpi::Op::sum), 0);
    EXPECT_GT(mpi::allreduce_value(world(), empty, mpi::Op::sum), 500); // ~ n e^{-4} = 916 empty columns
    EXPECT_LT(mpi::allreduce_value(world(), peak_rss_mib(), mpi::Op::max), 1024.0);
}

TEST(SparseNmf, ManyEmptyColumnsWithNndsvdAndLargeK) {
    // ROBUSTNESS 9: 550 x 1500 at density 0.003 (many empty columns), k = 60, NNDSVD (zero columns),
    // ANLS-BPP: finite, H[:, j] = 0 wherever X[:, j] = 0, and the same as the dense twin.
    const gidx m = 550, n = 1500, k = 60;
    const auto f = [](gidx i, gidx j) {
        return test::uniform_at(23, i, j) < 0.003 ? 1.0 + test::uniform_at(24, i, j) : 0.0;
    };
    Grid grid(world(), choose_grid_shape(world().size()));
    const SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, m, n, 32, 32, f);
    DistMatrix<double> d(grid, m, n, 32, 32);
    test::fill(d, f);
    NmfOptions opts;
    opts.algorithm = Algorithm::anls_bpp;
    opts.max_iter = 10;
    opts.tol = 0;
    const RunResult rs = run<double>(s, k, opts, 2, true), rd = run<double>(d, k, opts, 2, true);
    EXPECT_TRUE(std::isfinite(rs.exact_error));
    EXPECT_LT(max_rel_diff(rs.ht, rd.ht), 1e-8);
    int empty_columns = 0;
    for (gidx j = 0; j < n; ++j) {
        bool empty = true;
        for (gidx i = 0; i < m && empty; ++i) {
            empty = f(i, j) == 0;
        }
        empty_columns += empty;
        for (gidx l = 0; empty && l < k; ++l) {
            EXPECT_EQ(rs.ht[static_cast<std::size_t>(j * k + l)], 0.0) << "column " << j;
        }
    }
    EXPECT_GT(empty_columns, 200);
}

TEST(SparseJoint, StoredValuesOfMissingSamplesAreIgnoredAndBadOnesNamed) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx m = 20, n = 30;
    std::vector<char> observed(static_cast<std::size_t>(n), 1);
    observed[4] = 0;
    // NaN stored in missing sample 4: never read. NaN stored at (11, 9), an observed sample: refused.
    const auto base = masked_planted(0.3);
    const auto missing_nan = [&](gidx i, gidx j) { return j == 4 && i == 3 ? NAN : base(i, j); };
    const auto observed_nan = [&](gidx i, gidx j) { return j == 9 && i == 11 ? NAN : missing_nan(i, j); };
    DistMatrix<double> dense(grid, 15, n, 4, 4);
    test::fill(dense, [](gidx i, gidx j) { return 1.0 + test::uniform_at(8, i, j); });
    auto message = [&](const SparseDistMatrix<double> &x) {
        std::vector<JointModality<double>> mods{{&x, observed, 1.0, {}, "rna"},
                                                {&dense, {}, 1.0, {}, "atac"}};
        try {
            validate_joint_input(mods, 3);
        } catch (const Error &e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(message(test::sparse_matrix<double>(grid, m, n, 4, 4, missing_nan)), "accepted");
    const std::string bad = message(test::sparse_matrix<double>(grid, m, n, 4, 4, observed_nan));
    EXPECT_NE(
        bad.find("modality 'rna' has 1 NaN entries in observed samples; the first is at row 11, column 9"),
        std::string::npos)
        << bad;
}

TEST(SparseJoint, PermutedModalitiesGiveTheUnpermutedRunRelabelled) {
    const gidx n = 48, k = 3;
    const std::uint64_t seed = 21;
    const auto f0 = masked_planted(0.1);
    const auto f1 = [](gidx i, gidx j) { return 0.2 + test::uniform_at(78, i, j); };
    // Rows of each modality and the shared samples permuted; every modality's IndexOrigin has the same cols.
    const IndexOrigin o0 = permutation_origin(seed, 40, n), o1 = permutation_origin(seed + 1, 25, n);
    const IndexOrigin o1_shared{o1.rows, o0.cols};
    const auto p0 = [&](gidx i, gidx j) { return f0(o0.row(i), o0.col(j)); };
    const auto p1 = [&](gidx i, gidx j) { return f1(o1_shared.row(i), o1_shared.col(j)); };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const SparseDistMatrix<double> s0 = test::sparse_matrix<double>(grid, 40, n, 4, 4, f0);
        const SparseDistMatrix<double> q0 = test::sparse_matrix<double>(grid, 40, n, 4, 4, p0);
        DistMatrix<double> d1(grid, 25, n, 4, 4), e1(grid, 25, n, 4, 4);
        test::fill(d1, f1);
        test::fill(e1, p1);
        JointOptions opts;
        opts.algorithm = Algorithm::hals;
        opts.max_iter = 12;
        opts.tol = 0;
        auto solve = [&](MatrixPtr<double> a, MatrixPtr<double> b, const std::vector<IndexOrigin> &origins) {
            std::vector<JointModality<double>> mods{{a, {}, 1.0, {}, "a"}, {b, {}, 1.0, {}, "b"}};
            std::vector<Factor<double>> w = make_joint_w(mods, k);
            Factor<double> ht(*mods[0].x, FactorSide::ht, k);
            initialize_random_joint(mods, w, ht, 5, origins);
            joint_nmf(mods, w, ht, opts);
            return std::vector<std::vector<double>>{test::gather_global(w[0]), test::gather_global(w[1]),
                                                    test::gather_global(ht)};
        };
        const auto plain = solve(&s0, &d1, {});
        const auto perm = solve(&q0, &e1, {o0, o1_shared});
        // Un-permute: permuted row r of modality v is original row origin.rows[r].
        auto back = [k](const std::vector<double> &f, const std::vector<gidx> &origin_of) {
            std::vector<double> out(f.size());
            for (std::size_t r = 0; r < origin_of.size(); ++r) {
                for (gidx l = 0; l < k; ++l) {
                    out[static_cast<std::size_t>(origin_of[r] * k + l)] =
                        f[r * static_cast<std::size_t>(k) + l];
                }
            }
            return out;
        };
        EXPECT_LT(max_rel_diff(back(perm[0], o0.rows), plain[0]), 1e-10) << grid.shape_string();
        EXPECT_LT(max_rel_diff(back(perm[1], o1.rows), plain[1]), 1e-10) << grid.shape_string();
        EXPECT_LT(max_rel_diff(back(perm[2], o0.cols), plain[2]), 1e-10) << grid.shape_string();
    }
}

TEST(SparseStats, Log1pOnStoredValuesEqualsTheDenseTransform) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const auto f = [](gidx i, gidx j) { return masked_planted(0.2)(i, j) * 100.0; };
    DistMatrix<double> d(grid, 40, 30, 4, 4);
    test::fill(d, f);
    SparseDistMatrix<double> s = test::sparse_matrix<double>(grid, 40, 30, 4, 4, f, some_zeros);
    log1p_in_place(d);
    log1p_in_place(s);
    const MatrixStats a = compute_stats(d), b = compute_stats(s);
    EXPECT_EQ(a.nonzeros, b.nonzeros); // zeros, stored or not, stay zeros
    EXPECT_GT(b.nonzeros, 0);
    EXPECT_EQ(a.max, b.max);
    EXPECT_NEAR(a.sum_squares, b.sum_squares, 1e-12 * a.sum_squares);
    EXPECT_LT(b.max, std::log1p(100.0 * 3.05)); // transformed, not the raw counts
}
