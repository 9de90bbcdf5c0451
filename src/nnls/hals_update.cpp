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

// Rows swept together (see hals_update).
constexpr lidx block_rows = 32;

// The sweep of one block of rows, all in double, held transposed: f[j * B + r] (in: old F, out: new F) and
// rt[l * B + r] = R(r, l). With GCC on x86-64 an AVX2/FMA clone is picked at load time where the CPU has
// it (a feature test: "arch=..." clones would test the CPU model): the build targets baseline x86-64
// (SSE2), which leaves this loop at half speed or less.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("fma", "default")))
#endif
void sweep_block(double const *g, double const *den, double const *rt, double *f, lidx k, double l1,
                 double floor, double fmax) {
    double s[block_rows];
    for (lidx l = 0; l < k; ++l) {
        double *fl = f + l * block_rows;
        if (!(den[l] > 0)) {
            for (lidx r = 0; r < block_rows; ++r)
                fl[r] = floor;
            continue;
        }
        // Sum over j != l directly: subtracting G(l,l) f(l) from the full sum would cancel.
        double const *gl = g + l * k;
        for (lidx r = 0; r < block_rows; ++r)
            s[r] = 0.0;
        for (lidx j = 0; j < l; ++j) {
            double const gj = gl[j];
            double const *fj = f + j * block_rows;
            for (lidx r = 0; r < block_rows; ++r)
                s[r] += gj * fj[r];
        }
        for (lidx j = l + 1; j < k; ++j) {
            double const gj = gl[j];
            double const *fj = f + j * block_rows;
            for (lidx r = 0; r < block_rows; ++r)
                s[r] += gj * fj[r];
        }
        double const *rl = rt + l * block_rows;
        for (lidx r = 0; r < block_rows; ++r) {
            double const v = (rl[r] - l1 - s[r]) / den[l];
            // Also maps NaN and overflow to the floor (two selects, so the loop vectorises).
            double const bounded = v <= fmax ? v : floor;
            fl[r] = bounded > floor ? bounded : floor;
        }
    }
}

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
    double const fmax = static_cast<double>(std::numeric_limits<T>::max());
    std::vector<double> buf(static_cast<std::size_t>(2 * block_rows * k * max_threads()));
    lidx const blocks = (rows + block_rows - 1) / block_rows;

    // Rows are independent, so block_rows of them are swept together, held transposed (f[j * B + r]): the
    // inner loops run across rows and vectorise, while each row still sums over j in the order j = 0..k-1,
    // skipping l (so the result is the same as one row at a time). One row alone is a serial dot-product
    // chain, latency-bound: several times slower than the BLAS products it follows.
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows >= parallel_min_rows)
#endif
    for (lidx b = 0; b < blocks; ++b) {
        lidx const i0 = b * block_rows;
        lidx const nb = std::min(block_rows, rows - i0);
        double *f = &buf[static_cast<std::size_t>(thread_id() * 2 * block_rows * k)];
        double *rt = f + block_rows * k;
        for (lidx j = 0; j < k; ++j) {
            for (lidx r = 0; r < block_rows; ++r) {
                f[j * block_rows + r] = r < nb ? static_cast<double>(F[(i0 + r) * ldf + j]) : 0.0;
                rt[j * block_rows + r] = r < nb ? static_cast<double>(R[(i0 + r) * ldr + j]) : 0.0;
            }
        }
        sweep_block(g.data(), den.data(), rt, f, k, l1, floor, fmax);
        for (lidx r = 0; r < nb; ++r) {
            T const *ri = R + (i0 + r) * ldr;
            T *fo = F + (i0 + r) * ldf;
            bool zero_row = true;
            for (lidx l = 0; l < k; ++l)
                zero_row = zero_row && ri[l] == T(0);
            for (lidx l = 0; l < k; ++l)
                fo[l] = zero_row ? T(0) : static_cast<T>(f[l * block_rows + r]);
        }
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
