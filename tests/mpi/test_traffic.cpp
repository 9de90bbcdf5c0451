// Counts what one NMF iteration communicates, through MPI's profiling interface: this executable defines
// the MPI collectives Prism calls, counts them while `counting` is on, and forwards to PMPI_*. The counts
// must equal the per-iteration formula documented in dist_products.hpp and README.md, and the number of
// collective calls per iteration must not depend on k (no per-column collectives).

#include <gtest/gtest.h>

#include <mpi.h>

#include "prism/algorithms/nmf.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"

using namespace prism;
using prism::test::world;

namespace {

struct Traffic {
    std::int64_t calls = 0;
    std::int64_t words = 0; ///< elements this rank receives (all-gather, reduce-scatter) or reduces (all-reduce)
};
bool counting = false;
Traffic traffic;

} // namespace

extern "C" {
int MPI_Allreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
    if (counting) {
        ++traffic.calls;
        traffic.words += count;
    }
    return PMPI_Allreduce(send, recv, count, type, op, comm);
}
int MPI_Bcast(void *data, int count, MPI_Datatype type, int root, MPI_Comm comm) {
    if (counting) {
        ++traffic.calls;
        traffic.words += count;
    }
    return PMPI_Bcast(data, count, type, root, comm);
}
int MPI_Allgatherv(const void *send,
                   int send_count,
                   MPI_Datatype send_type,
                   void *recv,
                   const int recv_counts[],
                   const int displs[],
                   MPI_Datatype recv_type,
                   MPI_Comm comm) {
    if (counting) {
        int p = 0;
        PMPI_Comm_size(comm, &p);
        ++traffic.calls;
        for (int i = 0; i < p; ++i) {
            traffic.words += recv_counts[i];
        }
    }
    return PMPI_Allgatherv(send, send_count, send_type, recv, recv_counts, displs, recv_type, comm);
}
int MPI_Reduce_scatter(const void *send,
                       void *recv,
                       const int recv_counts[],
                       MPI_Datatype type,
                       MPI_Op op,
                       MPI_Comm comm) {
    if (counting) {
        int p = 0;
        PMPI_Comm_size(comm, &p);
        ++traffic.calls;
        for (int i = 0; i < p; ++i) {
            traffic.words += recv_counts[i];
        }
    }
    return PMPI_Reduce_scatter(send, recv, recv_counts, type, op, comm);
}
}

namespace {

// Traffic of `iterations` iterations of NMF on an m x n matrix, with set-up excluded: the difference of a
// run of 2*iterations and one of `iterations`. `sparse`: X held as a SparseDistMatrix (30 % stored), which
// must move exactly the same words: only the local products differ.
Traffic per_iterations(const Grid &grid, Algorithm algorithm, gidx m, gidx n, gidx k, int iterations,
                       bool sparse = false) {
    Traffic runs[2];
    for (int r = 0; r < 2; ++r) {
        DistMatrix<double> dense(grid, m, n, 5, 3);
        test::fill(dense, [](gidx i, gidx j) { return 0.1 + test::uniform_at(5, i, j); });
        const SparseDistMatrix<double> sp = test::sparse_matrix<double>(
            grid, m, n, 5, 3, [](gidx i, gidx j) { return test::uniform_at(6, i, j) < 0.3 ? 1.0 : 0.0; });
        const MatrixRef<double> x = sparse ? MatrixRef<double>(sp) : MatrixRef<double>(dense);
        Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
        initialize_random<double>(x, w, ht, 1);
        NmfOptions opts;
        opts.algorithm = algorithm;
        opts.tol = 0;
        opts.max_iter = iterations * (r + 1);
        traffic = {};
        counting = true;
        nmf<double>(x, w, ht, opts);
        counting = false;
        runs[r] = traffic;
    }
    return {runs[1].calls - runs[0].calls, runs[1].words - runs[0].words};
}

} // namespace

TEST(Traffic, OneIterationMovesExactlyTheDocumentedWords) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        for (Algorithm algorithm : {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu})
        for (bool sparse : {false, true}) {
            const gidx m = 53, n = 31, k = 4;
            const int iterations = 3;
            DistMatrix<double> probe(grid, m, n, 5, 3);
            const Traffic t = per_iterations(grid, algorithm, m, n, k, iterations, sparse);
            // Per iteration: gather H^T over the grid column (local cols x k), reduce-scatter X H^T over the
            // grid row (local rows x k), the same two for the H update, two Gram all-reduces (k^2, and
            // k^2 + 3 objective terms), then the stop decision and the iteration's seconds (1 + 1 words)
            // and the agreement that the objective is finite (1 word).
            const std::int64_t expected_words =
                2 * (probe.local_rows() + probe.local_cols()) * k + (k * k) + (k * k + 3) + 1 + 1 + 1;
            EXPECT_EQ(t.words, iterations * expected_words)
                << grid.shape_string() << " " << to_string(algorithm) << (sparse ? " sparse" : "");
            EXPECT_EQ(t.calls, iterations * 9)
                << grid.shape_string() << " " << to_string(algorithm) << (sparse ? " sparse" : "");
        }
    }
}

TEST(Traffic, CollectiveCallsPerIterationDoNotGrowWithK) {
    Grid grid(world(), choose_grid_shape(world().size()));
    for (Algorithm algorithm : {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu}) {
        const Traffic small = per_iterations(grid, algorithm, 40, 30, 2, 2);
        const Traffic large = per_iterations(grid, algorithm, 40, 30, 12, 2);
        EXPECT_EQ(small.calls, large.calls) << to_string(algorithm);
    }
}
