// DistMatrix is a valid ScaLAPACK operand: real PBLAS/ScaLAPACK routines on it match serial references.

#include <gtest/gtest.h>

#include <cmath>

#include "prism/dist_matrix.hpp"
#include "prism/linalg/scalapack_abi.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"

using namespace prism;
using prism::test::world;

namespace {

struct Case {
    gidx m, n, mb, nb;
};
// Sizes that are not multiples of the blocks, blocks larger than the matrix, and matrices smaller than the
// grid.
const Case cases[] = {{37, 23, 4, 4}, {37, 23, 3, 5}, {37, 23, 64, 64},
                      {7, 10, 8, 8},  {1, 50, 2, 2},  {1, 1, 1, 1}};

double a_at(gidx i, gidx j) {
    return test::uniform_at(11, i, j) - 0.25;
}
double b_at(gidx i, gidx j) {
    return test::uniform_at(12, i, j);
}

double pnorm(const DistMatrix<double> &a) {
    const auto desc = a.descriptor();
    const int m = static_cast<int>(a.rows()), n = static_cast<int>(a.cols()), one = 1;
    double work = 0;
    return pdlange_("F", &m, &n, a.data(), &one, &one, desc.data(), &work);
}
float pnorm(const DistMatrix<float> &a) {
    const auto desc = a.descriptor();
    const int m = static_cast<int>(a.rows()), n = static_cast<int>(a.cols()), one = 1;
    float work = 0;
    return pslange_("F", &m, &n, a.data(), &one, &one, desc.data(), &work);
}

} // namespace

TEST(DistMatrix, LocalSizesAddUpAndDescriptorIsValid) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            DistMatrix<double> a(grid, c.m, c.n, c.mb, c.nb);
            const gidx entries = mpi::allreduce_value(world(), a.local_rows() * a.local_cols(), mpi::Op::sum);
            EXPECT_EQ(entries, c.m * c.n);
            const auto desc = a.descriptor();
            EXPECT_EQ(desc[0], 1);
            EXPECT_EQ(desc[1], grid.blacs_context());
            EXPECT_EQ(desc[2], c.m);
            EXPECT_EQ(desc[3], c.n);
            EXPECT_EQ(desc[8], std::max<lidx>(1, a.local_rows()));
            // descinit_ (ScaLAPACK's own validator) accepts the same parameters.
            int ref[9], info = -1;
            const int m = c.m, n = c.n, mb = c.mb, nb = c.nb, zero = 0, ctxt = grid.blacs_context(),
                      lld = desc[8];
            descinit_(ref, &m, &n, &mb, &nb, &zero, &zero, &ctxt, &lld, &info);
            EXPECT_EQ(info, 0);
            for (int k = 0; k < 9; ++k) {
                EXPECT_EQ(ref[k], desc[k]) << "descriptor entry " << k;
            }
        }
    }
}

TEST(DistMatrix, ScalapackFrobeniusNormMatchesSerial) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            DistMatrix<double> a(grid, c.m, c.n, c.mb, c.nb);
            DistMatrix<float> af(grid, c.m, c.n, c.mb, c.nb);
            test::fill(a, a_at);
            test::fill(af, a_at);
            double serial = 0;
            for (gidx i = 0; i < c.m; ++i) {
                for (gidx j = 0; j < c.n; ++j) {
                    serial += a_at(i, j) * a_at(i, j);
                }
            }
            serial = std::sqrt(serial);
            EXPECT_NEAR(pnorm(a), serial, 1e-13 * serial) << shape.rows << "x" << shape.cols;
            EXPECT_NEAR(pnorm(af), serial, 1e-5 * serial);
        }
    }
}

TEST(DistMatrix, ScalapackGemmMatchesSerial) {
    const gidx k = 5;
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (const Case &c : cases) {
            DistMatrix<double> a(grid, c.m, c.n, c.mb, c.nb);
            DistMatrix<double> b(grid, c.n, k, c.nb, c.mb);
            DistMatrix<double> prod(grid, c.m, k, c.mb, c.mb);
            test::fill(a, a_at);
            test::fill(b, b_at);
            const auto da = a.descriptor(), db = b.descriptor(), dc = prod.descriptor();
            const int m = c.m, n = static_cast<int>(k), kk = c.n, one = 1;
            const double alpha = 1, beta = 0;
            pdgemm_("N", "N", &m, &n, &kk, &alpha, a.data(), &one, &one, da.data(), b.data(), &one, &one,
                    db.data(), &beta, prod.data(), &one, &one, dc.data());
            const double err = test::max_local_error(prod, [&](gidx i, gidx j) {
                double s = 0;
                for (gidx t = 0; t < c.n; ++t) {
                    s += a_at(i, t) * b_at(t, j);
                }
                return s;
            });
            EXPECT_LT(err, 1e-12) << shape.rows << "x" << shape.cols << " m=" << c.m << " n=" << c.n;
        }
    }
}

TEST(DistMatrix, InvalidSizesAreCollectiveErrors) {
    Grid grid(world(), choose_grid_shape(world().size()));
    EXPECT_THROW(DistMatrix<double>(grid, -1, 3), Error);
    EXPECT_THROW(DistMatrix<double>(grid, 3, 3, 0, 4), Error);
    // An allocation no machine can satisfy fails on every rank, not just one.
    try {
        DistMatrix<double> huge(grid, gidx{1} << 22, gidx{1} << 20, 1024, 1024); // 32 TiB in all
        FAIL();
    } catch (const Error &e) {
        EXPECT_TRUE(e.collective());
        EXPECT_NE(std::string(e.what()).find("cannot allocate"), std::string::npos) << e.what();
    }
}
