#include "prism/io/sparse_assembly.hpp"

#include <mpi.h>

#include <algorithm>
#include <utility>

#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

// Bytes a rank sends or receives per all-to-all round: MPI counts and displacements are int.
constexpr std::int64_t round_bytes = std::int64_t{1} << 30;

// Sends send[d] to rank d for every d and returns what every rank sent to this one, in source order.
// All ranks run the same number of rounds; in a round, the pair (s -> d) moves its next
// ceil(count(s -> d) / rounds) entries, so every rank can compute what it receives from the counts alone.
template <typename E>
std::vector<E> exchange_entries(const mpi::Comm &comm, const std::vector<std::vector<E>> &send) {
    const int p = comm.size();
    std::vector<std::int64_t> send_count(static_cast<std::size_t>(p)),
        recv_count(static_cast<std::size_t>(p));
    std::int64_t send_total = 0;
    for (int d = 0; d < p; ++d) {
        send_count[static_cast<std::size_t>(d)] =
            static_cast<std::int64_t>(send[static_cast<std::size_t>(d)].size());
        send_total += send_count[static_cast<std::size_t>(d)];
    }
    // count(s -> me) for every s
    MPI_Alltoall(send_count.data(), 1, MPI_INT64_T, recv_count.data(), 1, MPI_INT64_T, comm.get());
    std::int64_t recv_total = 0;
    for (auto c : recv_count) {
        recv_total += c;
    }
    const std::int64_t bytes = std::max(send_total, recv_total) * static_cast<std::int64_t>(sizeof(E));
    const std::int64_t rounds = std::max<std::int64_t>(
        1, mpi::allreduce_value(comm, (bytes + round_bytes - 1) / round_bytes, mpi::Op::max));
    const auto per_round = [&](std::int64_t count) { return (count + rounds - 1) / rounds; };
    const auto slice = [&](std::int64_t count, std::int64_t round) {
        const std::int64_t first = std::min(count, round * per_round(count));
        return std::make_pair(first, std::min(count, first + per_round(count)));
    };

    std::vector<E> received(static_cast<std::size_t>(recv_total));
    std::vector<std::int64_t> recv_at(static_cast<std::size_t>(p), 0); // where source s's entries go
    for (int s = 1; s < p; ++s) {
        recv_at[static_cast<std::size_t>(s)] =
            recv_at[static_cast<std::size_t>(s - 1)] + recv_count[static_cast<std::size_t>(s - 1)];
    }
    std::vector<E> staging;
    std::vector<int> scounts(static_cast<std::size_t>(p)), sdispls(static_cast<std::size_t>(p));
    std::vector<int> rcounts(static_cast<std::size_t>(p)), rdispls(static_cast<std::size_t>(p));
    std::vector<E> rstaging;
    for (std::int64_t round = 0; round < rounds; ++round) {
        staging.clear();
        std::int64_t rtotal = 0;
        for (int d = 0; d < p; ++d) {
            const auto ud = static_cast<std::size_t>(d);
            const auto [a, b] = slice(send_count[ud], round);
            sdispls[ud] =
                narrow<int>(static_cast<std::int64_t>(staging.size() * sizeof(E)), "all-to-all send offset");
            scounts[ud] =
                narrow<int>((b - a) * static_cast<std::int64_t>(sizeof(E)), "all-to-all send count");
            staging.insert(staging.end(), send[ud].begin() + a, send[ud].begin() + b);
            const auto [ra, rb] = slice(recv_count[ud], round);
            rdispls[ud] =
                narrow<int>(rtotal * static_cast<std::int64_t>(sizeof(E)), "all-to-all receive offset");
            rcounts[ud] =
                narrow<int>((rb - ra) * static_cast<std::int64_t>(sizeof(E)), "all-to-all receive count");
            rtotal += rb - ra;
        }
        rstaging.resize(static_cast<std::size_t>(std::max<std::int64_t>(rtotal, 1)));
        if (staging.empty()) {
            staging.resize(1);
        }
        MPI_Alltoallv(staging.data(), scounts.data(), sdispls.data(), MPI_BYTE, rstaging.data(),
                      rcounts.data(), rdispls.data(), MPI_BYTE, comm.get());
        std::int64_t at = 0;
        for (int s = 0; s < p; ++s) {
            const auto us = static_cast<std::size_t>(s);
            const auto [ra, rb] = slice(recv_count[us], round);
            std::copy(rstaging.begin() + at, rstaging.begin() + at + (rb - ra),
                      received.begin() + recv_at[us] + ra);
            at += rb - ra;
        }
    }
    return received;
}

std::string
position(gidx i, gidx j, const std::vector<gidx> &origin_row, const std::vector<gidx> &origin_col) {
    const gidx fi = origin_row.empty() ? i : origin_row[static_cast<std::size_t>(i)];
    const gidx fj = origin_col.empty() ? j : origin_col[static_cast<std::size_t>(j)];
    return "(row " + std::to_string(fi) + ", column " + std::to_string(fj) + ")";
}

} // namespace

template <typename T>
SparseDistMatrix<T> assemble_sparse(const Grid &grid,
                                    gidx m,
                                    gidx n,
                                    gidx mb,
                                    gidx nb,
                                    std::vector<Entry<T>> &&entries,
                                    const std::string &name,
                                    const std::vector<gidx> &origin_row,
                                    const std::vector<gidx> &origin_col) {
    const mpi::Comm &comm = grid.comm();
    BlockCyclic rows, cols;
    mpi::agree_call(comm, [&] {
        rows = BlockCyclic(m, mb, grid.rows());
        cols = BlockCyclic(n, nb, grid.cols());
    });
    // Local entries keep global indices until they arrive; `bad` is the first one outside m x n.
    std::string bad;
    std::vector<std::vector<Entry<T>>> send(static_cast<std::size_t>(comm.size()));
    for (const Entry<T> &e : entries) {
        if (e.row < 0 || e.row >= m || e.col < 0 || e.col >= n) {
            if (bad.empty()) {
                bad = name + ": entry (row " + std::to_string(e.row) + ", column " + std::to_string(e.col) +
                      ") lies outside the " + std::to_string(m) + " x " + std::to_string(n) + " matrix";
            }
            continue;
        }
        send[static_cast<std::size_t>(rows.owner(e.row) * grid.cols() + cols.owner(e.col))].push_back(e);
    }
    mpi::agree(comm, bad.empty(), bad);
    std::vector<Entry<T>>().swap(entries);
    std::vector<Entry<T>> mine = exchange_entries(comm, send);
    std::vector<std::vector<Entry<T>>>().swap(send);

    std::sort(mine.begin(), mine.end(), [](const Entry<T> &a, const Entry<T> &b) {
        return a.row != b.row ? a.row < b.row : a.col < b.col;
    });
    std::string duplicate;
    for (std::size_t p = 1; p < mine.size() && duplicate.empty(); ++p) {
        if (mine[p].row == mine[p - 1].row && mine[p].col == mine[p - 1].col) {
            duplicate = name + ": the entry at " +
                        position(mine[p].row, mine[p].col, origin_row, origin_col) +
                        " is stored twice (duplicate index)";
        }
    }
    mpi::agree(comm, duplicate.empty(), duplicate);

    // Global (row, col) order is local (row, col) order within one rank: to_local is monotone on an owner.
    CsrBlock<T> block;
    block.rows = rows.local_size(grid.my_row());
    block.cols = cols.local_size(grid.my_col());
    block.row_ptr.assign(static_cast<std::size_t>(block.rows + 1), 0);
    block.col.reserve(mine.size());
    block.values.reserve(mine.size());
    for (const Entry<T> &e : mine) {
        ++block.row_ptr[static_cast<std::size_t>(rows.to_local(e.row) + 1)];
        block.col.push_back(static_cast<std::int32_t>(cols.to_local(e.col)));
        block.values.push_back(e.value);
    }
    for (lidx i = 0; i < block.rows; ++i) {
        block.row_ptr[static_cast<std::size_t>(i + 1)] += block.row_ptr[static_cast<std::size_t>(i)];
    }
    return SparseDistMatrix<T>(grid, m, n, mb, nb, std::move(block), name);
}

template SparseDistMatrix<double> assemble_sparse<double>(const Grid &,
                                                          gidx,
                                                          gidx,
                                                          gidx,
                                                          gidx,
                                                          std::vector<Entry<double>> &&,
                                                          const std::string &,
                                                          const std::vector<gidx> &,
                                                          const std::vector<gidx> &);
template SparseDistMatrix<float> assemble_sparse<float>(const Grid &,
                                                        gidx,
                                                        gidx,
                                                        gidx,
                                                        gidx,
                                                        std::vector<Entry<float>> &&,
                                                        const std::string &,
                                                        const std::vector<gidx> &,
                                                        const std::vector<gidx> &);

} // namespace prism::io
