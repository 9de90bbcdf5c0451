#include "support/mpi_test_env.hpp"

#include <unistd.h>

#include "prism/mpi/collectives.hpp"

namespace prism::test {

namespace {
mpi::Comm &world_storage() {
    static mpi::Comm comm;
    return comm;
}
} // namespace

const mpi::Comm &world() {
    return world_storage();
}
void set_world(mpi::Comm comm) {
    world_storage() = std::move(comm);
}

std::vector<GridShape> all_grid_shapes(int nprocs) {
    std::vector<GridShape> shapes;
    for (int pr = 1; pr <= nprocs; ++pr) {
        if (nprocs % pr == 0) {
            shapes.push_back({pr, nprocs / pr});
        }
    }
    return shapes;
}

std::string temp_path(const std::string &stem) {
    std::int64_t pid = ::getpid();
    mpi::bcast(world(), &pid, 1, 0);
    return "prism_test_" + stem + "_np" + std::to_string(world().size()) + "_" + std::to_string(pid) + ".h5";
}

} // namespace prism::test
