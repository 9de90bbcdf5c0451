// SparseDistMatrix: the CSR block container checks what readers hand it, on every rank together.

#include <gtest/gtest.h>

#include "prism/error.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/sparse_matrix.hpp"
#include "support/mpi_test_env.hpp"

using namespace prism;
using prism::test::world;

namespace {

// This rank's block of the m x n matrix with x(i, j) = 1 + i + j where (i + j) % 3 == 0, else zero.
CsrBlock<double> diagonal_band(const Grid &grid, gidx m, gidx n, gidx mb, gidx nb) {
    const BlockCyclic rd(m, mb, grid.rows()), cd(n, nb, grid.cols());
    CsrBlock<double> b;
    b.rows = rd.local_size(grid.my_row());
    b.cols = cd.local_size(grid.my_col());
    b.row_ptr.push_back(0);
    for (lidx i = 0; i < b.rows; ++i) {
        for (lidx j = 0; j < b.cols; ++j) {
            const gidx gi = rd.to_global(i, grid.my_row()), gj = cd.to_global(j, grid.my_col());
            if ((gi + gj) % 3 == 0) {
                b.col.push_back(static_cast<std::int32_t>(j));
                b.values.push_back(static_cast<double>(1 + gi + gj));
            }
        }
        b.row_ptr.push_back(b.nnz());
    }
    return b;
}

} // namespace

TEST(SparseDistMatrix, AdoptsWellFormedBlocksOnEveryGrid) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (auto [m, n, mb, nb] : {std::array<gidx, 4>{37, 23, 4, 4}, {7, 10, 8, 8}, {1, 50, 2, 2}}) {
            SparseDistMatrix<double> a(grid, m, n, mb, nb, diagonal_band(grid, m, n, mb, nb));
            gidx expected = 0;
            for (gidx i = 0; i < m; ++i) {
                for (gidx j = 0; j < n; ++j) {
                    expected += (i + j) % 3 == 0;
                }
            }
            EXPECT_EQ(mpi::allreduce_value(world(), a.local_nnz(), mpi::Op::sum), expected);
            EXPECT_EQ(a.block().row_ptr.size(), static_cast<std::size_t>(a.local_rows() + 1));
            if (a.local_nnz() > 0) {
                EXPECT_EQ(static_cast<double>(a.block().values[0]),
                          static_cast<double>(1 + a.global_row(0) + a.global_col(a.block().col[0])));
            }
        }
    }
}

TEST(SparseDistMatrix, MalformedBlockOnOneRankFailsOnEveryRank) {
    Grid grid(world(), GridShape{world().size(), 1});
    const int bad_rank = world().size() - 1;
    enum Defect { wrong_shape, decreasing, out_of_range, unsorted };
    for (Defect d : {wrong_shape, decreasing, out_of_range, unsorted}) {
        CsrBlock<double> b;
        b.rows = BlockCyclic(8 * world().size(), 4, world().size()).local_size(grid.my_row());
        b.cols = 6;
        b.row_ptr.assign(static_cast<std::size_t>(b.rows + 1), 0);
        if (grid.rank() == bad_rank) {
            // row 0 holds local columns 1 and 3
            b.col = {1, 3};
            b.values = {1.0, 2.0};
            for (std::size_t i = 1; i < b.row_ptr.size(); ++i) {
                b.row_ptr[i] = 2;
            }
            switch (d) {
            case wrong_shape:
                b.cols = 7;
                break;
            case decreasing:
                b.row_ptr[1] = 2, b.row_ptr[2] = 1, b.row_ptr[3] = 2;
                break;
            case out_of_range:
                b.col[1] = 6;
                break;
            case unsorted:
                b.col = {3, 1};
                break;
            }
        }
        try {
            SparseDistMatrix<double> a(grid, 8 * world().size(), 6, 4, 4, std::move(b), "'x.h5':/X");
            ADD_FAILURE() << "defect " << d << " was accepted";
        } catch (const Error &e) {
            EXPECT_TRUE(e.collective());
            EXPECT_NE(std::string(e.what()).find("'x.h5':/X on rank " + std::to_string(bad_rank)),
                      std::string::npos)
                << e.what();
        }
    }
}
