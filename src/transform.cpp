#include "prism/transform.hpp"

#include <cmath>

namespace prism {

template <typename T> void log1p_in_place(DistMatrix<T> &a) {
    for (lidx j = 0; j < a.local_cols(); ++j) {
        T *col = a.data() + j * a.ld();
        for (lidx i = 0; i < a.local_rows(); ++i) {
            col[i] = std::log1p(col[i]);
        }
    }
}

template <typename T> void log1p_in_place(SparseDistMatrix<T> &a) {
    for (T &v : a.values()) {
        v = std::log1p(v);
    }
}

template void log1p_in_place<double>(DistMatrix<double> &);
template void log1p_in_place<double>(SparseDistMatrix<double> &);
template void log1p_in_place<float>(SparseDistMatrix<float> &);
template void log1p_in_place<float>(DistMatrix<float> &);

} // namespace prism
