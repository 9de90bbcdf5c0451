#pragma once
/// MatrixRef<T>: a non-owning handle on the data matrix of an NMF run, dense (DistMatrix<T>) or sparse
/// (SparseDistMatrix<T>). Both kinds share the 2D block-cyclic layout, so everything except the local
/// kernels (products, sums, statistics) only needs grid, shape and distributions. Kernels dispatch ONCE
/// per call on the kind (never per element): `if (auto *s = x.sparse()) ... else ... x.dense() ...`.
///
/// Implicitly constructible from either matrix, so `nmf(dense, w, ht, opts)` and `nmf(sparse, w, ht, opts)`
/// both call the same algorithm. The matrix must outlive the handle.

#include <cstddef>

#include "prism/dist_matrix.hpp"
#include "prism/sparse_matrix.hpp"

namespace prism {

template <typename T> class MatrixRef {
  public:
    MatrixRef(const DistMatrix<T> &x) noexcept : dense_(&x) {}        // NOLINT: implicit by design
    MatrixRef(const SparseDistMatrix<T> &x) noexcept : sparse_(&x) {} // NOLINT: implicit by design

    bool is_sparse() const noexcept { return sparse_ != nullptr; }
    /// The dense matrix, or nullptr when the handle holds a sparse one (and vice versa).
    const DistMatrix<T> *dense() const noexcept { return dense_; }
    const SparseDistMatrix<T> *sparse() const noexcept { return sparse_; }

    const Grid &grid() const noexcept { return dense_ ? dense_->grid() : sparse_->grid(); }
    gidx rows() const noexcept { return row_dist().size(); }
    gidx cols() const noexcept { return col_dist().size(); }
    const BlockCyclic &row_dist() const noexcept { return dense_ ? dense_->row_dist() : sparse_->row_dist(); }
    const BlockCyclic &col_dist() const noexcept { return dense_ ? dense_->col_dist() : sparse_->col_dist(); }
    lidx local_rows() const noexcept { return dense_ ? dense_->local_rows() : sparse_->local_rows(); }
    lidx local_cols() const noexcept { return dense_ ? dense_->local_cols() : sparse_->local_cols(); }
    gidx global_row(lidx i_loc) const noexcept { return row_dist().to_global(i_loc, grid().my_row()); }
    gidx global_col(lidx j_loc) const noexcept { return col_dist().to_global(j_loc, grid().my_col()); }

  private:
    template <typename> friend class MatrixPtr;
    MatrixRef() noexcept = default; // only MatrixPtr holds an empty handle

    const DistMatrix<T> *dense_ = nullptr;
    const SparseDistMatrix<T> *sparse_ = nullptr;
};

/// A nullable pointer to a dense or sparse data matrix, for aggregates that borrow one (JointModality::x):
/// assign `&dense` or `&sparse`, compare with nullptr, dereference to a MatrixRef.
template <typename T> class MatrixPtr {
  public:
    MatrixPtr() noexcept = default;
    MatrixPtr(std::nullptr_t) noexcept {}                                  // NOLINT: implicit by design
    MatrixPtr(const DistMatrix<T> *x) noexcept { ref_.dense_ = x; }        // NOLINT: implicit by design
    MatrixPtr(const SparseDistMatrix<T> *x) noexcept { ref_.sparse_ = x; } // NOLINT: implicit by design

    bool empty() const noexcept { return ref_.dense_ == nullptr && ref_.sparse_ == nullptr; }
    explicit operator bool() const noexcept { return !empty(); }
    friend bool operator==(const MatrixPtr &p, std::nullptr_t) noexcept { return p.empty(); }
    friend bool operator!=(const MatrixPtr &p, std::nullptr_t) noexcept { return !p.empty(); }
    const MatrixRef<T> &operator*() const noexcept { return ref_; }
    const MatrixRef<T> *operator->() const noexcept { return &ref_; }

  private:
    MatrixRef<T> ref_;
};

/// `NoDeduce<MatrixRef<T>>` as a parameter type: T comes from the other arguments (the factors), so a
/// DistMatrix<T> or SparseDistMatrix<T> argument converts implicitly instead of failing deduction.
template <typename U> struct NoDeduceHelper { using type = U; };
template <typename U> using NoDeduce = typename NoDeduceHelper<U>::type;

} // namespace prism
