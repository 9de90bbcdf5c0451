// Counts what one NMF iteration communicates, through MPI's profiling interface: this executable defines
// the MPI collectives Prism calls (blocking and non-blocking), counts them while `counting` is on, and
// forwards to PMPI_*. The counts must equal the per-iteration formula documented in dist_products.hpp and
// README.md, and the number of collective calls per iteration must not depend on k (no per-column
// collectives). A group of one rank (a grid row or column of one) must make no call at all.

#include <gtest/gtest.h>

#include <mpi.h>

#include "prism/algorithms/nmf.hpp"
#include "prism/linalg/dist_products.hpp"
#include "prism/mpi/collectives.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"

using namespace prism;
using prism::test::world;

namespace {

struct Traffic {
    std::int64_t calls = 0;
    std::int64_t words =
        0; ///< elements this rank receives (all-gather, reduce-scatter) or reduces (all-reduce)
};
bool counting = false;
Traffic traffic;

// One collective call moving `words` elements to (or reduced on) this rank.
void count_call(std::int64_t words) {
    if (counting) {
        ++traffic.calls;
        traffic.words += words;
    }
}

// Per-rank receive counts of a group: words = their sum.
void count_call(MPI_Comm comm, const int counts[]) {
    if (counting) {
        int p = 0;
        PMPI_Comm_size(comm, &p);
        std::int64_t words = 0;
        for (int i = 0; i < p; ++i) {
            words += counts[i];
        }
        count_call(words);
    }
}

// The same count from every rank of the group: words = count * group size.
void count_call_each(MPI_Comm comm, int count) {
    if (counting) {
        int p = 0;
        PMPI_Comm_size(comm, &p);
        count_call(static_cast<std::int64_t>(count) * p);
    }
}

} // namespace

extern "C" {
int MPI_Allreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
    count_call(count);
    return PMPI_Allreduce(send, recv, count, type, op, comm);
}
int MPI_Bcast(void *data, int count, MPI_Datatype type, int root, MPI_Comm comm) {
    count_call(count);
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
    count_call(comm, recv_counts);
    return PMPI_Allgatherv(send, send_count, send_type, recv, recv_counts, displs, recv_type, comm);
}
int MPI_Reduce_scatter(
    const void *send, void *recv, const int recv_counts[], MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
    count_call(comm, recv_counts);
    return PMPI_Reduce_scatter(send, recv, recv_counts, type, op, comm);
}
int MPI_Allgather(const void *send,
                  int send_count,
                  MPI_Datatype send_type,
                  void *recv,
                  int recv_count,
                  MPI_Datatype recv_type,
                  MPI_Comm comm) {
    count_call_each(comm, recv_count);
    return PMPI_Allgather(send, send_count, send_type, recv, recv_count, recv_type, comm);
}
int MPI_Reduce_scatter_block(
    const void *send, void *recv, int recv_count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
    count_call_each(comm, recv_count);
    return PMPI_Reduce_scatter_block(send, recv, recv_count, type, op, comm);
}
// Non-blocking forms: counted when started, as the blocking ones, so an overlapped collective is no less
// visible than a blocking one.
int MPI_Iallreduce(const void *send,
                   void *recv,
                   int count,
                   MPI_Datatype type,
                   MPI_Op op,
                   MPI_Comm comm,
                   MPI_Request *request) {
    count_call(count);
    return PMPI_Iallreduce(send, recv, count, type, op, comm, request);
}
int MPI_Ibcast(void *data, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request *request) {
    count_call(count);
    return PMPI_Ibcast(data, count, type, root, comm, request);
}
int MPI_Iallgatherv(const void *send,
                    int send_count,
                    MPI_Datatype send_type,
                    void *recv,
                    const int recv_counts[],
                    const int displs[],
                    MPI_Datatype recv_type,
                    MPI_Comm comm,
                    MPI_Request *request) {
    count_call(comm, recv_counts);
    return PMPI_Iallgatherv(send, send_count, send_type, recv, recv_counts, displs, recv_type, comm, request);
}
int MPI_Ireduce_scatter(const void *send,
                        void *recv,
                        const int recv_counts[],
                        MPI_Datatype type,
                        MPI_Op op,
                        MPI_Comm comm,
                        MPI_Request *request) {
    count_call(comm, recv_counts);
    return PMPI_Ireduce_scatter(send, recv, recv_counts, type, op, comm, request);
}
}

namespace {

// Traffic of `iterations` iterations of NMF on an m x n matrix, with set-up excluded: the difference of a
// run of 2*iterations and one of `iterations`. `sparse`: X held as a SparseDistMatrix (30 % stored), which
// must move exactly the same words: only the local products differ.
Traffic per_iterations(
    const Grid &grid, Algorithm algorithm, gidx m, gidx n, gidx k, int iterations, bool sparse = false) {
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
                // Per iteration: gather H^T over the grid column (local cols x k) and reduce-scatter X^T W
                // over it, unless the grid column is one rank (pr = 1: the slab is H^T[MR,*] and the local
                // product the sum); gather W and reduce-scatter X H^T over the grid row (local rows x k)
                // unless pc = 1; two Gram all-reduces (k^2, and k^2 + 3 objective terms); one all-reduce of
                // rank 0's stop decision and seconds, any rank's stop request and rank 0's checkpoint clock
                // (4 words).
                const std::int64_t h_side = grid.col_comm().size() > 1 ? 1 : 0;
                const std::int64_t w_side = grid.row_comm().size() > 1 ? 1 : 0;
                const std::int64_t expected_words =
                    2 * (w_side * probe.local_rows() + h_side * probe.local_cols()) * k + (k * k) +
                    (k * k + 3) + 4;
                EXPECT_EQ(t.words, iterations * expected_words)
                    << grid.shape_string() << " " << to_string(algorithm) << (sparse ? " sparse" : "");
                EXPECT_EQ(t.calls, iterations * (2 * (w_side + h_side) + 3))
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

// The copy elision for groups of one rank against the general path: gathered_factor hands out the slab
// itself exactly when the group has one rank (and otherwise the same values as gather_factor), and
// x_times_factor's result is bitwise the local product followed by reduce_scatter_sum over the group,
// with no collective call at all when the group is one rank. Every grid shape, both sides.
TEST(Traffic, GroupsOfOneRankCopyNothingAndGiveTheSameBits) {
    for (GridShape shape : test::all_grid_shapes(world().size())) {
        Grid grid(world(), shape);
        const gidx m = 29, n = 17, k = 3;
        DistMatrix<double> x(grid, m, n, 4, 3);
        test::fill(x, [](gidx i, gidx j) { return 0.1 + test::uniform_at(8, i, j); });
        Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
        initialize_random<double>(x, w, ht, 3);
        for (const Factor<double> *out : {&w, &ht}) {
            const Factor<double> &other = out == &w ? ht : w;
            // X H^T: H^T gathered over the grid column, the sum over the grid row (the reverse for X^T W).
            const bool gather_alone = other.gather_comm().size() == 1,
                       sum_alone = out->gather_comm().size() == 1;
            const std::string where = grid.shape_string() + (out == &w ? " X H^T" : " X^T W");
            // Reference: the general path, written out.
            std::vector<double> gathered, partial, expected(static_cast<std::size_t>(out->rows() * k));
            gather_factor(other, gathered);
            local_product<double>(x, gathered, out->side(), k, partial);
            std::vector<std::int64_t> counts;
            for (lidx r : out->slab_rows()) {
                counts.push_back(r * k);
            }
            mpi::reduce_scatter_sum(out->gather_comm(), partial.data(), expected.data(), counts);

            std::vector<double> buffer, result;
            ProductWorkspace<double> ws;
            traffic = {};
            counting = true;
            const double *view = gathered_factor(other, buffer);
            x_times_factor<double>(x, view, *out, ws, result);
            counting = false;
            EXPECT_EQ(view == other.data(), gather_alone) << where;
            EXPECT_EQ(traffic.calls, (gather_alone ? 0 : 1) + (sum_alone ? 0 : 1)) << where;
            ASSERT_EQ(std::vector<double>(view, view + gathered.size()), gathered) << where;
            ASSERT_EQ(result.size(), expected.size()) << where;
            for (std::size_t i = 0; i < expected.size(); ++i) {
                ASSERT_EQ(result[i], expected[i]) << where << " entry " << i; // bitwise
            }
        }
    }
}
