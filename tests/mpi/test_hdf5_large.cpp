// A large dataset (20000 x 3000 doubles, 480 MB, chunked and compressed like the shared data) read in
// parallel must equal a serial read exactly.

#include <gtest/gtest.h>

#include <cmath>

#include "prism/io/hdf5_matrix.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"

using namespace prism;
using prism::test::world;

TEST(Hdf5Large, ParallelReadEqualsSerialRead) {
    const gidx m = 20000, n = 3000;
    const std::string file = test::temp_path("large");
    auto value = [](gidx i, gidx j) { return std::floor(test::uniform_at(9, i, j) * 4096.0) / 8.0; };
    {
        test::SerialDataset d;
        d.name = "/X";
        d.rows = m;
        d.cols = n;
        d.chunk = {43, n}; // ~1 MiB chunks of whole rows, as in the shared data
        d.deflate = true;
        if (world().rank() == 0) {
            d.row_major.resize(static_cast<std::size_t>(m * n));
            for (gidx i = 0; i < m; ++i) {
                for (gidx j = 0; j < n; ++j) {
                    d.row_major[static_cast<std::size_t>(i * n + j)] = value(i, j);
                }
            }
        }
        test::write_serial_file(world(), file, {d});
    }
    std::vector<double> serial;
    gidx rows = 0, cols = 0;
    if (world().rank() == 0) {
        serial = test::read_serial_matrix(file, "/X", rows, cols);
        ASSERT_EQ(rows, m);
        ASSERT_EQ(cols, n);
        for (gidx i = 0; i < m; i += 997) {
            ASSERT_EQ(serial[static_cast<std::size_t>(i * n + (i % n))], value(i, i % n));
        }
    }
    Grid grid(world(), choose_grid_shape(world().size(), m, n));
    auto a = io::read_matrix<double>(grid, {file, "/X"}, 64, 64);
    EXPECT_EQ(test::max_local_error(a, value), 0.0);
    test::remove_file(world(), file);
}
