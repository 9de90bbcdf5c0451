// GoogleTest main for MPI tests: every rank runs every test in the same order; after each test the ranks
// agree on its verdict (a failure on any rank fails it everywhere), and only rank 0 prints.

#include <gtest/gtest.h>

#include "prism/mpi/environment.hpp"
#include "support/mpi_test_env.hpp"

namespace {

// Wraps the default printer: forwards events on rank 0 only, and turns a failure on any rank into a failure
// on every rank at the end of each test.
class AgreeingListener : public ::testing::EmptyTestEventListener {
  public:
    explicit AgreeingListener(::testing::TestEventListener *inner) : inner_(inner) {}
    ~AgreeingListener() override { delete inner_; }

    void OnTestProgramStart(const ::testing::UnitTest &u) override {
        on_root([&] { inner_->OnTestProgramStart(u); });
    }
    void OnTestIterationStart(const ::testing::UnitTest &u, int i) override {
        on_root([&] { inner_->OnTestIterationStart(u, i); });
    }
    void OnEnvironmentsSetUpEnd(const ::testing::UnitTest &u) override {
        on_root([&] { inner_->OnEnvironmentsSetUpEnd(u); });
    }
    void OnTestStart(const ::testing::TestInfo &t) override {
        on_root([&] { inner_->OnTestStart(t); });
    }
    void OnTestPartResult(const ::testing::TestPartResult &r) override {
        // Every rank prints its own failures, prefixed, so a rank-local failure is visible.
        if (r.failed()) {
            std::printf("[rank %d] ", prism::test::world().rank());
            inner_->OnTestPartResult(r);
        }
    }
    void OnTestEnd(const ::testing::TestInfo &t) override {
        int failed = t.result()->Failed() ? 1 : 0;
        MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_LOR, prism::test::world().get());
        if (failed && !t.result()->Failed()) {
            ADD_FAILURE() << "failed on another rank";
        }
        on_root([&] { inner_->OnTestEnd(t); });
    }
    void OnTestIterationEnd(const ::testing::UnitTest &u, int i) override {
        on_root([&] { inner_->OnTestIterationEnd(u, i); });
    }
    void OnTestProgramEnd(const ::testing::UnitTest &u) override {
        on_root([&] { inner_->OnTestProgramEnd(u); });
    }

  private:
    template <typename F> void on_root(F &&f) {
        if (prism::test::world().rank() == 0) {
            f();
            std::fflush(stdout);
        }
    }
    ::testing::TestEventListener *inner_;
};

} // namespace

int main(int argc, char **argv) {
    prism::mpi::Environment env(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    int code = 0;
    {
        prism::test::set_world(prism::mpi::Comm::duplicate(MPI_COMM_WORLD));
        auto &listeners = ::testing::UnitTest::GetInstance()->listeners();
        listeners.Append(new AgreeingListener(listeners.Release(listeners.default_result_printer())));
        code = RUN_ALL_TESTS();
        MPI_Allreduce(MPI_IN_PLACE, &code, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        prism::test::set_world(prism::mpi::Comm());
    }
    return code;
}
