#include "prism/nnls/mu_update.hpp"

#include "prism/error.hpp"
#include "prism/linalg/blas.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace prism::nnls {

namespace {

constexpr lidx parallel_min_rows = 256;

} // namespace

template <typename T>
void mu_update(T const *G, lidx k, T const *R, lidx ldr, lidx rows, T *F, lidx ldf, MuOptions const &opts) {
    PRISM_CHECK(k >= 0 && rows >= 0,
                "mu_update: negative size k=" + std::to_string(k) + " rows=" + std::to_string(rows));
    PRISM_CHECK(ldr >= k && ldf >= k, "mu_update: row strides ldr=" + std::to_string(ldr) + " ldf=" +
                                          std::to_string(ldf) + " smaller than k=" + std::to_string(k));
    PRISM_CHECK(opts.l1 >= 0 && opts.l2 >= 0 && std::isfinite(opts.l1) && std::isfinite(opts.l2),
                "mu_update: l1 and l2 must be finite and >= 0");
    PRISM_CHECK(opts.eps > 0 && std::isfinite(opts.eps), "mu_update: eps must be finite and > 0");
    if (k == 0 || rows == 0)
        return;
    PRISM_CHECK(G != nullptr && R != nullptr && F != nullptr, "mu_update: null matrix pointer");

    std::vector<double> g(k * k);
    for (lidx i = 0; i < k * k; ++i)
        g[i] = static_cast<double>(G[i]);
    double const shift = opts.l1 + opts.eps;
    // F G for all rows in one BLAS-3 call (row-major F is column-major k x rows, so (F G)^T = G F^T, G
    // symmetric): a row-at-a-time loop here ran at a few Gflop/s, ~5 % of the iteration.
    std::vector<double> f(static_cast<std::size_t>(rows * k)), fg(static_cast<std::size_t>(rows * k));
    for (lidx i = 0; i < rows; ++i)
        for (lidx l = 0; l < k; ++l)
            f[static_cast<std::size_t>(i * k + l)] = static_cast<double>(F[i * ldf + l]);
    blas::gemm<double>('N', 'N', k, rows, k, 1.0, g.data(), k, f.data(), k, 0.0, fg.data(), k);

#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows >= parallel_min_rows)
#endif
    for (lidx i = 0; i < rows; ++i) {
        T const *ri = R + i * ldr;
        T *fo = F + i * ldf;
        double const *fi = &f[static_cast<std::size_t>(i * k)];
        double const *gi = &fg[static_cast<std::size_t>(i * k)];
        for (lidx l = 0; l < k; ++l) {
            // d = f G + l2 f + l1 + eps
            double const d = gi[l] + opts.l2 * fi[l] + shift;
            double const num = std::max(static_cast<double>(ri[l]), 0.0);
            double const v = fi[l] * num / d;
            // d >= eps > 0 for nonnegative G and F; the guard keeps NaN/negative denominators out anyway.
            fo[l] = (d > 0 && v > 0) ? static_cast<T>(v) : T(0);
        }
    }
}

template void mu_update<float>(
    float const *G, lidx k, float const *R, lidx ldr, lidx rows, float *F, lidx ldf, MuOptions const &opts);
template void mu_update<double>(double const *G,
                                lidx k,
                                double const *R,
                                lidx ldr,
                                lidx rows,
                                double *F,
                                lidx ldf,
                                MuOptions const &opts);

} // namespace prism::nnls
