#pragma once
/// Counter-based random numbers: each value is a pure function of (seed, stream, i, j), so any rank can
/// produce any entry without communication and the result does not depend on the number of ranks, the
/// grid shape or the block size. Local: no communication.

#include <cmath>
#include <cstdint>

namespace prism {

/// SplitMix64 finaliser: a bijective, well-mixed 64-bit hash.
inline std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// Uniform in [0, 1) with 53 random bits.
inline double
counter_uniform(std::uint64_t seed, std::uint64_t stream, std::int64_t i, std::int64_t j) noexcept {
    std::uint64_t h = mix64(seed ^ mix64(stream + 0x632be59bd9b4e019ULL));
    h = mix64(h ^ static_cast<std::uint64_t>(i));
    h = mix64(h ^ static_cast<std::uint64_t>(j) * 0xd1b54a32d192ed03ULL);
    return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}

/// Standard normal (Box-Muller on two counter-based uniforms).
inline double
counter_normal(std::uint64_t seed, std::uint64_t stream, std::int64_t i, std::int64_t j) noexcept {
    const double u1 = 1.0 - counter_uniform(seed, stream, i, 2 * j);
    const double u2 = counter_uniform(seed, stream, i, 2 * j + 1);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

} // namespace prism
