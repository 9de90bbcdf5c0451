#include "prism/mpi/collectives.hpp"

#include <algorithm>
#include <numeric>

#include "prism/types.hpp"

namespace prism::mpi {

namespace {

MPI_Op to_mpi(Op op) {
    switch (op) {
    case Op::sum:
        return MPI_SUM;
    case Op::max:
        return MPI_MAX;
    case Op::min:
        return MPI_MIN;
    }
    return MPI_SUM;
}

std::int64_t total_of(const std::vector<std::int64_t> &counts) {
    return std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
}

// Elements of a piece of `count` elements that travel in round `round` when each round moves `per_round`.
std::int64_t round_share(std::int64_t count, std::int64_t round, std::int64_t per_round) {
    return std::clamp<std::int64_t>(count - round * per_round, 0, per_round);
}

} // namespace

template <typename T>
void allreduce(const Comm &comm, T *data, std::int64_t count, Op op, std::int64_t max_count) {
    for (std::int64_t done = 0; done < count; done += max_count) {
        const int n = narrow<int>(std::min(max_count, count - done), "allreduce chunk");
        MPI_Allreduce(MPI_IN_PLACE, data + done, n, mpi_type<T>(), to_mpi(op), comm.get());
    }
}

template <typename T>
void bcast(const Comm &comm, T *data, std::int64_t count, int root, std::int64_t max_count) {
    for (std::int64_t done = 0; done < count; done += max_count) {
        const int n = narrow<int>(std::min(max_count, count - done), "bcast chunk");
        MPI_Bcast(data + done, n, mpi_type<T>(), root, comm.get());
    }
}

std::vector<std::int64_t> allgather_value(const Comm &comm, std::int64_t value) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(comm.size()));
    MPI_Allgather(&value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, comm.get());
    return all;
}

template <typename T>
void allgatherv(const Comm &comm,
                const T *send,
                T *recv,
                const std::vector<std::int64_t> &counts,
                std::int64_t max_count) {
    const int p = comm.size();
    const std::int64_t total = total_of(counts);
    std::vector<std::int64_t> displs(static_cast<std::size_t>(p), 0);
    std::partial_sum(counts.begin(), counts.end() - 1, displs.begin() + 1);
    std::vector<int> n(static_cast<std::size_t>(p)), d(static_cast<std::size_t>(p));
    const std::int64_t mine = counts[static_cast<std::size_t>(comm.rank())];

    if (total <= max_count) { // the usual case: one call straight into place
        for (int i = 0; i < p; ++i) {
            n[i] = static_cast<int>(counts[i]);
            d[i] = static_cast<int>(displs[i]);
        }
        MPI_Allgatherv(send, static_cast<int>(mine), mpi_type<T>(), recv, n.data(), d.data(), mpi_type<T>(),
                       comm.get());
        return;
    }
    // Rounds: each rank sends at most per_round elements per round, so a round's total stays <= max_count;
    // the round lands in a staging buffer and is copied into place.
    const std::int64_t per_round = std::max<std::int64_t>(1, max_count / p);
    const std::int64_t largest = *std::max_element(counts.begin(), counts.end());
    std::vector<T> staging(static_cast<std::size_t>(std::min(total, per_round * p)));
    for (std::int64_t round = 0; round * per_round < largest; ++round) {
        int offset = 0;
        for (int i = 0; i < p; ++i) {
            n[i] = static_cast<int>(round_share(counts[i], round, per_round));
            d[i] = offset;
            offset += n[i];
        }
        MPI_Allgatherv(send + std::min(mine, round * per_round), n[comm.rank()], mpi_type<T>(),
                       staging.data(), n.data(), d.data(), mpi_type<T>(), comm.get());
        for (int i = 0; i < p; ++i) {
            std::copy_n(staging.data() + d[i], n[i], recv + displs[i] + round * per_round);
        }
    }
}

template <typename T>
void reduce_scatter_sum(const Comm &comm,
                        const T *send,
                        T *recv,
                        const std::vector<std::int64_t> &counts,
                        std::int64_t max_count) {
    const int p = comm.size();
    const std::int64_t total = total_of(counts);
    std::vector<std::int64_t> displs(static_cast<std::size_t>(p), 0);
    std::partial_sum(counts.begin(), counts.end() - 1, displs.begin() + 1);
    std::vector<int> n(static_cast<std::size_t>(p));

    if (total <= max_count) {
        for (int i = 0; i < p; ++i) {
            n[i] = static_cast<int>(counts[i]);
        }
        MPI_Reduce_scatter(send, recv, n.data(), mpi_type<T>(), MPI_SUM, comm.get());
        return;
    }
    // Rounds as in allgatherv: pack each block's share of this round, reduce-scatter the packed vector.
    const std::int64_t per_round = std::max<std::int64_t>(1, max_count / p);
    const std::int64_t largest = *std::max_element(counts.begin(), counts.end());
    std::vector<T> packed(static_cast<std::size_t>(std::min(total, per_round * p)));
    const std::int64_t mine = counts[static_cast<std::size_t>(comm.rank())];
    for (std::int64_t round = 0; round * per_round < largest; ++round) {
        std::int64_t offset = 0;
        for (int i = 0; i < p; ++i) {
            n[i] = static_cast<int>(round_share(counts[i], round, per_round));
            std::copy_n(send + displs[i] + std::min(counts[i], round * per_round), n[i],
                        packed.data() + offset);
            offset += n[i];
        }
        MPI_Reduce_scatter(packed.data(), recv + std::min(mine, round * per_round), n.data(), mpi_type<T>(),
                           MPI_SUM, comm.get());
    }
}

void agree(const Comm &comm, bool ok, const std::string &message_if_failed) {
    int first_failing = ok ? INT_MAX : comm.rank();
    MPI_Allreduce(MPI_IN_PLACE, &first_failing, 1, MPI_INT, MPI_MIN, comm.get());
    if (first_failing == INT_MAX) {
        return;
    }
    std::int64_t length =
        comm.rank() == first_failing ? static_cast<std::int64_t>(message_if_failed.size()) : 0;
    bcast(comm, &length, 1, first_failing);
    std::string message = comm.rank() == first_failing ? message_if_failed : std::string(length, ' ');
    if (length > 0) {
        bcast(comm, message.data(), length, first_failing);
    }
    throw Error(message, first_failing, true);
}

// Explicit instantiations, written out.
template void allreduce<double>(const Comm &, double *, std::int64_t, Op, std::int64_t);
template void allreduce<float>(const Comm &, float *, std::int64_t, Op, std::int64_t);
template void allreduce<int>(const Comm &, int *, std::int64_t, Op, std::int64_t);
template void allreduce<std::int64_t>(const Comm &, std::int64_t *, std::int64_t, Op, std::int64_t);
template void
allreduce<unsigned long long>(const Comm &, unsigned long long *, std::int64_t, Op, std::int64_t);
template void bcast<double>(const Comm &, double *, std::int64_t, int, std::int64_t);
template void bcast<float>(const Comm &, float *, std::int64_t, int, std::int64_t);
template void bcast<int>(const Comm &, int *, std::int64_t, int, std::int64_t);
template void bcast<std::int64_t>(const Comm &, std::int64_t *, std::int64_t, int, std::int64_t);
template void bcast<char>(const Comm &, char *, std::int64_t, int, std::int64_t);
template void
allgatherv<double>(const Comm &, const double *, double *, const std::vector<std::int64_t> &, std::int64_t);
template void
allgatherv<float>(const Comm &, const float *, float *, const std::vector<std::int64_t> &, std::int64_t);
template void allgatherv<std::int64_t>(
    const Comm &, const std::int64_t *, std::int64_t *, const std::vector<std::int64_t> &, std::int64_t);
template void reduce_scatter_sum<double>(
    const Comm &, const double *, double *, const std::vector<std::int64_t> &, std::int64_t);
template void reduce_scatter_sum<float>(
    const Comm &, const float *, float *, const std::vector<std::int64_t> &, std::int64_t);

} // namespace prism::mpi
