// The cost model of prism-bench --model (drivers/bench_model.cpp) against numbers worked out by hand from
// docs/SCALING.md's formula, and against bench/scaling_model.py run on the same inputs.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "bench_model.hpp"
#include "prism/error.hpp"

using prism::drivers::ModelConstants;
using prism::drivers::ModelProblem;
using prism::drivers::parse_rank_counts;
using prism::drivers::predict_iteration;

namespace {

ModelConstants cluster() {
    ModelConstants c;
    c.alpha = 5e-6;
    c.beta = 1e-9;
    c.gamma = 14.6e-12;
    c.gamma_sparse = 1.9e-10;
    c.update_factor = 10;
    return c;
}

} // namespace

TEST(BenchModel, DenseByHand) {
    // 8000 x 4000, k = 50 on 4 ranks, grid 2x2 (m/pr + n/pc: 4000 + 2000 beats 8000 + 1000 and 2000 + 4000).
    const auto r = predict_iteration(cluster(), {8000, 4000, 50, 0}, 4);
    EXPECT_EQ(r.grid.rows, 2);
    EXPECT_EQ(r.grid.cols, 2);
    // products 4 m n k / P = 1.6e9; Grams + update (m + n) k^2 (1 + c) / P = 3000 * 2500 * 11 = 8.25e7.
    EXPECT_DOUBLE_EQ(r.flops, 1.6e9 + 8.25e7);
    EXPECT_NEAR(r.compute, 1.6825e9 * 14.6e-12, 1e-15);
    // words: 2 n_loc k (pr-1)/pr = 1e5, 2 m_loc k (pc-1)/pc = 2e5, Gram all-reduces 4 (k^2 + 3) 3/4 = 7509.
    EXPECT_DOUBLE_EQ(r.words, 307509);
    EXPECT_NEAR(r.bandwidth, 307509e-9, 1e-15);
    // messages: 2 log2 pr + 2 log2 pc + 5 log2 P = 2 + 2 + 10.
    EXPECT_DOUBLE_EQ(r.messages, 14);
    EXPECT_NEAR(r.latency, 14 * 5e-6, 1e-15);
    EXPECT_NEAR(r.seconds, 0.0245645 + 0.000307509 + 0.00007, 1e-12);
}

TEST(BenchModel, SparseByHand) {
    // 200000 x 20000, 4e7 stored, k = 30 on 64 ranks: grid 32x2 (6250 + 10000 words-rows, the least).
    const auto r = predict_iteration(cluster(), {200000, 20000, 30, 4e7}, 64);
    EXPECT_EQ(r.grid.rows, 32);
    EXPECT_EQ(r.grid.cols, 2);
    // products 4 nnz k / P = 7.5e7 at gamma_sparse; Grams + update 220000/64 * 900 * 11 at gamma.
    EXPECT_NEAR(r.compute, 7.5e7 * 1.9e-10 + 34031250 * 14.6e-12, 1e-14);
    EXPECT_DOUBLE_EQ(r.words, 581250 + 187500 + 4 * 903 * 63.0 / 64);
    EXPECT_DOUBLE_EQ(r.messages, 2 * 5 + 2 * 1 + 5 * 6);
}

TEST(BenchModel, OneRankIsComputeOnly) {
    const auto r = predict_iteration(cluster(), {8000, 4000, 50, 0}, 1);
    EXPECT_EQ(r.grid.rows * r.grid.cols, 1);
    EXPECT_EQ(r.words, 0);
    EXPECT_EQ(r.messages, 0);
    EXPECT_DOUBLE_EQ(r.seconds, r.compute);
}

TEST(BenchModel, GivenGridIsUsed) {
    const auto r = predict_iteration(cluster(), {8000, 4000, 50, 0}, 4, {4, 1});
    EXPECT_EQ(r.grid.rows, 4);
    EXPECT_DOUBLE_EQ(r.words, 2 * 4000 * 50 * 0.75 + 0 + 7509); // all of H^T gathered over 4 ranks, W not
}

TEST(BenchModel, ParsesRankCounts) {
    EXPECT_EQ(parse_rank_counts("1,2,4,64,4096", "--model"), (std::vector<int>{1, 2, 4, 64, 4096}));
    EXPECT_EQ(parse_rank_counts("8", "--model"), (std::vector<int>{8}));
    EXPECT_EQ(parse_rank_counts("1048576", "--model"), (std::vector<int>{1 << 20}));
    for (const char *bad : {"", "0", "-2", "2,,4", "x", "1.5", "99999999999", "1048577"}) {
        EXPECT_THROW(parse_rank_counts(bad, "--model"), prism::Error) << bad;
    }
}

// bench/scaling_model.py --predict prints "P pr pc seconds compute words latency" for the same inputs.
TEST(BenchModel, EqualsThePythonModel) {
    const ModelConstants c{1.13e-6, 7.3e-9, 16.7e-12, 2.1e-10, 13};
    struct Case {
        ModelProblem problem;
        int p;
    };
    const Case cases[] = {
        {{8000, 4000, 50, 0}, 1}, {{8000, 4000, 50, 0}, 2},         {{8000, 4000, 50, 0}, 4},
        {{8000, 4000, 50, 0}, 6}, {{8000, 4000, 50, 0}, 4096},      {{1000, 1000, 10, 0}, 2},
        {{300, 200, 5, 3000}, 4}, {{200000, 20000, 30, 4e7}, 1024}, {{5, 100000, 3, 0}, 12}};
    std::ostringstream cmd;
    cmd.precision(17);
    cmd << "/usr/bin/python3 " << PRISM_SOURCE_DIR << "/bench/scaling_model.py --alpha " << c.alpha
        << " --beta " << c.beta << " --gamma " << c.gamma << " --gamma-sparse " << c.gamma_sparse
        << " --nnls-factor " << c.update_factor;
    for (const Case &e : cases) {
        cmd << " --predict " << e.problem.m << "x" << e.problem.n << "x" << e.problem.k << ":"
            << e.problem.nnz << ":" << e.p;
    }
    std::unique_ptr<FILE, int (*)(FILE *)> pipe(popen(cmd.str().c_str(), "r"), pclose);
    ASSERT_TRUE(pipe) << cmd.str();
    std::string text;
    std::array<char, 512> buffer{};
    while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe.get())) {
        text += buffer.data();
    }
    std::istringstream lines(text);
    for (const Case &e : cases) {
        int p = 0, pr = 0, pc = 0;
        double seconds = 0, compute = 0, bandwidth = 0, latency = 0;
        ASSERT_TRUE(lines >> p >> pr >> pc >> seconds >> compute >> bandwidth >> latency) << cmd.str() << "\n"
                                                                                          << text;
        const auto r = predict_iteration(c, e.problem, e.p);
        SCOPED_TRACE(std::to_string(e.p) + " ranks, " + std::to_string(e.problem.m) + " x " +
                     std::to_string(e.problem.n));
        EXPECT_EQ(p, e.p);
        EXPECT_EQ(pr, r.grid.rows);
        EXPECT_EQ(pc, r.grid.cols);
        EXPECT_NEAR(seconds, r.seconds, 1e-12 * r.seconds);
        EXPECT_NEAR(compute, r.compute, 1e-12 * r.compute);
        EXPECT_NEAR(bandwidth, r.bandwidth, 1e-12 * r.bandwidth + 1e-300);
        EXPECT_NEAR(latency, r.latency, 1e-12 * r.latency + 1e-300);
    }
}
