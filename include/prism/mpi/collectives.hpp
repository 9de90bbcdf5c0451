#pragma once
/// Typed collectives on a Comm, with 64-bit counts, and the `agree` step that makes all ranks fail together.
///
/// MPI counts are `int`. Every wrapper here takes 64-bit counts and, when a message would exceed
/// `max_count` elements (default INT_MAX), splits it into rounds that each fit; the result is bitwise the
/// same as one call. `max_count` is a parameter only so tests can exercise the splitting with small limits.

#include <climits>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include <mpi.h>

#include "prism/error.hpp"
#include "prism/mpi/comm.hpp"

namespace prism::mpi {

template <typename T> MPI_Datatype mpi_type();
template <> inline MPI_Datatype mpi_type<double>() {
    return MPI_DOUBLE;
}
template <> inline MPI_Datatype mpi_type<float>() {
    return MPI_FLOAT;
}
template <> inline MPI_Datatype mpi_type<int>() {
    return MPI_INT;
}
template <> inline MPI_Datatype mpi_type<std::int64_t>() {
    return MPI_INT64_T;
}
template <> inline MPI_Datatype mpi_type<unsigned long long>() {
    return MPI_UNSIGNED_LONG_LONG;
}
template <> inline MPI_Datatype mpi_type<char>() {
    return MPI_CHAR;
}

constexpr std::int64_t default_max_count = INT_MAX;

enum class Op { sum, max, min };

/// In-place all-reduce of `count` elements. Collective on `comm`.
template <typename T>
void allreduce(
    const Comm &comm, T *data, std::int64_t count, Op op, std::int64_t max_count = default_max_count);

/// All-reduce of one value. Collective on `comm`.
template <typename T> T allreduce_value(const Comm &comm, T value, Op op) {
    allreduce(comm, &value, 1, op);
    return value;
}

/// Broadcast of `count` elements from `root`. Collective on `comm`.
template <typename T>
void bcast(
    const Comm &comm, T *data, std::int64_t count, int root, std::int64_t max_count = default_max_count);

/// Every rank's one value, in rank order. Collective on `comm`.
std::vector<std::int64_t> allgather_value(const Comm &comm, std::int64_t value);

/// All-gather of variable-size pieces, placed one after another in rank order.
///
///   BEFORE  rank r: send = [ piece_r (counts[r] elements) ]
///   AFTER   every rank: recv = [ piece_0 | piece_1 | ... | piece_{P-1} ]
///
/// `counts` (size P) must be the same on every rank. Collective on `comm`.
template <typename T>
void allgatherv(const Comm &comm,
                const T *send,
                T *recv,
                const std::vector<std::int64_t> &counts,
                std::int64_t max_count = default_max_count);

/// Sum-reduce-scatter: every rank holds the whole vector split in P consecutive blocks; rank r receives the
/// sum over ranks of block r.
///
///   BEFORE  every rank: send = [ block_0 | block_1 | ... | block_{P-1} ]   (counts[i] elements each)
///   AFTER   rank r: recv = sum over ranks of block_r
///
/// `counts` must be the same on every rank. Collective on `comm`.
template <typename T>
void reduce_scatter_sum(const Comm &comm,
                        const T *send,
                        T *recv,
                        const std::vector<std::int64_t> &counts,
                        std::int64_t max_count = default_max_count);

/// Makes all ranks fail together. If `ok` is false on any rank, every rank throws the same collective
/// prism::Error carrying the message of the lowest failing rank; otherwise returns on every rank.
/// Collective on `comm`.
void agree(const Comm &comm, bool ok, const std::string &message_if_failed);

/// Runs `step` on every rank; a prism::Error or std::exception thrown by it on any rank becomes one
/// collective Error thrown by every rank (see agree). Collective on `comm`.
template <typename F> void agree_call(const Comm &comm, F &&step) {
    bool ok = true;
    std::string message;
    try {
        step();
    } catch (const std::exception &e) {
        ok = false;
        message = e.what();
    }
    agree(comm, ok, message);
}

} // namespace prism::mpi
