#include "prism/nnls/mu_update.hpp"

#include "prism/error.hpp"
#include "prism/linalg/blas.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace prism::nnls {

namespace {

constexpr lidx parallel_min_rows = 256;

// Rows per tile: the tile's F G (tile_rows x k doubles, 50 KiB at k = 50) is still in L2 when the
// elementwise step reads it, and the per-tile buffers are small enough to be reused heap memory rather than
// fresh pages (one rows x k buffer per call faulted in 3 MiB every iteration at 8000 x 50).
constexpr lidx tile_rows = 128;

// F <- F .* max(R, 0) ./ (F G + l2 F + shift) on one tile: f the old rows in double (row stride ldf_old),
// fg their F G (stride k), fo the output rows.
template <typename T>
inline __attribute__((always_inline)) void scale_rows_body(double const *f,
                                                           lidx ldf_old,
                                                           double const *fg,
                                                           T const *r,
                                                           lidx ldr,
                                                           T *fo,
                                                           lidx ldf,
                                                           lidx nb,
                                                           lidx k,
                                                           double l2,
                                                           double shift) {
    for (lidx i = 0; i < nb; ++i) {
        double const *fi = f + i * ldf_old;
        double const *gi = fg + i * k;
        T const *ri = r + i * ldr;
        T *oi = fo + i * ldf;
        for (lidx l = 0; l < k; ++l) {
            // d = f G + l2 f + l1 + eps
            double const d = gi[l] + l2 * fi[l] + shift;
            double const rl = static_cast<double>(ri[l]);
            double const num = rl > 0.0 ? rl : 0.0;
            double const v = fi[l] * num / d;
            // d >= eps > 0 for nonnegative G and F; the guard keeps NaN/negative denominators out anyway.
            oi[l] = (d > 0 && v > 0) ? static_cast<T>(v) : T(0);
        }
    }
}

// With GCC on x86-64 an AVX-512 or AVX2/FMA clone is picked at load time (see hals_update.cpp): the division
// is most of this loop (SSE2 divides two doubles at a time; the AVX-512 clone made the whole double update
// 1.6x faster than the AVX2 one).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PRISM_MU_CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#else
#define PRISM_MU_CLONES
#endif

PRISM_MU_CLONES void scale_rows(double const *f,
                                lidx ldf_old,
                                double const *fg,
                                double const *r,
                                lidx ldr,
                                double *fo,
                                lidx ldf,
                                lidx nb,
                                lidx k,
                                double l2,
                                double shift) {
    scale_rows_body(f, ldf_old, fg, r, ldr, fo, ldf, nb, k, l2, shift);
}

PRISM_MU_CLONES void scale_rows(double const *f,
                                lidx ldf_old,
                                double const *fg,
                                float const *r,
                                lidx ldr,
                                float *fo,
                                lidx ldf,
                                lidx nb,
                                lidx k,
                                double l2,
                                double shift) {
    scale_rows_body(f, ldf_old, fg, r, ldr, fo, ldf, nb, k, l2, shift);
}

#undef PRISM_MU_CLONES

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

    std::vector<double> g(static_cast<std::size_t>(k * k));
    for (lidx i = 0; i < k * k; ++i)
        g[static_cast<std::size_t>(i)] = static_cast<double>(G[i]);
    double const shift = opts.l1 + opts.eps;
    lidx const tiles = (rows + tile_rows - 1) / tile_rows;
    constexpr bool in_place = std::is_same_v<T, double>;

    // F G one tile of rows at a time, by BLAS-3 (row-major F is column-major k x rows with leading dimension
    // ldf, so (F G)^T = G F^T, G symmetric), then the elementwise step on the tile while its F G is in
    // cache. Rows are independent (Jacobi: each row only reads its own old values), so a double F is read
    // by the gemm in place and overwritten afterwards; float rows are widened to double per tile first.
#ifdef _OPENMP
#pragma omp parallel if (rows >= parallel_min_rows)
#endif
    {
        std::vector<double> fg(static_cast<std::size_t>(tile_rows * k));
        std::vector<double> widened(in_place ? 0 : static_cast<std::size_t>(tile_rows * k));
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (lidx t = 0; t < tiles; ++t) {
            lidx const i0 = t * tile_rows;
            lidx const nb = std::min(tile_rows, rows - i0);
            if constexpr (in_place) {
                double *f = F + i0 * ldf;
                blas::gemm<double>('N', 'N', k, nb, k, 1.0, g.data(), k, f, ldf, 0.0, fg.data(), k);
                scale_rows(f, ldf, fg.data(), R + i0 * ldr, ldr, f, ldf, nb, k, opts.l2, shift);
            } else {
                for (lidx i = 0; i < nb; ++i)
                    for (lidx l = 0; l < k; ++l)
                        widened[static_cast<std::size_t>(i * k + l)] =
                            static_cast<double>(F[(i0 + i) * ldf + l]);
                blas::gemm<double>('N', 'N', k, nb, k, 1.0, g.data(), k, widened.data(), k, 0.0, fg.data(),
                                   k);
                scale_rows(widened.data(), k, fg.data(), R + i0 * ldr, ldr, F + i0 * ldf, ldf, nb, k, opts.l2,
                           shift);
            }
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
