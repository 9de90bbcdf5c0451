#include "prism/linalg/dist_products.hpp"

#include <algorithm>

#include "prism/linalg/blas.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/mpi/collectives.hpp"

namespace prism {

namespace {
std::vector<std::int64_t> word_counts(const std::vector<lidx> &rows, gidx k) {
    std::vector<std::int64_t> counts;
    counts.reserve(rows.size());
    for (lidx r : rows) {
        counts.push_back(r * k);
    }
    return counts;
}
} // namespace

template <typename T> void gram_allreduce(const Factor<T> &f, std::vector<T> &g, int extras) {
    const gidx k = f.k();
    g.resize(static_cast<std::size_t>(k * k + extras));
    // The slab is row-major rows x k, i.e. column-major k x rows: F^T F = slab_cm * slab_cm^T.
    blas::syrk_full<T>(k, f.rows(), T{1}, f.data(), k, T{0}, g.data(), k);
    // G[*,*] = sum over all ranks of the local Grams (each factor row lives on exactly one rank).
    mpi::allreduce(f.grid().comm(), g.data(), k * k + extras, mpi::Op::sum);
}

template <typename T> void gather_factor(const Factor<T> &f, std::vector<T> &gathered) {
    gathered.resize(static_cast<std::size_t>(f.gathered_rows() * f.k()));
    // F[MC,*] (or F[MR,*]) <- F slabs: all-gather within the grid row (column).
    mpi::allgatherv(f.gather_comm(), f.data(), gathered.data(), word_counts(f.slab_rows(), f.k()));
}

template <typename T> const T *gathered_factor(const Factor<T> &f, std::vector<T> &buffer) {
    if (f.gather_comm().size() == 1) {
        return f.data(); // the slab is all of F[MC,*] (or F[MR,*]): an all-gather would only copy it
    }
    gather_factor(f, buffer);
    return buffer.data();
}

namespace {
template <typename T>
void dense_local_product(const DistMatrix<T> &x,
                         const T *other_gathered,
                         FactorSide side,
                         gidx k,
                         std::vector<T> &partial,
                         std::vector<T> &scratch) {
    const lidx mr = x.local_rows(), nc = x.local_cols();
    // The tall-skinny result is computed column-major (rows x k, X as BLAS operand A) and transposed into the
    // row-major partial: OpenBLAS 0.3 runs this form 30-40 % faster in double than writing the k x rows
    // transpose directly (bench/README.md); the transpose costs rows * k copies, ~1 % of the product.
    const lidx rows = side == FactorSide::w ? mr : nc;
    scratch.resize(static_cast<std::size_t>(rows * k));
    partial.resize(static_cast<std::size_t>(rows * k));
    if (side == FactorSide::w) {
        // scratch (mr x k) = X_ij (mr x nc) * Ht_j, with Ht_j held as column-major k x nc
        blas::gemm<T>('N', 'T', mr, k, nc, T{1}, x.data(), x.ld(), other_gathered, k, T{0}, scratch.data(),
                      mr);
    } else {
        // scratch (nc x k) = X_ij^T (nc x mr) * W_i, with W_i held as column-major k x mr
        blas::gemm<T>('T', 'T', nc, k, mr, T{1}, x.data(), x.ld(), other_gathered, k, T{0}, scratch.data(),
                      nc);
    }
    constexpr lidx tile = 32; // rows per tile: k read streams stay in cache
    for (lidx r0 = 0; r0 < rows; r0 += tile) {
        const lidx r1 = std::min(rows, r0 + tile);
        for (gidx l = 0; l < k; ++l) {
            const T *src = scratch.data() + l * rows;
            for (lidx r = r0; r < r1; ++r) {
                partial[static_cast<std::size_t>(r * k + l)] = src[r];
            }
        }
    }
}
} // namespace

template <typename T>
void local_product(NoDeduce<MatrixRef<T>> x,
                   const T *other_gathered,
                   FactorSide side,
                   gidx k,
                   std::vector<T> &partial,
                   std::vector<T> &scratch) {
    if (const SparseDistMatrix<T> *s = x.sparse()) {
        const lidx rows = side == FactorSide::w ? s->local_rows() : s->local_cols();
        partial.resize(static_cast<std::size_t>(rows * k));
        sparse_local_product(*s, other_gathered, side, k, T{1}, nullptr, false, partial.data());
    } else {
        dense_local_product(*x.dense(), other_gathered, side, k, partial, scratch);
    }
}

template <typename T>
void local_product(NoDeduce<MatrixRef<T>> x,
                   const std::vector<T> &other_gathered,
                   FactorSide side,
                   gidx k,
                   std::vector<T> &partial) {
    std::vector<T> scratch;
    local_product<T>(x, other_gathered, side, k, partial, scratch);
}

template <typename T>
void x_times_factor(NoDeduce<MatrixRef<T>> x,
                    const T *other_gathered,
                    const Factor<T> &out,
                    ProductWorkspace<T> &ws,
                    std::vector<T> &result) {
    const double t0 = MPI_Wtime();
    if (out.gather_comm().size() == 1) {
        // A reduce-scatter over one rank would only copy: the local product is the result.
        local_product<T>(x, other_gathered, out.side(), out.k(), result, ws.scratch);
        ws.seconds_local += MPI_Wtime() - t0;
        return;
    }
    local_product<T>(x, other_gathered, out.side(), out.k(), ws.partial, ws.scratch);
    const double t1 = MPI_Wtime();
    result.resize(static_cast<std::size_t>(out.rows() * out.k()));
    // (X H^T)[MC,*] summed over the grid row, scattered into W's slabs (or X^T W over the grid column).
    mpi::reduce_scatter_sum(out.gather_comm(), ws.partial.data(), result.data(),
                            word_counts(out.slab_rows(), out.k()));
    ws.seconds_local += t1 - t0;
    ws.seconds_comm += MPI_Wtime() - t1;
}

template void gram_allreduce<double>(const Factor<double> &, std::vector<double> &, int);
template void gram_allreduce<float>(const Factor<float> &, std::vector<float> &, int);
template void gather_factor<double>(const Factor<double> &, std::vector<double> &);
template void gather_factor<float>(const Factor<float> &, std::vector<float> &);
template const double *gathered_factor<double>(const Factor<double> &, std::vector<double> &);
template const float *gathered_factor<float>(const Factor<float> &, std::vector<float> &);
template void local_product<double>(
    MatrixRef<double>, const std::vector<double> &, FactorSide, gidx, std::vector<double> &);
template void
local_product<float>(MatrixRef<float>, const std::vector<float> &, FactorSide, gidx, std::vector<float> &);
template void local_product<double>(
    MatrixRef<double>, const double *, FactorSide, gidx, std::vector<double> &, std::vector<double> &);
template void local_product<float>(
    MatrixRef<float>, const float *, FactorSide, gidx, std::vector<float> &, std::vector<float> &);
template void x_times_factor<double>(MatrixRef<double>,
                                     const double *,
                                     const Factor<double> &,
                                     ProductWorkspace<double> &,
                                     std::vector<double> &);
template void x_times_factor<float>(
    MatrixRef<float>, const float *, const Factor<float> &, ProductWorkspace<float> &, std::vector<float> &);

} // namespace prism
