#include <gtest/gtest.h>

#include "prism/grid.hpp"

using prism::choose_grid_shape;
using prism::GridShape;
using prism::parse_grid_shape;

TEST(GridShape, AutomaticShapeMultipliesToRankCount) {
    for (int p = 1; p <= 64; ++p) {
        for (auto [m, n] : {std::pair<long, long>{1, 1}, {1000, 10}, {10, 1000}, {5000, 5000}}) {
            const GridShape s = choose_grid_shape(p, m, n);
            EXPECT_EQ(s.rows * s.cols, p);
            EXPECT_GE(s.rows, 1);
        }
    }
}

TEST(GridShape, FollowsTheAspectRatio) {
    EXPECT_EQ(choose_grid_shape(4, 1000, 1000).rows, 2);
    EXPECT_EQ(choose_grid_shape(6, 1000, 1000).rows, 2); // 2x3 and 3x2 tie on cost; either is near-square
    EXPECT_EQ(choose_grid_shape(4, 100000, 10).rows, 4); // tall data: all ranks on rows
    EXPECT_EQ(choose_grid_shape(4, 10, 100000).rows, 1);
    EXPECT_EQ(choose_grid_shape(7, 500, 500).rows * choose_grid_shape(7, 500, 500).cols, 7); // prime
    EXPECT_EQ(choose_grid_shape(16).rows, 4);
}

TEST(GridShape, ParsesAndRejects) {
    EXPECT_EQ(parse_grid_shape("2x3").rows, 2);
    EXPECT_EQ(parse_grid_shape("2x3").cols, 3);
    EXPECT_EQ(parse_grid_shape("4,1").rows, 4);
    EXPECT_EQ(parse_grid_shape("3 2").cols, 2);
    for (const char *bad : {"", "2", "x3", "2x", "0x4", "-1x4", "2x3x4", "axb", "2.5x2", "99999999999x1"}) {
        EXPECT_THROW(parse_grid_shape(bad), prism::Error) << bad;
    }
}
