#pragma once
/// Move-only owner of a duplicated MPI communicator.

#include <mpi.h>

namespace prism::mpi {

/// Owns an MPI communicator created by MPI_Comm_dup or MPI_Comm_split. Move-only: a copy would be a hidden
/// collective. The destructor frees the communicator unless MPI is already finalized.
class Comm {
  public:
    Comm() = default;
    /// Duplicates `comm` so Prism's messages never mix with the caller's. Collective on `comm`.
    static Comm duplicate(MPI_Comm comm);
    /// Splits this communicator (MPI_Comm_split). Collective.
    Comm split(int color, int key) const;

    ~Comm();
    Comm(Comm &&other) noexcept;
    Comm &operator=(Comm &&other) noexcept;
    Comm(const Comm &) = delete;
    Comm &operator=(const Comm &) = delete;

    /// The raw handle, for calls into MPI and ScaLAPACK. Still owned by this object.
    MPI_Comm get() const noexcept { return comm_; }
    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }
    bool valid() const noexcept { return comm_ != MPI_COMM_NULL; }

  private:
    explicit Comm(MPI_Comm owned);
    void release() noexcept;

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0;
    int size_ = 0;
};

} // namespace prism::mpi
