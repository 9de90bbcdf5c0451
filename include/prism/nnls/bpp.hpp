#pragma once
/// @file
/// Block principal pivoting NNLS with many right-hand sides (Kim & Park 2011, "Fast nonnegative matrix
/// factorization: an active-set-like method and comparisons", Algorithm 2). Local kernel, no MPI.

#include "prism/types.hpp"

namespace prism::nnls {

/// Inputs of bpp_solve() besides the matrices. Plain aggregate with defaults.
struct BppOptions {
    /// Start each column from the passive set {i : X(i,j) > 0} of the X passed in (e.g. the previous outer
    /// iteration's solution) instead of the empty set. Non-finite entries count as zero.
    bool warm_start = false;
    /// Maximum number of exchange rounds per column; 0 selects max(100, 10 k). A column still infeasible
    /// after the cap returns its best feasible iterate and is counted in BppStats::cap_hits.
    lidx max_iter = 0;
    /// L1 penalty l1 * sum(x): subtracted from every entry of R, i.e. solves with r - l1 * 1. Must be >= 0.
    double l1 = 0.0;
    /// Columns are solved in independent blocks of this many (the unit of OpenMP parallelism and the
    /// bound on workspace: about 4 * k * block_cols doubles per thread); 0 means one block of all columns.
    /// Grouping by passive set, and hence Cholesky sharing, happens within a block.
    lidx block_cols = 1024;
    /// Allow the Schur-complement path (see bpp_solve); false forces a direct factorization of every
    /// G[F,F] (the reference the Schur path is tested against).
    bool schur = true;
};

/// Counters reported by bpp_solve() (overwritten on each call; use += to accumulate across calls).
struct BppStats {
    lidx columns = 0;           ///< right-hand sides solved
    lidx iterations = 0;        ///< maximum number of exchange rounds over all columns
    lidx exchange_rounds = 0;   ///< sum over columns of exchange rounds
    lidx factorizations = 0;    ///< direct factorizations of G[F,F] (one per passive-set group per round)
    lidx pivoted_fallbacks = 0; ///< factorizations where G[F,F] was (numerically) singular: pivoted Cholesky
    lidx backup_exchanges = 0;  ///< single-variable exchanges made by the backup rule
    lidx cap_hits = 0;          ///< columns that hit max_iter and returned their best feasible iterate
    lidx schur_groups = 0;      ///< passive-set groups solved through the Schur complement of G^{-1}
    lidx refinements = 0;       ///< iterative-refinement steps on the Schur path
    lidx schur_fallbacks = 0;   ///< Schur-path columns still inaccurate after refinement, solved directly
    lidx reused_rows = 0;       ///< Cholesky rows taken from the previous group's factor (shared leading F)

    BppStats &operator+=(BppStats const &o) {
        columns += o.columns;
        iterations = iterations > o.iterations ? iterations : o.iterations;
        exchange_rounds += o.exchange_rounds;
        factorizations += o.factorizations;
        pivoted_fallbacks += o.pivoted_fallbacks;
        backup_exchanges += o.backup_exchanges;
        cap_hits += o.cap_hits;
        reused_rows += o.reused_rows;
        schur_groups += o.schur_groups;
        refinements += o.refinements;
        schur_fallbacks += o.schur_fallbacks;
        return *this;
    }
};

/// Solves, for every column j of R, min_{x >= 0} 0.5 xᵀ G x - xᵀ (R(:,j) - l1), writing x to X(:,j).
///
/// Local: no communication.
///
/// G is symmetric positive semidefinite (typically HᵀH + l2 I). When the equilibrated G = D G D is safely
/// positive definite (smallest squared Cholesky pivot > 1e-10), its inverse M is formed once and a column
/// with passive set F and active set A, |A| < |F|, is solved through the Schur complement: x_F is the F part
/// of M [r_F; t_A] with t_A = -M[A,A]⁻¹ M[A,F] r_F, i.e. one |A|×|A| factorization per group instead of
/// |F|×|F|, and the products with M and G of a whole exchange round are single gemm calls; each such
/// solve is refined (at most twice) until its passive residual is at roundoff level, else solved directly.
/// Otherwise columns that share F are solved together with one Cholesky factorization of G[F,F] (equilibrated
/// to unit diagonal; rows shared with the previous group's factor are reused). When G[F,F] is numerically
/// singular the factorization falls back to pivoted Cholesky and takes the basic solution (non-pivot
/// variables = 0), so the output is always finite and nonnegative. A zero column of R (with l1 = 0 or not)
/// gives exactly zero. Exchanges follow Kim & Park's full exchange with the backup rule (after 3 full
/// exchanges that do not shrink the infeasible set, exchange only the largest infeasible index), which
/// terminates for positive definite G; max_iter bounds the semidefinite case. Arithmetic is done in double
/// for both T (inputs converted, output rounded to T). Parallel over column blocks with OpenMP when
/// available.
///
/// @param[in]     G      k×k, column-major, leading dimension k; only symmetric use, both triangles read.
/// @param[in]     k      number of unknowns per column (>= 0; k = 0 or nrhs = 0 is a no-op).
/// @param[in]     R      k×nrhs, column-major, leading dimension ldr >= max(1,k).
/// @param[in]     ldr    leading dimension of R.
/// @param[in]     nrhs   number of right-hand sides.
/// @param[in,out] X      k×nrhs, column-major, leading dimension ldx >= max(1,k). Read only if
///                       opts.warm_start; on return the solutions. Entries beyond row k are untouched.
/// @param[in]     ldx    leading dimension of X.
/// @param[in]     opts   options, see BppOptions.
/// @param[out]    stats  optional counters, see BppStats.
/// @throws prism::Error on invalid sizes or options (before any output is written).
///
/// Instantiated for T = float and double.
template <typename T>
void bpp_solve(T const *G,
               lidx k,
               T const *R,
               lidx ldr,
               lidx nrhs,
               T *X,
               lidx ldx,
               BppOptions const &opts = {},
               BppStats *stats = nullptr);

} // namespace prism::nnls
