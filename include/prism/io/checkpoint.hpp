#pragma once
/// Checkpoint files: the factors of an unfinished run plus what identifies its problem and what resuming
/// needs, written so that a crash at any moment (even SIGKILL mid-write) leaves the previous checkpoint
/// intact, and read back on any grid or number of ranks.
///
/// File layout (HDF5):
///
///     /W/0 .. /W/<V-1>   the W factor(s), m_v x k (as io::write_factor)
///     /H                 k x n
///     /identity          1-D strings "key=value": the options that define the problem and the inputs'
///                        fingerprints; a checkpoint is resumed only when they all match
///     /state/<name>      1-D float64 series (iteration count, last objective, history ...)
///     attribute prism_checkpoint = 1 (format version)
///
/// This layer stores keys and numbers; which keys and numbers a driver needs is the driver's business.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/mpi/comm.hpp"

namespace prism::io {

/// What a checkpoint holds besides the factors.
struct CheckpointRecord {
    /// (key, value) pairs that must all be equal for a resume (problem options, input fingerprints).
    std::vector<std::pair<std::string, std::string>> identity;
    /// Named series of numbers (exact float64 bits are kept).
    std::map<std::string, std::vector<double>> numbers;
};

/// Order-free checksum of a matrix's entries: the wrapping 64-bit sum, over every entry that is not +0.0, of
/// a hash of (global row, global column, the entry's bits as a double). The same value for any grid, block
/// size or number of ranks, and for the same matrix stored dense or sparse (+0.0 entries, stored or not, add
/// nothing); any changed, moved or sign-flipped entry changes it (with overwhelming probability).
/// Collective on x.grid().comm() (one all-reduce).
template <typename T> std::uint64_t data_checksum(MatrixRef<T> x);

/// Writes a checkpoint of W (one Factor per modality) and H^T to `path`: collectively to
/// `path`.tmp-PID (PID of rank 0), which rank 0 flushes to disk and renames over `path` only after every
/// rank closed it successfully. A failure throws the same prism::Error on every rank, removes the
/// temporary file and leaves an existing `path` untouched; so does a crash, short of the rename itself.
/// Collective on comm, which must be the factors' grid communicator.
template <typename T>
void write_checkpoint(const mpi::Comm &comm,
                      const std::string &path,
                      const std::vector<const Factor<T> *> &w,
                      const Factor<T> &ht,
                      const CheckpointRecord &record);

/// The record of the checkpoint at `path` and its number of W factors. A missing file, a file that is not
/// HDF5, truncated, or not a Prism checkpoint throws the same prism::Error on every rank, naming the file.
/// Collective on comm (rank 0 reads, every rank gets the result).
CheckpointRecord read_checkpoint_record(const mpi::Comm &comm, const std::string &path, int &w_count);

/// Reads the factors of the checkpoint at `path` into W (one per modality) and H^T, whose layouts may
/// differ from the writer's (any grid, block size or number of ranks: rows are placed by global index).
/// Collective on the factors' grid; a dataset of the wrong shape is an error on every rank.
template <typename T>
void read_checkpoint_factors(const std::string &path, const std::vector<Factor<T> *> &w, Factor<T> &ht);

/// The first entry in which two identities differ, as "KEY is SAVED in the checkpoint, NOW now"
/// (or "KEY is missing ..."), or "" when they agree. Local: no communication.
std::string identity_difference(const std::vector<std::pair<std::string, std::string>> &saved,
                                const std::vector<std::pair<std::string, std::string>> &now);

} // namespace prism::io
