#include "prism/nnls/mu_update.hpp"

#include "prism/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace prism::nnls {

namespace {

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

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
    std::vector<double> buf(2 * k * max_threads()); // old row and its denominator, per thread

#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows >= parallel_min_rows)
#endif
    for (lidx i = 0; i < rows; ++i) {
        T const *ri = R + i * ldr;
        T *fo = F + i * ldf;
        double *f = &buf[2 * k * thread_id()];
        double *d = f + k;
        for (lidx l = 0; l < k; ++l)
            f[l] = static_cast<double>(fo[l]);
        // d = f G + l2 f + l1 + eps, accumulated as axpys over contiguous columns of G.
        for (lidx l = 0; l < k; ++l)
            d[l] = opts.l2 * f[l] + shift;
        for (lidx j = 0; j < k; ++j) {
            if (f[j] == 0.0)
                continue;
            double const *gj = &g[j * k]; // row j of symmetric G
            for (lidx l = 0; l < k; ++l)
                d[l] += f[j] * gj[l];
        }
        for (lidx l = 0; l < k; ++l) {
            double const num = std::max(static_cast<double>(ri[l]), 0.0);
            double const v = f[l] * num / d[l];
            // d >= eps > 0 for nonnegative G and F; the guard keeps NaN/negative denominators out anyway.
            fo[l] = (d[l] > 0 && v > 0) ? static_cast<T>(v) : T(0);
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
