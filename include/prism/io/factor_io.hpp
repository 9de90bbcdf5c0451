#pragma once
/// Collective parallel-HDF5 writing and reading of NMF factors (Factor<T>) in the layout users expect:
/// W as an m x k row-major dataset and H (not H^T) as a k x n row-major dataset.
///
/// Each rank moves only its own slab, local indices [offset, offset + rows) of the data matrix's
/// block-cyclic dimension. Such a slab is at most three regular hyperslab patterns in the file (a partial
/// first block, a strided run of full blocks, a partial last block), whatever its length, so selections
/// stay O(1) in size. Slabs are moved in rounds of a bounded number of rows so staging memory is bounded.

#include <string>

#include "prism/factor.hpp"
#include "prism/io/hdf5_matrix.hpp"

namespace prism::io {

/// A regular pattern of global indices along one dimension: `count` runs of `block` consecutive indices,
/// the first starting at `start`, `stride` apart (one HDF5 hyperslab along that dimension).
struct HyperslabRun {
    hsize_t start = 0, stride = 1, count = 0, block = 0;
};

/// The global indices of local indices [l0, l1) of `dist` on process `proc`, in increasing order, as at
/// most three runs: a partial first block, a strided run of full blocks, a partial last block. Empty if
/// l1 <= l0. Local: no communication.
std::vector<HyperslabRun> slab_runs(const BlockCyclic &dist, int proc, lidx l0, lidx l1);

/// Default bound on the elements a rank moves per HDF5 call (and on its staging buffer): 8 Mi.
constexpr lidx default_factor_round_elements = lidx{1} << 23;

/// The dataset dims a factor is stored with: {m, k} for W (side w), {k, n} for H^T (side ht, stored as H).
/// Local: no communication.
template <typename T> std::vector<hsize_t> factor_dataset_dims(const Factor<T> &f);

/// Writes `f` to a new dataset `name` (float64 for double, float32 for float) in `writer`'s file.
/// Side w is written as W (global_rows() x k); side ht is written transposed, as H (k x global_rows()).
/// Collective on writer.comm(), which must be f.grid().comm() (the same ranks in the same order): every
/// rank calls it, also ranks with an empty slab. A failure throws the same prism::Error on every rank.
/// @param[in,out] writer          an open file
/// @param[in]     name            dataset path, intermediate groups are created ("/W", "/run1/H")
/// @param[in]     f               the factor; this rank contributes its slab of f.rows() x k values
/// @param[in]     round_elements  at most this many elements per rank and HDF5 call (tests use small ones)
template <typename T>
void write_factor(Writer &writer,
                  const std::string &name,
                  const Factor<T> &f,
                  lidx round_elements = default_factor_round_elements);

/// Writes `f` untransposed, as a global_rows() x k dataset whatever its side: H^T as n x k, the layout
/// AnnData's obsm['X_nmf'] (cells x k) needs. Collective as write_factor.
template <typename T>
void write_factor_rows(Writer &writer,
                       const std::string &name,
                       const Factor<T> &f,
                       lidx round_elements = default_factor_round_elements);

/// Reads a factor written by write_factor (or by any tool: integer and floating types of either byte
/// order are converted) into an existing Factor `f`, which fixes the layout: side w expects a dataset of
/// dims {global_rows(), k}, side ht a dataset of dims {k, global_rows()} (H, transposed on the fly).
/// The file may have been written with any grid, block size or number of ranks. Collective on
/// f.grid().comm(): a missing file or dataset, a dataset that is not 2-D numeric, or dims that do not
/// match throw the same prism::Error on every rank, naming the file, the dataset and both shapes.
/// @param[in]     path            FILE:DATASET
/// @param[in,out] f               overwritten with this rank's slab
/// @param[in]     round_elements  as for write_factor
template <typename T>
void read_factor(const DatasetPath &path, Factor<T> &f, lidx round_elements = default_factor_round_elements);

} // namespace prism::io
