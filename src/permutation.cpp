#include "prism/permutation.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "prism/error.hpp"
#include "prism/util/counter_random.hpp"

namespace prism {

namespace {
constexpr std::uint64_t permutation_stream = 0x7065726d75746500ULL; // "permute": apart from init streams
}

std::vector<gidx> random_permutation(std::uint64_t seed, PermutedAxis axis, gidx n) {
    PRISM_CHECK(n >= 0, "random_permutation: negative size " + std::to_string(n));
    std::vector<gidx> perm(static_cast<std::size_t>(n));
    for (gidx i = 0; i < n; ++i) {
        perm[static_cast<std::size_t>(i)] = i;
    }
    const std::uint64_t stream = permutation_stream + static_cast<std::uint64_t>(axis);
    for (gidx i = n - 1; i > 0; --i) {
        // j uniform in [0, i]: 53 random bits, so the bias is below 2^-53 * n.
        const auto j = std::min<gidx>(
            i, static_cast<gidx>(counter_uniform(seed, stream, i, 0) * static_cast<double>(i + 1)));
        std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
    }
    return perm;
}

std::vector<gidx> inverse_permutation(const std::vector<gidx> &perm) {
    const auto n = static_cast<gidx>(perm.size());
    std::vector<gidx> inv(perm.size(), -1);
    for (gidx i = 0; i < n; ++i) {
        const gidx p = perm[static_cast<std::size_t>(i)];
        PRISM_CHECK(p >= 0 && p < n && inv[static_cast<std::size_t>(p)] < 0,
                    "inverse_permutation: entry " + std::to_string(i) + " = " + std::to_string(p) +
                        " is out of range or repeated");
        inv[static_cast<std::size_t>(p)] = i;
    }
    return inv;
}

IndexOrigin permutation_origin(std::uint64_t seed, gidx m, gidx n) {
    return {inverse_permutation(random_permutation(seed, PermutedAxis::rows, m)),
            inverse_permutation(random_permutation(seed, PermutedAxis::cols, n))};
}

} // namespace prism
