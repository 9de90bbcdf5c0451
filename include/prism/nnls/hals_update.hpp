#pragma once
/// @file
/// Fast HALS sweep (Cichocki & Phan 2009; Gillis & Glineur's accelerated-HALS form) for one factor.
/// Local kernel, no MPI.

#include "prism/types.hpp"

namespace prism::nnls {

/// Inputs of hals_update() besides the matrices. Plain aggregate with defaults.
struct HalsOptions {
    double l1 = 0.0; ///< L1 penalty l1 * sum(F); >= 0.
    double l2 = 0.0; ///< ridge penalty 0.5 * l2 * ||F||_F^2; >= 0 (pass G without it: it is added here).
    /// Lower bound for entries of rows whose R row is nonzero. A positive floor keeps every component alive
    /// (a column that hits zero everywhere would give the other factor a zero Gram diagonal for good).
    /// 0 gives plain projected coordinate descent. Must be finite and >= 0.
    double eps_floor = 1e-16;
};

/// One HALS sweep over the k columns of F: for l = 0..k-1 (Gauss-Seidel, using already updated columns),
///
///     F(:,l) <- max(floor, (R(:,l) - l1 - sum_{j != l} F(:,j) G(j,l)) / (G(l,l) + l2)),
///
/// the exact minimiser over column l of 0.5 tr(F G Fᵀ) - tr(Fᵀ R) + l1 sum(F) + 0.5 l2 ||F||². For l2 = 0 it
/// equals the usual F(:,l) + (R(:,l) - F G(:,l) - l1) / G(l,l). Rows are independent, so the sweep runs over
/// blocks of rows (held transposed, vectorised across rows, OpenMP over blocks); each row sums in the order
/// j = 0..k-1, which gives the same result as row by row or column by column.
///
/// Local: no communication.
///
/// Edge cases (no NaN for finite inputs):
/// - a row whose R row is exactly zero becomes exactly zero (its exact minimiser for PSD G): zero data rows
///   give zero factor rows, without the floor;
/// - a dead component, G(l,l) + l2 <= 0, has no finite minimiser; its entries are set to the floor (0 if
///   eps_floor = 0), so it can be revived by the other factor's update;
/// - a non-finite candidate (overflow from a tiny denominator) is replaced by the floor.
/// Arithmetic is in double for both T.
///
/// @param[in]     G     k×k Gram of the other factor (e.g. HᵀH), leading dimension k, symmetric.
/// @param[in]     k     rank (number of columns of F), >= 0.
/// @param[in]     R     rows×k, ROW-major, row stride ldr >= k: data times the other factor (e.g. A H).
/// @param[in]     ldr   row stride of R.
/// @param[in]     rows  number of rows of F and R, >= 0.
/// @param[in,out] F     rows×k, ROW-major, row stride ldf >= k: the factor, updated in place (must be >= 0).
/// @param[in]     ldf   row stride of F.
/// @param[in]     opts  penalties and floor, see HalsOptions.
/// @throws prism::Error on invalid sizes or options.
///
/// Instantiated for T = float and double.
template <typename T>
void hals_update(
    T const *G, lidx k, T const *R, lidx ldr, lidx rows, T *F, lidx ldf, HalsOptions const &opts = {});

namespace detail {

/// Instruction-set variants of the hals_update() kernel. hals_update() uses `automatic` (the widest the
/// CPU has); the others exist so that tests can check every variant the CPU can run, not only that one.
enum class HalsKernel { automatic, baseline, avx2, avx512 };

/// Whether this build and CPU can run `kernel` (automatic and baseline: always).
bool hals_kernel_available(HalsKernel kernel);

/// hals_update() with a chosen variant. @throws prism::Error as hals_update(), or if the variant is not
/// available.
template <typename T>
void hals_update_with(HalsKernel kernel,
                      T const *G,
                      lidx k,
                      T const *R,
                      lidx ldr,
                      lidx rows,
                      T *F,
                      lidx ldf,
                      HalsOptions const &opts = {});

} // namespace detail

} // namespace prism::nnls
