#pragma once
/// Seeded random permutations of row / column indices, for `--permute`: clustered non-zeros (cells sorted
/// by type, genes by chromosome) land on few ranks of a block-cyclic layout; a random relabelling of rows
/// and columns spreads them evenly. Readers place global row i at permuted row perm[i]; writers map
/// results back through the inverse. Pure functions of their arguments (no MPI, no state), so every rank
/// computes the same permutation without communication.

#include <cstdint>
#include <vector>

#include "prism/types.hpp"

namespace prism {

/// Which index a permutation relabels: rows and columns get independent permutations from one seed.
enum class PermutedAxis : std::uint64_t { rows = 0, cols = 1 };

/// perm of {0, ..., n-1}: perm[i] is the new index of original index i. Fisher-Yates driven by the
/// counter-based generator (counter_random.hpp) keyed by (seed, axis, step), so the result depends only on
/// (seed, axis, n). Throws prism::Error if n < 0. Local.
std::vector<gidx> random_permutation(std::uint64_t seed, PermutedAxis axis, gidx n);

/// inv with inv[perm[i]] = i (original index of new index j is inv[j]). Throws prism::Error if `perm` is
/// not a permutation of {0, ..., size-1}. Local.
std::vector<gidx> inverse_permutation(const std::vector<gidx> &perm);

/// Where the rows and columns of a permuted matrix came from: rows[i] is the original index of (permuted)
/// global row i, i.e. the inverse of the row permutation; empty = not permuted. Initialisers take it so
/// that a permuted run starts from the same (permuted) factors as the unpermuted one: every random value
/// is keyed by the *original* index, and results agree up to the order of floating-point reductions.
struct IndexOrigin {
    std::vector<gidx> rows, cols;
    gidx row(gidx i) const noexcept { return rows.empty() ? i : rows[static_cast<std::size_t>(i)]; }
    gidx col(gidx j) const noexcept { return cols.empty() ? j : cols[static_cast<std::size_t>(j)]; }
};

/// The IndexOrigin of an m x n matrix permuted with random_permutation(seed, rows / cols, m / n). Local.
IndexOrigin permutation_origin(std::uint64_t seed, gidx m, gidx n);

} // namespace prism
