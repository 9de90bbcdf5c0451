// Checkpoint and restart: the file round trip on every grid and across grids, refusal of missing, truncated,
// garbage and damaged files, the tmp + rename discipline, and the promise that matters to users: a run
// stopped at a checkpoint and resumed on the same grid ends BITWISE where the uninterrupted run ends
// (HALS, ANLS-BPP, MU, joint with missing samples), and on another grid within 1e-10. Also the stop
// request seen by one rank only, the job deadline and the checkpoint cadence.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>

#include "prism/algorithms/joint.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/io/checkpoint.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

using namespace prism;
using prism::test::world;

namespace {

constexpr gidx m = 37, n = 23, k = 4;

// A planted rank-3 matrix plus noise: NMF makes steady progress on it for many iterations.
double x_value(gidx i, gidx j) {
    double s = 0.05 * test::uniform_at(11, i, j);
    for (gidx l = 0; l < 3; ++l) {
        s += test::uniform_at(12, i, l) * test::uniform_at(13, l, j);
    }
    return s;
}

std::string expect_collective_error(const std::function<void()> &f) {
    try {
        f();
    } catch (const Error &e) {
        EXPECT_TRUE(e.collective());
        return e.what();
    }
    ADD_FAILURE() << "no error thrown";
    return "";
}

bool file_exists(const std::string &path) {
    return std::ifstream(path).good();
}

io::CheckpointRecord sample_record() {
    io::CheckpointRecord r;
    r.identity = {{"rank k", "4"}, {"input checksum", "00ff"}};
    r.numbers["iterations"] = {7};
    r.numbers["history"] = {0.5, 0.125, -0.0, 1e-300};
    r.numbers["empty"] = {};
    return r;
}

// Entry (global index, column) of W and H^T in round-trip tests: distinct, exact.
double w_value(gidx i, gidx l) {
    return 1000.0 * static_cast<double>(i) + static_cast<double>(l) + 0.25;
}
double ht_value(gidx j, gidx l) {
    return 500.0 * static_cast<double>(j) + 10.0 * static_cast<double>(l) + 0.5;
}
void fill(Factor<double> &f, double (*value)(gidx, gidx)) {
    for (lidx r = 0; r < f.rows(); ++r) {
        for (gidx l = 0; l < f.k(); ++l) {
            f.at(r, l) = value(f.global_index(r), l);
        }
    }
}

struct Result {
    NmfInfo info;
    std::vector<double> w, ht;
};

// NMF on `grid` for max_iter iterations from the standard start, or, when `resume_at` > 0, stopped after
// `resume_at` iterations at a checkpoint written to `path` and continued from that file on `resume_grid`
// with another block size, in fresh factors.
Result run_nmf(const Grid &grid,
               Algorithm algorithm,
               int max_iter,
               double tol,
               int resume_at = 0,
               const Grid *resume_grid = nullptr,
               const std::string &path = "") {
    DistMatrix<double> x(grid, m, n, 4, 3);
    test::fill(x, x_value);
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_random(x, w, ht, 5);
    NmfOptions opts;
    opts.algorithm = algorithm;
    opts.tol = tol;
    opts.max_iter = resume_at > 0 ? resume_at : max_iter;
    ResumeState saved;
    int checkpoints = 0;
    if (resume_at > 0) {
        opts.checkpoint_at_end = true;
        opts.on_checkpoint = [&](const ResumeState &state) {
            io::write_checkpoint<double>(grid.comm(), path, {&w}, ht, {{{"k", "4"}}, {}});
            saved = state;
            ++checkpoints;
        };
    }
    Result r;
    r.info = nmf(x, w, ht, opts);
    if (resume_at > 0) {
        EXPECT_EQ(checkpoints, 1);
        EXPECT_EQ(saved.iterations, r.info.iterations);
        const Grid &g2 = resume_grid ? *resume_grid : grid;
        DistMatrix<double> x2(g2, m, n, 5, 2); // another block size too
        test::fill(x2, x_value);
        Factor<double> w2(x2, FactorSide::w, k), ht2(x2, FactorSide::ht, k);
        io::read_checkpoint_factors<double>(path, {&w2}, ht2);
        NmfOptions more = opts;
        more.on_checkpoint = nullptr;
        more.max_iter = max_iter;
        more.resume = saved;
        r.info = nmf(x2, w2, ht2, more);
        r.w = test::gather_global(w2);
        r.ht = test::gather_global(ht2);
        return r;
    }
    r.w = test::gather_global(w);
    r.ht = test::gather_global(ht);
    return r;
}

// Same as run_nmf(resume on the same grid) but with the data's block size unchanged, so bitwise applies.
Result run_nmf_resumed_same_layout(
    const Grid &grid, Algorithm algorithm, int max_iter, double tol, int resume_at, const std::string &path) {
    DistMatrix<double> x(grid, m, n, 4, 3);
    test::fill(x, x_value);
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_random(x, w, ht, 5);
    NmfOptions opts;
    opts.algorithm = algorithm;
    opts.tol = tol;
    opts.max_iter = resume_at;
    ResumeState saved;
    opts.checkpoint_at_end = true;
    opts.on_checkpoint = [&](const ResumeState &state) {
        io::write_checkpoint<double>(grid.comm(), path, {&w}, ht, {{{"k", "4"}}, {}});
        saved = state;
    };
    nmf(x, w, ht, opts);
    Factor<double> w2(x, FactorSide::w, k), ht2(x, FactorSide::ht, k); // fresh: only the file carries them
    io::read_checkpoint_factors<double>(path, {&w2}, ht2);
    NmfOptions more = opts;
    more.on_checkpoint = nullptr;
    more.max_iter = max_iter;
    more.resume = saved;
    Result r;
    r.info = nmf(x, w2, ht2, more);
    r.w = test::gather_global(w2);
    r.ht = test::gather_global(ht2);
    return r;
}

double max_relative_difference(const std::vector<double> &a, const std::vector<double> &b) {
    double worst = a.size() == b.size() ? 0.0 : INFINITY, scale = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        worst = std::max(worst, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(a[i]));
    }
    return worst / std::max(scale, 1e-300);
}

} // namespace

TEST(Checkpoint, RoundTripOnEveryGridAndAcrossGridsAndBlockSizes) {
    const std::string path = test::temp_path("ckpt_roundtrip");
    for (GridShape write_shape : test::all_grid_shapes(world().size())) {
        Grid wg(world(), write_shape);
        DistMatrix<double> xa(wg, m, n, 4, 3);
        Factor<double> w(xa, FactorSide::w, k), ht(xa, FactorSide::ht, k);
        fill(w, w_value);
        fill(ht, ht_value);
        io::write_checkpoint<double>(wg.comm(), path, {&w}, ht, sample_record());
        for (GridShape read_shape : test::all_grid_shapes(world().size())) {
            Grid rg(world(), read_shape);
            int w_count = 0;
            const io::CheckpointRecord r = io::read_checkpoint_record(rg.comm(), path, w_count);
            EXPECT_EQ(w_count, 1);
            EXPECT_EQ(r.identity, sample_record().identity);
            for (const auto &[name, values] : sample_record().numbers) {
                ASSERT_TRUE(r.numbers.count(name)) << name;
                EXPECT_EQ(r.numbers.at(name), values) << name; // exact doubles
            }
            DistMatrix<double> xb(rg, m, n, 5, 2);
            Factor<double> w2(xb, FactorSide::w, k), ht2(xb, FactorSide::ht, k);
            io::read_checkpoint_factors<double>(path, {&w2}, ht2);
            double worst = 0;
            for (lidx i = 0; i < w2.rows(); ++i) {
                for (gidx l = 0; l < k; ++l) {
                    worst = std::max(worst, std::abs(w2.at(i, l) - w_value(w2.global_index(i), l)));
                }
            }
            for (lidx i = 0; i < ht2.rows(); ++i) {
                for (gidx l = 0; l < k; ++l) {
                    worst = std::max(worst, std::abs(ht2.at(i, l) - ht_value(ht2.global_index(i), l)));
                }
            }
            EXPECT_EQ(mpi::allreduce_value(world(), worst, mpi::Op::max), 0.0)
                << wg.shape_string() << " -> " << rg.shape_string();
        }
    }
    test::remove_file(world(), path);
}

TEST(Checkpoint, DataChecksumIsGridIndependentAndSeesEveryChange) {
    std::uint64_t reference = 0;
    bool first = true;
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        DistMatrix<double> x(grid, m, n, 3, 5);
        test::fill(x, x_value);
        const std::uint64_t c = io::data_checksum<double>(x);
        if (first) {
            reference = c;
            first = false;
        }
        EXPECT_EQ(c, reference) << grid.shape_string();
        // One entry changed by one ulp, two entries swapped, a zero turned into -0: all change it.
        test::fill(x, [](gidx i, gidx j) {
            return i == 5 && j == 7 ? std::nextafter(x_value(i, j), 9.0) : x_value(i, j);
        });
        EXPECT_NE(io::data_checksum<double>(x), reference);
        test::fill(x, [](gidx i, gidx j) {
            return i == 1 && j == 2 ? x_value(2, 1) : i == 2 && j == 1 ? x_value(1, 2) : x_value(i, j);
        });
        EXPECT_NE(io::data_checksum<double>(x), reference);
        test::fill(x, [](gidx i, gidx j) { return i == 0 && j == 0 ? 0.0 : x_value(i, j); });
        const std::uint64_t zero = io::data_checksum<double>(x);
        test::fill(x, [](gidx i, gidx j) { return i == 0 && j == 0 ? -0.0 : x_value(i, j); });
        EXPECT_NE(io::data_checksum<double>(x), zero);
    }
}

TEST(Checkpoint, DataChecksumIsTheSameForDenseAndSparseStorage) {
    // A matrix with zeros, stored dense, sparse, and sparse with explicit zeros: one fingerprint.
    const auto f = [](gidx i, gidx j) { return (i * 7 + j) % 3 == 0 ? 0.0 : x_value(i, j); };
    std::uint64_t reference = 0;
    bool first = true;
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        DistMatrix<double> dense(grid, m, n, 3, 5);
        test::fill(dense, f);
        const SparseDistMatrix<double> sparse = test::sparse_matrix<double>(grid, m, n, 4, 2, f);
        const SparseDistMatrix<double> explicit_zeros =
            test::sparse_matrix<double>(grid, m, n, 4, 2, f, [](gidx i, gidx) { return i % 2 == 0; });
        const std::uint64_t c = io::data_checksum<double>(dense);
        if (first) {
            reference = c;
            first = false;
        }
        EXPECT_EQ(c, reference) << grid.shape_string();
        EXPECT_EQ(io::data_checksum<double>(sparse), reference) << grid.shape_string();
        EXPECT_EQ(io::data_checksum<double>(explicit_zeros), reference) << grid.shape_string();
        const SparseDistMatrix<double> changed = test::sparse_matrix<double>(
            grid, m, n, 4, 2, [&f](gidx i, gidx j) { return i == 3 && j == 4 ? f(i, j) + 1e-9 : f(i, j); });
        EXPECT_NE(io::data_checksum<double>(changed), reference) << grid.shape_string();
    }
}

TEST(Checkpoint, MissingTruncatedGarbageAndDamagedFilesAreRefusedOnEveryRank) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const std::string path = test::temp_path("ckpt_bad");
    int w_count = 0;
    EXPECT_NE(expect_collective_error([&] {
                  io::read_checkpoint_record(world(), path, w_count);
              }).find("does not exist"),
              std::string::npos);

    DistMatrix<double> x(grid, m, n, 4, 3);
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    fill(w, w_value);
    fill(ht, ht_value);
    io::write_checkpoint<double>(grid.comm(), path, {&w}, ht, sample_record());
    std::string bytes;
    if (world().rank() == 0) {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto rewrite = [&](const std::string &content) {
        if (world().rank() == 0) {
            std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
        }
        MPI_Barrier(world().get());
    };

    rewrite(bytes.substr(0, bytes.size() / 2)); // a copy cut short
    EXPECT_NE(expect_collective_error([&] { io::read_checkpoint_record(world(), path, w_count); }).find(path),
              std::string::npos);
    rewrite(std::string(4096, 'x')); // not HDF5
    EXPECT_NE(expect_collective_error([&] {
                  io::read_checkpoint_record(world(), path, w_count);
              }).find("not a readable HDF5 file"),
              std::string::npos);
    rewrite(""); // empty
    expect_collective_error([&] { io::read_checkpoint_record(world(), path, w_count); });

    // A flipped byte inside the factor data: the file opens, the checksum refuses it. Find W's first value
    // (w_value(0, 0) = 0.25) in the file image and change it.
    std::string damaged = bytes;
    int found = 0;
    if (world().rank() == 0) {
        double v = 0.25;
        const std::string needle(reinterpret_cast<const char *>(&v), sizeof v);
        const auto at = damaged.find(needle);
        if (at != std::string::npos) {
            damaged[at + 7] = static_cast<char>(damaged[at + 7] ^ 0x01);
            found = 1;
        }
    }
    mpi::bcast(world(), &found, 1, 0);
    ASSERT_EQ(found, 1);
    rewrite(damaged);
    Factor<double> w2(x, FactorSide::w, k), ht2(x, FactorSide::ht, k);
    EXPECT_NE(expect_collective_error([&] {
                  io::read_checkpoint_factors<double>(path, {&w2}, ht2);
              }).find("does not match its checksum"),
              std::string::npos);
    test::remove_file(world(), path);
}

TEST(Checkpoint, ANewCheckpointReplacesTheOldOneAtomicallyAndClearsStaleTemporaries) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const std::string path = test::temp_path("ckpt_replace");
    DistMatrix<double> x(grid, m, n, 4, 3);
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    fill(w, w_value);
    fill(ht, ht_value);
    io::CheckpointRecord first = sample_record();
    io::write_checkpoint<double>(grid.comm(), path, {&w}, ht, first);
    // A run killed while writing leaves PATH.tmp-PID behind; the checkpoint itself is the old one.
    const std::string stale = path + ".tmp-999999";
    if (world().rank() == 0) {
        std::ofstream(stale) << "half a checkpoint";
    }
    MPI_Barrier(world().get());
    int w_count = 0;
    EXPECT_EQ(io::read_checkpoint_record(world(), path, w_count).numbers.at("iterations"),
              std::vector<double>{7});
    io::CheckpointRecord second = sample_record();
    second.numbers["iterations"] = {8};
    io::write_checkpoint<double>(grid.comm(), path, {&w}, ht, second);
    EXPECT_EQ(io::read_checkpoint_record(world(), path, w_count).numbers.at("iterations"),
              std::vector<double>{8});
    MPI_Barrier(world().get());
    EXPECT_FALSE(file_exists(stale));
    // A write that cannot even start (no such folder) is one error on every rank.
    expect_collective_error(
        [&] { io::write_checkpoint<double>(grid.comm(), "no_such_dir/ckpt.h5", {&w}, ht, second); });
    test::remove_file(world(), path);
}

TEST(Checkpoint, IdentityDifferenceNamesTheFirstDifferingEntry) {
    const std::vector<std::pair<std::string, std::string>> a = {{"rank k", "4"}, {"seed", "1"}};
    EXPECT_EQ(io::identity_difference(a, a), "");
    EXPECT_EQ(io::identity_difference(a, {{"rank k", "5"}, {"seed", "1"}}),
              "rank k is '4' in the checkpoint, '5' now");
    EXPECT_NE(io::identity_difference(a, {{"rank k", "4"}}).find("seed"), std::string::npos);
    EXPECT_NE(io::identity_difference(a, {{"rank k", "4"}, {"seed", "1"}, {"x", "y"}}).find("x is missing"),
              std::string::npos);
}

TEST(Checkpoint, ResumedNmfIsBitwiseTheUninterruptedRunOnTheSameGrid) {
    const std::string path = test::temp_path("ckpt_resume");
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (Algorithm algorithm : {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu}) {
            const Result full = run_nmf(grid, algorithm, 14, 0);
            const Result resumed = run_nmf_resumed_same_layout(grid, algorithm, 14, 0, 6, path);
            const std::string what = grid.shape_string() + " " + to_string(algorithm);
            EXPECT_EQ(resumed.w, full.w) << what;
            EXPECT_EQ(resumed.ht, full.ht) << what;
            EXPECT_EQ(resumed.info.iterations, 14) << what;
            EXPECT_EQ(resumed.info.history_relative_error, full.info.history_relative_error) << what;
            EXPECT_EQ(resumed.info.objective, full.info.objective) << what;
            EXPECT_EQ(resumed.info.stop_reason, "max-iter") << what;
        }
        // The tolerance test of the first resumed iteration compares with the stored objective: the run
        // stops at the same iteration as the uninterrupted one.
        const Result full = run_nmf(grid, Algorithm::hals, 500, 1e-4);
        ASSERT_EQ(full.info.stop_reason, "tolerance");
        ASSERT_GT(full.info.iterations, 3);
        const int at = full.info.iterations - 1;
        const Result resumed = run_nmf_resumed_same_layout(grid, Algorithm::hals, 500, 1e-4, at, path);
        EXPECT_EQ(resumed.info.stop_reason, "tolerance") << grid.shape_string();
        EXPECT_EQ(resumed.info.iterations, full.info.iterations) << grid.shape_string();
        EXPECT_EQ(resumed.w, full.w) << grid.shape_string();
    }
    test::remove_file(world(), path);
}

TEST(Checkpoint, ResumedNmfOnAnotherGridMatchesTo1e10) {
    const std::string path = test::temp_path("ckpt_regrid");
    const std::vector<GridShape> shapes = test::all_grid_shapes(world().size());
    for (std::size_t a = 0; a < shapes.size(); ++a) {
        const GridShape other = shapes[(a + 1) % shapes.size()];
        Grid grid(world(), shapes[a]), grid2(world(), other);
        for (Algorithm algorithm : {Algorithm::hals, Algorithm::anls_bpp}) {
            const Result full = run_nmf(grid2, algorithm, 14, 0);
            const Result resumed = run_nmf(grid, algorithm, 14, 0, 6, &grid2, path);
            const std::string what =
                grid.shape_string() + " -> " + grid2.shape_string() + " " + to_string(algorithm);
            EXPECT_LT(max_relative_difference(full.w, resumed.w), 1e-10) << what;
            EXPECT_LT(max_relative_difference(full.ht, resumed.ht), 1e-10) << what;
            EXPECT_LT(max_relative_difference(full.info.history_relative_error,
                                              resumed.info.history_relative_error),
                      1e-10)
                << what;
            // ... and the test can tell factors apart: the run of 6 iterations differs from the run of 14.
            const Result shorter = run_nmf(grid2, algorithm, 6, 0);
            EXPECT_GT(max_relative_difference(full.w, shorter.w), 1e-6) << what;
        }
    }
    test::remove_file(world(), path);
}

namespace {

struct JointResult {
    JointInfo info;
    std::vector<std::vector<double>> w;
    std::vector<double> ht;
};

// Two modalities, modality 1 missing every third sample; uninterrupted, or stopped at `resume_at` through a
// checkpoint file and continued in fresh factors.
JointResult
run_joint(const Grid &grid, Algorithm algorithm, int max_iter, int resume_at, const std::string &path) {
    DistMatrix<double> x0(grid, m, n, 4, 3), x1(grid, 19, n, 3, 3);
    test::fill(x0, x_value);
    test::fill(x1, [](gidx i, gidx j) { return j % 3 == 0 ? 0.0 : x_value(i + 40, j) * 100.0; });
    std::vector<char> observed(static_cast<std::size_t>(n));
    for (gidx j = 0; j < n; ++j) {
        observed[static_cast<std::size_t>(j)] = j % 3 == 0 ? 0 : 1;
    }
    std::vector<JointModality<double>> mods = {{&x0, {}, 1.0, {}, "a"}, {&x1, observed, 1e-4, {}, "b"}};
    std::vector<Factor<double>> w = make_joint_w(mods, k);
    Factor<double> ht(x0, FactorSide::ht, k);
    initialize_random_joint(mods, w, ht, 9);
    JointOptions opts;
    opts.algorithm = algorithm;
    opts.tol = 0;
    opts.max_iter = resume_at > 0 ? resume_at : max_iter;
    ResumeState saved;
    if (resume_at > 0) {
        opts.checkpoint_at_end = true;
        opts.on_checkpoint = [&](const ResumeState &state) {
            io::write_checkpoint<double>(grid.comm(), path, {&w[0], &w[1]}, ht, {{{"k", "4"}}, {}});
            saved = state;
        };
    }
    JointResult r;
    r.info = joint_nmf(mods, w, ht, opts);
    if (resume_at > 0) {
        EXPECT_EQ(saved.iterations, resume_at);
        EXPECT_EQ(saved.pending_modality_fit.size(), 2U);
        std::vector<Factor<double>> w2 = make_joint_w(mods, k);
        Factor<double> ht2(x0, FactorSide::ht, k);
        io::read_checkpoint_factors<double>(path, {&w2[0], &w2[1]}, ht2);
        JointOptions more = opts;
        more.on_checkpoint = nullptr;
        more.max_iter = max_iter;
        more.resume = saved;
        r.info = joint_nmf(mods, w2, ht2, more);
        w.swap(w2);
        r.ht = test::gather_global(ht2);
    } else {
        r.ht = test::gather_global(ht);
    }
    for (auto &f : w) {
        r.w.push_back(test::gather_global(f));
    }
    return r;
}

} // namespace

TEST(Checkpoint, ResumedJointIsBitwiseTheUninterruptedRunWithItsLaggedModalityErrors) {
    const std::string path = test::temp_path("ckpt_joint");
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (Algorithm algorithm : {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu}) {
            const JointResult full = run_joint(grid, algorithm, 12, 0, path);
            const JointResult resumed = run_joint(grid, algorithm, 12, 5, path);
            const std::string what = grid.shape_string() + " " + to_string(algorithm);
            EXPECT_EQ(resumed.w, full.w) << what;
            EXPECT_EQ(resumed.ht, full.ht) << what;
            EXPECT_EQ(resumed.info.history_relative_error, full.info.history_relative_error) << what;
            EXPECT_EQ(resumed.info.history_modality_relative_error, full.info.history_modality_relative_error)
                << what;
            EXPECT_EQ(resumed.info.modality_relative_error, full.info.modality_relative_error) << what;
            ASSERT_EQ(resumed.info.history_modality_relative_error.size(), 2U);
            EXPECT_EQ(resumed.info.history_modality_relative_error[1].size(), 12U) << what;
        }
    }
    test::remove_file(world(), path);
}

TEST(Checkpoint, AStopRequestOnOneRankStopsEveryRankAtACheckpoint) {
    Grid grid(world(), choose_grid_shape(world().size()));
    DistMatrix<double> x(grid, m, n, 4, 3);
    test::fill(x, x_value);
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_random(x, w, ht, 5);
    NmfOptions opts;
    opts.tol = 0;
    opts.max_iter = 50;
    int polls = 0;
    const int last = world().size() - 1;
    // Only the last rank "receives the signal", during iteration 4.
    opts.stop_requested = [&] { return world().rank() == last && ++polls >= 4; };
    std::vector<int> checkpoints;
    opts.on_checkpoint = [&](const ResumeState &s) { checkpoints.push_back(s.iterations); };
    const NmfInfo info = nmf(x, w, ht, opts);
    EXPECT_EQ(info.stop_reason, "interrupted");
    EXPECT_EQ(info.iterations, 4);
    EXPECT_EQ(checkpoints, std::vector<int>{4});
}

TEST(Checkpoint, TheJobDeadlineStopsAtACheckpointAndTheCadenceIsKept) {
    Grid grid(world(), choose_grid_shape(world().size()));
    DistMatrix<double> x(grid, m, n, 4, 3);
    test::fill(x, x_value);
    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
    initialize_random(x, w, ht, 5);
    NmfOptions opts;
    opts.tol = 0;
    opts.max_iter = 1000;
    opts.deadline_seconds = 1e-9; // already reached: stop after the first iteration
    std::vector<int> checkpoints;
    opts.on_checkpoint = [&](const ResumeState &s) { checkpoints.push_back(s.iterations); };
    NmfInfo info = nmf(x, w, ht, opts);
    EXPECT_EQ(info.stop_reason, "deadline");
    EXPECT_EQ(info.iterations, 1);
    EXPECT_EQ(checkpoints, std::vector<int>{1});

    checkpoints.clear();
    opts.deadline_seconds = 0;
    opts.max_iter = 10;
    opts.checkpoint_every = 3;
    info = nmf(x, w, ht, opts);
    EXPECT_EQ(info.stop_reason, "max-iter");
    EXPECT_EQ(checkpoints, (std::vector<int>{3, 6, 9}));
    checkpoints.clear();
    opts.checkpoint_at_end = true;
    nmf(x, w, ht, opts);
    EXPECT_EQ(checkpoints, (std::vector<int>{3, 6, 9, 10}));
    // The interval is rank 0's clock, shared: with a tiny interval every iteration checkpoints on every rank.
    checkpoints.clear();
    opts.checkpoint_every = 0;
    opts.checkpoint_at_end = false;
    opts.checkpoint_interval = 1e-9;
    nmf(x, w, ht, opts);
    EXPECT_EQ(checkpoints.size(), 10U);
}
