#include "prism/nnls/hals_update.hpp"

#include "prism/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
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

// Vector types of W doubles (one register of the variant: 2 SSE2, 4 AVX2, 8 AVX-512), the matching
// comparison mask and W floats. GCC's generic vectors wider than the target's registers are split, but the
// comparisons, selects and shuffles then go through the stack (10x slower than the scalar code), so every
// variant uses its own register width.
template <int W> struct Simd;
template <> struct Simd<2> {
    using V = double __attribute__((vector_size(16)));
    using Mask = long __attribute__((vector_size(16)));
    using FloatV = float __attribute__((vector_size(8)));
};
template <> struct Simd<4> {
    using V = double __attribute__((vector_size(32)));
    using Mask = long __attribute__((vector_size(32)));
    using FloatV = float __attribute__((vector_size(16)));
};
template <> struct Simd<8> {
    using V = double __attribute__((vector_size(64)));
    using Mask = long __attribute__((vector_size(64)));
    using FloatV = float __attribute__((vector_size(32)));
};

// Vector accumulators per block of rows: eight cover the FMA latency (4 cycles, 2 per cycle) and leave
// registers for the operands in all three variants (16 SSE2 / AVX2 registers, 32 AVX-512 ones).
constexpr int accumulators = 8;

// Largest number of rows swept together (the AVX-512 variant's).
constexpr lidx max_block_rows = accumulators * 8;

// Buffers start on a 64-byte boundary (8 doubles): every vector access is aligned.
constexpr lidx align_doubles = 8;

// Everything the sweep of one block of rows needs besides the rows.
struct SweepInputs {
    double const *g;   // k x k Gram in double
    double const *den; // G(l,l) + l2
    lidx k;
    double l1, floor, fmax;
};

#if defined(__GNUC__) && !defined(__clang__)
#define PRISM_HALS_TRANSPOSE 1
// In-register transpose of a W x W tile: a[i] holds row i, afterwards a[i] holds column i. Round s swaps
// the off-diagonal s x s blocks of each 2s x 2s block (two-input shuffles: vunpck / vpermt2pd / vshuff64x2).
template <int W> inline __attribute__((always_inline)) void transpose(typename Simd<W>::V *a) {
    using Mask = typename Simd<W>::Mask;
    if constexpr (W == 2) {
        auto const lo = __builtin_shuffle(a[0], a[1], Mask{0, 2});
        a[1] = __builtin_shuffle(a[0], a[1], Mask{1, 3});
        a[0] = lo;
    } else if constexpr (W == 4) {
        typename Simd<W>::V b[4];
        for (int i = 0; i < 4; i += 2) {
            b[i] = __builtin_shuffle(a[i], a[i + 1], Mask{0, 4, 2, 6});
            b[i + 1] = __builtin_shuffle(a[i], a[i + 1], Mask{1, 5, 3, 7});
        }
        for (int h = 0; h < 2; ++h) {
            a[h] = __builtin_shuffle(b[h], b[h + 2], Mask{0, 1, 4, 5});
            a[h + 2] = __builtin_shuffle(b[h], b[h + 2], Mask{2, 3, 6, 7});
        }
    } else {
        typename Simd<W>::V b[8];
        for (int i = 0; i < 8; i += 2) {
            b[i] = __builtin_shuffle(a[i], a[i + 1], Mask{0, 8, 2, 10, 4, 12, 6, 14});
            b[i + 1] = __builtin_shuffle(a[i], a[i + 1], Mask{1, 9, 3, 11, 5, 13, 7, 15});
        }
        for (int i = 0; i < 8; i += 4) {
            for (int h = 0; h < 2; ++h) {
                a[i + h] = __builtin_shuffle(b[i + h], b[i + h + 2], Mask{0, 1, 8, 9, 4, 5, 12, 13});
                a[i + h + 2] = __builtin_shuffle(b[i + h], b[i + h + 2], Mask{2, 3, 10, 11, 6, 7, 14, 15});
            }
        }
        for (int h = 0; h < 4; ++h) {
            b[h] = __builtin_shuffle(a[h], a[h + 4], Mask{0, 1, 2, 3, 8, 9, 10, 11});
            b[h + 4] = __builtin_shuffle(a[h], a[h + 4], Mask{4, 5, 6, 7, 12, 13, 14, 15});
        }
        for (int i = 0; i < 8; ++i)
            a[i] = b[i];
    }
}

// W consecutive entries of a row, widened to double / narrowed back (rounded as static_cast does).
template <int W, typename T>
inline __attribute__((always_inline)) void load(typename Simd<W>::V &a, T const *p) {
    if constexpr (std::is_same_v<T, double>) {
        std::memcpy(&a, p, sizeof a);
    } else {
        typename Simd<W>::FloatV narrow;
        std::memcpy(&narrow, p, sizeof narrow);
        a = __builtin_convertvector(narrow, typename Simd<W>::V);
    }
}
template <int W, typename T>
inline __attribute__((always_inline)) void store(T *p, typename Simd<W>::V const &a) {
    if constexpr (std::is_same_v<T, double>) {
        std::memcpy(p, &a, sizeof a);
    } else {
        auto const narrow = __builtin_convertvector(a, typename Simd<W>::FloatV);
        std::memcpy(p, &narrow, sizeof narrow);
    }
}
#endif

// src rows r = 0..B-1 (stride lds), columns 0..k-1 -> dst[j * B + r]. Full blocks go through W x W register
// transposes: element by element, the copies in and out cost as much as the sweep itself.
template <int W, typename T>
inline __attribute__((always_inline)) void rows_in(T const *src, lidx lds, lidx nb, lidx k, double *dst) {
    constexpr lidx B = accumulators * W;
    lidx j0 = 0;
#ifdef PRISM_HALS_TRANSPOSE
    if (nb == B) {
        for (; j0 + W <= k; j0 += W) {
            for (int q = 0; q < accumulators; ++q) {
                typename Simd<W>::V a[W];
                for (int i = 0; i < W; ++i)
                    load<W>(a[i], src + (q * W + i) * lds + j0);
                transpose<W>(a);
                for (int i = 0; i < W; ++i)
                    *reinterpret_cast<typename Simd<W>::V *>(dst + (j0 + i) * B + q * W) = a[i];
            }
        }
    }
#endif
    for (lidx j = j0; j < k; ++j)
        for (lidx r = 0; r < B; ++r)
            dst[j * B + r] = r < nb ? static_cast<double>(src[r * lds + j]) : 0.0;
}

// The inverse of rows_in for the first nb rows.
template <int W, typename T>
inline __attribute__((always_inline)) void rows_out(double const *src, lidx nb, lidx k, T *dst, lidx ldd) {
    constexpr lidx B = accumulators * W;
    lidx j0 = 0;
#ifdef PRISM_HALS_TRANSPOSE
    if (nb == B) {
        for (; j0 + W <= k; j0 += W) {
            for (int q = 0; q < accumulators; ++q) {
                typename Simd<W>::V a[W];
                for (int i = 0; i < W; ++i)
                    a[i] = *reinterpret_cast<typename Simd<W>::V const *>(src + (j0 + i) * B + q * W);
                transpose<W>(a);
                for (int i = 0; i < W; ++i)
                    store<W>(dst + (q * W + i) * ldd + j0, a[i]);
            }
        }
    }
#endif
    for (lidx r = 0; r < nb; ++r)
        for (lidx j = j0; j < k; ++j)
            dst[r * ldd + j] = static_cast<T>(src[j * B + r]);
}

// One HALS sweep of nb <= B = 8 W rows, held transposed in f[j * B + r] (old F in, new F out) and
// rt[l * B + r] = R(r, l). The row sums s(r) = sum_{j != l} G(l,j) f(r,j) are 8 vector accumulators that
// stay in registers across j: with a plain double s[B] array GCC kept s in memory, and each step waited on
// the store of the previous one (~12 Gflop/s). Each row still sums over j = 0..k-1 skipping l, in that
// order, so the result is the same as one row at a time.
template <int W, typename T>
inline __attribute__((always_inline)) void
sweep_rows(SweepInputs const &in, T const *R, lidx ldr, T *F, lidx ldf, lidx nb, double *f, double *rt) {
    using V = typename Simd<W>::V;
    constexpr int NV = accumulators;
    lidx const k = in.k;
    double const l1 = in.l1, floor = in.floor, fmax = in.fmax; // locals: the stores to f cannot alias them
    rows_in<W>(F, ldf, nb, k, f);
    rows_in<W>(R, ldr, nb, k, rt);
    auto *fv = reinterpret_cast<V *>(f);
    auto const *rv = reinterpret_cast<V const *>(rt);
    for (lidx l = 0; l < k; ++l) {
        V *fl = fv + l * NV;
        double const den = in.den[l];
        if (!(den > 0)) {
            for (int q = 0; q < NV; ++q)
                fl[q] = V{} + floor;
            continue;
        }
        // Sum over j != l directly: subtracting G(l,l) f(l) from the full sum would cancel.
        double const *gl = in.g + l * k;
        V s[NV];
        for (int q = 0; q < NV; ++q)
            s[q] = V{};
        for (lidx j = 0; j < l; ++j) {
            double const gj = gl[j];
            V const *fj = fv + j * NV;
            for (int q = 0; q < NV; ++q)
                s[q] += gj * fj[q];
        }
        for (lidx j = l + 1; j < k; ++j) {
            double const gj = gl[j];
            V const *fj = fv + j * NV;
            for (int q = 0; q < NV; ++q)
                s[q] += gj * fj[q];
        }
        V const *rl = rv + l * NV;
        for (int q = 0; q < NV; ++q) {
            V const v = (rl[q] - l1 - s[q]) / den;
            // Also maps NaN and overflow to the floor (v <= fmax is false for both).
            V const bounded = v <= fmax ? v : floor;
            fl[q] = bounded > floor ? bounded : floor;
        }
    }
    // A row whose R row is exactly zero becomes exactly zero (not the floor).
    for (int q = 0; q < NV; ++q) {
        typename Simd<W>::Mask nonzero{};
        for (lidx l = 0; l < k; ++l)
            nonzero |= rv[l * NV + q] != 0.0;
        for (lidx l = 0; l < k; ++l)
            fv[l * NV + q] = nonzero ? fv[l * NV + q] : 0.0;
    }
    rows_out<W>(f, nb, k, F, ldf);
}

template <typename T>
using BlockSweep = void (*)(SweepInputs const &, T const *, lidx, T *, lidx, lidx, double *, double *);

template <typename T>
void sweep_rows_baseline(
    SweepInputs const &in, T const *R, lidx ldr, T *F, lidx ldf, lidx nb, double *f, double *rt) {
    sweep_rows<2>(in, R, ldr, F, ldf, nb, f, rt);
}

// The build targets baseline x86-64 (SSE2, 16 rows per block); with GCC on x86-64 Linux an AVX2/FMA (32 rows)
// or AVX-512 (64 rows) variant is picked at run time where the CPU has it (a feature test). All variants sum
// in the same order; they differ only by the FMA contraction the baseline lacks.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PRISM_HALS_DISPATCH 1
template <typename T>
__attribute__((target("avx2,fma"))) void
sweep_rows_avx2(SweepInputs const &in, T const *R, lidx ldr, T *F, lidx ldf, lidx nb, double *f, double *rt) {
    sweep_rows<4>(in, R, ldr, F, ldf, nb, f, rt);
}
template <typename T>
__attribute__((target("avx512f"))) void sweep_rows_avx512(
    SweepInputs const &in, T const *R, lidx ldr, T *F, lidx ldf, lidx nb, double *f, double *rt) {
    sweep_rows<8>(in, R, ldr, F, ldf, nb, f, rt);
}
#endif

bool cpu_has(detail::HalsKernel kernel) {
    switch (kernel) {
    case detail::HalsKernel::automatic:
    case detail::HalsKernel::baseline:
        return true;
#ifdef PRISM_HALS_DISPATCH
    case detail::HalsKernel::avx2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case detail::HalsKernel::avx512:
        return __builtin_cpu_supports("avx512f");
#else
    default:
        return false;
#endif
    }
    return false;
}

} // namespace

namespace detail {

bool hals_kernel_available(HalsKernel kernel) {
    return cpu_has(kernel);
}

template <typename T>
void hals_update_with(HalsKernel kernel,
                      T const *G,
                      lidx k,
                      T const *R,
                      lidx ldr,
                      lidx rows,
                      T *F,
                      lidx ldf,
                      HalsOptions const &opts) {
    PRISM_CHECK(k >= 0 && rows >= 0,
                "hals_update: negative size k=" + std::to_string(k) + " rows=" + std::to_string(rows));
    PRISM_CHECK(ldr >= k && ldf >= k, "hals_update: row strides ldr=" + std::to_string(ldr) + " ldf=" +
                                          std::to_string(ldf) + " smaller than k=" + std::to_string(k));
    PRISM_CHECK(opts.l1 >= 0 && opts.l2 >= 0 && opts.eps_floor >= 0 && std::isfinite(opts.l1) &&
                    std::isfinite(opts.l2) && std::isfinite(opts.eps_floor),
                "hals_update: l1, l2 and eps_floor must be finite and >= 0");
    PRISM_CHECK(cpu_has(kernel), "hals_update: the requested kernel variant is not available on this CPU");
    if (k == 0 || rows == 0)
        return;
    PRISM_CHECK(G != nullptr && R != nullptr && F != nullptr, "hals_update: null matrix pointer");

    if (kernel == HalsKernel::automatic) {
        kernel = cpu_has(HalsKernel::avx512) ? HalsKernel::avx512
                 : cpu_has(HalsKernel::avx2) ? HalsKernel::avx2
                                             : HalsKernel::baseline;
    }
    BlockSweep<T> sweep = sweep_rows_baseline<T>;
    lidx block_rows = accumulators * 2;
#ifdef PRISM_HALS_DISPATCH
    if (kernel == HalsKernel::avx512) {
        sweep = sweep_rows_avx512<T>;
        block_rows = accumulators * 8;
    } else if (kernel == HalsKernel::avx2) {
        sweep = sweep_rows_avx2<T>;
        block_rows = accumulators * 4;
    }
#endif

    // Double copy of G (so float inputs accumulate in double) and the per-column denominators.
    std::vector<double> g(static_cast<std::size_t>(k * k));
    for (lidx i = 0; i < k * k; ++i)
        g[static_cast<std::size_t>(i)] = static_cast<double>(G[i]);
    std::vector<double> den(static_cast<std::size_t>(k));
    for (lidx l = 0; l < k; ++l)
        den[static_cast<std::size_t>(l)] = g[static_cast<std::size_t>(l + l * k)] + opts.l2;
    SweepInputs const in{g.data(), den.data(),     k,
                         opts.l1,  opts.eps_floor, static_cast<double>(std::numeric_limits<T>::max())};

    // Per thread: f and rt, max_block_rows x k each, from a 64-byte boundary (the Lanes accesses are
    // aligned; B x k doubles is a multiple of 64 bytes).
    lidx const per_thread = 2 * max_block_rows * k;
    std::vector<double> buf(static_cast<std::size_t>(per_thread * max_threads() + align_doubles));
    auto const misalign =
        static_cast<lidx>((reinterpret_cast<std::uintptr_t>(buf.data()) / sizeof(double)) % align_doubles);
    double *const base = buf.data() + (align_doubles - misalign) % align_doubles;
    lidx const blocks = (rows + block_rows - 1) / block_rows;

    // Rows are independent, so block_rows of them are swept together, held transposed (f[j * B + r]): the
    // inner loops run across rows and vectorise. One row alone is a serial dot-product chain,
    // latency-bound: several times slower than the BLAS products it follows.
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows >= parallel_min_rows)
#endif
    for (lidx b = 0; b < blocks; ++b) {
        lidx const i0 = b * block_rows;
        double *f = base + thread_id() * per_thread;
        sweep(in, R + i0 * ldr, ldr, F + i0 * ldf, ldf, std::min(block_rows, rows - i0), f,
              f + max_block_rows * k);
    }
}

template void hals_update_with<float>(HalsKernel kernel,
                                      float const *G,
                                      lidx k,
                                      float const *R,
                                      lidx ldr,
                                      lidx rows,
                                      float *F,
                                      lidx ldf,
                                      HalsOptions const &opts);
template void hals_update_with<double>(HalsKernel kernel,
                                       double const *G,
                                       lidx k,
                                       double const *R,
                                       lidx ldr,
                                       lidx rows,
                                       double *F,
                                       lidx ldf,
                                       HalsOptions const &opts);

} // namespace detail

template <typename T>
void hals_update(
    T const *G, lidx k, T const *R, lidx ldr, lidx rows, T *F, lidx ldf, HalsOptions const &opts) {
    detail::hals_update_with<T>(detail::HalsKernel::automatic, G, k, R, ldr, rows, F, ldf, opts);
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
