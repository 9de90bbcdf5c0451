#pragma once
/// NNDSVD / NNDSVDa initialisation of distributed NMF (Boutsidis & Gallopoulos 2008), from a truncated SVD
/// computed in parallel by a randomised range finder (Halko, Martinsson & Tropp 2011) that works entirely
/// in the factor layout of factor.hpp and communicates only through the kernels of dist_products.hpp.
///
/// Method, with l = min(k + oversampling, min(m, n)) and q = power_iterations:
///   Omega (n x l, H^T slabs) Gaussian, each entry a pure function of (seed, global column of X, j)
///   Q  = orth(X Omega)                              (m x l, W slabs)
///   q times: Z = orth(X^T Q), Q = orth(X Z)
///   B^T = X^T Q = Q2 R                               (n x l, H^T slabs; R l x l)
///   R^T = U_s S V_s^T (local l x l SVD)  =>  X ~ (Q U_s) S (Q2 V_s)^T, keep the top k
/// orth() is CholeskyQR2 on the l x l Gram (all-reduced), with an eigen-based fallback that drops
/// numerically dependent directions when the Gram is ill-conditioned or singular (rank-deficient or zero
/// X): the output is always finite.
///
/// X may be dense or sparse (MatrixRef): with a sparse X the products are sparse x dense kernels, so X is
/// never densified. Never forms an m x m or n x n matrix and never gathers X: the largest objects are the
/// l-column factor slabs and l x l matrices. Words sent per rank, on a pr x pc grid:
///   (2q + 2) (m/pr + n/pc) l     all-gathers + reduce-scatters of the products with X
///   + (4q + 4) l^2               Gram all-reduces (two per orthonormalisation)
///   + a few 1-word agreements    argument checks, allocations, success of the small LAPACK calls
///   + 4k (+1 for NNDSVDa)        one all-reduce of all column-part norms (and the sum of X)
/// and the local work is (4q + 4) m n l / P flops in BLAS-3 products with the local block of X.
///
/// Grid independence: every input to the computation (X, Omega) is defined by global indices, so W and H^T
/// are the same for any number of ranks, grid shape and block size, up to the order of floating-point
/// reductions (differences of order machine epsilon times the conditioning of the singular subspaces).

#include <cstdint>
#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/permutation.hpp"

namespace prism {

/// Rank-k truncated SVD X ~ U diag(sigma) V^T by the randomised range finder above, k = u.k().
/// Collective on x.grid().comm(); all ranks throw the same prism::Error on bad arguments.
/// @param[in]  x                 the data, m x n
/// @param[out] u                 U (m x k, orthonormal columns; zero columns where sigma is 0), side w:
///                               local shape u.rows() x k, row-major
/// @param[out] v                 V (n x k), side ht with the same k: local shape v.rows() x k, row-major
/// @param[in]  seed              seeds the test matrix Omega
/// @param[in]  origin            original column indices of a permuted X (Omega's rows are keyed by them,
///                               so a --permute run finds the permuted same subspace); empty: identity
/// @param[in]  power_iterations  q >= 0 (each costs two products with X; 2 suits slowly decaying spectra)
/// @param[in]  oversampling      p >= 0 extra columns (l = min(k + p, min(m, n)))
/// @return the k singular values, descending, identical on every rank. Exact (to rounding) when
///         rank(X) <= l; otherwise the usual randomised-SVD approximation. Values at rounding level,
///         below 8 eps max(l, sqrt(max(m, n))) sigma_0 (eps of T), are returned as exact zeros with zero
///         singular vectors, so a rank-deficient X gives zeros rather than grid-dependent noise.
template <typename T>
std::vector<double> randomized_svd(NoDeduce<MatrixRef<T>> x,
                                   Factor<T> &u,
                                   Factor<T> &v,
                                   std::uint64_t seed,
                                   int power_iterations = 2,
                                   int oversampling = 10,
                                   const IndexOrigin &origin = {});

/// NNDSVD initialisation of W and H^T from the rank-k randomised SVD: W[:,0] = sqrt(s_0)|u_0|,
/// H[0,:] = sqrt(s_0)|v_0|, and for j >= 1 the dominant one of the positive / negative parts of (u_j, v_j)
/// scaled by sqrt(s_j ||u_j^+|| ||v_j^+||) (or the negative counterpart). Zeros are exact: an all-zero row
/// (column) of X gives an all-zero row of W (H^T). With `fill_with_mean` (NNDSVDa, as scikit-learn) every
/// zero entry is then replaced by mean(X) (clamped at 0). Unlike scikit-learn no absolute cut of small
/// values (1e-6) is applied: it would depend on the scale of X.
/// Collective on x.grid().comm(); all ranks throw the same prism::Error on bad arguments.
/// @param[in]  x               the data, m x n (non-negative for a meaningful result)
/// @param[out] w               W, m x k, side w (local w.rows() x k, row-major)
/// @param[out] ht              H^T, n x k, side ht, same k, 1 <= k <= min(m, n)
/// @param[in]  fill_with_mean  false: NNDSVD, true: NNDSVDa
/// @param[in]  seed, power_iterations, oversampling, origin   see randomized_svd
template <typename T>
void initialize_nndsvd(NoDeduce<MatrixRef<T>> x,
                       Factor<T> &w,
                       Factor<T> &ht,
                       bool fill_with_mean,
                       std::uint64_t seed,
                       int power_iterations = 2,
                       int oversampling = 10,
                       const IndexOrigin &origin = {});

} // namespace prism
