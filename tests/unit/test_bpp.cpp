// Unit tests for prism::nnls::bpp_solve against an independent brute-force NNLS (no MPI).

#include "prism/error.hpp"
#include "prism/nnls/bpp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

using prism::lidx;
using prism::nnls::bpp_solve;
using prism::nnls::BppOptions;
using prism::nnls::BppStats;
using Vec = std::vector<double>;

/// Column-major dense matrix for building test problems.
struct Mat {
    lidx rows = 0, cols = 0;
    Vec v;
    Mat(lidx r, lidx c) : rows(r), cols(c), v(r * c, 0.0) {}
    double &operator()(lidx i, lidx j) { return v[i + j * rows]; }
    double operator()(lidx i, lidx j) const { return v[i + j * rows]; }
};

Mat random_mat(std::mt19937_64 &rng, lidx r, lidx c, bool nonneg) {
    std::normal_distribution<double> nd(0.0, 1.0);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    Mat m(r, c);
    for (double &x : m.v)
        x = nonneg ? ud(rng) : nd(rng);
    return m;
}

Mat transpose_times(Mat const &a, Mat const &b) {
    Mat c(a.cols, b.cols);
    for (lidx j = 0; j < b.cols; ++j)
        for (lidx i = 0; i < a.cols; ++i) {
            double s = 0.0;
            for (lidx t = 0; t < a.rows; ++t)
                s += a(t, i) * b(t, j);
            c(i, j) = s;
        }
    return c;
}

double objective(Mat const &g, double const *r, double const *x) {
    double obj = 0.0;
    for (lidx i = 0; i < g.rows; ++i) {
        double gx = 0.0;
        for (lidx j = 0; j < g.rows; ++j)
            gx += g(i, j) * x[j];
        obj += x[i] * (0.5 * gx - r[i]);
    }
    return obj;
}

/// Max KKT violation: x >= 0, y = G x - r >= 0, x_i y_i = 0 (as |y_i| where x_i > 0).
double kkt_violation(Mat const &g, double const *r, double const *x) {
    double worst = 0.0;
    for (lidx i = 0; i < g.rows; ++i) {
        double y = -r[i];
        for (lidx j = 0; j < g.rows; ++j)
            y += g(i, j) * x[j];
        worst = std::max(worst, -x[i]);
        worst = std::max(worst, x[i] > 0 ? std::abs(y) : -y);
    }
    return worst;
}

/// Gaussian elimination with partial pivoting (deliberately not Cholesky). False if singular.
bool dense_solve(std::vector<double> a, std::vector<double> &b, int n) {
    for (int c = 0; c < n; ++c) {
        int p = c;
        for (int i = c + 1; i < n; ++i)
            if (std::abs(a[i + c * n]) > std::abs(a[p + c * n]))
                p = i;
        if (std::abs(a[p + c * n]) < 1e-13)
            return false;
        for (int j = 0; j < n; ++j)
            std::swap(a[c + j * n], a[p + j * n]);
        std::swap(b[c], b[p]);
        for (int i = c + 1; i < n; ++i) {
            double const f = a[i + c * n] / a[c + c * n];
            for (int j = c; j < n; ++j)
                a[i + j * n] -= f * a[c + j * n];
            b[i] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; --c) {
        for (int j = c + 1; j < n; ++j)
            b[c] -= a[c + j * n] * b[j];
        b[c] /= a[c + c * n];
    }
    return true;
}

/// Brute-force NNLS: every support S, unconstrained solve on S, keep the feasible one with the lowest
/// objective. For positive definite G the optimum is among the candidates.
Vec brute_force(Mat const &g, double const *r) {
    int const k = static_cast<int>(g.rows);
    Vec best(k, 0.0);
    double best_obj = 0.0; // x = 0
    for (std::uint32_t s = 1; s < (1U << k); ++s) {
        std::vector<int> idx;
        for (int i = 0; i < k; ++i)
            if ((s >> i) & 1U)
                idx.push_back(i);
        int const p = static_cast<int>(idx.size());
        std::vector<double> a(p * p), b(p);
        for (int q = 0; q < p; ++q) {
            b[q] = r[idx[q]];
            for (int t = 0; t < p; ++t)
                a[q + t * p] = g(idx[q], idx[t]);
        }
        if (!dense_solve(a, b, p))
            continue;
        if (*std::min_element(b.begin(), b.end()) < 0)
            continue;
        Vec x(k, 0.0);
        for (int q = 0; q < p; ++q)
            x[idx[q]] = b[q];
        double const obj = objective(g, r, x.data());
        if (obj < best_obj) {
            best_obj = obj;
            best = x;
        }
    }
    return best;
}

double max_abs(Vec const &v) {
    double m = 0.0;
    for (double x : v)
        m = std::max(m, std::abs(x));
    return m;
}

/// Solves all columns of R in one call and checks each column against brute force and KKT.
void check_against_brute_force(Mat const &g, Mat const &r, BppOptions const &opts = {}) {
    Mat x(g.rows, r.cols);
    BppStats st;
    bpp_solve(g.v.data(), g.rows, r.v.data(), r.rows, r.cols, x.v.data(), x.rows, opts, &st);
    EXPECT_EQ(st.columns, r.cols);
    EXPECT_EQ(st.cap_hits, 0);
    for (lidx j = 0; j < r.cols; ++j) {
        Vec rj(r.v.begin() + j * r.rows, r.v.begin() + (j + 1) * r.rows);
        for (double &e : rj)
            e -= opts.l1;
        Vec const ref = brute_force(g, rj.data());
        double const *xj = &x.v[j * x.rows];
        double const scale = 1.0 + max_abs(ref);
        for (lidx i = 0; i < g.rows; ++i) {
            ASSERT_GE(xj[i], 0.0);
            EXPECT_NEAR(xj[i], ref[i], 1e-9 * scale) << "k=" << g.rows << " col " << j << " i " << i;
        }
        EXPECT_LE(kkt_violation(g, rj.data(), xj), 1e-10) << "k=" << g.rows << " col " << j;
    }
}

TEST(Bpp, RandomProblemsMatchBruteForce) {
    std::mt19937_64 rng(20240611);
    int checked = 0;
    for (int t = 0; t < 400; ++t) {
        lidx const k = 1 + t % 8;
        lidx const m = k + 2 + t % 5;
        lidx const nrhs = 1 + t % 5;
        bool const nonneg = (t % 3) == 0; // NMF-like problems as well as sign-mixed ones
        Mat const a = random_mat(rng, m, k, nonneg);
        Mat b = random_mat(rng, m, nrhs, false);
        Mat const g = transpose_times(a, a);
        Mat const r = transpose_times(a, b);
        check_against_brute_force(g, r);
        checked += static_cast<int>(nrhs);
    }
    EXPECT_GT(checked, 1000);
}

TEST(Bpp, IdentityGivesRhs) {
    Mat g(3, 3);
    for (lidx i = 0; i < 3; ++i)
        g(i, i) = 1.0;
    Vec const r = {1.0, 2.0, 3.0};
    Vec x(3, -7.0);
    BppStats st;
    bpp_solve(g.v.data(), 3, r.data(), 3, 1, x.data(), 3, {}, &st);
    EXPECT_EQ(x, r);
    EXPECT_EQ(st.iterations, 1); // empty start, one full exchange
    EXPECT_EQ(st.cap_hits, 0);
}

TEST(Bpp, ZeroRhsGivesExactZero) {
    std::mt19937_64 rng(7);
    Mat const a = random_mat(rng, 9, 6, true);
    Mat const g = transpose_times(a, a);
    Vec const r(6 * 3, 0.0);
    for (bool warm : {false, true})
        for (double l1 : {0.0, 0.25}) {
            Vec x(6 * 3, 1.5); // nonzero warm start: every variable starts passive
            BppOptions opts;
            opts.warm_start = warm;
            opts.l1 = l1;
            BppStats st;
            bpp_solve(g.v.data(), 6, r.data(), 6, 3, x.data(), 6, opts, &st);
            for (double e : x)
                EXPECT_EQ(e, 0.0) << "warm=" << warm << " l1=" << l1;
            if (!warm) {
                EXPECT_EQ(st.iterations, 0);
            }
            EXPECT_EQ(st.cap_hits, 0);
        }
}

TEST(Bpp, MixedColumnsInOneCall) {
    std::mt19937_64 rng(11);
    lidx const m = 12, k = 7;
    Mat const a = random_mat(rng, m, k, false);
    Mat const g = transpose_times(a, a);
    Mat b(m, 3);
    // Column 0: b = A x_true with x_true > 0 (interior optimum). Column 1: zero. Column 2: random signs
    // (optimum on the boundary, needs exchanges).
    std::uniform_real_distribution<double> ud(0.5, 2.0);
    std::normal_distribution<double> nd(0.0, 1.0);
    Vec x_true(k);
    for (double &e : x_true)
        e = ud(rng);
    for (lidx i = 0; i < m; ++i) {
        for (lidx j = 0; j < k; ++j)
            b(i, 0) += a(i, j) * x_true[j];
        b(i, 2) = nd(rng);
    }
    Mat const r = transpose_times(a, b);
    check_against_brute_force(g, r);

    Mat x(k, 3);
    BppStats st;
    bpp_solve(g.v.data(), k, r.v.data(), k, 3, x.v.data(), k, {}, &st);
    for (lidx i = 0; i < k; ++i) {
        EXPECT_NEAR(x(i, 0), x_true[i], 1e-10);
        EXPECT_EQ(x(i, 1), 0.0);
    }
    Vec const ref2 = brute_force(g, &r.v[2 * k]);
    EXPECT_GT(std::count(ref2.begin(), ref2.end(), 0.0), 0) << "column 2 should have an active bound";
    EXPECT_GE(st.iterations, 1);
}

TEST(Bpp, DuplicateColumnsSingularGram) {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    lidx const m = 20;
    for (int trial = 0; trial < 20; ++trial) {
        Mat a(m, 4);
        Vec b(m);
        for (lidx i = 0; i < m; ++i) {
            double const ai = ud(rng), ci = ud(rng);
            a(i, 0) = a(i, 1) = a(i, 2) = ai;
            a(i, 3) = ci;
            b[i] = ai + ci;
        }
        Mat const g = transpose_times(a, a);
        Vec r(4, 0.0);
        for (lidx j = 0; j < 4; ++j)
            for (lidx i = 0; i < m; ++i)
                r[j] += a(i, j) * b[i];
        for (bool warm : {false, true}) {
            Vec x(4, 1.0);
            BppOptions opts;
            opts.warm_start = warm;
            BppStats st;
            bpp_solve(g.v.data(), 4, r.data(), 4, 1, x.data(), 4, opts, &st);
            EXPECT_EQ(st.cap_hits, 0);
            double res = 0.0;
            for (lidx i = 0; i < m; ++i) {
                double ax = -b[i];
                for (lidx j = 0; j < 4; ++j)
                    ax += a(i, j) * x[j];
                res += ax * ax;
            }
            for (double e : x) {
                EXPECT_TRUE(std::isfinite(e));
                EXPECT_GE(e, 0.0);
            }
            EXPECT_LT(std::sqrt(res), 1e-10) << "trial " << trial << " warm " << warm;
            EXPECT_NEAR(x[0] + x[1] + x[2], 1.0, 1e-10);
            EXPECT_NEAR(x[3], 1.0, 1e-10);
            EXPECT_LE(kkt_violation(g, r.data(), x.data()), 1e-10);
        }
    }
}

TEST(Bpp, ManyIdenticalAndTiedColumnsTerminate) {
    // Gram of 6 columns where columns 0-2 and 3-4 are identical, plus a zero column (dead component).
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    std::normal_distribution<double> nd(0.0, 1.0);
    lidx const m = 15, k = 6, nrhs = 200;
    Mat a(m, k);
    for (lidx i = 0; i < m; ++i) {
        a(i, 0) = a(i, 1) = a(i, 2) = ud(rng);
        a(i, 3) = a(i, 4) = ud(rng);
        a(i, 5) = 0.0;
    }
    Mat const b = random_mat(rng, m, nrhs, false);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat x(k, nrhs);
    BppStats st;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, x.v.data(), k, {}, &st);
    EXPECT_EQ(st.cap_hits, 0);
    EXPECT_GT(st.pivoted_fallbacks, 0);
    for (lidx j = 0; j < nrhs; ++j) {
        double const *xj = &x.v[j * k];
        for (lidx i = 0; i < k; ++i)
            ASSERT_TRUE(std::isfinite(xj[i]) && xj[i] >= 0.0);
        EXPECT_EQ(xj[5], 0.0);
        EXPECT_LE(kkt_violation(g, &r.v[j * k], xj), 1e-10) << "col " << j;
        // Same objective as the problem reduced to the distinct columns {0, 3}.
        Mat g2(2, 2);
        g2(0, 0) = g(0, 0), g2(0, 1) = g(0, 3), g2(1, 0) = g(3, 0), g2(1, 1) = g(3, 3);
        double const r2[2] = {r(0, j), r(3, j)};
        Vec const ref = brute_force(g2, r2);
        EXPECT_NEAR(objective(g, &r.v[j * k], xj), objective(g2, r2, ref.data()), 1e-10);
    }
}

TEST(Bpp, BackupRuleEngagesAndConverges) {
    // Found by random search: full exchanges alone stop shrinking the infeasible set on this problem, so
    // Kim & Park's single-variable backup rule has to take over.
    lidx const k = 7;
    Mat g(k, k);
    g.v = {6.0657075199052652,  -3.233090990254575,   0.50833917518410887, 0.73185752579810948,
           -5.4483014695006222, 4.1594091313459494,   3.4702802162413438,  -3.233090990254575,
           13.932818313025768,  9.5981084670640566,   -1.031791880926779,  4.5235410153266296,
           -3.9399148380672067, 7.1025046076554634,   0.50833917518410887, 9.5981084670640566,
           16.407959313749636,  5.569846900684265,    2.5037419122167295,  -2.7585183672287625,
           9.7585145845019685,  0.73185752579810948,  -1.031791880926779,  5.569846900684265,
           5.854876982398709,   2.3802499914092228,   -2.7743611093179865, -0.32978569262871682,
           -5.4483014695006222, 4.5235410153266296,   2.5037419122167295,  2.3802499914092228,
           10.135302586129729,  -8.1790620992408716,  -2.5654283180772621, 4.1594091313459494,
           -3.9399148380672067, -2.7585183672287625,  -2.7743611093179865, -8.1790620992408716,
           7.6866521494292641,  3.8799707752000199,   3.4702802162413438,  7.1025046076554634,
           9.7585145845019685,  -0.32978569262871682, -2.5654283180772621, 3.8799707752000199,
           14.85514646120391};
    Vec const r = {6.9622121087101165, 0.085314027264764419, -0.62817897283356527, -1.2158395149226675,
                   1.0537229682613423, 0.086198575012859574, 2.0147067848660973};
    Vec x(k);
    BppStats st;
    bpp_solve(g.v.data(), k, r.data(), k, 1, x.data(), k, {}, &st);
    EXPECT_GT(st.backup_exchanges, 0);
    EXPECT_EQ(st.cap_hits, 0);
    Vec const ref = brute_force(g, r.data());
    for (lidx i = 0; i < k; ++i)
        EXPECT_NEAR(x[i], ref[i], 1e-9 * (1.0 + max_abs(ref)));
    EXPECT_LE(kkt_violation(g, r.data(), x.data()), 1e-10);
}

TEST(Bpp, ZeroRowsInDesignMatrix) {
    std::mt19937_64 rng(13);
    lidx const m = 30, k = 6;
    Mat a = random_mat(rng, m, k, false);
    Mat b = random_mat(rng, m, 4, false);
    for (lidx i = 20; i < m; ++i) {
        for (lidx j = 0; j < k; ++j)
            a(i, j) = 0.0;
        for (lidx j = 0; j < 4; ++j)
            b(i, j) = 0.0;
    }
    check_against_brute_force(transpose_times(a, a), transpose_times(a, b));
}

TEST(Bpp, L1MatchesShiftedBruteForce) {
    std::mt19937_64 rng(17);
    for (int t = 0; t < 50; ++t) {
        lidx const k = 2 + t % 7;
        Mat const a = random_mat(rng, k + 4, k, true);
        Mat const b = random_mat(rng, k + 4, 3, true);
        BppOptions opts;
        opts.l1 = 0.1 * (1 + t % 4);
        check_against_brute_force(transpose_times(a, a), transpose_times(a, b), opts);
    }
}

TEST(Bpp, WarmStartGivesSameAnswer) {
    std::mt19937_64 rng(19);
    lidx const m = 14, k = 8, nrhs = 50;
    Mat const a = random_mat(rng, m, k, false);
    Mat const b = random_mat(rng, m, nrhs, false);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat cold(k, nrhs);
    BppStats st_cold;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, cold.v.data(), k, {}, &st_cold);

    BppOptions warm;
    warm.warm_start = true;
    Mat again = cold; // warm start from the optimum: zero exchanges
    BppStats st_again;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, again.v.data(), k, warm, &st_again);
    EXPECT_EQ(st_again.iterations, 0);
    for (lidx i = 0; i < k * nrhs; ++i)
        EXPECT_NEAR(again.v[i], cold.v[i], 1e-12);

    Mat rand_start = random_mat(rng, k, nrhs, false); // random passive sets
    BppStats st_rand;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, rand_start.v.data(), k, warm, &st_rand);
    EXPECT_EQ(st_rand.cap_hits, 0);
    for (lidx i = 0; i < k * nrhs; ++i)
        EXPECT_NEAR(rand_start.v[i], cold.v[i], 1e-10);
}

TEST(Bpp, FloatWithinFloatTolerance) {
    std::mt19937_64 rng(23);
    for (int t = 0; t < 60; ++t) {
        lidx const k = 1 + t % 8;
        lidx const nrhs = 4;
        Mat const a = random_mat(rng, k + 5, k, t % 2 == 0);
        Mat const b = random_mat(rng, k + 5, nrhs, false);
        Mat const g = transpose_times(a, a);
        Mat const r = transpose_times(a, b);
        std::vector<float> gf(g.v.begin(), g.v.end()), rf(r.v.begin(), r.v.end()), xf(k * nrhs);
        BppStats st;
        bpp_solve(gf.data(), k, rf.data(), k, nrhs, xf.data(), k, {}, &st);
        EXPECT_EQ(st.cap_hits, 0);
        for (lidx j = 0; j < nrhs; ++j) {
            Vec const ref = brute_force(g, &r.v[j * k]);
            double const scale = 1.0 + max_abs(ref);
            for (lidx i = 0; i < k; ++i) {
                EXPECT_GE(xf[i + j * k], 0.0f);
                EXPECT_NEAR(xf[i + j * k], ref[i], 2e-4 * scale) << "t=" << t << " col " << j;
            }
        }
    }
}

TEST(Bpp, IterationCapReturnsBestFeasibleIterate) {
    std::mt19937_64 rng(29);
    lidx const m = 10, k = 8, nrhs = 300;
    Mat const a = random_mat(rng, m, k, false);
    Mat const b = random_mat(rng, m, nrhs, false);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat opt(k, nrhs), capped(k, nrhs);
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, opt.v.data(), k);
    BppOptions o;
    o.max_iter = 1;
    BppStats st;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, capped.v.data(), k, o, &st);
    EXPECT_GT(st.cap_hits, 0);
    EXPECT_LT(st.cap_hits, nrhs);
    EXPECT_EQ(st.iterations, 1);
    lidx improved = 0;
    for (lidx j = 0; j < nrhs; ++j) {
        double const *xj = &capped.v[j * k];
        for (lidx i = 0; i < k; ++i)
            ASSERT_TRUE(std::isfinite(xj[i]) && xj[i] >= 0.0);
        double const f_cap = objective(g, &r.v[j * k], xj);
        double const f_opt = objective(g, &r.v[j * k], &opt.v[j * k]);
        EXPECT_LE(f_cap, 1e-12);         // no worse than x = 0
        EXPECT_GE(f_cap, f_opt - 1e-10); // cannot beat the optimum
        improved += f_cap < 0.5 * f_opt ? 1 : 0;
    }
    EXPECT_GT(improved, nrhs / 2); // the best iterate is kept, not just x = 0
}

TEST(Bpp, GroupsShareFactorizations) {
    std::mt19937_64 rng(31);
    lidx const m = 12, k = 6, nrhs = 300;
    Mat const a = random_mat(rng, m, k, false);
    Mat const b2 = random_mat(rng, m, 2, false);
    Mat b(m, nrhs);
    for (lidx j = 0; j < nrhs; ++j) // two kinds of columns, interleaved: grouping must sort, not scan
        for (lidx i = 0; i < m; ++i)
            b(i, j) = b2(i, j % 2);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    for (lidx block : {lidx{0}, lidx{64}}) {
        BppOptions o;
        o.block_cols = block;
        Mat x(k, nrhs);
        BppStats st;
        bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, x.v.data(), k, o, &st);
        lidx const blocks = block == 0 ? 1 : (nrhs + block - 1) / block;
        // Identical columns follow identical passive-set paths: at most two factorizations per round per
        // block.
        EXPECT_LE(st.factorizations, 2 * blocks * (st.iterations + 1));
        for (lidx j = 2; j < nrhs; ++j)
            for (lidx i = 0; i < k; ++i)
                ASSERT_EQ(x(i, j), x(i, j % 2));
    }
}

TEST(Bpp, LargeProblemBlocksAgree) {
    std::mt19937_64 rng(37);
    lidx const m = 150, k = 40, nrhs = 2500;
    Mat const a = random_mat(rng, m, k, true);
    Mat b = random_mat(rng, m, nrhs, true);
    for (lidx i = 0; i < m; ++i)
        b(i, 17) = 0.0; // a zero data column inside a big block
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat x_blocks(k, nrhs), x_one(k, nrhs);
    BppOptions o;
    o.block_cols = 97;
    BppStats st;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, x_blocks.v.data(), k, o, &st);
    EXPECT_EQ(st.cap_hits, 0);
    EXPECT_EQ(st.columns, nrhs);
    o.block_cols = 0;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, x_one.v.data(), k, o);
    double gmax = max_abs(g.v);
    for (lidx j = 0; j < nrhs; ++j) {
        double const *xj = &x_blocks.v[j * k];
        double const xs = 1.0 + max_abs(Vec(xj, xj + k));
        ASSERT_LE(kkt_violation(g, &r.v[j * k], xj), 1e-11 * gmax * xs) << "col " << j;
        for (lidx i = 0; i < k; ++i)
            ASSERT_NEAR(xj[i], x_one(i, j), 1e-9 * xs);
    }
    for (lidx i = 0; i < k; ++i)
        EXPECT_EQ(x_blocks(i, 17), 0.0);
}

TEST(Bpp, LeadingDimensionsRespected) {
    std::mt19937_64 rng(41);
    lidx const k = 5, nrhs = 7, ldr = k + 2, ldx = k + 3;
    Mat const a = random_mat(rng, 9, k, false);
    Mat const b = random_mat(rng, 9, nrhs, false);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Vec rp(ldr * nrhs, 1e300), xp(ldx * nrhs, -42.0);
    for (lidx j = 0; j < nrhs; ++j)
        for (lidx i = 0; i < k; ++i)
            rp[i + j * ldr] = r(i, j);
    bpp_solve(g.v.data(), k, rp.data(), ldr, nrhs, xp.data(), ldx);
    for (lidx j = 0; j < nrhs; ++j) {
        Vec const ref = brute_force(g, &r.v[j * k]);
        for (lidx i = 0; i < k; ++i)
            EXPECT_NEAR(xp[i + j * ldx], ref[i], 1e-10);
        for (lidx i = k; i < ldx; ++i)
            EXPECT_EQ(xp[i + j * ldx], -42.0);
    }
}

TEST(Bpp, ScalarProblems) {
    struct Case {
        double g, r, expected;
    };
    for (Case c : {Case{2.0, 3.0, 1.5}, Case{2.0, -3.0, 0.0}, Case{0.0, 0.0, 0.0}, Case{1e-300, 0.0, 0.0},
                   Case{4.0, 0.0, 0.0}}) {
        for (bool warm : {false, true}) {
            double x = 1.0;
            BppOptions o;
            o.warm_start = warm;
            BppStats st;
            bpp_solve(&c.g, 1, &c.r, 1, 1, &x, 1, o, &st);
            EXPECT_DOUBLE_EQ(x, c.expected) << "g=" << c.g << " r=" << c.r << " warm=" << warm;
            if (c.expected == 0.0) {
                EXPECT_EQ(x, 0.0);
            }
            EXPECT_EQ(st.cap_hits, 0);
        }
    }
}

TEST(Bpp, EmptySizesAndInvalidArguments) {
    double g = 1.0, r = 1.0, x = 5.0;
    EXPECT_NO_THROW(bpp_solve<double>(nullptr, 0, nullptr, 1, 3, nullptr, 1));
    EXPECT_NO_THROW(bpp_solve(&g, 1, &r, 1, 0, &x, 1));
    EXPECT_EQ(x, 5.0);
    EXPECT_THROW(bpp_solve(&g, -1, &r, 1, 1, &x, 1), prism::Error);
    EXPECT_THROW(bpp_solve(&g, 2, &r, 1, 1, &x, 2), prism::Error);
    BppOptions o;
    o.l1 = -1.0;
    EXPECT_THROW(bpp_solve(&g, 1, &r, 1, 1, &x, 1, o), prism::Error);
    o.l1 = 0.0;
    o.max_iter = -2;
    EXPECT_THROW(bpp_solve(&g, 1, &r, 1, 1, &x, 1, o), prism::Error);
}

} // namespace

/// Solves with and without the Schur path and checks both against KKT and each other. Returns the Schur
/// run's counters.
BppStats compare_schur_with_direct(Mat const &g, Mat const &r, Mat const &warm, double tol) {
    lidx const k = g.rows, nrhs = r.cols;
    BppOptions o;
    o.warm_start = true;
    o.block_cols = 64;
    Mat xs = warm, xd = warm;
    BppStats st_s, st_d;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, xs.v.data(), k, o, &st_s);
    o.schur = false;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, xd.v.data(), k, o, &st_d);
    EXPECT_EQ(st_d.schur_groups, 0);
    EXPECT_EQ(st_s.cap_hits, 0);
    EXPECT_EQ(st_d.cap_hits, 0);
    double const gmax = max_abs(g.v);
    for (lidx j = 0; j < nrhs; ++j) {
        double const *a = &xs.v[j * k];
        double const *b = &xd.v[j * k];
        double const scale = 1.0 + max_abs(Vec(b, b + k));
        EXPECT_LE(kkt_violation(g, &r.v[j * k], a), tol * gmax * scale) << "schur col " << j;
        EXPECT_LE(kkt_violation(g, &r.v[j * k], b), tol * gmax * scale) << "direct col " << j;
        for (lidx i = 0; i < k; ++i)
            EXPECT_NEAR(a[i], b[i], 1e3 * tol * scale) << "col " << j << " i " << i;
    }
    return st_s;
}

TEST(Bpp, SchurPathMatchesDirectPath) {
    // Nonnegative data: most of each solution is positive, so |A| < |F| and the Schur path is taken; the
    // warm start (a perturbed solution) gives mixed passive sets from the first round.
    std::mt19937_64 rng(43);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    for (lidx k : {lidx{3}, lidx{12}, lidx{30}, lidx{50}, lidx{70}}) {
        lidx const m = 3 * k + 10, nrhs = 400;
        Mat const a = random_mat(rng, m, k, true);
        Mat const b = random_mat(rng, m, nrhs, true);
        Mat const g = transpose_times(a, a);
        Mat const r = transpose_times(a, b);
        Mat warm(k, nrhs);
        for (double &e : warm.v)
            e = ud(rng) - 0.2;
        BppStats const st = compare_schur_with_direct(g, r, warm, 1e-11);
        EXPECT_GT(st.schur_groups, 0) << "k=" << k;
    }
}

TEST(Bpp, SchurPathRefinesIllConditionedGram) {
    // Columns of the design matrix nearly collinear: cond(G) ~ 1e9, inside the Schur path's bound, where
    // solving through G^{-1} loses digits that refinement must win back.
    std::mt19937_64 rng(47);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    lidx const k = 20, m = 60, nrhs = 300;
    Mat a = random_mat(rng, m, k, true);
    for (lidx i = 0; i < m; ++i)
        for (lidx j = 1; j < 6; ++j)
            a(i, j) = a(i, 0) + 3e-5 * (ud(rng) - 0.5);
    Mat const b = random_mat(rng, m, nrhs, true);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat warm(k, nrhs);
    for (double &e : warm.v)
        e = ud(rng);
    BppStats const st = compare_schur_with_direct(g, r, warm, 1e-10);
    EXPECT_GT(st.schur_groups, 0);
    EXPECT_GT(st.refinements, 0);
}

TEST(Bpp, SingularGramNeverTakesSchurPath) {
    // Duplicate design columns: G is singular, no inverse exists, every group is factored directly.
    std::mt19937_64 rng(53);
    lidx const k = 10, m = 30, nrhs = 200;
    Mat a = random_mat(rng, m, k, true);
    for (lidx i = 0; i < m; ++i)
        a(i, 7) = a(i, 2);
    Mat const b = random_mat(rng, m, nrhs, true);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat x(k, nrhs);
    BppStats st;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, x.v.data(), k, {}, &st);
    EXPECT_EQ(st.schur_groups, 0);
    EXPECT_GT(st.pivoted_fallbacks, 0);
    double const gmax = max_abs(g.v);
    for (lidx j = 0; j < nrhs; ++j) {
        double const *xj = &x.v[j * k];
        EXPECT_LE(kkt_violation(g, &r.v[j * k], xj), 1e-10 * gmax * (1.0 + max_abs(Vec(xj, xj + k))));
    }
}

TEST(Bpp, SharedFactorRowsAreReused) {
    // Columns differing only in their last passive index share all earlier Cholesky rows (direct path).
    std::mt19937_64 rng(59);
    lidx const k = 16, m = 40, nrhs = 64;
    Mat const a = random_mat(rng, m, k, false);
    Mat const b = random_mat(rng, m, nrhs, false);
    Mat const g = transpose_times(a, a);
    Mat const r = transpose_times(a, b);
    Mat x(k, nrhs), ref(k, nrhs);
    BppOptions o;
    o.schur = false;
    BppStats st;
    bpp_solve(g.v.data(), k, r.v.data(), k, nrhs, x.v.data(), k, o, &st);
    EXPECT_GT(st.reused_rows, 0);
    for (lidx j = 0; j < nrhs; ++j) { // each column alone: nothing to reuse, same answer
        BppStats one;
        bpp_solve(g.v.data(), k, &r.v[j * k], k, 1, &ref.v[j * k], k, o, &one);
        for (lidx i = 0; i < k; ++i)
            ASSERT_NEAR(x(i, j), ref(i, j), 1e-12 * (1.0 + max_abs(Vec(&ref.v[j * k], &ref.v[j * k] + k))));
    }
}
