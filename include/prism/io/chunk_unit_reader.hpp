#pragma once
/// Reading a chunked, filtered (compressed) 2-D dataset into a block-cyclic DistMatrix so that every chunk
/// is read and decompressed by exactly one rank.
///
/// Why: HDF5 decompresses whole chunks. A block-cyclic hyperslab with 64-row blocks touches every ~1 MiB
/// chunk of whole rows on every grid row, so with hyperslab reads each of P ranks decompressed nearly the
/// whole file (measured on hsmm_fpkm.h5: 0.35 s on 1 rank, 0.65-1.06 s on 2). Here the chunk grid is cut
/// into units of whole chunks; in round t rank r reads unit t P + r alone (independent I/O, one
/// decompression per chunk) and one all-to-all sends every element to the rank that owns it.
///
/// Memory per rank: one unit, its copy sorted by destination, and what the rank receives in one round
/// (about one unit), besides the matrix itself.

#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/io/hdf5_handle.hpp"

namespace prism::io {

/// Default minimum unit size in elements (512 KiB of doubles): a unit is one chunk when chunks are at least
/// this big, else the smallest rectangle of whole chunks (whole chunk columns first) that reaches it.
constexpr lidx default_unit_elements = lidx{1} << 16;

/// True if read_chunk_units applies to a rows x cols dataset with chunk shape `chunk` on `nprocs` ranks: a
/// 2-D chunk, and one round's messages within MPI's int counts (nprocs x unit elements < 2^31). Local.
bool chunk_units_fit(gidx rows, gidx cols, const std::vector<gidx> &chunk, int nprocs, lidx unit_elements);

/// Fills `a` (already shaped as the dataset, or as file_col->size() columns) from the open `dataset` whose
/// chunk shape is `chunk` (chunk_units_fit must hold). Without a column map column j of `a` is file column j;
/// with one it is file column (*file_col)[j] and columns mapped to -1 are left as they are. Collective on
/// a.grid().comm(); returns false on every rank whose own reads failed (the caller agrees; the exchange still
/// completes, so no rank hangs).
template <typename T>
bool read_chunk_units(DistMatrix<T> &a,
                      hid_t dataset,
                      const std::vector<gidx> &chunk,
                      const std::vector<gidx> *file_col,
                      lidx unit_elements = default_unit_elements);

} // namespace prism::io
