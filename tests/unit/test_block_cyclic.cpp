// BlockCyclic against ScaLAPACK's own NUMROC / INDXG2P / INDXG2L / INDXL2G (the real routines, 1-based).

#include <gtest/gtest.h>

#include <random>

#include "prism/block_cyclic.hpp"
#include "prism/linalg/scalapack_abi.hpp"

using prism::BlockCyclic;
using prism::gidx;

namespace {

void check_against_scalapack(int n, int nb, int p, int src) {
    const BlockCyclic d(n, nb, p, src);
    gidx total = 0;
    for (int proc = 0; proc < p; ++proc) {
        const int expected = numroc_(&n, &nb, &proc, &src, &p);
        ASSERT_EQ(d.local_size(proc), expected) << "n=" << n << " nb=" << nb << " p=" << p << " src=" << src;
        total += expected;
        for (int l = 0; l < expected; ++l) {
            const int l1 = l + 1;
            const int g1 = indxl2g_(&l1, &nb, &proc, &src, &p);
            ASSERT_EQ(d.to_global(l, proc), g1 - 1);
        }
    }
    ASSERT_EQ(total, n);
    for (int g = 0; g < n; ++g) {
        const int g1 = g + 1, dummy = 0;
        const int owner = indxg2p_(&g1, &nb, &dummy, &src, &p);
        const int local1 = indxg2l_(&g1, &nb, &dummy, &dummy, &p);
        ASSERT_EQ(d.owner(g), owner);
        ASSERT_EQ(d.to_local(g), local1 - 1);
        ASSERT_EQ(d.to_global(d.to_local(g), d.owner(g)), g); // round trip
    }
}

} // namespace

TEST(BlockCyclic, MatchesScalapackOnRandomDistributions) {
    std::mt19937 rng(20261203);
    std::uniform_int_distribution<int> size(0, 300), block(1, 40), procs(1, 13);
    for (int trial = 0; trial < 3000; ++trial) {
        const int p = procs(rng);
        std::uniform_int_distribution<int> source(0, p - 1);
        check_against_scalapack(size(rng), block(rng), p, source(rng));
    }
}

TEST(BlockCyclic, EdgeCasesSmallerThanBlockOrGrid) {
    for (int n : {0, 1, 2, 3, 7}) {
        for (int nb : {1, 2, 8, 64}) {
            for (int p : {1, 2, 3, 6, 11}) {
                for (int src = 0; src < p; ++src) {
                    check_against_scalapack(n, nb, p, src);
                }
            }
        }
    }
}

TEST(BlockCyclic, SixtyFourBitSizes) {
    // 3e10 rows in blocks of 64 over 7 processes: only 64-bit arithmetic gets the local sizes to add up.
    const gidx n = 30'000'000'000LL;
    const BlockCyclic d(n, 64, 7, 3);
    gidx total = 0;
    for (int p = 0; p < 7; ++p) {
        total += d.local_size(p);
    }
    EXPECT_EQ(total, n);
    const gidx g = n - 5;
    EXPECT_EQ(d.to_global(d.to_local(g), d.owner(g)), g);
}

TEST(BlockCyclic, RejectsInvalidParameters) {
    EXPECT_THROW(BlockCyclic(-1, 4, 2), prism::Error);
    EXPECT_THROW(BlockCyclic(10, 0, 2), prism::Error);
    EXPECT_THROW(BlockCyclic(10, 4, 0), prism::Error);
    EXPECT_THROW(BlockCyclic(10, 4, 2, 2), prism::Error);
}
