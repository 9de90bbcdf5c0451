#pragma once
/// Moving factor rows to new global indices: a --permute run computes W and H^T for a relabelled X, and
/// its outputs must be in the file's order. One all-to-all of the rows (index + k values each); no rank
/// ever holds more than its own slab plus what it receives.

#include <vector>

#include "prism/factor.hpp"

namespace prism {

/// A factor of the same layout as `f` whose row target[g] is f's row g, for every global row g (`target`
/// is a permutation of 0..global_rows()-1, the same on every rank; for a permuted run pass the origin,
/// IndexOrigin::rows / cols, to put the rows back in the file's order). Collective on f.grid().comm().
template <typename T> Factor<T> relabel_rows(const Factor<T> &f, const std::vector<gidx> &target);

} // namespace prism
