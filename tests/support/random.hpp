#pragma once
// Rank-independent pseudo-random values: a pure function of (seed, i, j), so every rank and every grid
// sees the same matrix without communication.

#include <cstdint>

namespace prism::test {

/// SplitMix64 finaliser: a good 64-bit mix of a counter.
inline std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// Uniform in [0, 1), determined by (seed, i, j) only.
inline double uniform_at(std::uint64_t seed, std::int64_t i, std::int64_t j) {
    const std::uint64_t h =
        mix64(mix64(seed ^ mix64(static_cast<std::uint64_t>(i))) + static_cast<std::uint64_t>(j));
    return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}

} // namespace prism::test
