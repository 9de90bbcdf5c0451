#include "prism/linalg/blas.hpp"

#include <algorithm>
#include <cstddef>

extern "C" {
// Fortran BLAS; the trailing size_t arguments are the hidden lengths of the character arguments.
void dgemm_(const char *, const char *, const int *, const int *, const int *, const double *, const double *,
            const int *, const double *, const int *, const double *, double *, const int *, std::size_t,
            std::size_t);
void sgemm_(const char *, const char *, const int *, const int *, const int *, const float *, const float *,
            const int *, const float *, const int *, const float *, float *, const int *, std::size_t,
            std::size_t);
void dsyrk_(const char *, const char *, const int *, const int *, const double *, const double *, const int *,
            const double *, double *, const int *, std::size_t, std::size_t);
void ssyrk_(const char *, const char *, const int *, const int *, const float *, const float *, const int *,
            const float *, float *, const int *, std::size_t, std::size_t);
}

namespace prism::blas {

namespace {
template <typename T> struct Fortran;
template <> struct Fortran<double> {
    static constexpr auto gemm = dgemm_;
    static constexpr auto syrk = dsyrk_;
};
template <> struct Fortran<float> {
    static constexpr auto gemm = sgemm_;
    static constexpr auto syrk = ssyrk_;
};
} // namespace

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
          lidx ldc) {
    if (m == 0 || n == 0) {
        return;
    }
    const int im = narrow<int>(m, "gemm rows"), in = narrow<int>(n, "gemm columns");
    const int ik = narrow<int>(k, "gemm inner dimension");
    const int ilda = narrow<int>(std::max<lidx>(lda, 1), "gemm lda");
    const int ildb = narrow<int>(std::max<lidx>(ldb, 1), "gemm ldb");
    const int ildc = narrow<int>(std::max<lidx>(ldc, 1), "gemm ldc");
    if (k == 0) { // BLAS would do this too, but some refuse k = 0 with a zero-sized operand
        for (lidx j = 0; j < n; ++j) {
            for (lidx i = 0; i < m; ++i) {
                c[i + j * ldc] = beta == T{0} ? T{0} : beta * c[i + j * ldc];
            }
        }
        return;
    }
    Fortran<T>::gemm(&trans_a, &trans_b, &im, &in, &ik, &alpha, a, &ilda, b, &ildb, &beta, c, &ildc, 1, 1);
}

template <typename T> void syrk_full(lidx n, lidx k, T alpha, const T *a, lidx lda, T beta, T *c, lidx ldc) {
    if (n == 0) {
        return;
    }
    const int in = narrow<int>(n, "syrk order"), ik = narrow<int>(k, "syrk inner dimension");
    const int ilda = narrow<int>(std::max<lidx>(lda, 1), "syrk lda");
    const int ildc = narrow<int>(ldc, "syrk ldc");
    if (k == 0) {
        for (lidx j = 0; j < n; ++j) {
            for (lidx i = 0; i < n; ++i) {
                c[i + j * ldc] = beta == T{0} ? T{0} : beta * c[i + j * ldc];
            }
        }
        return;
    }
    const char uplo = 'U', trans = 'N';
    Fortran<T>::syrk(&uplo, &trans, &in, &ik, &alpha, a, &ilda, &beta, c, &ildc, 1, 1);
    for (lidx j = 0; j < n; ++j) { // mirror the upper triangle
        for (lidx i = j + 1; i < n; ++i) {
            c[i + j * ldc] = c[j + i * ldc];
        }
    }
}

template void gemm<double>(char, char, lidx, lidx, lidx, double, const double *, lidx, const double *, lidx, double,
                           double *, lidx);
template void gemm<float>(char, char, lidx, lidx, lidx, float, const float *, lidx, const float *, lidx, float,
                          float *, lidx);
template void syrk_full<double>(lidx, lidx, double, const double *, lidx, double, double *, lidx);
template void syrk_full<float>(lidx, lidx, float, const float *, lidx, float, float *, lidx);

} // namespace prism::blas
