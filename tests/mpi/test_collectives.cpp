#include <gtest/gtest.h>

#include <numeric>

#include "prism/mpi/collectives.hpp"
#include "support/mpi_test_env.hpp"

using namespace prism;
using prism::test::world;

namespace {
// Limits small enough to force many rounds, plus the real one.
const std::int64_t limits[] = {1, 2, 7, 1000, mpi::default_max_count};

std::vector<std::int64_t> piece_counts(int p) {
    std::vector<std::int64_t> counts;
    for (int r = 0; r < p; ++r) {
        counts.push_back((r * 7) % 5 + (r == 1 ? 0 : 3)); // uneven, rank 1 sends nothing
    }
    return counts;
}
} // namespace

TEST(Collectives, AllreduceSplitsIntoChunksWithSameResult) {
    const auto &comm = world();
    for (std::int64_t limit : limits) {
        std::vector<double> v(23);
        for (std::size_t i = 0; i < v.size(); ++i) {
            v[i] = (comm.rank() + 1) * 0.5 + static_cast<double>(i);
        }
        mpi::allreduce(comm, v.data(), static_cast<std::int64_t>(v.size()), mpi::Op::sum, limit);
        const double p = comm.size();
        for (std::size_t i = 0; i < v.size(); ++i) {
            ASSERT_DOUBLE_EQ(v[i], 0.5 * p * (p + 1) / 2 + p * static_cast<double>(i)) << "limit " << limit;
        }
    }
}

TEST(Collectives, AllgathervSplitsIntoRoundsWithSameResult) {
    const auto &comm = world();
    const auto counts = piece_counts(comm.size());
    const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
    std::vector<double> mine(static_cast<std::size_t>(counts[comm.rank()]));
    for (std::size_t t = 0; t < mine.size(); ++t) {
        mine[t] = comm.rank() * 1000.0 + static_cast<double>(t);
    }
    for (std::int64_t limit : limits) {
        std::vector<double> all(static_cast<std::size_t>(total), -1.0);
        mpi::allgatherv(comm, mine.data(), all.data(), counts, limit);
        std::size_t at = 0;
        for (int r = 0; r < comm.size(); ++r) {
            for (std::int64_t t = 0; t < counts[r]; ++t, ++at) {
                ASSERT_EQ(all[at], r * 1000.0 + static_cast<double>(t)) << "limit " << limit << " rank " << r;
            }
        }
    }
}

TEST(Collectives, ReduceScatterSplitsIntoRoundsWithSameResult) {
    const auto &comm = world();
    const auto counts = piece_counts(comm.size());
    const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
    std::vector<float> send(static_cast<std::size_t>(total));
    std::size_t at = 0;
    for (int block = 0; block < comm.size(); ++block) {
        for (std::int64_t t = 0; t < counts[block]; ++t) {
            send[at++] = static_cast<float>((comm.rank() + 1) * (block * 100 + t));
        }
    }
    const double rank_sum = comm.size() * (comm.size() + 1) / 2.0;
    for (std::int64_t limit : limits) {
        std::vector<float> recv(static_cast<std::size_t>(counts[comm.rank()]) + 1, -1.0f);
        mpi::reduce_scatter_sum(comm, send.data(), recv.data(), counts, limit);
        for (std::int64_t t = 0; t < counts[comm.rank()]; ++t) {
            ASSERT_EQ(recv[t], static_cast<float>(rank_sum * (comm.rank() * 100 + t))) << "limit " << limit;
        }
        ASSERT_EQ(recv.back(), -1.0f) << "wrote past its block";
    }
}

TEST(Agree, FailureOnOneRankThrowsTheSameErrorEverywhere) {
    const auto &comm = world();
    const int failing = comm.size() - 1; // the last rank, so rank 0 is not special
    try {
        mpi::agree(comm, comm.rank() != failing,
                   "rank " + std::to_string(comm.rank()) + " could not open the file");
        FAIL() << "agree returned on rank " << comm.rank();
    } catch (const Error &e) {
        EXPECT_TRUE(e.collective());
        EXPECT_EQ(e.rank(), failing);
        EXPECT_EQ(std::string(e.what()), "rank " + std::to_string(failing) + " could not open the file");
    }
}

TEST(Agree, LowestFailingRankWinsAndSuccessReturns) {
    const auto &comm = world();
    EXPECT_NO_THROW(mpi::agree(comm, true, "unused"));
    try {
        mpi::agree(comm, comm.rank() % 2 == 1 || comm.size() == 1, "odd " + std::to_string(comm.rank()));
        EXPECT_EQ(comm.size(), 1);
    } catch (const Error &e) {
        EXPECT_EQ(std::string(e.what()), "odd 0");
    }
}

TEST(Agree, ExceptionInsideAStepOnOneRankReachesAllRanks) {
    const auto &comm = world();
    int thrown = 0;
    try {
        mpi::agree_call(comm, [&] {
            if (comm.rank() == comm.size() / 2) {
                throw Error("bad block on this rank");
            }
        });
    } catch (const Error &e) {
        thrown = 1;
        EXPECT_TRUE(e.collective());
        EXPECT_EQ(e.rank(), comm.size() / 2);
    }
    EXPECT_EQ(thrown, 1);
    // The communicator is still usable afterwards: no rank is left inside a collective.
    EXPECT_EQ(mpi::allreduce_value(comm, 1, mpi::Op::sum), comm.size());
}
