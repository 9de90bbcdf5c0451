#include <gtest/gtest.h>

#include "prism/grid.hpp"
#include "prism/linalg/scalapack_abi.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/mpi_test_env.hpp"

using namespace prism;
using prism::test::world;

TEST(Grid, EveryFactorisationBuildsConsistentCommunicators) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        EXPECT_EQ(grid.rows(), shape.rows);
        EXPECT_EQ(grid.cols(), shape.cols);
        EXPECT_EQ(grid.row_comm().size(), shape.cols);
        EXPECT_EQ(grid.col_comm().size(), shape.rows);
        EXPECT_EQ(grid.row_comm().rank(), grid.my_col());
        EXPECT_EQ(grid.col_comm().rank(), grid.my_row());
        EXPECT_EQ(grid.rank(), grid.my_row() * grid.cols() + grid.my_col());
        // The ranks of my grid row are exactly those with my row index, in column order.
        const auto rows_in_row = mpi::allgather_value(grid.row_comm(), grid.my_row());
        const auto ranks_in_row = mpi::allgather_value(grid.row_comm(), grid.rank());
        for (int c = 0; c < grid.cols(); ++c) {
            EXPECT_EQ(rows_in_row[c], grid.my_row());
            EXPECT_EQ(ranks_in_row[c], grid.my_row() * grid.cols() + c);
        }
        // BLACS sees the same coordinates.
        int pr = 0, pc = 0, r = -1, c = -1;
        Cblacs_gridinfo(grid.blacs_context(), &pr, &pc, &r, &c);
        EXPECT_EQ(pr, shape.rows);
        EXPECT_EQ(pc, shape.cols);
        EXPECT_EQ(r, grid.my_row());
        EXPECT_EQ(c, grid.my_col());
    }
}

TEST(Grid, WrongShapeIsTheSameClearErrorOnEveryRank) {
    const int p = world().size();
    for (GridShape bad : {GridShape{p + 1, 1}, GridShape{3, 2 * p}, GridShape{0, p}, GridShape{-1, -p}}) {
        try {
            Grid grid(world(), bad);
            FAIL() << "accepted " << bad.rows << "x" << bad.cols;
        } catch (const Error &e) {
            EXPECT_TRUE(e.collective());
            const std::string expected = "process grid " + std::to_string(bad.rows) + "x" +
                                         std::to_string(bad.cols) + " = " +
                                         std::to_string(static_cast<long long>(bad.rows) * bad.cols) +
                                         " ranks does not match the " + std::to_string(p) + " MPI ranks";
            EXPECT_EQ(std::string(e.what()), expected);
        }
    }
}

TEST(Grid, ManyGridsComeAndGo) {
    // Communicators and BLACS contexts are released: creating many grids does not exhaust either.
    for (int i = 0; i < 200; ++i) {
        Grid grid(world(), choose_grid_shape(world().size()));
        ASSERT_EQ(grid.size(), world().size());
    }
}
