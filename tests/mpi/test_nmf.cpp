// Distributed NMF against the serial reference, step for step, on every grid; convergence on planted data;
// monotone objectives; degenerate inputs; validation errors.

#include <gtest/gtest.h>

#include <cmath>

#include "prism/algorithms/nmf.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

using namespace prism;
using prism::test::world;

namespace {

const Algorithm all_algorithms[] = {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu};

double data_at(gidx i, gidx j) {
    return test::uniform_at(21, i, j) + (i % 3 == j % 4 ? 1.0 : 0.0);
}

// Exactly rank-3 non-negative data with a zero row (5) and a zero column (7). The planted factors are
// sparse (about 40 % zeros), as gene programs are: with dense positive factors (0.1 + U[0,1)) the three
// components are nearly collinear and ANLS from some random starts crawls through a swamp (3e-4 after
// 400 iterations for seed 7), which tests the data's conditioning rather than the solver.
double planted_at(gidx i, gidx j) {
    if (i == 5 || j == 7) {
        return 0.0;
    }
    double s = 0;
    for (int l = 0; l < 3; ++l) {
        const double a = test::uniform_at(31, i, l), b = test::uniform_at(32, j, l);
        s += (a < 0.4 ? 0.0 : a) * (b < 0.4 ? 0.0 : b);
    }
    return s;
}

struct NmfRun {
    NmfInfo info;
    std::vector<double> w, ht;
    double exact_error = 0;
};

template <typename T>
NmfRun run_nmf(const Grid &grid,
               gidx m,
               gidx n,
               gidx mb,
               gidx nb,
               gidx k,
               const std::function<double(gidx, gidx)> &f,
               NmfOptions opts,
               std::uint64_t seed = 7) {
    DistMatrix<T> x(grid, m, n, mb, nb);
    test::fill(x, f);
    Factor<T> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_random(x, w, ht, seed);
    NmfRun r;
    r.info = nmf(x, w, ht, opts);
    r.w = test::gather_global(w);
    r.ht = test::gather_global(ht);
    r.exact_error = relative_error_exact(x, w, ht);
    return r;
}

double max_rel_diff(const std::vector<double> &a, const std::vector<double> &b) {
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        scale = std::max(scale, std::abs(b[i]));
        diff = std::max(diff, std::abs(a[i] - b[i]));
        if (std::isnan(a[i]) || std::isnan(b[i])) {
            return INFINITY;
        }
    }
    return diff / std::max(scale, 1e-300);
}

} // namespace

TEST(Nmf, MatchesSerialReferenceStepForStepOnEveryGrid) {
    const gidx m = 37, n = 23, k = 4;
    const int iterations = 8;
    for (Algorithm algorithm : all_algorithms) {
        NmfOptions opts;
        opts.algorithm = algorithm;
        opts.max_iter = iterations;
        opts.tol = 0;
        opts.w = {0.01, 0.02};
        opts.h = {0.0, 0.05};
        auto serial = test::make_serial(m, n, k, data_at, 7);
        test::run_serial(serial, opts, iterations);
        for (GridShape shape : test::all_grid_shapes(world().size())) {
            Grid grid(world(), shape);
            for (auto [mb, nb] : {std::pair<gidx, gidx>{4, 4}, {3, 5}, {64, 64}}) {
                const NmfRun r = run_nmf<double>(grid, m, n, mb, nb, k, data_at, opts);
                const std::string where = to_string(algorithm) + " grid " + grid.shape_string() + " block " +
                                          std::to_string(mb) + "x" + std::to_string(nb);
                EXPECT_LT(max_rel_diff(r.w, serial.w), 1e-9) << where;
                EXPECT_LT(max_rel_diff(r.ht, serial.ht), 1e-9) << where;
                ASSERT_EQ(r.info.history_relative_error.size(), static_cast<std::size_t>(iterations));
                for (int it = 0; it < iterations; ++it) { // the trace identity agrees with a direct residual
                    EXPECT_NEAR(r.info.history_relative_error[it], serial.history[it], 1e-7)
                        << where << " it " << it;
                }
                EXPECT_NEAR(r.exact_error, serial.history.back(), 1e-10) << where;
            }
        }
    }
}

TEST(Nmf, AnlsFitsPlantedExactLowRankDataAndZeroSlicesStayZero) {
    Grid grid(world(), choose_grid_shape(world().size()));
    NmfOptions opts;
    opts.algorithm = Algorithm::anls_bpp;
    opts.max_iter = 400;
    opts.tol = 0;
    const NmfRun r = run_nmf<double>(grid, 60, 50, 8, 8, 3, planted_at, opts);
    EXPECT_LT(r.exact_error, 1e-8);
    for (gidx l = 0; l < 3; ++l) {
        EXPECT_EQ(r.w[5 * 3 + l], 0.0);  // zero row of X -> zero row of W
        EXPECT_EQ(r.ht[7 * 3 + l], 0.0); // zero column of X -> zero column of H
    }
}

// Regression: the Schur-path counters (schur_groups, refinements, schur_fallbacks, reused_rows) were left
// out of the sum over ranks, so NmfInfo reported 0 for them. Every counter must be summed over ranks.
TEST(Nmf, BppCountersAreSummedOverRanks) {
    Grid grid(world(), choose_grid_shape(world().size()));
    NmfOptions opts;
    opts.algorithm = Algorithm::anls_bpp;
    opts.max_iter = 20;
    opts.tol = 0;
    const gidx m = 60, n = 50, k = 8;
    const NmfRun r = run_nmf<double>(grid, m, n, 8, 8, k, data_at, opts);
    EXPECT_EQ(r.info.bpp.columns, 20 * (m + n)); // every factor row once per iteration, whatever the grid
    // Each round solves its columns through a factorization or a Schur group: with k = 8 and dense data both
    // paths occur, and a count missing from the reduction reads 0.
    EXPECT_GT(r.info.bpp.schur_groups, 0);
    EXPECT_GT(r.info.bpp.factorizations, 0);
    const lidx counts[4] = {r.info.bpp.schur_groups, r.info.bpp.refinements, r.info.bpp.schur_fallbacks,
                            r.info.bpp.reused_rows};
    for (lidx c : counts) { // the same total on every rank
        EXPECT_EQ(mpi::allreduce_value(world(), c, mpi::Op::min),
                  mpi::allreduce_value(world(), c, mpi::Op::max));
    }
}

TEST(Nmf, HalsAndAnlsObjectivesNeverIncrease) {
    Grid grid(world(), choose_grid_shape(world().size()));
    // Also with L1 and L2 penalties on both factors: HALS's column rescaling would raise the penalised
    // objective (9 increases of up to 6e-5 in this run before it was switched off for penalised runs).
    for (bool penalised : {false, true})
        for (Algorithm algorithm : {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu}) {
            NmfOptions opts;
            if (penalised) {
                opts.w = {0.5, 0.3};
                opts.h = {0.2, 0.1};
            }
            opts.algorithm = algorithm;
            opts.max_iter = 60;
            opts.tol = 0;
            std::vector<double> objectives;
            opts.on_iteration = [&](const IterationReport &rep) { objectives.push_back(rep.objective); };
            run_nmf<double>(grid, 45, 33, 4, 4, 5, data_at, opts, penalised ? 3 : 7);
            ASSERT_EQ(objectives.size(), 60u);
            for (std::size_t i = 1; i < objectives.size(); ++i) {
                EXPECT_LE(objectives[i], objectives[i - 1] * (1 + 1e-12))
                    << to_string(algorithm) << (penalised ? " penalised" : "") << " iteration " << i;
            }
        }
}

TEST(Nmf, FinalErrorIsGridIndependentAndFloatAgreesWithDouble) {
    NmfOptions opts;
    opts.max_iter = 30;
    opts.tol = 0;
    for (Algorithm algorithm : all_algorithms) {
        opts.algorithm = algorithm;
        auto serial = test::make_serial(50, 41, 4, data_at, 3);
        test::run_serial(serial, opts, 30);
        for (GridShape shape : test::all_grid_shapes(world().size())) {
            Grid grid(world(), shape);
            const NmfRun d = run_nmf<double>(grid, 50, 41, 5, 7, 4, data_at, opts, 3);
            EXPECT_NEAR(d.exact_error, serial.history.back(), 1e-10 * serial.history.back())
                << to_string(algorithm);
            const NmfRun f = run_nmf<float>(grid, 50, 41, 5, 7, 4, data_at, opts, 3);
            EXPECT_NEAR(f.exact_error, d.exact_error, 1e-4) << to_string(algorithm);
        }
    }
}

TEST(Nmf, DegenerateInputsGiveFiniteExactAnswers) {
    Grid grid(world(), choose_grid_shape(world().size()));
    // Outer product with a zero: X = u v^T, u = [2 1 4], v = [1 3 0 2], k = 1 (ROBUSTNESS case 2).
    const double u[3] = {2, 1, 4}, v[4] = {1, 3, 0, 2};
    auto outer = [&](gidx i, gidx j) { return u[i] * v[j]; };
    for (Algorithm algorithm : all_algorithms) {
        NmfOptions opts;
        opts.algorithm = algorithm;
        opts.max_iter = 200;
        opts.tol = 0;
        const NmfRun r = run_nmf<double>(grid, 3, 4, 1, 1, 1, outer, opts);
        EXPECT_LT(r.exact_error, algorithm == Algorithm::anls_bpp ? 1e-10 : 1e-6) << to_string(algorithm);
        EXPECT_EQ(r.ht[2], 0.0) << to_string(algorithm);
    }
    // k = min(m, n), constant and integer-valued matrices: finite, and exact where an exact fit exists.
    for (Algorithm algorithm : all_algorithms) {
        NmfOptions opts;
        opts.algorithm = algorithm;
        opts.max_iter = 300;
        opts.tol = 0;
        const NmfRun square = run_nmf<double>(grid, 4, 2, 1, 1, 2, data_at, opts);
        EXPECT_LT(square.exact_error, algorithm == Algorithm::mu ? 1e-2 : 1e-6) << to_string(algorithm);
        const NmfRun constant = run_nmf<double>(
            grid, 9, 7, 2, 2, 2, [](gidx, gidx) { return 2.5; }, opts);
        EXPECT_LT(constant.exact_error, 1e-6) << to_string(algorithm);
        const NmfRun counts = run_nmf<double>(
            grid, 20, 15, 4, 4, 3, [](gidx i, gidx j) { return std::floor(20 * test::uniform_at(4, i, j)); },
            opts);
        EXPECT_TRUE(std::isfinite(counts.exact_error));
        EXPECT_LT(counts.exact_error, 0.6);
    }
}

TEST(Nmf, StopsAtToleranceAndMaxTimeTogether) {
    Grid grid(world(), choose_grid_shape(world().size()));
    NmfOptions opts;
    opts.max_iter = 1000;
    opts.tol = 1e-3;
    const NmfRun r = run_nmf<double>(grid, 30, 20, 4, 4, 3, data_at, opts);
    EXPECT_TRUE(r.info.converged);
    EXPECT_EQ(r.info.stop_reason, "tolerance");
    EXPECT_LT(r.info.iterations, 1000);
    opts.tol = 0;
    opts.max_seconds = 1e-9; // stops after the first iteration on every rank
    const NmfRun t = run_nmf<double>(grid, 30, 20, 4, 4, 3, data_at, opts);
    EXPECT_EQ(t.info.stop_reason, "max-time");
    EXPECT_EQ(t.info.iterations, 1);
    int polls = 0;
    opts.max_seconds = 0;
    opts.stop_requested = [&] { return ++polls == 3; }; // polled on rank 0 only
    const NmfRun s = run_nmf<double>(grid, 30, 20, 4, 4, 3, data_at, opts);
    EXPECT_EQ(s.info.stop_reason, "interrupted");
    EXPECT_EQ(s.info.iterations, 3);
}

TEST(Nmf, BadInputIsRefusedWithPositionOnEveryRank) {
    const int p = world().size();
    Grid grid(world(), choose_grid_shape(p));
    auto message = [&](const std::function<double(gidx, gidx)> &f, gidx m, gidx n, gidx k) {
        DistMatrix<double> x(grid, m, n, 4, 4);
        test::fill(x, f);
        try {
            validate_nmf_input(x, k, "'in.h5':/X");
        } catch (const Error &e) {
            EXPECT_TRUE(e.collective());
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    // The bad entry sits in the last block, owned by the last grid position.
    auto with = [](gidx bi, gidx bj, double bad) {
        return [=](gidx i, gidx j) { return i == bi && j == bj ? bad : 1.0; };
    };
    EXPECT_EQ(
        message(with(38, 29, NAN), 40, 30, 2),
        "'in.h5':/X has 1 NaN entries; the first is at row 38, column 29 (0-based). NMF needs finite data");
    EXPECT_EQ(message(with(0, 0, INFINITY), 40, 30, 2), "'in.h5':/X has 1 infinite entries; the first is at "
                                                        "row 0, column 0 (0-based). NMF needs finite data");
    EXPECT_EQ(message(with(5, 9, -1e-6), 40, 30, 2), "'in.h5':/X has 1 negative entries; the first is -1e-06 "
                                                     "at row 5, column 9 (0-based). NMF needs X >= 0");
    EXPECT_EQ(message(with(5, 9, -0.0), 40, 30, 2), "accepted"); // signed zero is zero
    EXPECT_EQ(message(with(0, 0, 1.0), 40, 30, 0), "rank k = 0 must be at least 1");
    EXPECT_EQ(message(with(0, 0, 1.0), 40, 30, 31),
              "rank k = 31 exceeds min(m, n) = 30 for 'in.h5':/X (40 x 30)");
    EXPECT_EQ(message(with(0, 0, 1.0), 40, 30, 30), "accepted");
    EXPECT_EQ(message([](gidx, gidx) { return 0.0; }, 10, 8, 2),
              "'in.h5':/X has no nonzero entries (10 x 8): nothing to factorize");
}
