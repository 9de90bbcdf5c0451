#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "prism/matrix_stats.hpp"
#include "prism/transform.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"

using namespace prism;
using prism::test::world;

namespace {
// 37 x 23 with known oddities: row 7 and the last row all zero, column 13 and column 0 all zero,
// a NaN at (30, 20) and (31, 2), an Inf at (5, 5), negatives at (20, 9) = -1e-6 and (36, 22)... no: row 36
// is zero. Negatives at (20, 9) and (25, 1); a -0.0 at (3, 3) that must not count as negative.
double value(gidx i, gidx j) {
    if (i == 7 || i == 36 || j == 13 || j == 0) {
        return 0.0;
    }
    if ((i == 30 && j == 20) || (i == 31 && j == 2)) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (i == 5 && j == 5) {
        return std::numeric_limits<double>::infinity();
    }
    if (i == 20 && j == 9) {
        return -1e-6;
    }
    if (i == 25 && j == 1) {
        return -3.0;
    }
    if (i == 3 && j == 3) {
        return -0.0;
    }
    return 1.0 + static_cast<double>(i + j);
}
} // namespace

TEST(MatrixStats, CountsAndFirstPositionsOnEveryGrid) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (gidx block : {1, 4, 64}) {
            DistMatrix<double> a(grid, 37, 23, block, block);
            test::fill(a, value);
            const MatrixStats s = compute_stats(a);
            EXPECT_EQ(s.nan_count, 2);
            EXPECT_EQ(s.first_nan.row, 30);
            EXPECT_EQ(s.first_nan.col, 20);
            EXPECT_EQ(s.inf_count, 1);
            EXPECT_EQ(s.first_inf.row, 5);
            EXPECT_EQ(s.negative_count, 2);
            EXPECT_EQ(s.first_negative.row, 20);
            EXPECT_EQ(s.first_negative.col, 9);
            EXPECT_EQ(s.first_negative_value, -1e-6);
            EXPECT_EQ(s.zero_rows, 2);
            EXPECT_EQ(s.zero_cols, 2);
            EXPECT_EQ(s.first_zero_row_col.row, 7);
            EXPECT_EQ(s.first_zero_row_col.col, 0);
            EXPECT_EQ(s.min, -3.0);
            EXPECT_EQ(s.max, 1.0 + 35 + 22);
            // nonzeros: 35 nonzero rows x 21 nonzero columns, minus the -0.0 entry.
            EXPECT_EQ(s.nonzeros, 35 * 21 - 1);
        }
    }
}

TEST(MatrixStats, CleanAndAllZeroMatrices) {
    Grid grid(world(), choose_grid_shape(world().size()));
    DistMatrix<float> zero(grid, 5, 3, 2, 2);
    const MatrixStats z = compute_stats(zero);
    EXPECT_EQ(z.nonzeros, 0);
    EXPECT_EQ(z.zero_rows, 5);
    EXPECT_EQ(z.zero_cols, 3);
    EXPECT_EQ(z.min, 0.0);
    EXPECT_EQ(z.max, 0.0);
    EXPECT_FALSE(z.first_negative.exists());
    DistMatrix<double> ones(grid, 9, 4, 2, 3);
    test::fill(ones, [](gidx, gidx) { return 2.0; });
    const MatrixStats o = compute_stats(ones);
    EXPECT_EQ(o.sum_squares, 4.0 * 36);
    EXPECT_EQ(o.zero_rows + o.zero_cols + o.nan_count + o.negative_count, 0);
}

TEST(Transform, Log1pInPlaceKeepsZerosExactOnEveryGrid) {
    const auto f = [](gidx i, gidx j) { return (i + j) % 3 == 0 ? 0.0 : std::exp(static_cast<double>(i * j % 7)) - 1; };
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        DistMatrix<double> a(grid, 13, 9, 4, 2);
        test::fill(a, f);
        const std::int64_t nonzeros = compute_stats(a).nonzeros;
        log1p_in_place(a);
        EXPECT_LT(test::max_local_error(a, [&](gidx i, gidx j) { return std::log1p(f(i, j)); }), 1e-14);
        EXPECT_EQ(compute_stats(a).nonzeros, nonzeros); // log1p(0) is exactly 0
        EXPECT_NEAR(compute_stats(a).max, 6.0, 1e-14);  // log1p(e^6 - 1)
    }
}
