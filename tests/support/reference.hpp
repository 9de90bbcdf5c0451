#pragma once
// A serial NMF written plainly (full matrices, explicit loops for the products) to check the distributed
// one step by step. It shares only the local NNLS kernels, which have their own brute-force tests.

#include <cstdint>
#include <functional>
#include <vector>

#include "prism/algorithms/options.hpp"
#include "prism/factor.hpp"

namespace prism::test {

struct SerialNmf {
    gidx m = 0, n = 0, k = 0;
    std::vector<double> x;  // m x n row-major
    std::vector<double> w;  // m x k row-major
    std::vector<double> ht; // n x k row-major
    std::vector<double> history; // relative error per iteration, computed directly
};

/// x(i, j) = f(i, j); W, H^T initialised exactly as prism::initialize_random does.
SerialNmf make_serial(gidx m, gidx n, gidx k, const std::function<double(gidx, gidx)> &f, std::uint64_t seed);

/// Runs `iterations` outer iterations of the same algorithm as prism::nmf (same update order, HALS
/// normalisation, penalties). Records the relative error after each.
void run_serial(SerialNmf &s, const NmfOptions &opts, int iterations);

/// Every rank gets the whole factor (global_rows x k row-major) from the distributed slabs.
/// Collective on f.grid().comm().
template <typename T> std::vector<double> gather_global(const Factor<T> &f);

} // namespace prism::test
