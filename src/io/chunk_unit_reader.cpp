#include "prism/io/chunk_unit_reader.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

// A rectangle of whole chunks: file rows [r0, r1) x file columns [c0, c1).
struct Unit {
    gidx r0, r1, c0, c1;
    gidx rows() const { return r1 - r0; }
    gidx cols() const { return c1 - c0; }
};

// The chunk grid of a rows x cols dataset cut into units of ur x uc chunks, numbered row-major.
class UnitGrid {
  public:
    UnitGrid(gidx rows, gidx cols, gidx chunk_rows, gidx chunk_cols, lidx min_elements)
        : rows_(rows), cols_(cols) {
        const gidx chunk_elements = chunk_rows * chunk_cols;
        const gidx grid_rows = (rows + chunk_rows - 1) / chunk_rows;
        const gidx grid_cols = (cols + chunk_cols - 1) / chunk_cols;
        // Whole chunk columns first: a row-major unit then reads as few separate runs as possible.
        const gidx uc = std::clamp<gidx>((min_elements + chunk_elements - 1) / chunk_elements, 1, grid_cols);
        const gidx ur =
            std::clamp<gidx>((min_elements + chunk_elements * uc - 1) / (chunk_elements * uc), 1, grid_rows);
        unit_rows_ = ur * chunk_rows;
        unit_cols_ = uc * chunk_cols;
        units_down_ = (rows + unit_rows_ - 1) / unit_rows_;
        units_across_ = (cols + unit_cols_ - 1) / unit_cols_;
    }
    gidx count() const { return units_down_ * units_across_; }
    gidx max_elements() const { return std::min(rows_, unit_rows_) * std::min(cols_, unit_cols_); }
    Unit unit(gidx u) const {
        const gidx r0 = (u / units_across_) * unit_rows_, c0 = (u % units_across_) * unit_cols_;
        return {r0, std::min(rows_, r0 + unit_rows_), c0, std::min(cols_, c0 + unit_cols_)};
    }

  private:
    gidx rows_, cols_, unit_rows_ = 1, unit_cols_ = 1, units_down_ = 0, units_across_ = 0;
};

template <typename T> hid_t native_type();
template <> hid_t native_type<double>() {
    return H5T_NATIVE_DOUBLE;
}
template <> hid_t native_type<float>() {
    return H5T_NATIVE_FLOAT;
}

} // namespace

bool chunk_units_fit(gidx rows, gidx cols, const std::vector<gidx> &chunk, int nprocs, lidx unit_elements) {
    if (chunk.size() != 2 || chunk[0] < 1 || chunk[1] < 1 || rows < 1 || cols < 1) {
        return false;
    }
    const UnitGrid units(rows, cols, chunk[0], chunk[1], std::max<lidx>(1, unit_elements));
    return units.max_elements() <= std::numeric_limits<int>::max() / std::max(1, nprocs);
}

template <typename T>
bool read_chunk_units(DistMatrix<T> &a,
                      hid_t dataset,
                      const std::vector<gidx> &chunk,
                      const std::vector<gidx> *file_col,
                      lidx unit_elements) {
    const Grid &grid = a.grid();
    const mpi::Comm &comm = grid.comm();
    const int nprocs = comm.size(), me = comm.rank();
    Hid file_space = space_hid(H5Dget_space(dataset));
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(file_space.get(), dims, nullptr);
    const gidx file_rows = static_cast<gidx>(dims[0]), file_cols = static_cast<gidx>(dims[1]);
    const UnitGrid units(file_rows, file_cols, chunk[0], chunk[1], std::max<lidx>(1, unit_elements));

    // (file column, matrix column) pairs sorted by file column: where each file column goes.
    std::vector<std::pair<gidx, gidx>> targets;
    if (file_col != nullptr) {
        for (gidx j = 0; j < static_cast<gidx>(file_col->size()); ++j) {
            if ((*file_col)[static_cast<std::size_t>(j)] >= 0) {
                targets.emplace_back((*file_col)[static_cast<std::size_t>(j)], j);
            }
        }
        std::sort(targets.begin(), targets.end());
    }
    // The pairs of the file columns [c0, c1), in file-column order.
    auto unit_targets = [&](const Unit &u, std::vector<std::pair<gidx, gidx>> &out) {
        out.clear();
        if (file_col == nullptr) {
            for (gidx c = u.c0; c < u.c1; ++c) {
                out.emplace_back(c, c);
            }
            return;
        }
        auto it = std::lower_bound(targets.begin(), targets.end(), std::make_pair(u.c0, gidx{-1}));
        for (; it != targets.end() && it->first < u.c1; ++it) {
            out.push_back(*it);
        }
    };

    const BlockCyclic &row_dist = a.row_dist(), &col_dist = a.col_dist();
    std::vector<T> unit_values, send, recv;
    std::vector<std::pair<gidx, gidx>> cols_here;
    std::vector<std::vector<gidx>> rows_of(static_cast<std::size_t>(grid.rows()));
    std::vector<std::vector<std::pair<gidx, gidx>>> cols_of(static_cast<std::size_t>(grid.cols()));
    std::vector<int> send_count(nprocs), send_displ(nprocs), recv_count(nprocs), recv_displ(nprocs);
    std::vector<lidx> my_rows;
    bool ok = true;

    // Splits a unit's rows and column targets by the grid row / column that owns them.
    auto split_by_owner = [&](const Unit &u) {
        for (auto &r : rows_of) {
            r.clear();
        }
        for (auto &c : cols_of) {
            c.clear();
        }
        for (gidx i = u.r0; i < std::min(u.r1, a.rows()); ++i) {
            rows_of[static_cast<std::size_t>(row_dist.owner(i))].push_back(i);
        }
        unit_targets(u, cols_here);
        for (const auto &t : cols_here) {
            cols_of[static_cast<std::size_t>(col_dist.owner(t.second))].push_back(t);
        }
    };

    const gidx rounds = (units.count() + nprocs - 1) / nprocs;
    for (gidx round = 0; round < rounds; ++round) {
        // Read my unit (if any) and sort it by destination: per rank, its columns outer, rows inner.
        const gidx mine = round * nprocs + me;
        send.clear();
        std::fill(send_count.begin(), send_count.end(), 0);
        if (mine < units.count()) {
            const Unit u = units.unit(mine);
            split_by_owner(u);
            unit_values.resize(static_cast<std::size_t>(u.rows() * u.cols()));
            const hsize_t start[2] = {static_cast<hsize_t>(u.r0), static_cast<hsize_t>(u.c0)};
            const hsize_t count[2] = {static_cast<hsize_t>(u.rows()), static_cast<hsize_t>(u.cols())};
            Hid mem_space = space_hid(H5Screate_simple(2, count, nullptr));
            H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
            // Independent transfer: no other rank takes part in this unit.
            if (H5Dread(dataset, native_type<T>(), mem_space.get(), file_space.get(), H5P_DEFAULT,
                        unit_values.data()) < 0) {
                ok = false;
                std::fill(unit_values.begin(), unit_values.end(), T(0));
            }
            send.reserve(unit_values.size());
            for (int q = 0; q < nprocs; ++q) {
                const auto &rows = rows_of[static_cast<std::size_t>(q / grid.cols())];
                const auto &cols = cols_of[static_cast<std::size_t>(q % grid.cols())];
                send_displ[q] = narrow<int>(static_cast<lidx>(send.size()), "unit piece");
                for (const auto &[c, j] : cols) {
                    const T *column = unit_values.data() + (c - u.c0);
                    for (gidx i : rows) {
                        send.push_back(column[(i - u.r0) * u.cols()]);
                    }
                }
                send_count[q] = narrow<int>(static_cast<lidx>(send.size()) - send_displ[q], "unit piece");
            }
        }
        // What each source sends me follows from its unit's geometry alone.
        lidx total = 0;
        for (int s = 0; s < nprocs; ++s) {
            const gidx theirs = round * nprocs + s;
            recv_count[s] = 0;
            recv_displ[s] = narrow<int>(total, "unit pieces");
            if (theirs < units.count()) {
                const Unit u = units.unit(theirs);
                lidx rows = 0;
                for (gidx i = u.r0; i < std::min(u.r1, a.rows()); ++i) {
                    rows += row_dist.owner(i) == grid.my_row() ? 1 : 0;
                }
                unit_targets(u, cols_here);
                lidx cols = 0;
                for (const auto &t : cols_here) {
                    cols += col_dist.owner(t.second) == grid.my_col() ? 1 : 0;
                }
                recv_count[s] = narrow<int>(rows * cols, "unit piece");
                total += rows * cols;
            }
        }
        recv.resize(static_cast<std::size_t>(std::max<lidx>(total, 1)));
        MPI_Alltoallv(send.data(), send_count.data(), send_displ.data(), mpi::mpi_type<T>(), recv.data(),
                      recv_count.data(), recv_displ.data(), mpi::mpi_type<T>(), comm.get());
        // Place each source's piece: its columns (mine) outer, rows (mine) inner, as it was packed.
        for (int s = 0; s < nprocs; ++s) {
            if (recv_count[s] == 0) {
                continue;
            }
            const Unit u = units.unit(round * nprocs + s);
            my_rows.clear();
            for (gidx i = u.r0; i < std::min(u.r1, a.rows()); ++i) {
                if (row_dist.owner(i) == grid.my_row()) {
                    my_rows.push_back(row_dist.to_local(i));
                }
            }
            unit_targets(u, cols_here);
            const T *src = recv.data() + recv_displ[s];
            for (const auto &[c, j] : cols_here) {
                if (col_dist.owner(j) != grid.my_col()) {
                    continue;
                }
                T *dst = &a.local(0, col_dist.to_local(j));
                for (lidx li : my_rows) {
                    dst[li] = *src++;
                }
            }
        }
    }
    return ok;
}

template bool read_chunk_units<double>(
    DistMatrix<double> &, hid_t, const std::vector<gidx> &, const std::vector<gidx> *, lidx);
template bool read_chunk_units<float>(
    DistMatrix<float> &, hid_t, const std::vector<gidx> &, const std::vector<gidx> *, lidx);

} // namespace prism::io
