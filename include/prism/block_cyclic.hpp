#pragma once
/// One dimension of a block-cyclic distribution (ScaLAPACK's convention, 0-based). A value type; no MPI.

#include "prism/error.hpp"
#include "prism/types.hpp"

namespace prism {

/// Global indices 0..size-1 are cut into blocks of `block` consecutive indices; block b lives on process
/// (source + b) mod procs. This is exactly ScaLAPACK's NUMROC / INDXG2P / INDXG2L / INDXL2G with 0-based
/// indices, so a DistMatrix built from two of these is a valid ScaLAPACK operand.
class BlockCyclic {
  public:
    BlockCyclic() = default;
    /// Local: no communication. Throws prism::Error if size < 0, block < 1, procs < 1 or source not in [0,
    /// procs).
    BlockCyclic(gidx size, gidx block, int procs, int source = 0)
        : size_(size), block_(block), procs_(procs), source_(source) {
        PRISM_CHECK(size >= 0 && block >= 1 && procs >= 1 && source >= 0 && source < procs,
                    "invalid block-cyclic distribution: size " + std::to_string(size) + ", block " +
                        std::to_string(block) + ", procs " + std::to_string(procs) + ", source " +
                        std::to_string(source));
    }

    gidx size() const noexcept { return size_; }
    gidx block() const noexcept { return block_; }
    int procs() const noexcept { return procs_; }
    int source() const noexcept { return source_; }

    /// Number of indices process `proc` owns (ScaLAPACK NUMROC).
    lidx local_size(int proc) const noexcept {
        const int dist = distance(proc);
        const gidx blocks = size_ / block_;
        lidx n = (blocks / procs_) * block_;
        const gidx extra = blocks % procs_;
        if (dist < extra) {
            n += block_;
        } else if (dist == extra) {
            n += size_ % block_;
        }
        return n;
    }
    /// Process that owns global index `g` (INDXG2P).
    int owner(gidx g) const noexcept { return static_cast<int>((source_ + g / block_) % procs_); }
    /// Local index of global index `g` on its owner (INDXG2L).
    lidx to_local(gidx g) const noexcept { return (g / (block_ * procs_)) * block_ + g % block_; }
    /// Global index of local index `l` on process `proc` (INDXL2G).
    gidx to_global(lidx l, int proc) const noexcept {
        return ((l / block_) * procs_ + distance(proc)) * block_ + l % block_;
    }

    friend bool operator==(const BlockCyclic &a, const BlockCyclic &b) noexcept {
        return a.size_ == b.size_ && a.block_ == b.block_ && a.procs_ == b.procs_ && a.source_ == b.source_;
    }
    friend bool operator!=(const BlockCyclic &a, const BlockCyclic &b) noexcept { return !(a == b); }

  private:
    int distance(int proc) const noexcept { return (procs_ + proc - source_) % procs_; }

    gidx size_ = 0;
    gidx block_ = 1;
    int procs_ = 1;
    int source_ = 0;
};

} // namespace prism
