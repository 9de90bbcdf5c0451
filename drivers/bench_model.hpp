#pragma once
/// @file
/// The alpha-beta-gamma cost model of one NMF iteration on the 2D layout (docs/SCALING.md), the same
/// formulas as bench/scaling_model.py: words and messages per rank from the collectives of the
/// iteration, flops per rank from the local products, Grams and update, on the grid choose_grid_shape
/// picks. Local, no MPI: prism-bench --model evaluates it for rank counts it cannot run.

#include <string>
#include <vector>

#include "prism/grid.hpp"
#include "prism/types.hpp"

namespace prism::drivers {

/// Seconds per message, per 8-byte word and per flop, and the local update's cost factor.
struct ModelConstants {
    double alpha = 0;        ///< per message (latency of one step of a tree collective)
    double beta = 0;         ///< per word a rank receives or reduces
    double gamma = 0;        ///< per flop of the dense local products, Grams and update
    double gamma_sparse = 0; ///< per flop of the CSR x dense products (memory bound, not a gemm rate)
    /// The update's time (HALS sweep, MU update or BPP solve of both factors) in units of
    /// gamma (m + n) k^2 / P: measured, since those run far below the gemm rate (HALS ~10, MU ~13, BPP ~55).
    double update_factor = 10;
};

/// The problem: X is m x n, rank k; nnz > 0 makes it sparse with that many stored entries.
struct ModelProblem {
    gidx m = 0, n = 0, k = 0;
    double nnz = 0;
};

/// One iteration on P ranks: the time and its split, and the counts behind them (per rank).
struct IterationPrediction {
    GridShape grid;
    double seconds = 0;   ///< compute + bandwidth + latency
    double compute = 0;   ///< gamma * flops
    double bandwidth = 0; ///< beta * words
    double latency = 0;   ///< alpha * messages
    double flops = 0;     ///< products, plus Grams and update in dense-gamma units
    double words = 0;     ///< received or reduced per rank
    double messages = 0;  ///< steps of the collectives (log2 of their group sizes)
};

/// The model for `p` ranks on `grid`, or on choose_grid_shape(p, m, n) when grid is {0, 0}.
IterationPrediction
predict_iteration(const ModelConstants &c, const ModelProblem &problem, int p, GridShape grid = {});

/// The largest rank count the model evaluates (choose_grid_shape tries every divisor: linear in P).
constexpr int max_model_ranks = 1 << 20;

/// "1,2,4" -> {1, 2, 4}: rank counts in [1, max_model_ranks]; throws prism::Error naming `option` otherwise.
std::vector<int> parse_rank_counts(const std::string &text, const std::string &option);

} // namespace prism::drivers
