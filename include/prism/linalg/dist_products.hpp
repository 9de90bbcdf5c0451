#pragma once
/// The communication kernels of distributed NMF (MPI-FAUN, Kannan, Ballard & Park 2016). Everything an
/// iteration communicates goes through these three functions.
///
/// Per call, with X (m x n) on a pr x pc grid and factors of k columns, each rank sends about:
///   gram_allreduce      k^2 words                       (all-reduce over all P ranks)
///   gather_factor       (m/pr) k  [W]  or (n/pc) k  [H^T]  (all-gather within the grid row / column)
///   x_times_factor      (m/pr) k  [X H^T]  or (n/pc) k  [X^T W]  (reduce-scatter within the grid row /
///   column)
/// so one outer iteration (both factors) moves ~ 2 (m/pr + n/pc) k + 2 k^2 words per rank. A gather or
/// reduce-scatter over a group of one rank (W's and X H^T's when pc = 1, H^T's and X^T W's when pr = 1) is
/// skipped: gathered_factor returns the slab itself and x_times_factor writes the local product in place.

#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/matrix_ref.hpp"

namespace prism {

/// Reusable buffers, so iterations allocate nothing.
template <typename T> struct ProductWorkspace {
    std::vector<T> gathered;  ///< a gathered factor: gathered_rows x k, row-major
    std::vector<T> partial;   ///< this rank's partial product before the reduce-scatter
    std::vector<T> scratch;   ///< local_product's column-major result before its transpose into `partial`
    double seconds_local = 0; ///< accumulated by x_times_factor: local BLAS-3 product
    double seconds_comm = 0;  ///< accumulated by x_times_factor: reduce-scatter
};

/// G (k x k, column-major, symmetric) = F^T F summed over the whole grid; `extras` more values that the
/// caller placed in g[k*k .. k*k+extras) are summed in the same all-reduce (one message, not two).
/// Collective on f.grid().comm().
template <typename T> void gram_allreduce(const Factor<T> &f, std::vector<T> &g, int extras = 0);

/// All-gathers f's slabs within gather_comm():
///
///   BEFORE  rank j of gather_comm: slab_j (slab_rows()[j] x k)
///   AFTER   all of them: gathered = [slab_0; slab_1; ...] (gathered_rows() x k, row-major),
///           whose row r matches X-local index r of f's dimension.
///
/// Collective on f.gather_comm().
template <typename T> void gather_factor(const Factor<T> &f, std::vector<T> &gathered);

/// The gathered factor (as gather_factor's result), read-only: when f.gather_comm() has one rank (grid 1x1,
/// and W on a pr x 1 or H^T on a 1 x pc grid) the slab already is the whole gathered factor and f.data()
/// is returned, nothing copied; otherwise the slabs are gathered into `buffer` and buffer.data() returned.
/// Valid until f or `buffer` changes. Collective on f.gather_comm().
template <typename T> const T *gathered_factor(const Factor<T> &f, std::vector<T> &buffer);

/// The product of X with the *other* factor, delivered in `out`'s slab layout (rows() x k, row-major):
///   out.side() == w:  X H^T restricted to out's rows     (input: H^T gathered within the grid column)
///   out.side() == ht: X^T W restricted to out's rows     (input: W gathered within the grid row)
/// Local BLAS-3 product on X's block, then a sum-reduce-scatter within out.gather_comm():
///
///   BEFORE  rank j: partial = X_ij-product for all gathered rows (gathered_rows x k)
///   AFTER   rank j: result slab j = sum over the grid row (or column) of partial's slab j
///
/// When out.gather_comm() has one rank there is nothing to sum: the local product is written straight into
/// `result` (no reduce-scatter, no copy). `other_gathered` is gathered_rows x k, row-major (e.g. from
/// gathered_factor). Collective on out.gather_comm().
template <typename T>
void x_times_factor(NoDeduce<MatrixRef<T>> x,
                    const T *other_gathered,
                    const Factor<T> &out,
                    ProductWorkspace<T> &ws,
                    std::vector<T> &result);

/// Same, with the other factor gathered in a vector (gather_factor). Collective on out.gather_comm().
template <typename T>
void x_times_factor(NoDeduce<MatrixRef<T>> x,
                    const std::vector<T> &other_gathered,
                    const Factor<T> &out,
                    ProductWorkspace<T> &ws,
                    std::vector<T> &result) {
    x_times_factor<T>(x, other_gathered.data(), out, ws, result);
}

/// Only the local product of x_times_factor (no communication): partial = X_ij H_j^T (side w) or
/// X_ij^T W_i (side ht), gathered_rows x k row-major. Exposed for benchmarks (the "floor"). Dense blocks
/// use BLAS-3, sparse blocks the threaded sparse x dense kernels of sparse_products.hpp (no scratch).
/// `scratch` (resized as needed) holds the BLAS result before it is transposed into `partial`; pass the
/// same vector every time so repeated calls allocate nothing. Local: no communication.
template <typename T>
void local_product(NoDeduce<MatrixRef<T>> x,
                   const T *other_gathered,
                   FactorSide side,
                   gidx k,
                   std::vector<T> &partial,
                   std::vector<T> &scratch);

/// Same, with the gathered factor in a vector. Local: no communication.
template <typename T>
void local_product(NoDeduce<MatrixRef<T>> x,
                   const std::vector<T> &other_gathered,
                   FactorSide side,
                   gidx k,
                   std::vector<T> &partial,
                   std::vector<T> &scratch) {
    local_product<T>(x, other_gathered.data(), side, k, partial, scratch);
}

/// Same, with a temporary scratch buffer. Local: no communication.
template <typename T>
void local_product(NoDeduce<MatrixRef<T>> x,
                   const std::vector<T> &other_gathered,
                   FactorSide side,
                   gidx k,
                   std::vector<T> &partial);

} // namespace prism
