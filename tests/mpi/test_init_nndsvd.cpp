// NNDSVD / NNDSVDa initialisation and the randomised SVD under it: singular values against a serial
// eigendecomposition of X^T X, exactness on rank-1 data, the NNDSVD formula against a serial one, grid
// independence against a serial (1 x 1 grid) call on every rank, zeros, degenerate inputs, bad arguments.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "prism/algorithms/init_nndsvd.hpp"
#include "prism/linalg/lapack_abi.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

using namespace prism;
using prism::test::world;

namespace {

using MatrixFn = std::function<double(gidx, gidx)>;

struct Case {
    gidx m, n, mb, nb;
};
// Sizes that are not multiples of the blocks, a block larger than the matrix, a wide matrix, and m = 3
// (fewer rows than the 4 x 1 and 6 x 1 grids have process rows).
const Case cases[] = {{37, 23, 4, 4}, {37, 23, 3, 5}, {37, 23, 64, 64}, {19, 31, 4, 3}, {3, 23, 2, 3}};

template <typename T> double tol() {
    return std::is_same<T, double>::value ? 1e-10 : 1e-4;
}

// Exactly rank-r non-negative data.
MatrixFn low_rank(int r) {
    return [r](gidx i, gidx j) {
        double s = 0;
        for (int t = 0; t < r; ++t) {
            s += (0.1 + test::uniform_at(41, i, t)) * (0.1 + test::uniform_at(42, j, t));
        }
        return s;
    };
}
double generic_at(gidx i, gidx j) {
    return test::uniform_at(43, i, j) + (i % 3 == j % 4 ? 1.0 : 0.0);
}

std::vector<double> dense(gidx m, gidx n, const MatrixFn &f) { // row-major
    std::vector<double> x(static_cast<std::size_t>(m * n));
    for (gidx i = 0; i < m; ++i) {
        for (gidx j = 0; j < n; ++j) {
            x[static_cast<std::size_t>(i * n + j)] = f(i, j);
        }
    }
    return x;
}

// Serial SVD from the eigendecomposition of X^T X (LAPACK dsyev), independent of the library's path:
// sigma descending, V (n x n row-major, column j = v_j), U_j = X v_j / sigma_j (zero if sigma_j ~ 0).
struct SerialSvd {
    std::vector<double> sigma, u, v; // u: m x n row-major
};
SerialSvd serial_svd(gidx m, gidx n, const std::vector<double> &x) {
    std::vector<double> g(static_cast<std::size_t>(n * n), 0.0); // column-major (symmetric)
    for (gidx a = 0; a < n; ++a) {
        for (gidx b = 0; b < n; ++b) {
            double s = 0;
            for (gidx i = 0; i < m; ++i) {
                s += x[static_cast<std::size_t>(i * n + a)] * x[static_cast<std::size_t>(i * n + b)];
            }
            g[static_cast<std::size_t>(a + b * n)] = s;
        }
    }
    const int nn = static_cast<int>(n);
    int info = 0, lwork = 4 * nn + 64;
    std::vector<double> lambda(static_cast<std::size_t>(n)), work(static_cast<std::size_t>(lwork));
    dsyev_("V", "U", &nn, g.data(), &nn, lambda.data(), work.data(), &lwork, &info, 1, 1);
    EXPECT_EQ(info, 0);
    SerialSvd s;
    s.sigma.resize(static_cast<std::size_t>(n));
    s.v.resize(static_cast<std::size_t>(n * n));
    s.u.assign(static_cast<std::size_t>(m * n), 0.0);
    for (gidx j = 0; j < n; ++j) {
        const gidx src = n - 1 - j; // ascending -> descending
        s.sigma[static_cast<std::size_t>(j)] =
            std::sqrt(std::max(lambda[static_cast<std::size_t>(src)], 0.0));
        for (gidx a = 0; a < n; ++a) {
            s.v[static_cast<std::size_t>(a * n + j)] = g[static_cast<std::size_t>(a + src * n)];
        }
    }
    for (gidx j = 0; j < n; ++j) {
        const double sj = s.sigma[static_cast<std::size_t>(j)];
        if (!(sj > 1e-6 * s.sigma[0])) {
            s.sigma[static_cast<std::size_t>(j)] = 0;
            continue;
        }
        for (gidx i = 0; i < m; ++i) {
            double t = 0;
            for (gidx a = 0; a < n; ++a) {
                t += x[static_cast<std::size_t>(i * n + a)] * s.v[static_cast<std::size_t>(a * n + j)];
            }
            s.u[static_cast<std::size_t>(i * n + j)] = t / sj;
        }
    }
    return s;
}

// NNDSVD written plainly from a serial SVD, as scikit-learn's _initialize_nmf (without its 1e-6 cut).
void serial_nndsvd(
    gidx m, gidx n, gidx k, const SerialSvd &s, std::vector<double> &w, std::vector<double> &ht) {
    w.assign(static_cast<std::size_t>(m * k), 0.0);
    ht.assign(static_cast<std::size_t>(n * k), 0.0);
    auto u_at = [&](gidx i, gidx j) { return s.u[static_cast<std::size_t>(i * n + j)]; };
    auto v_at = [&](gidx i, gidx j) { return s.v[static_cast<std::size_t>(i * n + j)]; };
    for (gidx j = 0; j < k; ++j) {
        const double sj = s.sigma[static_cast<std::size_t>(j)];
        if (sj == 0) {
            continue;
        }
        if (j == 0) {
            for (gidx i = 0; i < m; ++i) {
                w[static_cast<std::size_t>(i * k)] = std::sqrt(sj) * std::abs(u_at(i, 0));
            }
            for (gidx i = 0; i < n; ++i) {
                ht[static_cast<std::size_t>(i * k)] = std::sqrt(sj) * std::abs(v_at(i, 0));
            }
            continue;
        }
        double up = 0, un = 0, vp = 0, vn = 0;
        for (gidx i = 0; i < m; ++i) {
            (u_at(i, j) > 0 ? up : un) += u_at(i, j) * u_at(i, j);
        }
        for (gidx i = 0; i < n; ++i) {
            (v_at(i, j) > 0 ? vp : vn) += v_at(i, j) * v_at(i, j);
        }
        up = std::sqrt(up), un = std::sqrt(un), vp = std::sqrt(vp), vn = std::sqrt(vn);
        const bool pos = up * vp > un * vn;
        const double lbd = std::sqrt(sj * (pos ? up * vp : un * vn));
        for (gidx i = 0; i < m; ++i) {
            const double a = pos ? std::max(u_at(i, j), 0.0) : std::max(-u_at(i, j), 0.0);
            w[static_cast<std::size_t>(i * k + j)] = lbd * a / (pos ? up : un);
        }
        for (gidx i = 0; i < n; ++i) {
            const double b = pos ? std::max(v_at(i, j), 0.0) : std::max(-v_at(i, j), 0.0);
            ht[static_cast<std::size_t>(i * k + j)] = lbd * b / (pos ? vp : vn);
        }
    }
}

struct Result {
    std::vector<double> w, ht, sigma; // global, row-major
};

template <typename T>
Result
run_nndsvd(const Grid &grid, const Case &c, gidx k, const MatrixFn &f, bool fill, std::uint64_t seed = 5) {
    DistMatrix<T> x(grid, c.m, c.n, c.mb, c.nb);
    test::fill(x, f);
    Factor<T> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_nndsvd(x, w, ht, fill, seed);
    return {test::gather_global(w), test::gather_global(ht), {}};
}

template <typename T> Result run_svd(const Grid &grid, const Case &c, gidx k, const MatrixFn &f) {
    DistMatrix<T> x(grid, c.m, c.n, c.mb, c.nb);
    test::fill(x, f);
    Factor<T> u(x, FactorSide::w, k), v(x, FactorSide::ht, k);
    Result r;
    r.sigma = randomized_svd(x, u, v, 9);
    r.w = test::gather_global(u);
    r.ht = test::gather_global(v);
    return r;
}

double max_abs(const std::vector<double> &a) {
    double s = 0;
    for (double v : a) {
        s = std::max(s, std::abs(v));
    }
    return s;
}
double max_diff(const std::vector<double> &a, const std::vector<double> &b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double e = std::abs(a[i] - b[i]);
        d = e > d || e != e ? e : d;
    }
    return d;
}
bool all_finite_nonnegative(const std::vector<double> &a) {
    return std::all_of(a.begin(), a.end(), [](double v) { return std::isfinite(v) && v >= 0; });
}

std::string where(GridShape s, const Case &c, gidx k) {
    return std::to_string(s.rows) + "x" + std::to_string(s.cols) + " m=" + std::to_string(c.m) +
           " n=" + std::to_string(c.n) + " mb=" + std::to_string(c.mb) + " nb=" + std::to_string(c.nb) +
           " k=" + std::to_string(k);
}

// Every rank's own 1 x 1 grid, for the serial reference call (collectives then involve that rank only).
struct SelfGrid {
    mpi::Comm comm;
    Grid grid;
    SelfGrid() : comm(world().split(world().rank(), 0)), grid(comm, GridShape{1, 1}) {}
};

template <typename T> void check_singular_values() {
    const int r = 3;
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            const std::vector<double> x = dense(c.m, c.n, low_rank(r));
            const SerialSvd ref = serial_svd(c.m, c.n, x);
            const gidx kmax = std::min<gidx>(5, std::min(c.m, c.n));
            for (gidx k = 1; k <= kmax; ++k) {
                const Result s = run_svd<T>(grid, c, k, low_rank(r));
                for (gidx j = 0; j < k; ++j) {
                    const double want = ref.sigma[static_cast<std::size_t>(j)];
                    const double got = s.sigma[static_cast<std::size_t>(j)];
                    if (j < r) {
                        EXPECT_NEAR(got, want, tol<T>() * want) << where(shape, c, k) << " j=" << j;
                    } else {
                        EXPECT_EQ(got, 0.0) << where(shape, c, k) << " j=" << j;
                    }
                }
                // U diag(sigma) V^T reproduces X once k >= rank; U has orthonormal columns where sigma > 0.
                double err = 0, orth = 0;
                for (gidx i = 0; i < c.m; ++i) {
                    for (gidx jj = 0; jj < c.n; ++jj) {
                        double t = 0;
                        for (gidx l = 0; l < k; ++l) {
                            t += s.w[static_cast<std::size_t>(i * k + l)] *
                                 s.sigma[static_cast<std::size_t>(l)] *
                                 s.ht[static_cast<std::size_t>(jj * k + l)];
                        }
                        err = std::max(err, std::abs(t - x[static_cast<std::size_t>(i * c.n + jj)]));
                    }
                }
                for (gidx a = 0; a < k; ++a) {
                    for (gidx b = 0; b < k; ++b) {
                        double t = 0;
                        for (gidx i = 0; i < c.m; ++i) {
                            t += s.w[static_cast<std::size_t>(i * k + a)] *
                                 s.w[static_cast<std::size_t>(i * k + b)];
                        }
                        const bool live = s.sigma[static_cast<std::size_t>(a)] > 0;
                        orth = std::max(orth, std::abs(t - (a == b && live ? 1.0 : 0.0)));
                    }
                }
                EXPECT_LT(orth, 10 * tol<T>()) << where(shape, c, k);
                if (k >= r) {
                    EXPECT_LT(err, tol<T>() * max_abs(x)) << where(shape, c, k);
                }
            }
        }
    }
}

template <typename T> void check_grid_independence(const MatrixFn &f) {
    SelfGrid self;
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            const gidx kmax = std::min<gidx>(5, std::min(c.m, c.n));
            for (gidx k = 1; k <= kmax; ++k) {
                for (bool fill : {false, true}) {
                    const Result got = run_nndsvd<T>(grid, c, k, f, fill);
                    // The serial reference uses the default block size: block independence is tested too.
                    const Result ref =
                        run_nndsvd<T>(self.grid, {c.m, c.n, default_block, default_block}, k, f, fill);
                    EXPECT_LE(max_diff(got.w, ref.w), tol<T>() * max_abs(ref.w))
                        << where(shape, c, k) << fill;
                    EXPECT_LE(max_diff(got.ht, ref.ht), tol<T>() * max_abs(ref.ht))
                        << where(shape, c, k) << fill;
                    EXPECT_TRUE(all_finite_nonnegative(got.w) && all_finite_nonnegative(got.ht));
                }
            }
        }
    }
}

} // namespace

TEST(RandomizedSvd, SingularValuesMatchSerialOnExactLowRankDouble) {
    check_singular_values<double>();
}

TEST(RandomizedSvd, SingularValuesMatchSerialOnExactLowRankFloat) {
    check_singular_values<float>();
}

TEST(Nndsvd, RankOneDataIsReproducedExactly) {
    // u, v >= 0 with zeros, so W H^T = X also checks the exact zero rows and columns.
    auto u_at = [](gidx i) { return i % 7 == 3 ? 0.0 : 0.2 + test::uniform_at(51, i, 0); };
    auto v_at = [](gidx j) { return j % 5 == 1 ? 0.0 : 0.2 + test::uniform_at(52, j, 0); };
    const MatrixFn f = [&](gidx i, gidx j) { return u_at(i) * v_at(j); };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            const std::vector<double> x = dense(c.m, c.n, f);
            const Result d = run_nndsvd<double>(grid, c, 1, f, false);
            const Result s = run_nndsvd<float>(grid, c, 1, f, false);
            double err_d = 0, err_s = 0;
            for (gidx i = 0; i < c.m; ++i) {
                for (gidx j = 0; j < c.n; ++j) {
                    const double want = x[static_cast<std::size_t>(i * c.n + j)];
                    err_d = std::max(
                        err_d, std::abs(d.w[static_cast<std::size_t>(i)] * d.ht[static_cast<std::size_t>(j)] -
                                        want));
                    err_s = std::max(
                        err_s, std::abs(s.w[static_cast<std::size_t>(i)] * s.ht[static_cast<std::size_t>(j)] -
                                        want));
                }
            }
            EXPECT_LT(err_d, 1e-10 * max_abs(x)) << where(shape, c, 1);
            EXPECT_LT(err_s, 1e-4 * max_abs(x)) << where(shape, c, 1);
            for (gidx i = 0; i < c.m; ++i) {
                if (u_at(i) == 0) {
                    EXPECT_EQ(d.w[static_cast<std::size_t>(i)], 0.0);
                    EXPECT_EQ(s.w[static_cast<std::size_t>(i)], 0.0);
                }
            }
            for (gidx j = 0; j < c.n; ++j) {
                if (v_at(j) == 0) {
                    EXPECT_EQ(d.ht[static_cast<std::size_t>(j)], 0.0);
                    EXPECT_EQ(s.ht[static_cast<std::size_t>(j)], 0.0);
                }
            }
        }
    }
}

TEST(Nndsvd, MatchesSerialNndsvdOnExactLowRankData) {
    // With rank(X) = 3 <= l the randomised SVD is exact, so NNDSVD must match the formula applied to a
    // serial SVD (signs of singular pairs do not matter to NNDSVD).
    const int r = 3;
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            const std::vector<double> x = dense(c.m, c.n, low_rank(r));
            const SerialSvd ref = serial_svd(c.m, c.n, x);
            const gidx kmax = std::min<gidx>(5, std::min(c.m, c.n));
            for (gidx k = 1; k <= kmax; ++k) {
                std::vector<double> w_ref, ht_ref;
                serial_nndsvd(c.m, c.n, k, ref, w_ref, ht_ref);
                const Result got = run_nndsvd<double>(grid, c, k, low_rank(r), false);
                EXPECT_LE(max_diff(got.w, w_ref), 1e-8 * max_abs(w_ref)) << where(shape, c, k);
                EXPECT_LE(max_diff(got.ht, ht_ref), 1e-8 * max_abs(ht_ref)) << where(shape, c, k);
            }
        }
    }
}

TEST(Nndsvd, GridIndependentDouble) {
    check_grid_independence<double>(generic_at);
}

TEST(Nndsvd, GridIndependentFloat) {
    check_grid_independence<float>(generic_at);
}

TEST(Nndsvd, ZeroRowsAndColumnsStayZeroAndNndsvdaFillsWithMean) {
    const MatrixFn f = [](gidx i, gidx j) { return i == 1 || j == 7 ? 0.0 : generic_at(i, j); };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            const std::vector<double> x = dense(c.m, c.n, f);
            double mean = 0;
            for (double v : x) {
                mean += v / static_cast<double>(x.size());
            }
            const gidx kmax = std::min<gidx>(5, std::min(c.m, c.n));
            for (gidx k = 1; k <= kmax; ++k) {
                const Result a = run_nndsvd<double>(grid, c, k, f, false);
                const Result b = run_nndsvd<double>(grid, c, k, f, true);
                const Result fa = run_nndsvd<float>(grid, c, k, f, false);
                EXPECT_TRUE(all_finite_nonnegative(a.w) && all_finite_nonnegative(a.ht))
                    << where(shape, c, k);
                EXPECT_TRUE(all_finite_nonnegative(fa.w) && all_finite_nonnegative(fa.ht))
                    << where(shape, c, k);
                for (gidx l = 0; l < k; ++l) {
                    EXPECT_EQ(a.w[static_cast<std::size_t>(1 * k + l)], 0.0) << where(shape, c, k);
                    EXPECT_EQ(fa.w[static_cast<std::size_t>(1 * k + l)], 0.0) << where(shape, c, k);
                    EXPECT_EQ(a.ht[static_cast<std::size_t>(7 * k + l)], 0.0) << where(shape, c, k);
                    EXPECT_EQ(fa.ht[static_cast<std::size_t>(7 * k + l)], 0.0) << where(shape, c, k);
                }
                // NNDSVDa: the same factors with every zero replaced by mean(X) > 0.
                // (Not bitwise: the all-reduce carries one more value and may sum in another order.)
                const double tol_w = 1e-12 * (mean + max_abs(a.w)), tol_h = 1e-12 * (mean + max_abs(a.ht));
                for (std::size_t p = 0; p < a.w.size(); ++p) {
                    EXPECT_NEAR(b.w[p], a.w[p] == 0 ? mean : a.w[p], tol_w);
                }
                for (std::size_t p = 0; p < a.ht.size(); ++p) {
                    EXPECT_NEAR(b.ht[p], a.ht[p] == 0 ? mean : a.ht[p], tol_h);
                }
                EXPECT_TRUE(std::all_of(b.w.begin(), b.w.end(), [](double v) { return v > 0; }));
                EXPECT_TRUE(std::all_of(b.ht.begin(), b.ht.end(), [](double v) { return v > 0; }));
            }
        }
    }
}

TEST(Nndsvd, RankDeficientAndZeroDataGiveFiniteOutput) {
    // Zero except a rank-1 block (rows 1..2 and 5..12, columns 3..9); and all zero.
    const MatrixFn block = [](gidx i, gidx j) {
        const bool in = ((i >= 5 && i < 13) || i == 1 || i == 2) && j >= 3 && j < 10;
        return in ? (1.0 + test::uniform_at(61, i, 0)) * (1.0 + test::uniform_at(62, j, 0)) : 0.0;
    };
    const MatrixFn zero = [](gidx, gidx) { return 0.0; };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            const gidx kmax = std::min<gidx>(5, std::min(c.m, c.n));
            for (gidx k = 1; k <= kmax; ++k) {
                for (bool fill : {false, true}) {
                    const Result d = run_nndsvd<double>(grid, c, k, block, fill);
                    const Result s = run_nndsvd<float>(grid, c, k, block, fill);
                    EXPECT_TRUE(all_finite_nonnegative(d.w) && all_finite_nonnegative(d.ht))
                        << where(shape, c, k);
                    EXPECT_TRUE(all_finite_nonnegative(s.w) && all_finite_nonnegative(s.ht))
                        << where(shape, c, k);
                    if (!fill) { // rank 1: exact rank-1 reconstruction, later columns exactly zero
                        double err = 0;
                        for (gidx i = 0; i < c.m; ++i) {
                            for (gidx j = 0; j < c.n; ++j) {
                                double t = 0;
                                for (gidx l = 0; l < k; ++l) {
                                    t += d.w[static_cast<std::size_t>(i * k + l)] *
                                         d.ht[static_cast<std::size_t>(j * k + l)];
                                    if (l > 0) {
                                        EXPECT_EQ(d.w[static_cast<std::size_t>(i * k + l)], 0.0);
                                        EXPECT_EQ(d.ht[static_cast<std::size_t>(j * k + l)], 0.0);
                                    }
                                }
                                err = std::max(err, std::abs(t - block(i, j)));
                            }
                        }
                        EXPECT_LT(err, 1e-10 * 4) << where(shape, c, k);
                    }
                    const Result z = run_nndsvd<double>(grid, c, k, zero, fill);
                    const Result zs = run_nndsvd<float>(grid, c, k, zero, fill);
                    EXPECT_EQ(max_abs(z.w) + max_abs(z.ht) + max_abs(zs.w) + max_abs(zs.ht), 0.0);
                }
                const Result sv = run_svd<double>(grid, c, k, zero);
                EXPECT_EQ(max_abs(sv.sigma) + max_abs(sv.w) + max_abs(sv.ht), 0.0);
            }
        }
    }
}

TEST(Nndsvd, BadArgumentsAreCollectiveErrors) {
    Grid grid(world(), choose_grid_shape(world().size()));
    DistMatrix<double> x(grid, 37, 23, 4, 4);
    test::fill(x, generic_at);
    auto expect_collective = [](auto &&call, const std::string &needle) {
        try {
            call();
            ADD_FAILURE() << "no error";
        } catch (const Error &e) {
            EXPECT_TRUE(e.collective());
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    {
        Factor<double> w(x, FactorSide::w, 24), ht(x, FactorSide::ht, 24); // k > min(m, n) = 23
        expect_collective([&] { initialize_nndsvd(x, w, ht, false, 1); }, "min(m, n) = 23");
    }
    {
        Factor<double> w(x, FactorSide::w, 3), ht(x, FactorSide::ht, 4);
        expect_collective([&] { initialize_nndsvd(x, w, ht, false, 1); }, "same for W and H^T");
    }
    {
        Factor<double> w(x, FactorSide::w, 3), ht(x, FactorSide::ht, 3);
        expect_collective([&] { initialize_nndsvd(x, ht, w, false, 1); }, "do not match");
        expect_collective([&] { initialize_nndsvd(x, w, ht, false, 1, -1); }, "power_iterations");
        expect_collective([&] { initialize_nndsvd(x, w, ht, false, 1, 2, -3); }, "oversampling");
    }
}

TEST(Nndsvd, SeedAndOversamplingChangeOnlyTheApproximation) {
    // On exactly rank-3 data any seed, oversampling >= 0 and any number of power iterations give the same
    // (exact) result; without oversampling and power iterations too.
    Grid grid(world(), choose_grid_shape(world().size()));
    const Case c{37, 23, 4, 3};
    const Result a = run_nndsvd<double>(grid, c, 3, low_rank(3), true, 1);
    for (std::uint64_t seed : {2u, 3u}) {
        DistMatrix<double> x(grid, c.m, c.n, c.mb, c.nb);
        test::fill(x, low_rank(3));
        Factor<double> w(x, FactorSide::w, 3), ht(x, FactorSide::ht, 3);
        initialize_nndsvd(x, w, ht, true, seed, static_cast<int>(seed) - 2, 0);
        EXPECT_LE(max_diff(test::gather_global(w), a.w), 1e-10 * max_abs(a.w));
        EXPECT_LE(max_diff(test::gather_global(ht), a.ht), 1e-10 * max_abs(a.ht));
    }
}
