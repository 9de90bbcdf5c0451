#pragma once
/// Collective parallel-HDF5 reading and writing of distributed matrices, names and attributes.
///
/// File convention: a matrix is a 2-D dataset stored row-major, X[i][j] = feature i of sample j, so the
/// dataset's dims are (rows, cols) of the matrix. Integer and floating datasets of either byte order are
/// converted on read. Row/column names are 1-D string datasets (fixed or variable length, ASCII or UTF-8).

#include <cstdint>
#include <string>
#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/io/chunk_unit_reader.hpp"
#include "prism/io/hdf5_handle.hpp"
#include "prism/mpi/comm.hpp"

namespace prism::io {

/// "FILE[:DATASET]" split into its parts.
struct DatasetPath {
    std::string file;
    std::string dataset;
    std::string str() const { return file + ":" + dataset; }
};

/// Splits "FILE:DATASET" at the last ':' when the part after it is non-empty and the part before it is an
/// existing file (so file names with ':' still work); otherwise the whole text is the file and the dataset is
/// `default_dataset`. A dataset name without a leading '/' gets one. Local: no communication.
DatasetPath parse_dataset_path(const std::string &text, const std::string &default_dataset = "/X");

/// What a dataset is, read from its metadata.
struct DatasetInfo {
    std::vector<gidx> dims;
    std::string type;        ///< e.g. "float64", "int32 (big-endian)", "string"
    bool numeric = false;    ///< integer or floating point
    std::vector<gidx> chunk; ///< empty if contiguous
    std::string filters;     ///< e.g. "shuffle+deflate", or "none"
};

/// Reads `path`'s metadata. Collective on `comm` (rank 0 reads, all ranks get the result); a missing file or
/// dataset throws the same prism::Error on every rank, naming both.
DatasetInfo inspect_dataset(const mpi::Comm &comm, const DatasetPath &path);

/// True if `dataset` exists in `file`. Collective on `comm`; a missing or unreadable file is an error.
bool dataset_exists(const mpi::Comm &comm, const std::string &file, const std::string &dataset);

/// Reads a 2-D numeric dataset into a new DistMatrix with blocks mb x nb. Each rank reads only its own blocks
/// (block-cyclic hyperslabs, collective MPI-IO), a bounded number of columns at a time, so no rank ever holds
/// more than its block plus a small staging buffer. Collective on grid.comm().
/// A chunked, filtered (compressed) dataset is instead read in units of whole chunks of at least
/// `unit_elements` elements, each by one rank, and redistributed (chunk_unit_reader.hpp), so each chunk is
/// decompressed once in all; `unit_elements` is for tests (many small units) and tuning.
template <typename T>
DistMatrix<T> read_matrix(
    const Grid &grid, const DatasetPath &path, gidx mb, gidx nb, lidx unit_elements = default_unit_elements);

/// Reads a 2-D numeric dataset whose columns are some of a larger ordered column set (a modality's samples
/// among all samples of a study): column j of the result, 0 <= j < file_col.size(), is file column
/// file_col[j], or zeros where file_col[j] == -1. Read as read_matrix reads (own blocks, or chunk units).
/// Collective on grid.comm(); a map entry outside [-1, cols) is an error on every rank.
template <typename T>
DistMatrix<T> read_matrix_columns(const Grid &grid,
                                  const DatasetPath &path,
                                  const std::vector<gidx> &file_col,
                                  gidx mb,
                                  gidx nb,
                                  lidx unit_elements = default_unit_elements);

/// Names of the objects directly in `group` of `file`, in HDF5's name order. Collective on `comm` (rank 0
/// reads); a missing file or group is an error on every rank.
std::vector<std::string> list_group(const mpi::Comm &comm, const std::string &file, const std::string &group);

/// The strings of attribute `key` of `object` (a 1-D string list, or empty if there is no such
/// attribute). Collective on `comm`: rank 0 reads; an attribute that is not a list of strings is an error.
std::vector<std::string> read_string_attribute(const mpi::Comm &comm,
                                               const std::string &file,
                                               const std::string &object,
                                               const std::string &key);

/// Reads a 1-D string dataset (names). Collective on `comm`: rank 0 reads, every rank gets the list.
std::vector<std::string> read_strings(const mpi::Comm &comm, const DatasetPath &path);

/// A new HDF5 file opened collectively for writing with MPI-IO. The file is created (truncating nothing:
/// an existing file is an error unless `overwrite`). Collective on `comm` for every member function.
class Writer {
  public:
    Writer(const mpi::Comm &comm, const std::string &file, bool overwrite = false);
    /// Writes `a` to a new dataset `name` (row-major, dims rows x cols). Intermediate groups are created.
    template <typename T> void write_matrix(const std::string &name, const DistMatrix<T> &a);
    /// Writes a 1-D fixed-length UTF-8 string dataset (the same list on every rank).
    void write_strings(const std::string &name, const std::vector<std::string> &values);
    /// Writes a 1-D float64 dataset (the same values on every rank).
    void write_vector(const std::string &name, const std::vector<double> &values);
    /// Root (or `object`) attributes; the same value on every rank.
    void write_attribute(const std::string &key, const std::string &value, const std::string &object = "/");
    void write_attribute(const std::string &key, double value, const std::string &object = "/");
    void write_attribute(const std::string &key, std::int64_t value, const std::string &object = "/");
    /// Creates a new dataset `name` of `file_type` (e.g. H5T_IEEE_F64LE) with the given dims, creating
    /// intermediate groups; for writers of other distributed objects (io/factor_io.hpp). Collective: a
    /// failure throws the same prism::Error on every rank.
    Hid create_dataset(const std::string &name, hid_t file_type, const std::vector<hsize_t> &dims);
    /// Flushes and closes the file. Collective.
    void close();
    const std::string &file() const noexcept { return file_; }
    /// The communicator the file was opened on.
    const mpi::Comm &comm() const noexcept { return *comm_; }
    /// The open file's HDF5 id (negative after close()). Local.
    hid_t handle() const noexcept { return handle_.get(); }

  private:
    const mpi::Comm *comm_;
    std::string file_;
    Hid handle_;
};

} // namespace prism::io
