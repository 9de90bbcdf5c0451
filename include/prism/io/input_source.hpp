#pragma once
/// What an input file holds and how Prism reads it: the format (HDF5 dense dataset, HDF5 CSR/CSC group,
/// 10x Genomics feature-barcode matrix, AnnData .h5ad, a modality of a MuData .h5mu, MatrixMarket .mtx),
/// whether it is sparse, how it is oriented, and where its row and column names are. Decided from
/// metadata only, before any data is read, so a wrong file costs nothing.
///
/// Orientation: Prism factors features x samples (rows: genes, OTUs; columns: cells, samples). AnnData
/// and MuData store cells x genes (n_obs x n_vars), so they are transposed on read, and so are an AnnData's
/// layers (OWNER/layers/NAME) and raw matrix (OWNER/raw/X, named by raw/var); HDF5 datasets and groups,
/// 10x (genes x cells, CSC) and MatrixMarket are taken as stored. Gzipped files are refused by name.

#include <string>
#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/io/compressed_reader.hpp"
#include "prism/mpi/comm.hpp"
#include "prism/sparse_matrix.hpp"

namespace prism::io {

enum class InputFormat { hdf5_dense, hdf5_sparse, tenx, anndata, matrix_market };

/// "hdf5", "hdf5 csr group", "10x", "h5ad", "mtx" ...
std::string to_string(InputFormat f);

struct InputSource {
    InputFormat format = InputFormat::hdf5_dense;
    std::string file;
    std::string object;         ///< the dense dataset, or the CSR/CSC group; "" for MatrixMarket
    bool sparse = false;        ///< read into a SparseDistMatrix (never densified)
    CompressedGroup compressed; ///< when sparse and HDF5
    bool transpose = false;     ///< matrix = stored^T
    gidx rows = 0, cols = 0;    ///< the matrix's shape: features x samples
    std::string row_names;      ///< 1-D string dataset of the feature names, "" if none
    std::string col_names;      ///< of the sample names, "" if none
    std::string orientation;    ///< one line saying how the stored data was oriented
    /// 'FILE':OBJECT for messages.
    std::string label() const { return "'" + file + "'" + (object.empty() ? "" : ":" + object); }
};

/// Describes the input named by FILE[:OBJECT]. Without OBJECT: .mtx or a MatrixMarket banner is
/// MatrixMarket; an HDF5 file whose root says encoding-type 'anndata' (or named .h5ad) is AnnData (its X);
/// a file with /matrix/{data,indices,indptr,shape} is 10x; otherwise /X (a dataset, or a CSR/CSC group;
/// without /X, root groups holding data/indices/indptr/shape are named as 10x v2 genome groups).
/// With OBJECT: a dataset is dense; a group is an AnnData group (has X, obs, var: e.g. /mod/rna of a
/// .h5mu), a 10x matrix group, or a CSR/CSC group (encoding-type csr_matrix/csc_matrix, or h5sparse_format
/// csr/csc; shape as attribute or dataset). A .h5mu without OBJECT is refused with the list of its
/// modalities. Collective on `comm` (rank 0 reads metadata): anything malformed (missing fields, a shape
/// that disagrees with indptr or with the name lists, a wrong encoding-type) throws the same prism::Error
/// on every rank naming the file and field.
InputSource describe_input(const mpi::Comm &comm, const std::string &text);

/// The AnnData object in `group` of `file` ("/" for a .h5ad file). Collective, as describe_input.
InputSource describe_anndata(const mpi::Comm &comm, const std::string &file, const std::string &group);

/// True if `file` is a MuData file (root encoding-type 'MuData', or a /mod group in a .h5mu file).
/// Collective.
bool is_mudata(const mpi::Comm &comm, const std::string &file);

/// The modalities of a MuData file: its /mod attribute 'mod-order' if present, else the groups under /mod.
/// Collective on `comm`.
std::vector<std::string> mudata_modalities(const mpi::Comm &comm, const std::string &file);

/// Reads a sparse source (HDF5 or MatrixMarket) with optional relabelling maps (Orientation's row_map /
/// col_map over the matrix's rows and columns; `cols` > 0 overrides the column count, for samples aligned
/// among a larger set). Collective on grid.comm().
template <typename T>
SparseDistMatrix<T> read_sparse_source(const Grid &grid,
                                       const InputSource &src,
                                       gidx mb,
                                       gidx nb,
                                       const std::vector<gidx> &row_map = {},
                                       const std::vector<gidx> &col_map = {},
                                       gidx cols = -1);

/// Reads a dense source; `file_col` (optional) places the matrix's columns among a larger column set as
/// read_matrix_columns does (file_col[j] = the source's column for result column j, or -1). Collective.
template <typename T>
DistMatrix<T> read_dense_source(
    const Grid &grid, const InputSource &src, gidx mb, gidx nb, const std::vector<gidx> &file_col = {});

/// The names in `dataset` of `file` (read_strings) checked: `expected` of them and no duplicates, else a
/// prism::Error on every rank naming the file, the dataset and (up to 5 of) the duplicates. Collective.
std::vector<std::string>
read_unique_names(const mpi::Comm &comm, const std::string &file, const std::string &dataset, gidx expected);

} // namespace prism::io
