// Times the operand layouts OpenBLAS can be given for the two tall-skinny products of one NMF iteration
// (X H^T and X^T W with X mr x nc column-major, k small). Diagnostic, not built by CMake:
//   g++ -O2 bench/gemm_forms.cpp -o gemm_forms -lblas && OPENBLAS_NUM_THREADS=1 ./gemm_forms 8000 4000 50
// Hc/Wc: factor as stored by Prism (column-major k x rows); Hn/Wn: its transpose (rows x k).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
extern "C" void dgemm_(const char *,
                       const char *,
                       const int *,
                       const int *,
                       const int *,
                       const double *,
                       const double *,
                       const int *,
                       const double *,
                       const int *,
                       const double *,
                       double *,
                       const int *,
                       size_t,
                       size_t);
extern "C" void sgemm_(const char *,
                       const char *,
                       const int *,
                       const int *,
                       const int *,
                       const float *,
                       const float *,
                       const int *,
                       const float *,
                       const int *,
                       const float *,
                       float *,
                       const int *,
                       size_t,
                       size_t);
template <class T>
void g(char ta, char tb, int m, int n, int k, const T *a, int lda, const T *b, int ldb, T *c, int ldc) {
    T one = 1, zero = 0;
    if constexpr (sizeof(T) == 8)
        dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc, 1, 1);
    else
        sgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc, 1, 1);
}
double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
template <class F> double best(F f, int reps = 7) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        double a = now();
        f();
        t.push_back(now() - a);
    }
    std::sort(t.begin(), t.end());
    return t[reps / 2];
}
template <class T> void run(int mr, int nc, int k) {
    std::vector<T> X((size_t)mr * nc), Hc((size_t)k * nc), Hn((size_t)k * nc), Wc((size_t)k * mr),
        Wn((size_t)k * mr), C((size_t)std::max(mr, nc) * k);
    for (auto &v : X)
        v = rand() / (T)RAND_MAX;
    for (auto &v : Hc)
        v = rand() / (T)RAND_MAX;
    for (auto &v : Wc)
        v = rand() / (T)RAND_MAX;
    printf("%s mr=%d nc=%d k=%d\n", sizeof(T) == 8 ? "double" : "float", mr, nc, k);
    // side w: want (X H^T) mr x k
    printf(" w  A C(kxmr)=Hc*X^T  NT : %.4f\n",
           best([&] { g<T>('N', 'T', k, mr, nc, Hc.data(), k, X.data(), mr, C.data(), k); }));
    printf(" w  B C(mrxk)=X*Hc^T  NT : %.4f\n",
           best([&] { g<T>('N', 'T', mr, k, nc, X.data(), mr, Hc.data(), k, C.data(), mr); }));
    printf(" w  C C(mrxk)=X*Hn    NN : %.4f\n",
           best([&] { g<T>('N', 'N', mr, k, nc, X.data(), mr, Hn.data(), nc, C.data(), mr); }));
    printf(" w  D C(kxmr)=Hn^T*X^T TT: %.4f\n",
           best([&] { g<T>('T', 'T', k, mr, nc, Hn.data(), nc, X.data(), mr, C.data(), k); }));
    // side ht: want (X^T W) nc x k
    printf(" ht A C(kxnc)=Wc*X    NN : %.4f\n",
           best([&] { g<T>('N', 'N', k, nc, mr, Wc.data(), k, X.data(), mr, C.data(), k); }));
    printf(" ht B C(ncxk)=X^T*Wc^T TT: %.4f\n",
           best([&] { g<T>('T', 'T', nc, k, mr, X.data(), mr, Wc.data(), k, C.data(), nc); }));
    printf(" ht C C(ncxk)=X^T*Wn  TN : %.4f\n",
           best([&] { g<T>('T', 'N', nc, k, mr, X.data(), mr, Wn.data(), mr, C.data(), nc); }));
    printf(" ht D C(kxnc)=Wn^T*X  TN : %.4f\n",
           best([&] { g<T>('T', 'N', k, nc, mr, Wn.data(), mr, X.data(), mr, C.data(), k); }));
    double fl = 2.0 * mr * nc * k;
    (void)fl;
}
int main(int argc, char **argv) {
    int mr = atoi(argv[1]), nc = atoi(argv[2]), k = atoi(argv[3]);
    run<double>(mr, nc, k);
    run<float>(mr, nc, k);
}
