#pragma once
/// @file
/// Fortran LAPACK entry points used by Prism's local kernels: extern "C" declarations only.
///
/// Integers are LP64 `int` (narrow at the call site). Every `char const*` argument has a hidden trailing
/// length argument (`std::size_t`, passed as 1): gfortran-built LAPACK expects it, and omitting it is
/// undefined behaviour that recent gfortran optimisations actually exploit. C implementations (OpenBLAS
/// kernels) ignore the extra argument. Include this header instead of redeclaring these symbols.

#include <cstddef>

extern "C" {

/// Cholesky factorization A = L Lᵀ (uplo 'L') or Uᵀ U (uplo 'U'); info > 0: leading minor not positive.
void dpotrf_(char const *uplo, int const *n, double *a, int const *lda, int *info, std::size_t uplo_len);
void spotrf_(char const *uplo, int const *n, float *a, int const *lda, int *info, std::size_t uplo_len);

/// Solves A X = B with the factor from potrf (or the leading rank×rank block from pstrf).
void dpotrs_(char const *uplo,
             int const *n,
             int const *nrhs,
             double const *a,
             int const *lda,
             double *b,
             int const *ldb,
             int *info,
             std::size_t uplo_len);
void spotrs_(char const *uplo,
             int const *n,
             int const *nrhs,
             float const *a,
             int const *lda,
             float *b,
             int const *ldb,
             int *info,
             std::size_t uplo_len);

/// Pivoted Cholesky Pᵀ A P = L Lᵀ of a semidefinite A; stops when the pivot <= tol, returns the rank.
/// work has 2n entries; piv is 1-based; info = 1 means rank deficient (not an error).
void dpstrf_(char const *uplo,
             int const *n,
             double *a,
             int const *lda,
             int *piv,
             int *rank,
             double const *tol,
             double *work,
             int *info,
             std::size_t uplo_len);
void spstrf_(char const *uplo,
             int const *n,
             float *a,
             int const *lda,
             int *piv,
             int *rank,
             float const *tol,
             float *work,
             int *info,
             std::size_t uplo_len);

/// Symmetric eigendecomposition A = V diag(w) Vᵀ (jobz 'V': A is overwritten by V), eigenvalues ascending.
/// lwork = -1 is a workspace query (the optimal size is returned in work[0]).
void dsyev_(char const *jobz,
            char const *uplo,
            int const *n,
            double *a,
            int const *lda,
            double *w,
            double *work,
            int const *lwork,
            int *info,
            std::size_t jobz_len,
            std::size_t uplo_len);

/// Singular value decomposition A = U diag(s) Vᵀ of an m x n matrix (A is destroyed), s descending.
/// lwork = -1 is a workspace query; info > 0: the bidiagonal QR iteration did not converge.
void dgesvd_(char const *jobu,
             char const *jobvt,
             int const *m,
             int const *n,
             double *a,
             int const *lda,
             double *s,
             double *u,
             int const *ldu,
             double *vt,
             int const *ldvt,
             double *work,
             int const *lwork,
             int *info,
             std::size_t jobu_len,
             std::size_t jobvt_len);

} // extern "C"
