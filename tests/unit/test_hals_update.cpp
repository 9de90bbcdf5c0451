// Unit tests for prism::nnls::hals_update and prism::nnls::mu_update (no MPI).

#include "prism/error.hpp"
#include "prism/nnls/bpp.hpp"
#include "prism/nnls/hals_update.hpp"
#include "prism/nnls/mu_update.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using prism::lidx;
using prism::nnls::HalsOptions;
using prism::nnls::MuOptions;
using prism::nnls::detail::HalsKernel;
using Vec = std::vector<double>;

/// Row-major dense matrix (Prism's factor layout).
struct RowMat {
    lidx rows = 0, cols = 0;
    Vec v;
    RowMat(lidx r, lidx c) : rows(r), cols(c), v(r * c, 0.0) {}
    double &operator()(lidx i, lidx j) { return v[i * cols + j]; }
    double operator()(lidx i, lidx j) const { return v[i * cols + j]; }
};

RowMat random_nonneg(std::mt19937_64 &rng, lidx r, lidx c) {
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    RowMat m(r, c);
    for (double &x : m.v)
        x = ud(rng);
    return m;
}

/// Subproblem for F (rows×k) given data X (rows×n) and other factor H (n×k): G = HᵀH, R = X H.
struct Sub {
    Vec g; // k×k
    RowMat r;
    lidx k;
    Sub(RowMat const &x, RowMat const &h) : g(h.cols * h.cols, 0.0), r(x.rows, h.cols), k(h.cols) {
        for (lidx a = 0; a < k; ++a)
            for (lidx b = 0; b < k; ++b)
                for (lidx t = 0; t < h.rows; ++t)
                    g[a + b * k] += h(t, a) * h(t, b);
        for (lidx i = 0; i < x.rows; ++i)
            for (lidx l = 0; l < k; ++l)
                for (lidx t = 0; t < x.cols; ++t)
                    r(i, l) += x(i, t) * h(t, l);
    }
};

/// 0.5 tr(F G Fᵀ) - tr(Fᵀ R) + l1 sum(F) + 0.5 l2 ||F||².
double objective(Sub const &s, RowMat const &f, double l1, double l2) {
    double obj = 0.0;
    for (lidx i = 0; i < f.rows; ++i)
        for (lidx a = 0; a < s.k; ++a) {
            double gf = 0.0;
            for (lidx b = 0; b < s.k; ++b)
                gf += s.g[a + b * s.k] * f(i, b);
            obj += f(i, a) * (0.5 * gf - s.r(i, a) + l1 + 0.5 * l2 * f(i, a));
        }
    return obj;
}

/// Column-by-column reference in the textbook form F(:,l) += (R(:,l) - F G(:,l) - l1 - l2 F(:,l)) / (G_ll +
/// l2), with the full product F G(:,l) recomputed from the current F.
void hals_reference(Sub const &s, RowMat &f, double l1, double l2, double floor) {
    for (lidx l = 0; l < s.k; ++l) {
        RowMat fg(f.rows, 1);
        for (lidx i = 0; i < f.rows; ++i)
            for (lidx j = 0; j < s.k; ++j)
                fg(i, 0) += f(i, j) * s.g[j + l * s.k];
        for (lidx i = 0; i < f.rows; ++i) {
            double const step = (s.r(i, l) - fg(i, 0) - l1 - l2 * f(i, l)) / (s.g[l + l * s.k] + l2);
            f(i, l) = std::max(floor, f(i, l) + step);
        }
    }
}

bool all_finite(Vec const &v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

TEST(HalsUpdate, OneSweepMatchesColumnReference) {
    std::mt19937_64 rng(101);
    lidx const rows = 37, n = 23, k = 6;
    Sub const s(random_nonneg(rng, rows, n), random_nonneg(rng, n, k));
    struct Pen {
        double l1, l2, floor;
    };
    for (Pen p : {Pen{0.0, 0.0, 1e-16}, Pen{0.3, 0.0, 0.0}, Pen{0.1, 0.7, 1e-16}, Pen{2.0, 0.2, 1e-3}}) {
        RowMat f = random_nonneg(rng, rows, k);
        RowMat ref = f;
        HalsOptions o;
        o.l1 = p.l1;
        o.l2 = p.l2;
        o.eps_floor = p.floor;
        prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
        hals_reference(s, ref, p.l1, p.l2, p.floor);
        for (lidx i = 0; i < rows * k; ++i)
            ASSERT_NEAR(f.v[i], ref.v[i], 1e-12 * (1.0 + std::abs(ref.v[i])))
                << "l1=" << p.l1 << " l2=" << p.l2;
        EXPECT_GE(*std::min_element(f.v.begin(), f.v.end()), p.floor);
    }
}

TEST(HalsUpdate, ObjectiveNonIncreasingAndConvergesToBpp) {
    std::mt19937_64 rng(103);
    lidx const rows = 40, n = 30, k = 5;
    Sub const s(random_nonneg(rng, rows, n), random_nonneg(rng, n, k));
    for (double l2 : {0.0, 0.5}) {
        double const l1 = 0.05;
        RowMat f = random_nonneg(rng, rows, k);
        HalsOptions o;
        o.l1 = l1;
        o.l2 = l2;
        o.eps_floor = 0.0;
        double prev = objective(s, f, l1, l2);
        for (int sweep = 0; sweep < 3000; ++sweep) {
            prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
            double const cur = objective(s, f, l1, l2);
            ASSERT_LE(cur, prev + 1e-12 * std::abs(prev)) << "sweep " << sweep;
            prev = cur;
        }
        // The fixed point is the NNLS optimum: compare with BPP on G + l2 I (BPP's R is k×rows col-major,
        // which is exactly the row-major rows×k buffer).
        Vec g2 = s.g;
        for (lidx l = 0; l < k; ++l)
            g2[l + l * k] += l2;
        RowMat x(rows, k);
        prism::nnls::BppOptions bo;
        bo.l1 = l1;
        prism::nnls::bpp_solve(g2.data(), k, s.r.v.data(), k, rows, x.v.data(), k, bo);
        for (lidx i = 0; i < rows * k; ++i)
            EXPECT_NEAR(f.v[i], x.v[i], 1e-6);
    }
}

TEST(HalsUpdate, DeadColumnNoNaN) {
    std::mt19937_64 rng(107);
    lidx const rows = 20, n = 15, k = 4;
    RowMat h = random_nonneg(rng, n, k);
    for (lidx t = 0; t < n; ++t)
        h(t, 2) = 0.0; // dead component: G(2,2) = 0 and R(:,2) = 0
    Sub const s(random_nonneg(rng, rows, n), h);
    for (double floor : {1e-16, 0.0}) {
        RowMat f = random_nonneg(rng, rows, k);
        HalsOptions o;
        o.eps_floor = floor;
        for (int sweep = 0; sweep < 5; ++sweep)
            prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
        EXPECT_TRUE(all_finite(f.v));
        for (lidx i = 0; i < rows; ++i) {
            EXPECT_EQ(f(i, 2), floor); // documented: dead entries go to the floor
            for (lidx l = 0; l < k; ++l)
                EXPECT_GE(f(i, l), 0.0);
        }
    }
    // With a ridge the denominator is positive and the dead column is the exact minimiser, 0 -> floor.
    RowMat f = random_nonneg(rng, rows, k);
    HalsOptions o;
    o.l2 = 0.1;
    prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
    EXPECT_TRUE(all_finite(f.v));
}

TEST(HalsUpdate, ZeroDataRowGivesExactZeroRow) {
    std::mt19937_64 rng(109);
    lidx const rows = 25, n = 18, k = 5;
    RowMat x = random_nonneg(rng, rows, n);
    for (lidx t = 0; t < n; ++t) {
        x(7, t) = 0.0;
        x(rows - 1, t) = 0.0; // last row too (block boundary in the distributed layout)
    }
    Sub const s(x, random_nonneg(rng, n, k));
    for (double l1 : {0.0, 0.2}) {
        RowMat f = random_nonneg(rng, rows, k); // positive start
        HalsOptions o;
        o.l1 = l1;
        prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
        for (lidx l = 0; l < k; ++l) {
            EXPECT_EQ(f(7, l), 0.0);
            EXPECT_EQ(f(rows - 1, l), 0.0);
            EXPECT_GE(f(0, l), o.eps_floor);
        }
    }
}

TEST(HalsUpdate, FloatMatchesDouble) {
    std::mt19937_64 rng(113);
    lidx const rows = 300, n = 20, k = 7; // enough rows for the OpenMP path
    Sub const s(random_nonneg(rng, rows, n), random_nonneg(rng, n, k));
    RowMat f = random_nonneg(rng, rows, k);
    std::vector<float> gf(s.g.begin(), s.g.end()), rf(s.r.v.begin(), s.r.v.end()), ff(f.v.begin(), f.v.end());
    HalsOptions o;
    o.l1 = 0.1;
    prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
    prism::nnls::hals_update(gf.data(), k, rf.data(), k, rows, ff.data(), k, o);
    for (lidx i = 0; i < rows * k; ++i)
        EXPECT_NEAR(ff[i], f.v[i], 1e-4 * (1.0 + std::abs(f.v[i])));
}

TEST(HalsUpdate, RowStridesRespected) {
    std::mt19937_64 rng(127);
    lidx const rows = 9, n = 8, k = 3, ld = 5;
    Sub const s(random_nonneg(rng, rows, n), random_nonneg(rng, n, k));
    RowMat f = random_nonneg(rng, rows, k);
    Vec fp(rows * ld, -3.0), rp(rows * ld, 1e300);
    for (lidx i = 0; i < rows; ++i)
        for (lidx l = 0; l < k; ++l) {
            fp[i * ld + l] = f(i, l);
            rp[i * ld + l] = s.r(i, l);
        }
    prism::nnls::hals_update(s.g.data(), k, rp.data(), ld, rows, fp.data(), ld);
    prism::nnls::hals_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k);
    for (lidx i = 0; i < rows; ++i) {
        for (lidx l = 0; l < k; ++l)
            EXPECT_EQ(fp[i * ld + l], f(i, l));
        for (lidx l = k; l < ld; ++l)
            EXPECT_EQ(fp[i * ld + l], -3.0);
    }
}

TEST(HalsUpdate, InvalidArguments) {
    double g = 1.0, r = 1.0, f = 1.0;
    EXPECT_NO_THROW(prism::nnls::hals_update<double>(nullptr, 0, nullptr, 0, 10, nullptr, 0));
    EXPECT_THROW(prism::nnls::hals_update(&g, 1, &r, 0, 1, &f, 1), prism::Error);
    HalsOptions o;
    o.eps_floor = -1.0;
    EXPECT_THROW(prism::nnls::hals_update(&g, 1, &r, 1, 1, &f, 1, o), prism::Error);
}

TEST(MuUpdate, OneStepMatchesFormula) {
    std::mt19937_64 rng(131);
    lidx const rows = 11, n = 9, k = 4;
    Sub const s(random_nonneg(rng, rows, n), random_nonneg(rng, n, k));
    RowMat f = random_nonneg(rng, rows, k);
    RowMat const old = f;
    MuOptions o;
    o.l1 = 0.2;
    o.l2 = 0.3;
    prism::nnls::mu_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
    for (lidx i = 0; i < rows; ++i)
        for (lidx l = 0; l < k; ++l) {
            double den = o.l1 + o.eps + o.l2 * old(i, l);
            for (lidx j = 0; j < k; ++j)
                den += old(i, j) * s.g[j + l * k];
            EXPECT_NEAR(f(i, l), old(i, l) * s.r(i, l) / den, 1e-14);
        }
}

TEST(MuUpdate, ObjectiveNonIncreasing) {
    std::mt19937_64 rng(137);
    lidx const rows = 30, n = 25, k = 5;
    Sub const s(random_nonneg(rng, rows, n), random_nonneg(rng, n, k));
    for (double l2 : {0.0, 0.4}) {
        double const l1 = 0.1;
        RowMat f = random_nonneg(rng, rows, k);
        MuOptions o;
        o.l1 = l1;
        o.l2 = l2;
        double prev = objective(s, f, l1, l2);
        double const first = prev;
        for (int it = 0; it < 500; ++it) {
            prism::nnls::mu_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k, o);
            double const cur = objective(s, f, l1, l2);
            ASSERT_LE(cur, prev + 1e-12 * std::abs(prev)) << "iteration " << it;
            prev = cur;
        }
        EXPECT_LT(prev, first);
    }
}

TEST(MuUpdate, ZerosGiveNoNaN) {
    std::mt19937_64 rng(139);
    lidx const rows = 12, n = 10, k = 4;
    RowMat x = random_nonneg(rng, rows, n);
    RowMat h = random_nonneg(rng, n, k);
    for (lidx t = 0; t < n; ++t) {
        x(3, t) = 0.0; // zero data row
        h(t, 1) = 0.0; // dead component in the other factor
    }
    Sub const s(x, h);
    RowMat f = random_nonneg(rng, rows, k);
    for (lidx i = 0; i < rows; ++i)
        f(i, 2) = 0.0; // zero column in F itself
    for (int it = 0; it < 20; ++it)
        prism::nnls::mu_update(s.g.data(), k, s.r.v.data(), k, rows, f.v.data(), k);
    EXPECT_TRUE(all_finite(f.v));
    for (lidx i = 0; i < rows; ++i) {
        EXPECT_EQ(f(i, 1), 0.0);
        EXPECT_EQ(f(i, 2), 0.0);
    }
    for (lidx l = 0; l < k; ++l)
        EXPECT_EQ(f(3, l), 0.0);
    // All-zero F and G: 0 * 0 / eps, not 0/0.
    RowMat z(rows, k);
    Vec gz(k * k, 0.0);
    prism::nnls::mu_update(gz.data(), k, s.r.v.data(), k, rows, z.v.data(), k);
    EXPECT_TRUE(all_finite(z.v));
    MuOptions bad;
    bad.eps = 0.0;
    EXPECT_THROW(prism::nnls::mu_update(gz.data(), k, s.r.v.data(), k, rows, z.v.data(), k, bad),
                 prism::Error);
}

// ---- The kernels against plain row-at-a-time references on many shapes: k = 1, k below / at / past the
// W x W transposes (W = 2, 4, 8), rows below / at / past the row blocks (16, 32 or 64 rows in HALS, 128 in
// MU), padded row strides, penalties, zero data rows, a dead component, float.

/// A problem of `rows` rows: G = HᵀH / n (PSD) and R uniform in [0, k/4), which puts some entries below the
/// floor; rows listed in zero_rows get an exactly zero R row. Row stride ld >= k, padding filled with junk.
struct Problem {
    lidx rows, k, ld;
    Vec g, r, f;
    Problem(std::mt19937_64 &rng, lidx rows_, lidx k_, lidx ld_, bool dead_column)
        : rows(rows_), k(k_), ld(ld_), g(k_ * k_, 0.0), r(rows_ * ld_, -7.0), f(rows_ * ld_, 5.0) {
        std::uniform_real_distribution<double> ud(0.0, 1.0);
        lidx const n = 3 * k + 5;
        RowMat h = random_nonneg(rng, n, k);
        if (dead_column && k > 1)
            for (lidx t = 0; t < n; ++t)
                h(t, k / 2) = 0.0;
        for (lidx a = 0; a < k; ++a)
            for (lidx b = 0; b < k; ++b)
                for (lidx t = 0; t < n; ++t)
                    g[a + b * k] += h(t, a) * h(t, b) / static_cast<double>(n);
        for (lidx i = 0; i < rows; ++i)
            for (lidx l = 0; l < k; ++l) {
                r[i * ld + l] = ud(rng) * static_cast<double>(k) / 4;
                f[i * ld + l] = ud(rng);
            }
        for (lidx i : {lidx{0}, rows / 2, rows - 1})
            for (lidx l = 0; l < k; ++l)
                r[i * ld + l] = 0.0;
    }
};

/// HALS one row at a time, straight from the documented formula (sum over j != l in increasing j).
template <typename T> void hals_rows_reference(Problem const &p, std::vector<T> &f, HalsOptions const &o) {
    double const fmax = static_cast<double>(std::numeric_limits<T>::max());
    for (lidx i = 0; i < p.rows; ++i) {
        bool zero = true;
        for (lidx l = 0; l < p.k; ++l)
            zero = zero && static_cast<T>(p.r[i * p.ld + l]) == T(0);
        std::vector<double> row(p.k);
        for (lidx l = 0; l < p.k; ++l)
            row[l] = static_cast<double>(f[i * p.ld + l]);
        for (lidx l = 0; l < p.k; ++l) {
            double const den = static_cast<double>(static_cast<T>(p.g[l + l * p.k])) + o.l2;
            if (!(den > 0)) {
                row[l] = o.eps_floor;
                continue;
            }
            double s = 0.0;
            for (lidx j = 0; j < p.k; ++j)
                if (j != l)
                    s += static_cast<double>(static_cast<T>(p.g[l + j * p.k])) * row[j];
            double const v = (static_cast<double>(static_cast<T>(p.r[i * p.ld + l])) - o.l1 - s) / den;
            row[l] = !(v <= fmax) ? o.eps_floor : std::max(v, o.eps_floor);
        }
        for (lidx l = 0; l < p.k; ++l)
            f[i * p.ld + l] = zero ? T(0) : static_cast<T>(row[l]);
    }
}

std::vector<HalsKernel> available_kernels() {
    std::vector<HalsKernel> out;
    for (HalsKernel kernel :
         {HalsKernel::automatic, HalsKernel::baseline, HalsKernel::avx2, HalsKernel::avx512})
        if (prism::nnls::detail::hals_kernel_available(kernel))
            out.push_back(kernel);
    return out;
}

TEST(HalsUpdate, EveryKernelMatchesRowReferenceOnManyShapes) {
    std::mt19937_64 rng(151);
    std::vector<HalsKernel> const kernels = available_kernels();
    ASSERT_GE(kernels.size(), 2u); // automatic and baseline always
    int compared = 0;
    for (lidx k : {1, 7, 8, 13, 50})
        for (lidx rows : {1, 31, 32, 64, 65, 200})
            for (lidx pad : {0, 3})
                for (int variant = 0; variant < 3; ++variant) {
                    HalsOptions o;
                    if (variant == 1) {
                        o.l1 = 0.3;
                        o.l2 = 0.5;
                        o.eps_floor = 1e-3;
                    }
                    bool const dead = variant == 2; // G(l,l) = 0, no ridge: that column goes to the floor
                    Problem const p(rng, rows, k, k + pad, dead);
                    Vec ref = p.f;
                    hals_rows_reference(p, ref, o);
                    Vec first;
                    for (HalsKernel kernel : kernels) {
                        Vec f = p.f;
                        prism::nnls::detail::hals_update_with(kernel, p.g.data(), k, p.r.data(), p.ld, rows,
                                                              f.data(), p.ld, o);
                        for (lidx i = 0; i < rows * p.ld; ++i) {
                            ASSERT_NEAR(f[i], ref[i], 1e-12 * std::max(1.0, std::abs(ref[i])))
                                << "kernel " << static_cast<int>(kernel) << " k=" << k << " rows=" << rows
                                << " ld=" << p.ld << " variant " << variant << " at " << i;
                        }
                        for (lidx i : {lidx{0}, rows / 2, rows - 1})
                            for (lidx l = 0; l < k; ++l)
                                ASSERT_EQ(f[i * p.ld + l], 0.0); // zero data row: exactly zero
                        // The vector variants sum in the same order with FMA: the same bits.
                        if (kernel == HalsKernel::avx2 || kernel == HalsKernel::avx512) {
                            if (first.empty())
                                first = f;
                            else
                                ASSERT_EQ(f, first) << "k=" << k << " rows=" << rows;
                        }
                        ++compared;
                    }
                }
    EXPECT_EQ(compared, 5 * 6 * 2 * 3 * static_cast<int>(kernels.size()));
}

TEST(HalsUpdate, FloatEveryKernelMatchesRowReference) {
    std::mt19937_64 rng(157);
    for (lidx k : {1, 9, 50})
        for (lidx rows : {5, 64, 97}) {
            Problem const p(rng, rows, k, k + 1, false);
            std::vector<float> g(p.g.begin(), p.g.end()), r(p.r.begin(), p.r.end());
            std::vector<float> ref(p.f.begin(), p.f.end());
            HalsOptions o;
            o.l1 = 0.05;
            hals_rows_reference(p, ref, o);
            for (HalsKernel kernel : available_kernels()) {
                std::vector<float> f(p.f.begin(), p.f.end());
                prism::nnls::detail::hals_update_with(kernel, g.data(), k, r.data(), p.ld, rows, f.data(),
                                                      p.ld, o);
                // Both accumulate in double and round once to float: at most one float ulp apart.
                for (lidx i = 0; i < rows * p.ld; ++i)
                    ASSERT_NEAR(f[i], ref[i], 1.2e-7 * std::max(1.0f, std::abs(ref[i])))
                        << "kernel " << static_cast<int>(kernel) << " k=" << k << " rows=" << rows;
            }
        }
}

#ifdef _OPENMP
// The update run on a copy of p.f with one thread and with two: the two results must be equal.
template <typename Update> void expect_same_with_one_and_two_threads(Problem const &p, Update update) {
    Vec one = p.f, two = p.f;
    int const before = omp_get_max_threads();
    omp_set_num_threads(1);
    update(p.g.data(), p.k, p.r.data(), p.ld, p.rows, one.data(), p.ld);
    omp_set_num_threads(2);
    update(p.g.data(), p.k, p.r.data(), p.ld, p.rows, two.data(), p.ld);
    omp_set_num_threads(before);
    EXPECT_EQ(one, two);
    EXPECT_NE(one, p.f);
}
#endif

TEST(HalsUpdate, ThreadsGiveTheSameResult) {
#ifdef _OPENMP
    std::mt19937_64 rng(163);
    Problem const p(rng, 1000, 20, 20, false); // >= 256 rows: the OpenMP path
    expect_same_with_one_and_two_threads(p, [](auto... a) { prism::nnls::hals_update(a...); });
#else
    GTEST_SKIP() << "built without OpenMP";
#endif
}

/// MU one row at a time, straight from the documented formula.
template <typename T> void mu_rows_reference(Problem const &p, std::vector<T> &f, MuOptions const &o) {
    for (lidx i = 0; i < p.rows; ++i) {
        std::vector<double> old(p.k);
        for (lidx l = 0; l < p.k; ++l)
            old[l] = static_cast<double>(f[i * p.ld + l]);
        for (lidx l = 0; l < p.k; ++l) {
            double den = o.l2 * old[l] + o.l1 + o.eps;
            for (lidx j = 0; j < p.k; ++j)
                den += static_cast<double>(static_cast<T>(p.g[j + l * p.k])) * old[j];
            double const num = std::max(static_cast<double>(static_cast<T>(p.r[i * p.ld + l])), 0.0);
            f[i * p.ld + l] = static_cast<T>(old[l] * num / den);
        }
    }
}

TEST(MuUpdate, MatchesRowReferenceOnManyShapes) {
    std::mt19937_64 rng(167);
    for (lidx k : {1, 7, 50})
        for (lidx rows : {1, 127, 128, 129, 300})
            for (lidx pad : {0, 2})
                for (bool penalties : {false, true}) {
                    Problem p(rng, rows, k, k + pad, false);
                    p.f[(rows / 3) * p.ld] = 0.0; // a zero entry of F stays zero
                    MuOptions o;
                    if (penalties) {
                        o.l1 = 0.2;
                        o.l2 = 0.3;
                    }
                    Vec ref = p.f, f = p.f;
                    mu_rows_reference(p, ref, o);
                    prism::nnls::mu_update(p.g.data(), k, p.r.data(), p.ld, rows, f.data(), p.ld, o);
                    for (lidx i = 0; i < rows * p.ld; ++i)
                        ASSERT_NEAR(f[i], ref[i], 1e-12 * std::max(1.0, std::abs(ref[i])))
                            << "k=" << k << " rows=" << rows << " ld=" << p.ld << " at " << i;
                    EXPECT_EQ(f[(rows / 3) * p.ld], 0.0);
                    for (lidx l = 0; l < k; ++l)
                        EXPECT_EQ(f[(rows - 1) * p.ld + l], 0.0); // zero data row
                }
}

TEST(MuUpdate, FloatMatchesRowReference) {
    std::mt19937_64 rng(173);
    for (lidx k : {1, 50})
        for (lidx rows : {3, 129}) {
            Problem const p(rng, rows, k, k + 1, false);
            std::vector<float> g(p.g.begin(), p.g.end()), r(p.r.begin(), p.r.end());
            std::vector<float> ref(p.f.begin(), p.f.end()), f = ref;
            MuOptions o;
            o.l2 = 0.1;
            mu_rows_reference(p, ref, o);
            prism::nnls::mu_update(g.data(), k, r.data(), p.ld, rows, f.data(), p.ld, o);
            for (lidx i = 0; i < rows * p.ld; ++i)
                ASSERT_NEAR(f[i], ref[i], 1.2e-7 * std::max(1.0f, std::abs(ref[i])))
                    << "k=" << k << " rows=" << rows;
        }
}

TEST(MuUpdate, ThreadsGiveTheSameResult) {
#ifdef _OPENMP
    std::mt19937_64 rng(179);
    Problem const p(rng, 1000, 20, 23, false); // >= 256 rows: the OpenMP path, several tiles per thread
    expect_same_with_one_and_two_threads(p, [](auto... a) { prism::nnls::mu_update(a...); });
#else
    GTEST_SKIP() << "built without OpenMP";
#endif
}

} // namespace
