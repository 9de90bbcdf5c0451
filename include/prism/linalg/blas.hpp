#pragma once
/// Typed local BLAS-3 calls on raw column-major buffers with 64-bit sizes, narrowed (checked) to the
/// LP64 `int` of the BLAS at this boundary. Local: no communication.

#include "prism/types.hpp"

namespace prism::blas {

/// C (m x n) = alpha op(A) op(B) + beta C; trans_a/trans_b are 'N' or 'T'.
template <typename T>
void gemm(char trans_a,
          char trans_b,
          lidx m,
          lidx n,
          lidx k,
          T alpha,
          const T *a,
          lidx lda,
          const T *b,
          lidx ldb,
          T beta,
          T *c,
          lidx ldc);

/// C (n x n, both triangles written) = alpha A A^T + beta C, where A is n x k (trans 'N').
template <typename T> void syrk_full(lidx n, lidx k, T alpha, const T *a, lidx lda, T beta, T *c, lidx ldc);

} // namespace prism::blas
