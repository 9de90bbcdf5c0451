#include "prism/grid.hpp"

#include <cctype>
#include <cstdlib>
#include <limits>
#include <utility>

#include "prism/linalg/scalapack_abi.hpp"
#include "prism/mpi/collectives.hpp"

namespace prism {

GridShape choose_grid_shape(int nprocs, gidx m, gidx n) {
    PRISM_CHECK(nprocs >= 1, "number of processes must be >= 1");
    const double rows = static_cast<double>(std::max<gidx>(m, 1));
    const double cols = static_cast<double>(std::max<gidx>(n, 1));
    GridShape best{nprocs, 1};
    double best_cost = std::numeric_limits<double>::infinity();
    for (int pr = 1; pr <= nprocs; ++pr) {
        if (nprocs % pr != 0) {
            continue;
        }
        const int pc = nprocs / pr;
        // Words gathered per rank ~ (m/pr + n/pc) k; ties go to the squarer grid (fewer messages per
        // collective).
        const double cost = rows / pr + cols / pc;
        const bool squarer = std::abs(pr - pc) < std::abs(best.rows - best.cols);
        if (cost < best_cost * (1 - 1e-12) || (cost <= best_cost * (1 + 1e-12) && squarer)) {
            best = {pr, pc};
            best_cost = cost;
        }
    }
    return best;
}

GridShape parse_grid_shape(const std::string &text) {
    auto fail = [&]() {
        throw Error("invalid grid '" + text + "': expected PRxPC with two positive integers, e.g. 2x3");
    };
    std::size_t split = text.find_first_of("xX, ");
    if (split == std::string::npos || split == 0 || split + 1 >= text.size()) {
        fail();
    }
    auto parse_positive = [&](const std::string &part) {
        if (part.empty() || part.size() > 9) {
            fail();
        }
        for (char c : part) {
            if (!std::isdigit(static_cast<unsigned char>(c))) {
                fail();
            }
        }
        const int v = std::stoi(part);
        if (v < 1) {
            fail();
        }
        return v;
    };
    return {parse_positive(text.substr(0, split)), parse_positive(text.substr(split + 1))};
}

Grid::Grid(const mpi::Comm &comm, GridShape shape) : rows_(shape.rows), cols_(shape.cols) {
    const bool ok = rows_ >= 1 && cols_ >= 1 && static_cast<long long>(rows_) * cols_ == comm.size();
    mpi::agree(comm, ok,
               "process grid " + std::to_string(rows_) + "x" + std::to_string(cols_) + " = " +
                   std::to_string(static_cast<long long>(rows_) * cols_) + " ranks does not match the " +
                   std::to_string(comm.size()) + " MPI ranks");
    comm_ = mpi::Comm::duplicate(comm.get());
    my_row_ = comm_.rank() / cols_;
    my_col_ = comm_.rank() % cols_;
    row_comm_ = comm_.split(my_row_, my_col_);
    col_comm_ = comm_.split(my_col_, my_row_);

    // BLACS on the same communicator, row-major, so BLACS coordinates equal ours.
    int me = 0, nprocs = 0;
    Cblacs_pinfo(&me, &nprocs);
    blacs_handle_ = Csys2blacs_handle(comm_.get());
    blacs_context_ = blacs_handle_;
    Cblacs_gridinit(&blacs_context_, "Row", rows_, cols_);
    int pr = 0, pc = 0, r = 0, c = 0;
    Cblacs_gridinfo(blacs_context_, &pr, &pc, &r, &c);
    mpi::agree(comm_, pr == rows_ && pc == cols_ && r == my_row_ && c == my_col_,
               "BLACS grid does not match the MPI grid (BLACS " + std::to_string(pr) + "x" +
                   std::to_string(pc) + " at (" + std::to_string(r) + "," + std::to_string(c) + "))");
}

Grid::Grid(Grid &&other) noexcept
    : comm_(std::move(other.comm_)), row_comm_(std::move(other.row_comm_)),
      col_comm_(std::move(other.col_comm_)), rows_(other.rows_), cols_(other.cols_), my_row_(other.my_row_),
      my_col_(other.my_col_), blacs_handle_(std::exchange(other.blacs_handle_, -1)),
      blacs_context_(std::exchange(other.blacs_context_, -1)) {}

Grid::~Grid() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
        return;
    }
    if (blacs_context_ >= 0) {
        Cblacs_gridexit(blacs_context_);
    }
    if (blacs_handle_ >= 0) {
        Cfree_blacs_system_handle(blacs_handle_);
    }
}

std::string Grid::shape_string() const {
    return std::to_string(rows_) + "x" + std::to_string(cols_);
}

} // namespace prism
