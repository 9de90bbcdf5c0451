#include "bench_model.hpp"

#include <cmath>
#include <sstream>

#include "prism/error.hpp"

namespace prism::drivers {

namespace {

/// Steps of a tree / recursive-doubling collective over `p` ranks (none for a group of one).
double steps(int p) {
    return p > 1 ? std::log2(static_cast<double>(p)) : 0.0;
}

} // namespace

IterationPrediction
predict_iteration(const ModelConstants &c, const ModelProblem &problem, int p, GridShape grid) {
    PRISM_CHECK(p >= 1, "the model needs at least one rank");
    if (grid.rows == 0) {
        grid = choose_grid_shape(p, problem.m, problem.n);
    }
    PRISM_CHECK(grid.rows * grid.cols == p, "the model's grid does not hold P ranks");
    const double m = static_cast<double>(problem.m), n = static_cast<double>(problem.n),
                 k = static_cast<double>(problem.k), P = p, pr = grid.rows, pc = grid.cols;
    const double m_loc = m / pr, n_loc = n / pc;
    IterationPrediction r;
    r.grid = grid;
    // X H^T and X^T W: 2 m n k / P flops each (sparse: 2 nnz k / P), at their own rate.
    const bool sparse = problem.nnz > 0;
    const double product_flops = sparse ? 2 * (2.0 * problem.nnz * k / P) : 2 * (2.0 * m * n * k / P);
    // Grams (syrk of the local slabs) and the update of both factors, (1 + c) (m + n) k^2 / P.
    const double local_flops = (m + n) / P * k * k * (1 + c.update_factor);
    r.flops = product_flops + local_flops;
    r.compute = product_flops * (sparse ? c.gamma_sparse : c.gamma) + local_flops * c.gamma;
    // All-gathers of H^T over the grid column (pr ranks) and of W over the grid row (pc), reduce-scatters
    // of X H^T over the grid row and of X^T W over the grid column; two all-reduces of the k x k Gram
    // (+ 3 objective scalars) in the reduce-scatter + all-gather form.
    r.words =
        n_loc * k * (pr - 1) / pr * 2 + m_loc * k * (pc - 1) / pc * 2 + 2 * 2 * (k * k + 3) * (P - 1) / P;
    r.bandwidth = r.words * c.beta;
    // The four factor collectives, two Gram all-reduces (2 log2 P each), one small all-reduce (the stop
    // decision).
    r.messages = 2 * steps(grid.rows) + 2 * steps(grid.cols) + 2 * 2 * steps(p) + steps(p);
    r.latency = r.messages * c.alpha;
    r.seconds = r.compute + r.bandwidth + r.latency;
    return r;
}

std::vector<int> parse_rank_counts(const std::string &text, const std::string &option) {
    const std::string bad = "invalid " + option + " '" + text + "': expected rank counts from 1 to " +
                            std::to_string(max_model_ranks) + ", e.g. 1,2,4,64,4096";
    std::vector<int> counts;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty() || item.size() > 9 || item.find_first_not_of("0123456789") != std::string::npos) {
            throw Error(bad);
        }
        const int p = std::stoi(item);
        if (p < 1 || p > max_model_ranks) {
            throw Error(bad);
        }
        counts.push_back(p);
    }
    if (counts.empty()) {
        throw Error(bad);
    }
    return counts;
}

} // namespace prism::drivers
