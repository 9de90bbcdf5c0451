#include "prism/linalg/sparse_products.hpp"

#include <algorithm>
#include <omp.h>

#include "prism/mpi/collectives.hpp"

namespace prism {

namespace {

// Below this many multiply-adds a product runs on one thread: waking a team costs more.
constexpr std::int64_t parallel_min_work = std::int64_t{1} << 16;

template <typename T>
inline __attribute__((always_inline)) void
add_scaled(gidx k, T a, const T *__restrict src, T *__restrict dst) {
    for (gidx l = 0; l < k; ++l) {
        dst[l] += a * src[l];
    }
}

// First index i in [0, count] with prefix[i] >= target: splits `count` items (rows or columns) with
// prefix counts `prefix` into `parts` pieces of about equal nonzeros. Piece `part` is
// [split(part), split(part + 1)).
lidx split(const std::int64_t *prefix, lidx count, int parts, int part) {
    if (part <= 0) {
        return 0;
    }
    if (part >= parts) {
        return count;
    }
    const std::int64_t target = prefix[count] / parts * part + prefix[count] % parts * part / parts;
    return static_cast<lidx>(std::lower_bound(prefix, prefix + count + 1, target) - prefix);
}

// Side w: output row i = sum over row i's entries of alpha x_ic * other[c, :]. Rows [r0, r1).
template <typename T, bool masked>
inline __attribute__((always_inline)) void rows_times_dense(const CsrBlock<T> &b,
                                                            const T *other,
                                                            gidx k,
                                                            T alpha,
                                                            const char *mask,
                                                            bool accumulate,
                                                            T *partial,
                                                            lidx r0,
                                                            lidx r1) {
    for (lidx i = r0; i < r1; ++i) {
        T *out = partial + i * k;
        if (!accumulate) {
            std::fill(out, out + k, T{0});
        }
        for (std::int64_t p = b.row_ptr[static_cast<std::size_t>(i)];
             p < b.row_ptr[static_cast<std::size_t>(i + 1)]; ++p) {
            const std::int32_t c = b.col[static_cast<std::size_t>(p)];
            if (masked && mask[c] == 0) {
                continue;
            }
            add_scaled(k, alpha * b.values[static_cast<std::size_t>(p)], other + static_cast<lidx>(c) * k,
                       out);
        }
    }
}

// Side ht: output row c += alpha x_ic * other[i, :] for the entries with column c in [c0, c1): this call is
// the only writer of those output rows.
template <typename T, bool masked>
inline __attribute__((always_inline)) void columns_times_dense(const CsrBlock<T> &b,
                                                               const T *other,
                                                               gidx k,
                                                               T alpha,
                                                               const char *mask,
                                                               bool accumulate,
                                                               T *partial,
                                                               lidx c0,
                                                               lidx c1) {
    if (!accumulate) {
        std::fill(partial + c0 * k, partial + c1 * k, T{0});
    }
    if (c0 == c1) {
        return;
    }
    const bool whole_rows = c0 == 0 && c1 == b.cols;
    const std::int32_t *col = b.col.data();
    for (lidx i = 0; i < b.rows; ++i) {
        const std::int32_t *first = col + b.row_ptr[static_cast<std::size_t>(i)];
        const std::int32_t *last = col + b.row_ptr[static_cast<std::size_t>(i + 1)];
        if (!whole_rows) {
            first = std::lower_bound(first, last, static_cast<std::int32_t>(c0));
            last = std::lower_bound(first, last, static_cast<std::int32_t>(c1));
        }
        const T *src = other + i * k;
        for (const std::int32_t *q = first; q < last; ++q) {
            const std::int32_t c = *q;
            if (masked && mask[c] == 0) {
                continue;
            }
            add_scaled(k, alpha * b.values[static_cast<std::size_t>(q - col)], src,
                       partial + static_cast<lidx>(c) * k);
        }
    }
}

// One thread's share [lo, hi) of rows (side w) or columns (side ht). The build targets baseline x86-64
// (SSE2); with GCC on x86-64 Linux an FMA (AVX2-width) clone is chosen at load time where the CPU has it,
// as for the HALS sweep. The loops above are inlined into each clone.
template <typename T>
inline __attribute__((always_inline)) void share(const CsrBlock<T> &b,
                                                 const T *other,
                                                 gidx k,
                                                 T alpha,
                                                 const char *mask,
                                                 bool accumulate,
                                                 T *partial,
                                                 bool by_rows,
                                                 lidx lo,
                                                 lidx hi) {
    if (by_rows) {
        if (mask != nullptr) {
            rows_times_dense<T, true>(b, other, k, alpha, mask, accumulate, partial, lo, hi);
        } else {
            rows_times_dense<T, false>(b, other, k, alpha, mask, accumulate, partial, lo, hi);
        }
    } else if (mask != nullptr) {
        columns_times_dense<T, true>(b, other, k, alpha, mask, accumulate, partial, lo, hi);
    } else {
        columns_times_dense<T, false>(b, other, k, alpha, mask, accumulate, partial, lo, hi);
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PRISM_SPARSE_CLONES __attribute__((target_clones("fma", "default")))
#else
#define PRISM_SPARSE_CLONES
#endif

PRISM_SPARSE_CLONES void share_of(const CsrBlock<double> &b,
                                  const double *other,
                                  gidx k,
                                  double alpha,
                                  const char *mask,
                                  bool accumulate,
                                  double *partial,
                                  bool by_rows,
                                  lidx lo,
                                  lidx hi) {
    share(b, other, k, alpha, mask, accumulate, partial, by_rows, lo, hi);
}
PRISM_SPARSE_CLONES void share_of(const CsrBlock<float> &b,
                                  const float *other,
                                  gidx k,
                                  float alpha,
                                  const char *mask,
                                  bool accumulate,
                                  float *partial,
                                  bool by_rows,
                                  lidx lo,
                                  lidx hi) {
    share(b, other, k, alpha, mask, accumulate, partial, by_rows, lo, hi);
}

} // namespace

template <typename T>
void sparse_local_product(const SparseDistMatrix<T> &x,
                          const T *other,
                          FactorSide side,
                          gidx k,
                          T alpha,
                          const char *col_mask,
                          bool accumulate,
                          T *partial) {
    const CsrBlock<T> &b = x.block();
    const bool by_rows = side == FactorSide::w;
    const lidx count = by_rows ? b.rows : b.cols;
    const std::int64_t *prefix = by_rows ? b.row_ptr.data() : x.column_prefix().data();
    const bool parallel = b.nnz() * k >= parallel_min_work && count > 1;
#pragma omp parallel if (parallel)
    {
        const int parts = omp_get_num_threads(), part = omp_get_thread_num();
        const lidx lo = split(prefix, count, parts, part), hi = split(prefix, count, parts, part + 1);
        share_of(b, other, k, alpha, col_mask, accumulate, partial, by_rows, lo, hi);
    }
}

template <typename T> NnzBalance nnz_balance(const SparseDistMatrix<T> &x) {
    const mpi::Comm &comm = x.grid().comm();
    NnzBalance b;
    const std::int64_t mine = x.local_nnz();
    b.min = mpi::allreduce_value(comm, mine, mpi::Op::min);
    b.max = mpi::allreduce_value(comm, mine, mpi::Op::max);
    b.total = mpi::allreduce_value(comm, mine, mpi::Op::sum);
    b.mean = static_cast<double>(b.total) / comm.size();
    return b;
}

template void sparse_local_product<double>(
    const SparseDistMatrix<double> &, const double *, FactorSide, gidx, double, const char *, bool, double *);
template void sparse_local_product<float>(
    const SparseDistMatrix<float> &, const float *, FactorSide, gidx, float, const char *, bool, float *);
template NnzBalance nnz_balance<double>(const SparseDistMatrix<double> &);
template NnzBalance nnz_balance<float>(const SparseDistMatrix<float> &);

} // namespace prism
