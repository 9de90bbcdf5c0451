#pragma once
// Internal to the library (not installed): the local passes over the data X that are not products —
// sums and the exact residual — for both block kinds, shared by nmf.cpp, joint.cpp and init_nndsvd.cpp.
// Each dispatches once on the kind; a sparse block is only ever visited through its stored values.

#include <algorithm>
#include <vector>

#include "prism/matrix_ref.hpp"

namespace prism::detail {

// Sum of X's local entries (or of their squares) over the local columns j with col_mask[j] != 0
// (nullptr: all), in double. Local.
template <typename T> double local_sum(MatrixRef<T> x, bool squares = false, const char *col_mask = nullptr) {
    double s = 0;
    if (const SparseDistMatrix<T> *sp = x.sparse()) {
        const CsrBlock<T> &b = sp->block();
        for (std::size_t p = 0; p < b.values.size(); ++p) {
            if (col_mask == nullptr || col_mask[b.col[p]] != 0) {
                const double v = static_cast<double>(b.values[p]);
                s += squares ? v * v : v;
            }
        }
        return s;
    }
    const DistMatrix<T> &d = *x.dense();
    for (lidx j = 0; j < d.local_cols(); ++j) {
        if (col_mask != nullptr && col_mask[j] == 0) {
            continue;
        }
        const T *col = d.data() + j * d.ld();
        for (lidx i = 0; i < d.local_rows(); ++i) {
            const double v = static_cast<double>(col[i]);
            s += squares ? v * v : v;
        }
    }
    return s;
}

template <typename T> double local_sum_squares(MatrixRef<T> x) {
    return local_sum(x, true);
}

// ||X_ij - W_i H_j^T||_F^2 and ||X_ij||_F^2 over the masked local columns of a sparse block, from the
// gathered factor rows (row-major, k wide), without forming W_i H_j^T:
//   sum over stored entries of (x - wh)^2  +  sum over unstored entries of wh^2,
// the second as ||W_i H_j^T||^2 - sum over stored entries of wh^2 with ||W_i H_j^T||^2 =
// tr((W_i^T W_i)(H_j^T H_j)) (local Grams in double; clamped at 0 against rounding). Local.
template <typename T>
void sparse_residual(const SparseDistMatrix<T> &x,
                     const T *w_i,
                     const T *h_j,
                     gidx k,
                     const char *col_mask,
                     double &residual,
                     double &norm) {
    const CsrBlock<T> &b = x.block();
    const auto kk = static_cast<std::size_t>(k * k);
    std::vector<double> gw(kk, 0.0), gh(kk, 0.0);
    auto add_gram = [k](std::vector<double> &g, const T *row) {
        for (gidx a = 0; a < k; ++a) {
            const double ra = static_cast<double>(row[a]);
            for (gidx c = 0; c < k; ++c) {
                g[static_cast<std::size_t>(a * k + c)] += ra * static_cast<double>(row[c]);
            }
        }
    };
    for (lidx i = 0; i < b.rows; ++i) {
        add_gram(gw, w_i + i * k);
    }
    for (lidx j = 0; j < b.cols; ++j) {
        if (col_mask == nullptr || col_mask[j] != 0) {
            add_gram(gh, h_j + j * k);
        }
    }
    double all_wh2 = 0;
    for (std::size_t q = 0; q < kk; ++q) {
        all_wh2 += gw[q] * gh[q];
    }
    double stored = 0, stored_wh2 = 0, x2 = 0;
    for (lidx i = 0; i < b.rows; ++i) {
        for (std::int64_t p = b.row_ptr[static_cast<std::size_t>(i)];
             p < b.row_ptr[static_cast<std::size_t>(i + 1)]; ++p) {
            const std::int32_t c = b.col[static_cast<std::size_t>(p)];
            if (col_mask != nullptr && col_mask[c] == 0) {
                continue;
            }
            double wh = 0;
            for (gidx l = 0; l < k; ++l) {
                wh += static_cast<double>(w_i[i * k + l]) * static_cast<double>(h_j[c * k + l]);
            }
            const double v = static_cast<double>(b.values[static_cast<std::size_t>(p)]);
            stored += (v - wh) * (v - wh);
            stored_wh2 += wh * wh;
            x2 += v * v;
        }
    }
    residual += stored + std::max(0.0, all_wh2 - stored_wh2);
    norm += x2;
}

} // namespace prism::detail
