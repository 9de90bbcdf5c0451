#include "prism/algorithms/init_nndsvd.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "data_kernels.hpp"
#include "prism/linalg/blas.hpp"
#include "prism/linalg/dist_products.hpp"
#include "prism/linalg/lapack_abi.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/util/counter_random.hpp"

namespace prism {

namespace {

// Counter-based stream of the test matrix Omega (initialize_random uses streams 0 and 1).
constexpr std::uint64_t omega_stream = 2;

// A small l x l column-major matrix in double: the l x l work is done in double even for float data,
// since it costs nothing and keeps the rounding of the small factorisations out of the result.
struct Small {
    int n = 0;
    std::vector<double> a;
    explicit Small(int order) : n(order), a(static_cast<std::size_t>(order) * order, 0.0) {}
    std::size_t at(int i, int j) const {
        return static_cast<std::size_t>(i) + static_cast<std::size_t>(j) * static_cast<std::size_t>(n);
    }
    double &operator()(int i, int j) { return a[at(i, j)]; }
    double operator()(int i, int j) const { return a[at(i, j)]; }
};

// One orthonormalisation pass Q = Y M with Y ~ Q R (R is exact on the kept directions).
struct Transform {
    Small m, r;
    explicit Transform(int l) : m(l), r(l) {}
};

// Relative rounding level of a Gram entry or of a singular value computed from l-column slabs of
// `rows` rows: a sum of `rows` products, typically sqrt(rows) eps, with a margin.
template <typename T> double noise_level(gidx rows, int l) {
    const double eps = std::numeric_limits<T>::epsilon();
    return 8.0 * eps * std::max<double>(l, std::sqrt(static_cast<double>(rows)));
}

// From the all-reduced Gram G = Y^T Y, the transform that orthonormalises Y. Columns are first scaled
// to unit norm (D = sqrt(diag G)), which makes the decision independent of column scales:
//  - Cholesky (CholeskyQR) of D^-1 G D^-1 = Uc^T Uc when it is well conditioned: M = D^-1 Uc^-1,
//    R = Uc D; unique, so Q is a continuous function of Y.
//  - otherwise (rank-deficient or ill-conditioned Y, zero columns): eigendecomposition
//    D^-1 G D^-1 = V diag(lambda) V^T, keep lambda > tol lambda_max: M = D^-1 V_kept lambda^-1/2,
//    R = lambda^1/2 V_kept^T D; dropped directions become zero columns of Q. Never divides by ~0.
// Returns false only if LAPACK's dsyev failed (then M = R = 0, still finite).
bool orthonormalising_transform(const Small &g, double drop_tol, double chol_min_pivot, Transform &t) {
    const int l = g.n;
    std::fill(t.m.a.begin(), t.m.a.end(), 0.0);
    std::fill(t.r.a.begin(), t.r.a.end(), 0.0);
    double gmax = 0;
    for (int i = 0; i < l; ++i) {
        gmax = std::max(gmax, g(i, i));
    }
    if (!(gmax > 0)) {
        return true; // Y = 0: Q = 0, R = 0
    }
    // Columns at rounding level relative to the largest one carry no direction: drop them up front.
    std::vector<double> d(static_cast<std::size_t>(l), 0.0);
    bool all_kept = true;
    for (int i = 0; i < l; ++i) {
        const double gi = g(i, i);
        if (gi > drop_tol * drop_tol * gmax) {
            d[static_cast<std::size_t>(i)] = std::sqrt(gi);
        } else {
            all_kept = false;
        }
    }
    Small gs(l);
    for (int j = 0; j < l; ++j) {
        for (int i = 0; i < l; ++i) {
            const double di = d[static_cast<std::size_t>(i)], dj = d[static_cast<std::size_t>(j)];
            gs(i, j) = di > 0 && dj > 0 ? g(i, j) / (di * dj) : 0.0;
        }
    }
    const int n = l;
    int info = 0;
    if (all_kept) {
        Small c = gs;
        dpotrf_("U", &n, c.a.data(), &n, &info, 1);
        double min_pivot = std::numeric_limits<double>::infinity();
        for (int i = 0; i < l && info == 0; ++i) {
            min_pivot = std::min(min_pivot, c(i, i) * c(i, i));
        }
        if (info == 0 && min_pivot > chol_min_pivot) {
            // Uinv = Uc^-1 by back substitution, column by column.
            Small uinv(l);
            for (int j = 0; j < l; ++j) {
                uinv(j, j) = 1.0 / c(j, j);
                for (int i = j - 1; i >= 0; --i) {
                    double s = 0;
                    for (int p = i + 1; p <= j; ++p) {
                        s += c(i, p) * uinv(p, j);
                    }
                    uinv(i, j) = -s / c(i, i);
                }
            }
            for (int j = 0; j < l; ++j) {
                for (int i = 0; i <= j; ++i) {
                    t.m(i, j) = uinv(i, j) / d[static_cast<std::size_t>(i)];
                    t.r(i, j) = c(i, j) * d[static_cast<std::size_t>(j)];
                }
            }
            return true;
        }
    }
    std::vector<double> lambda(static_cast<std::size_t>(l));
    int lwork = -1;
    double query = 0;
    dsyev_("V", "U", &n, gs.a.data(), &n, lambda.data(), &query, &lwork, &info, 1, 1);
    lwork = std::max(3 * l, static_cast<int>(query));
    std::vector<double> work(static_cast<std::size_t>(lwork));
    dsyev_("V", "U", &n, gs.a.data(), &n, lambda.data(), work.data(), &lwork, &info, 1, 1);
    if (info != 0) {
        return false;
    }
    const double lambda_max = lambda[static_cast<std::size_t>(l - 1)];
    for (int c = 0; c < l; ++c) {
        const double lc = lambda[static_cast<std::size_t>(c)];
        if (!(lc > drop_tol * lambda_max)) {
            continue;
        }
        const double s = std::sqrt(lc);
        for (int i = 0; i < l; ++i) {
            const double di = d[static_cast<std::size_t>(i)];
            t.m(i, c) = di > 0 ? gs(i, c) / (di * s) : 0.0;
            t.r(c, i) = s * gs(i, c) * di;
        }
    }
    return true;
}

template <typename T> struct Scratch {
    ProductWorkspace<T> ws;
    std::vector<T> result, gram, small_t, tmp;
};

// Slabs of f (rows x l row-major, i.e. column-major l x rows) <- f M: (f M)^T = M^T f^T. Local.
template <typename T> void apply_right(Factor<T> &f, const Small &m, gidx k_out, Scratch<T> &s) {
    const gidx l = f.k();
    s.small_t.assign(m.a.begin(), m.a.end());
    s.tmp.resize(static_cast<std::size_t>(f.rows() * k_out));
    blas::gemm<T>('T', 'N', k_out, f.rows(), l, T{1}, s.small_t.data(), l, f.data(), l, T{0}, s.tmp.data(),
                  k_out);
}

// Orthonormalises f's columns in place (two passes: CholeskyQR2, or its eigen-based fallback); if `r`
// is given it receives the l x l R with F_before ~ F_after R. Collective on f.grid().comm() (two Gram
// all-reduces of l^2 words). Returns false if a local LAPACK call failed.
template <typename T> bool orthonormalise(Factor<T> &f, double drop_tol, Scratch<T> &s, Small *r) {
    const int l = static_cast<int>(f.k());
    const double chol_min_pivot = std::sqrt(static_cast<double>(std::numeric_limits<T>::epsilon()));
    bool ok = true;
    if (r != nullptr) {
        std::fill(r->a.begin(), r->a.end(), 0.0);
        for (int i = 0; i < l; ++i) {
            (*r)(i, i) = 1.0;
        }
    }
    Small g(l);
    Transform t(l);
    for (int pass = 0; pass < 2; ++pass) {
        // G[*,*] = F^T F summed over all ranks.
        gram_allreduce(f, s.gram);
        std::copy(s.gram.begin(), s.gram.end(), g.a.begin());
        ok = orthonormalising_transform(g, drop_tol, chol_min_pivot, t) && ok;
        apply_right(f, t.m, l, s);
        std::copy(s.tmp.begin(), s.tmp.end(), f.data());
        if (r != nullptr) { // R <- R_pass R
            Small acc(l);
            for (int j = 0; j < l; ++j) {
                for (int p = 0; p < l; ++p) {
                    const double rpj = (*r)(p, j);
                    for (int i = 0; i < l; ++i) {
                        acc(i, j) += t.r(i, p) * rpj;
                    }
                }
            }
            *r = acc;
        }
    }
    return ok;
}

// to <- X from (to.side() == w) or X^T from (to.side() == ht), in to's slabs.
template <typename T> void multiply(MatrixRef<T> x, const Factor<T> &from, Factor<T> &to, Scratch<T> &s) {
    // from[MR,*] (or [MC,*]) <- from's slabs: all-gather within the grid column (row).
    gather_factor(from, s.ws.gathered);
    // to's slabs <- sum over the grid row (column) of the local products with X_ij, reduce-scattered.
    // A sparse X runs the sparse x dense kernels here: X Omega and X^T Q never densify X.
    x_times_factor<T>(x, s.ws.gathered, to, s.ws, s.result);
    std::copy(s.result.begin(), s.result.end(), to.data());
}

template <typename T>
void check_arguments(MatrixRef<T> x, const Factor<T> &u, const Factor<T> &v, int q, int p) {
    const gidx k = u.k();
    const gidx kmax = std::min(x.rows(), x.cols());
    const bool shapes = u.side() == FactorSide::w && v.side() == FactorSide::ht && &u.grid() == &x.grid() &&
                        &v.grid() == &x.grid() && u.global_rows() == x.rows() && v.global_rows() == x.cols();
    mpi::agree(x.grid().comm(), shapes,
               "nndsvd: W / H^T factors do not match the data matrix's grid and shape");
    mpi::agree(x.grid().comm(), v.k() == k && k >= 1 && k <= kmax,
               "nndsvd: rank k = " + std::to_string(k) + " must satisfy 1 <= k <= min(m, n) = " +
                   std::to_string(kmax) + " and be the same for W and H^T");
    mpi::agree(x.grid().comm(), q >= 0 && p >= 0,
               "nndsvd: power_iterations and oversampling must be >= 0 (got " + std::to_string(q) + ", " +
                   std::to_string(p) + ")");
}

} // namespace

template <typename T>
std::vector<double> randomized_svd(NoDeduce<MatrixRef<T>> x,
                                   Factor<T> &u,
                                   Factor<T> &v,
                                   std::uint64_t seed,
                                   int power_iterations,
                                   int oversampling,
                                   const IndexOrigin &origin) {
    check_arguments<T>(x, u, v, power_iterations, oversampling);
    const gidx m = x.rows(), n = x.cols(), k = u.k();
    const int l = static_cast<int>(std::min<gidx>(k + oversampling, std::min(m, n)));
    const double noise = noise_level<T>(std::max(m, n), l);
    Scratch<T> s;
    bool ok = true;

    // Omega: n x l Gaussian on H^T slabs, a pure function of (seed, global column of X, j).
    Factor<T> zt(x, FactorSide::ht, l);
    for (lidx r = 0; r < zt.rows(); ++r) {
        const gidx j_glob = origin.col(zt.global_index(r));
        for (int c = 0; c < l; ++c) {
            zt.at(r, c) = static_cast<T>(counter_normal(seed, omega_stream, j_glob, c));
        }
    }
    // Range finder with an orthonormalisation after every product (plain power iteration would square
    // the condition number each time and lose the smaller directions to rounding).
    Factor<T> q(x, FactorSide::w, l);
    multiply<T>(x, zt, q, s);
    ok = orthonormalise(q, noise, s, nullptr) && ok;
    for (int it = 0; it < power_iterations; ++it) {
        multiply<T>(x, q, zt, s);
        ok = orthonormalise(zt, noise, s, nullptr) && ok;
        multiply<T>(x, zt, q, s);
        ok = orthonormalise(q, noise, s, nullptr) && ok;
    }
    // B^T = X^T Q = Q2 R, so X ~ Q Q^T X = Q R^T Q2^T. The SVD of the small R (not the eigenvalues of
    // B B^T) keeps the singular values accurate to eps sigma_0 rather than eps sigma_0^2 / sigma_j, and
    // V = Q2 V_s is orthonormal without a division by sigma.
    multiply<T>(x, q, zt, s);
    Small r(l);
    ok = orthonormalise(zt, noise, s, &r) && ok;

    // R^T = U_s diag(sigma) V_s^T, identical on every rank (it is computed from all-reduced Grams).
    Small rt(l), us(l), vt(l);
    for (int j = 0; j < l; ++j) {
        for (int i = 0; i < l; ++i) {
            rt(i, j) = r(j, i);
        }
    }
    std::vector<double> sigma(static_cast<std::size_t>(l), 0.0);
    {
        int info = 0, lwork = -1;
        double query = 0;
        dgesvd_("A", "A", &l, &l, rt.a.data(), &l, sigma.data(), us.a.data(), &l, vt.a.data(), &l, &query,
                &lwork, &info, 1, 1);
        lwork = std::max(5 * l, static_cast<int>(query));
        std::vector<double> work(static_cast<std::size_t>(lwork));
        dgesvd_("A", "A", &l, &l, rt.a.data(), &l, sigma.data(), us.a.data(), &l, vt.a.data(), &l,
                work.data(), &lwork, &info, 1, 1);
        ok = info == 0 && ok;
    }
    // All ranks hold the same small matrices, so this only guards against a LAPACK failure (which would
    // otherwise leave finite but meaningless factors).
    mpi::agree(x.grid().comm(), ok, "randomized_svd: a local LAPACK eigen/singular value solver failed");

    // Singular values at rounding level are zeros: return them as such, with zero vectors, so that a
    // rank-deficient X gives exact zeros instead of grid-dependent rounding noise.
    sigma.resize(static_cast<std::size_t>(k));
    const double cut = noise * sigma[0];
    for (gidx j = 0; j < k; ++j) {
        if (!(sigma[static_cast<std::size_t>(j)] > cut)) {
            sigma[static_cast<std::size_t>(j)] = 0;
            for (int i = 0; i < l; ++i) {
                us(i, static_cast<int>(j)) = 0;
                vt(static_cast<int>(j), i) = 0;
            }
        }
    }
    // U = Q U_s[:, :k] and V = Q2 V_s[:, :k], slab by slab (no communication).
    apply_right(q, us, k, s);
    std::copy(s.tmp.begin(), s.tmp.end(), u.data());
    Small vs(l); // V_s = VT^T
    for (int j = 0; j < l; ++j) {
        for (int i = 0; i < l; ++i) {
            vs(i, j) = vt(j, i);
        }
    }
    apply_right(zt, vs, k, s);
    std::copy(s.tmp.begin(), s.tmp.end(), v.data());
    return sigma;
}

template <typename T>
void initialize_nndsvd(NoDeduce<MatrixRef<T>> x,
                       Factor<T> &w,
                       Factor<T> &ht,
                       bool fill_with_mean,
                       std::uint64_t seed,
                       int power_iterations,
                       int oversampling,
                       const IndexOrigin &origin) {
    const std::vector<double> sigma =
        randomized_svd<T>(x, w, ht, seed, power_iterations, oversampling, origin);
    const gidx k = w.k();
    const auto ku = static_cast<std::size_t>(k);

    // Squared norms of the positive and negative parts of every u_j (W slabs) and v_j (H^T slabs):
    // norms[4j + {0,1,2,3}] = ||u_j+||^2, ||u_j-||^2, ||v_j+||^2, ||v_j-||^2, plus sum(X) for NNDSVDa.
    std::vector<double> norms(4 * ku + (fill_with_mean ? 1 : 0), 0.0);
    for (lidx r = 0; r < w.rows(); ++r) {
        for (gidx j = 0; j < k; ++j) {
            const double a = w.at(r, j);
            norms[4 * static_cast<std::size_t>(j) + (a > 0 ? 0 : 1)] += a * a;
        }
    }
    for (lidx r = 0; r < ht.rows(); ++r) {
        for (gidx j = 0; j < k; ++j) {
            const double b = ht.at(r, j);
            norms[4 * static_cast<std::size_t>(j) + (b > 0 ? 2 : 3)] += b * b;
        }
    }
    if (fill_with_mean) {
        norms[4 * ku] = detail::local_sum<T>(x);
    }
    // [*] <- sum over all ranks: every factor row and every entry of X lives on exactly one rank, so one
    // all-reduce over the whole grid gives all 4k norms (and sum(X)) at once.
    mpi::allreduce(x.grid().comm(), norms.data(), static_cast<std::int64_t>(norms.size()), mpi::Op::sum);

    // Per column: scale and which part to keep (+1 positive, -1 negative, 0: the column is zero).
    std::vector<double> scale_w(ku, 0.0), scale_h(ku, 0.0);
    std::vector<int> part(ku, 0);
    for (std::size_t j = 0; j < ku; ++j) {
        if (!(sigma[j] > 0)) {
            continue;
        }
        if (j == 0) { // the Perron vectors of a non-negative X: |u_0|, |v_0| (sign-free)
            scale_w[j] = scale_h[j] = std::sqrt(sigma[j]);
            continue;
        }
        const double up = std::sqrt(norms[4 * j]), un = std::sqrt(norms[4 * j + 1]);
        const double vp = std::sqrt(norms[4 * j + 2]), vn = std::sqrt(norms[4 * j + 3]);
        const double mp = up * vp, mn = un * vn;
        const bool positive = mp > mn; // as scikit-learn (ties take the negative parts)
        const double mass = positive ? mp : mn;
        if (!(mass > 0)) {
            continue;
        }
        const double lambda = std::sqrt(sigma[j] * mass);
        part[j] = positive ? 1 : -1;
        scale_w[j] = lambda / (positive ? up : un);
        scale_h[j] = lambda / (positive ? vp : vn);
    }
    auto apply = [&](Factor<T> &f, const std::vector<double> &scale) {
        for (lidx r = 0; r < f.rows(); ++r) {
            for (gidx j = 0; j < k; ++j) {
                const auto ju = static_cast<std::size_t>(j);
                const double a = f.at(r, j);
                double kept = 0;
                if (j == 0) {
                    kept = std::abs(a);
                } else if (part[ju] > 0) {
                    kept = a > 0 ? a : 0.0;
                } else if (part[ju] < 0) {
                    kept = a < 0 ? -a : 0.0;
                }
                f.at(r, j) = static_cast<T>(scale[ju] * kept);
            }
        }
    };
    apply(w, scale_w);
    apply(ht, scale_h);

    if (fill_with_mean) {
        const double entries = static_cast<double>(x.rows()) * static_cast<double>(x.cols());
        const auto mean = static_cast<T>(std::max(norms[4 * ku] / entries, 0.0));
        for (Factor<T> *f : {&w, &ht}) {
            T *data = f->data();
            std::replace(data, data + f->rows() * k, T{0}, mean);
        }
    }
}

template std::vector<double> randomized_svd<double>(
    MatrixRef<double>, Factor<double> &, Factor<double> &, std::uint64_t, int, int, const IndexOrigin &);
template std::vector<double> randomized_svd<float>(
    MatrixRef<float>, Factor<float> &, Factor<float> &, std::uint64_t, int, int, const IndexOrigin &);
template void initialize_nndsvd<double>(MatrixRef<double>,
                                        Factor<double> &,
                                        Factor<double> &,
                                        bool,
                                        std::uint64_t,
                                        int,
                                        int,
                                        const IndexOrigin &);
template void initialize_nndsvd<float>(
    MatrixRef<float>, Factor<float> &, Factor<float> &, bool, std::uint64_t, int, int, const IndexOrigin &);

} // namespace prism
