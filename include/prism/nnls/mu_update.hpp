#pragma once
/// @file
/// Lee-Seung multiplicative update for one factor. Local kernel, no MPI.

#include "prism/types.hpp"

namespace prism::nnls {

/// Inputs of mu_update() besides the matrices. Plain aggregate with defaults.
struct MuOptions {
    double l1 = 0.0;    ///< L1 penalty l1 * sum(F), added to the denominator; >= 0.
    double l2 = 0.0;    ///< ridge penalty 0.5 * l2 * ||F||², adds l2 F to the denominator; >= 0.
    double eps = 1e-16; ///< added to every denominator so it is never zero; must be > 0.
};

/// One multiplicative update, all columns at once (Jacobi: every entry uses the old F):
///
///     F <- F .* max(R, 0) ./ (F G + l2 F + l1 + eps).
///
/// For nonnegative R and F it does not increase 0.5 tr(F G Fᵀ) - tr(Fᵀ R) + l1 sum(F) + 0.5 l2 ||F||²
/// (up to the eps perturbation). Zeros stay zero: a zero entry of F, or a zero row of R, gives exactly 0;
/// the denominator is >= eps > 0, so there is no 0/0. Negative entries of R (impossible for nonnegative data)
/// are treated as 0 to keep F nonnegative. Arithmetic is in double for both T.
///
/// Local: no communication.
///
/// @param[in]     G     k×k Gram of the other factor, leading dimension k, symmetric, entries >= 0.
/// @param[in]     k     rank, >= 0.
/// @param[in]     R     rows×k, ROW-major, row stride ldr >= k (data times the other factor).
/// @param[in]     ldr   row stride of R.
/// @param[in]     rows  number of rows, >= 0.
/// @param[in,out] F     rows×k, ROW-major, row stride ldf >= k, entries >= 0; updated in place.
/// @param[in]     ldf   row stride of F.
/// @param[in]     opts  see MuOptions.
/// @throws prism::Error on invalid sizes or options.
///
/// Instantiated for T = float and double.
template <typename T>
void mu_update(
    T const *G, lidx k, T const *R, lidx ldr, lidx rows, T *F, lidx ldf, MuOptions const &opts = {});

} // namespace prism::nnls
