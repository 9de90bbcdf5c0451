#include "prism/io/sparse_assembly.hpp"

#include <mpi.h>

#include <algorithm>
#include <utility>

#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

// Sends send_count[d] entries of `flat` (grouped by destination, in rank order) to each rank d and returns
// what every rank sent to this one, in source order. All ranks run the same number of rounds; in a round,
// the pair (s -> d) moves its next ceil(count(s -> d) / rounds) entries, so every rank can compute what it
// receives from the counts alone. One round (the usual case) moves straight between the two buffers.
template <typename E>
std::vector<E> exchange_entries(const mpi::Comm &comm,
                                const std::vector<E> &flat,
                                const std::vector<std::int64_t> &send_count,
                                std::int64_t round_bytes) {
    const auto up = static_cast<std::size_t>(comm.size());
    std::vector<std::int64_t> recv_count(up), send_at(up, 0), recv_at(up, 0);
    MPI_Alltoall(send_count.data(), 1, MPI_INT64_T, recv_count.data(), 1, MPI_INT64_T, comm.get());
    for (std::size_t d = 1; d < up; ++d) {
        send_at[d] = send_at[d - 1] + send_count[d - 1];
        recv_at[d] = recv_at[d - 1] + recv_count[d - 1];
    }
    const std::int64_t send_total = send_at[up - 1] + send_count[up - 1];
    const std::int64_t recv_total = recv_at[up - 1] + recv_count[up - 1];
    const std::int64_t bytes = std::max(send_total, recv_total) * static_cast<std::int64_t>(sizeof(E));
    const std::int64_t rounds = std::max<std::int64_t>(
        1, mpi::allreduce_value(comm, (bytes + round_bytes - 1) / round_bytes, mpi::Op::max));
    const auto per_round = [&](std::int64_t count) { return (count + rounds - 1) / rounds; };
    const auto slice = [&](std::int64_t count, std::int64_t round) {
        const std::int64_t first = std::min(count, round * per_round(count));
        return std::make_pair(first, std::min(count, first + per_round(count)));
    };
    const auto in_bytes = [](std::int64_t entries, const char *what) {
        return narrow<int>(entries * static_cast<std::int64_t>(sizeof(E)), what);
    };

    std::vector<E> received(static_cast<std::size_t>(std::max<std::int64_t>(recv_total, 1)));
    std::vector<int> scounts(up), sdispls(up), rcounts(up), rdispls(up);
    std::vector<E> staging, rstaging;
    for (std::int64_t round = 0; round < rounds; ++round) {
        std::int64_t stotal = 0, rtotal = 0;
        for (std::size_t d = 0; d < up; ++d) {
            const auto [a, b] = slice(send_count[d], round);
            const auto [ra, rb] = slice(recv_count[d], round);
            sdispls[d] = in_bytes(rounds == 1 ? send_at[d] : stotal, "all-to-all send offset");
            scounts[d] = in_bytes(b - a, "all-to-all send count");
            rdispls[d] = in_bytes(rounds == 1 ? recv_at[d] : rtotal, "all-to-all receive offset");
            rcounts[d] = in_bytes(rb - ra, "all-to-all receive count");
            stotal += b - a;
            rtotal += rb - ra;
        }
        const E *send = flat.empty() ? received.data() : flat.data(); // any valid pointer when nothing goes
        E *recv = received.data();
        if (rounds > 1) { // pack this round's slices; receive into a staging buffer
            staging.clear();
            for (std::size_t d = 0; d < up; ++d) {
                const auto [a, b] = slice(send_count[d], round);
                staging.insert(staging.end(), flat.begin() + send_at[d] + a, flat.begin() + send_at[d] + b);
            }
            staging.resize(std::max<std::size_t>(staging.size(), 1));
            rstaging.resize(static_cast<std::size_t>(std::max<std::int64_t>(rtotal, 1)));
            send = staging.data();
            recv = rstaging.data();
        }
        MPI_Alltoallv(send, scounts.data(), sdispls.data(), MPI_BYTE, recv, rcounts.data(), rdispls.data(),
                      MPI_BYTE, comm.get());
        if (rounds > 1) {
            std::int64_t at = 0;
            for (std::size_t s = 0; s < up; ++s) {
                const auto [ra, rb] = slice(recv_count[s], round);
                std::copy(rstaging.begin() + at, rstaging.begin() + at + (rb - ra),
                          received.begin() + recv_at[s] + ra);
                at += rb - ra;
            }
        }
    }
    received.resize(static_cast<std::size_t>(recv_total));
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
                                    const std::vector<gidx> &origin_col,
                                    std::int64_t round_bytes) {
    const mpi::Comm &comm = grid.comm();
    BlockCyclic rows, cols;
    mpi::agree_call(comm, [&] {
        rows = BlockCyclic(m, mb, grid.rows());
        cols = BlockCyclic(n, nb, grid.cols());
    });
    // Group the entries by destination rank (counting sort), checking the range on the way.
    const auto up = static_cast<std::size_t>(comm.size());
    const auto dest = [&](const Entry<T> &e) {
        return static_cast<std::size_t>(rows.owner(e.row) * grid.cols() + cols.owner(e.col));
    };
    std::string bad;
    std::vector<std::int64_t> count(up, 0);
    for (const Entry<T> &e : entries) {
        if (e.row < 0 || e.row >= m || e.col < 0 || e.col >= n) {
            if (bad.empty()) {
                bad = name + ": entry (row " + std::to_string(e.row) + ", column " + std::to_string(e.col) +
                      ") lies outside the " + std::to_string(m) + " x " + std::to_string(n) + " matrix";
            }
            continue;
        }
        ++count[dest(e)];
    }
    mpi::agree(comm, bad.empty(), bad);
    std::vector<std::int64_t> at(up, 0);
    for (std::size_t d = 1; d < up; ++d) {
        at[d] = at[d - 1] + count[d - 1];
    }
    std::vector<Entry<T>> flat(entries.size());
    for (const Entry<T> &e : entries) {
        flat[static_cast<std::size_t>(at[dest(e)]++)] = e;
    }
    std::vector<Entry<T>>().swap(entries);
    std::vector<Entry<T>> mine = exchange_entries(comm, flat, count, std::max<std::int64_t>(round_bytes, 1));
    std::vector<Entry<T>>().swap(flat);

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
                                                          const std::vector<gidx> &,
                                                          std::int64_t);
template SparseDistMatrix<float> assemble_sparse<float>(const Grid &,
                                                        gidx,
                                                        gidx,
                                                        gidx,
                                                        gidx,
                                                        std::vector<Entry<float>> &&,
                                                        const std::string &,
                                                        const std::vector<gidx> &,
                                                        const std::vector<gidx> &,
                                                        std::int64_t);

} // namespace prism::io
