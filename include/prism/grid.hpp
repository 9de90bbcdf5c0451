#pragma once
/// The 2D process grid: pr x pc ranks, row and column sub-communicators, and a BLACS context on the same
/// ranks in the same (row-major) order.

#include <string>

#include "prism/mpi/comm.hpp"
#include "prism/types.hpp"

namespace prism {

/// A grid shape. {0, 0} means "choose automatically".
struct GridShape {
    int rows = 0;
    int cols = 0;
};

/// The shape pr x pc = `nprocs` that minimises the words a rank all-gathers per NMF iteration,
/// proportional to m/pr + n/pc (MPI-FAUN): near-square for square data, more process rows for tall data.
/// Works for any nprocs >= 1, primes included (then p x 1 or 1 x p). Local: no communication.
GridShape choose_grid_shape(int nprocs, gidx m = 1, gidx n = 1);

/// Parses "PRxPC" (also "PR,PC" or "PR PC"). Throws prism::Error with a clear message on anything else,
/// including zero or negative sizes. Local: no communication.
GridShape parse_grid_shape(const std::string &text);

/// Rank r of the grid's communicator sits at (r / cols, r % cols) — row-major, BLACS order "Row".
class Grid {
  public:
    /// Builds the grid. Collective on `comm`. Every rank throws the same prism::Error if
    /// shape.rows * shape.cols differs from comm.size() or either is < 1.
    Grid(const mpi::Comm &comm, GridShape shape);
    ~Grid();
    Grid(Grid &&other) noexcept;
    Grid &operator=(Grid &&) = delete;
    Grid(const Grid &) = delete;
    Grid &operator=(const Grid &) = delete;

    int rows() const noexcept { return rows_; }
    int cols() const noexcept { return cols_; }
    int my_row() const noexcept { return my_row_; }
    int my_col() const noexcept { return my_col_; }
    int size() const noexcept { return rows_ * cols_; }
    int rank() const noexcept { return comm_.rank(); }
    /// "PRxPC", for logs and output attributes.
    std::string shape_string() const;

    /// All ranks of the grid.
    const mpi::Comm &comm() const noexcept { return comm_; }
    /// The pc ranks in my grid row, ordered by grid column (rank in it == my_col()).
    const mpi::Comm &row_comm() const noexcept { return row_comm_; }
    /// The pr ranks in my grid column, ordered by grid row (rank in it == my_row()).
    const mpi::Comm &col_comm() const noexcept { return col_comm_; }
    /// BLACS context with the same process coordinates, for ScaLAPACK calls on DistMatrix data.
    int blacs_context() const noexcept { return blacs_context_; }

  private:
    mpi::Comm comm_;
    mpi::Comm row_comm_;
    mpi::Comm col_comm_;
    int rows_ = 0;
    int cols_ = 0;
    int my_row_ = 0;
    int my_col_ = 0;
    int blacs_handle_ = -1;
    int blacs_context_ = -1;
};

} // namespace prism
