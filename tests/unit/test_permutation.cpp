// Seeded permutations for --permute: a pure function of (seed, axis, n), a true permutation, inverted
// exactly.

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "prism/error.hpp"
#include "prism/permutation.hpp"

using namespace prism;

TEST(Permutation, IsAPermutationDeterminedBySeedAxisAndSize) {
    for (gidx n : {0, 1, 2, 7, 1000}) {
        const std::vector<gidx> p = random_permutation(42, PermutedAxis::rows, n);
        ASSERT_EQ(static_cast<gidx>(p.size()), n);
        std::vector<gidx> sorted = p;
        std::sort(sorted.begin(), sorted.end());
        for (gidx i = 0; i < n; ++i) {
            EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
        }
        EXPECT_EQ(p, random_permutation(42, PermutedAxis::rows, n)); // same arguments, same result
        const std::vector<gidx> inv = inverse_permutation(p);
        for (gidx i = 0; i < n; ++i) {
            EXPECT_EQ(inv[static_cast<std::size_t>(p[static_cast<std::size_t>(i)])], i);
        }
    }
    const std::vector<gidx> a = random_permutation(42, PermutedAxis::rows, 1000);
    EXPECT_NE(a, random_permutation(43, PermutedAxis::rows, 1000));
    EXPECT_NE(a, random_permutation(42, PermutedAxis::cols, 1000));
    std::vector<gidx> identity(1000);
    std::iota(identity.begin(), identity.end(), 0);
    EXPECT_NE(a, identity);
    // Known answer: pins the generator so files written with --permute stay reproducible across versions.
    EXPECT_EQ(random_permutation(1, PermutedAxis::rows, 6), (std::vector<gidx>{4, 0, 1, 2, 5, 3}));
    EXPECT_EQ(random_permutation(1, PermutedAxis::cols, 6), (std::vector<gidx>{2, 0, 4, 5, 1, 3}));
    const IndexOrigin o = permutation_origin(1, 6, 6); // the inverses
    EXPECT_EQ(o.rows, (std::vector<gidx>{1, 2, 3, 5, 0, 4}));
    EXPECT_EQ(o.row(4), 0);
    EXPECT_EQ(IndexOrigin{}.col(17), 17); // empty: identity
}

TEST(Permutation, SpreadsAClusteredBlockEvenly) {
    // Indices 0..99 of 1000 (a cluster) land about evenly in the ten tenths of the permuted range.
    const std::vector<gidx> p = random_permutation(7, PermutedAxis::cols, 1000);
    std::vector<int> per_tenth(10, 0);
    for (gidx i = 0; i < 100; ++i) {
        ++per_tenth[static_cast<std::size_t>(p[static_cast<std::size_t>(i)] / 100)];
    }
    for (int c : per_tenth) {
        EXPECT_GT(c, 0);
        EXPECT_LT(c, 25);
    }
}

TEST(Permutation, InverseRefusesNonPermutations) {
    EXPECT_THROW(inverse_permutation({0, 0, 1}), Error);
    EXPECT_THROW(inverse_permutation({0, 3, 1}), Error);
    EXPECT_THROW(random_permutation(1, PermutedAxis::rows, -1), Error);
}
