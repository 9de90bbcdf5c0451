#include "thread_count.hpp"

#include <dlfcn.h>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace prism::drivers {

// OpenBLAS's entry points are looked up at run time rather than linked: Prism links any BLAS (Debian's
// alternatives may point libblas at the reference BLAS or BLIS), and only OpenBLAS has them.
void set_threads_per_rank(int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    using Set = void (*)(int);
    if (auto set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
        set(threads);
    }
}

int openmp_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int openblas_threads() {
    using Get = int (*)();
    if (auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
        return get();
    }
    return -1;
}

} // namespace prism::drivers
