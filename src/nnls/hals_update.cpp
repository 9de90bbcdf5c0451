#include "prism/nnls/hals_update.hpp"

#include "prism/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
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

// Below this many rows threading costs more than it saves.
constexpr lidx parallel_min_rows = 256;

} // namespace

template <typename T>
void hals_update(
    T const *G, lidx k, T const *R, lidx ldr, lidx rows, T *F, lidx ldf, HalsOptions const &opts) {
    PRISM_CHECK(k >= 0 && rows >= 0,
                "hals_update: negative size k=" + std::to_string(k) + " rows=" + std::to_string(rows));
    PRISM_CHECK(ldr >= k && ldf >= k, "hals_update: row strides ldr=" + std::to_string(ldr) + " ldf=" +
                                          std::to_string(ldf) + " smaller than k=" + std::to_string(k));
    PRISM_CHECK(opts.l1 >= 0 && opts.l2 >= 0 && opts.eps_floor >= 0 && std::isfinite(opts.l1) &&
                    std::isfinite(opts.l2) && std::isfinite(opts.eps_floor),
                "hals_update: l1, l2 and eps_floor must be finite and >= 0");
    if (k == 0 || rows == 0)
        return;
    PRISM_CHECK(G != nullptr && R != nullptr && F != nullptr, "hals_update: null matrix pointer");

    // Double copy of G (so float inputs accumulate in double) and the per-column denominators.
    std::vector<double> g(k * k);
    for (lidx i = 0; i < k * k; ++i)
        g[i] = static_cast<double>(G[i]);
    std::vector<double> den(k);
    for (lidx l = 0; l < k; ++l)
        den[l] = g[l + l * k] + opts.l2;
    double const floor = opts.eps_floor;
    double const l1 = opts.l1;
    std::vector<double> buf(k * max_threads()); // one row of F per thread

#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows >= parallel_min_rows)
#endif
    for (lidx i = 0; i < rows; ++i) {
        T const *ri = R + i * ldr;
        T *fo = F + i * ldf;
        bool zero_row = true;
        for (lidx l = 0; l < k; ++l)
            zero_row = zero_row && ri[l] == T(0);
        if (zero_row) {
            std::fill(fo, fo + k, T(0));
            continue;
        }
        double *f = &buf[thread_id() * k];
        for (lidx l = 0; l < k; ++l)
            f[l] = static_cast<double>(fo[l]);
        for (lidx l = 0; l < k; ++l) {
            double v = 0.0;
            if (den[l] > 0) {
                // Sum over j != l directly: subtracting G(l,l) f(l) from the full sum would cancel.
                double const *gl = &g[l * k];
                double s = 0.0;
                for (lidx j = 0; j < l; ++j)
                    s += gl[j] * f[j];
                for (lidx j = l + 1; j < k; ++j)
                    s += gl[j] * f[j];
                v = (static_cast<double>(ri[l]) - l1 - s) / den[l];
            }
            // Also maps NaN and overflow to the floor.
            f[l] = (v > floor && v <= static_cast<double>(std::numeric_limits<T>::max())) ? v : floor;
        }
        for (lidx l = 0; l < k; ++l)
            fo[l] = static_cast<T>(f[l]);
    }
}

template void hals_update<float>(
    float const *G, lidx k, float const *R, lidx ldr, lidx rows, float *F, lidx ldf, HalsOptions const &opts);
template void hals_update<double>(double const *G,
                                  lidx k,
                                  double const *R,
                                  lidx ldr,
                                  lidx rows,
                                  double *F,
                                  lidx ldf,
                                  HalsOptions const &opts);

} // namespace prism::nnls
