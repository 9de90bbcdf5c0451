#include "prism/mpi/comm.hpp"

#include <utility>

namespace prism::mpi {

Comm::Comm(MPI_Comm owned) : comm_(owned) {
    if (comm_ != MPI_COMM_NULL) {
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
    }
}

Comm Comm::duplicate(MPI_Comm comm) {
    MPI_Comm dup = MPI_COMM_NULL;
    MPI_Comm_dup(comm, &dup);
    return Comm(dup);
}

Comm Comm::split(int color, int key) const {
    MPI_Comm out = MPI_COMM_NULL;
    MPI_Comm_split(comm_, color, key, &out);
    return Comm(out);
}

Comm::~Comm() {
    release();
}

Comm::Comm(Comm &&other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)), rank_(other.rank_), size_(other.size_) {}

Comm &Comm::operator=(Comm &&other) noexcept {
    if (this != &other) {
        release();
        comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
        rank_ = other.rank_;
        size_ = other.size_;
    }
    return *this;
}

void Comm::release() noexcept {
    if (comm_ == MPI_COMM_NULL) {
        return;
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        MPI_Comm_free(&comm_);
    }
    comm_ = MPI_COMM_NULL;
}

} // namespace prism::mpi
