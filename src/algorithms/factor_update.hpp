#pragma once
// Internal to the library (not installed): the pieces of one NMF outer iteration that single NMF (nmf.cpp)
// and joint NMF (joint.cpp) share — the local factor update, HALS column scaling, trace helpers, and the
// end-of-iteration control (stop decision from rank 0, history, report, final counters).

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "prism/algorithms/options.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/nnls/bpp.hpp"
#include "prism/nnls/hals_update.hpp"
#include "prism/nnls/mu_update.hpp"

namespace prism::detail {

// Solves for `rows` factor rows (row-major rows x k at f) given the other factor's Gram G (k x k) and the
// cross product R (rows x k, row-major). Rows are independent in all three methods. Local.
template <typename T>
void update_rows(Algorithm algorithm,
                 const T *gram,
                 const T *cross,
                 const Penalty &penalty,
                 double hals_floor,
                 gidx k,
                 lidx rows,
                 T *f,
                 std::vector<T> &scratch,
                 nnls::BppStats &stats) {
    switch (algorithm) {
    case Algorithm::anls_bpp: {
        // min_{x>=0} 1/2 x^T (G + l2 I) x - x^T (r - l1): the ridge enters through the Gram.
        scratch.assign(gram, gram + k * k);
        for (gidx l = 0; l < k; ++l) {
            scratch[static_cast<std::size_t>(l * k + l)] += static_cast<T>(penalty.l2);
        }
        nnls::BppOptions o;
        o.warm_start = true; // passive sets change little between outer iterations
        o.l1 = penalty.l1;
        nnls::BppStats s;
        nnls::bpp_solve<T>(scratch.data(), k, cross, k, rows, f, k, o, &s);
        stats += s;
        break;
    }
    case Algorithm::hals: {
        nnls::HalsOptions o;
        o.l1 = penalty.l1;
        o.l2 = penalty.l2;
        o.eps_floor = hals_floor;
        nnls::hals_update<T>(gram, k, cross, k, rows, f, k, o);
        break;
    }
    case Algorithm::mu: {
        nnls::MuOptions o;
        o.l1 = penalty.l1;
        o.l2 = penalty.l2;
        nnls::mu_update<T>(gram, k, cross, k, rows, f, k, o);
        break;
    }
    }
}

// The whole slab of f. Local.
template <typename T>
void update_factor(Algorithm algorithm,
                   const std::vector<T> &gram,
                   const std::vector<T> &cross,
                   const Penalty &penalty,
                   double hals_floor,
                   Factor<T> &f,
                   std::vector<T> &scratch,
                   nnls::BppStats &stats) {
    update_rows(algorithm, gram.data(), cross.data(), penalty, hals_floor, f.k(), f.rows(), f.data(), scratch,
                stats);
}

// Column scales from Gram diagonals: sqrt(diag), 1 for a dead (zero or non-finite) column. Local.
template <typename T> std::vector<T> column_norms(const std::vector<T> &gram, gidx k) {
    std::vector<T> scale(static_cast<std::size_t>(k), T{1});
    for (gidx l = 0; l < k; ++l) {
        const T norm = std::sqrt(gram[static_cast<std::size_t>(l * k + l)]);
        if (norm > T{0} && std::isfinite(norm)) { // a dead column stays as it is
            scale[static_cast<std::size_t>(l)] = norm;
        }
    }
    return scale;
}

// f(:, l) /= scale[l] (divide) or *= scale[l]. Local.
template <typename T> void scale_columns(Factor<T> &f, const std::vector<T> &scale, bool divide) {
    for (lidx r = 0; r < f.rows(); ++r) {
        for (gidx l = 0; l < f.k(); ++l) {
            if (divide) {
                f.at(r, l) /= scale[static_cast<std::size_t>(l)];
            } else {
                f.at(r, l) *= scale[static_cast<std::size_t>(l)];
            }
        }
    }
}

// G_ab /= scale_a scale_b: the Gram of the columns divided by scale. Local.
template <typename T> void scale_gram(std::vector<T> &gram, const std::vector<T> &scale, gidx k) {
    for (gidx a = 0; a < k; ++a) {
        for (gidx b = 0; b < k; ++b) {
            gram[static_cast<std::size_t>(a * k + b)] /=
                scale[static_cast<std::size_t>(a)] * scale[static_cast<std::size_t>(b)];
        }
    }
}

// HALS keeps W's columns at unit norm (scaling H^T's columns to compensate) so the two factors stay
// balanced. The norms are the diagonal of G_W, already all-reduced: no extra collective.
template <typename T> void normalise_columns(std::vector<T> &gram_w, Factor<T> &w, Factor<T> &ht) {
    const std::vector<T> scale = column_norms(gram_w, w.k());
    scale_columns(w, scale, true);
    scale_columns(ht, scale, false);
    scale_gram(gram_w, scale, w.k());
}

template <typename T> double slab_sum(const Factor<T> &f) {
    double s = 0;
    for (lidx i = 0; i < f.rows() * f.k(); ++i) {
        s += static_cast<double>(f.data()[i]);
    }
    return s;
}

template <typename T> double trace_product(const T *a, const T *b, gidx k) {
    double s = 0; // tr(A B) for symmetric A, B = sum_ab A_ab B_ab
    for (gidx i = 0; i < k * k; ++i) {
        s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    }
    return s;
}
template <typename T> double trace_product(const std::vector<T> &a, const std::vector<T> &b, gidx k) {
    return trace_product(a.data(), b.data(), k);
}

template <typename T> double trace(const T *a, gidx k) {
    double s = 0;
    for (gidx l = 0; l < k; ++l) {
        s += static_cast<double>(a[l * k + l]);
    }
    return s;
}
template <typename T> double trace(const std::vector<T> &a, gidx k) {
    return trace(a.data(), k);
}

// sum_i a_i b_i in double, with four interleaved partial sums: a single running sum waits for the previous
// add at every term (the add latency, ~0.25 ms per iteration for a 4000 x 50 slab); four keep the adder
// busy. The order is fixed, so the result does not depend on anything but the slab. Local.
template <typename T> double dot_in_double(const T *a, const T *b, lidx n) {
    double s[4] = {0, 0, 0, 0};
    lidx i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int j = 0; j < 4; ++j) {
            s[j] += static_cast<double>(a[i + j]) * static_cast<double>(b[i + j]);
        }
    }
    for (; i < n; ++i) {
        s[0] += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// End of every outer iteration, identical for single and joint NMF: rank 0 decides whether to stop, any rank
// may ask to stop (a signal), one all-reduce shares both (no rank can leave the loop alone); history and the
// report are recorded, and a checkpoint is handed out when due. begin() restores a resumed run's history.
class IterationControl {
  public:
    IterationControl(const mpi::Comm &comm, const NmfOptions &opts)
        : comm_(comm), opts_(opts), start_(MPI_Wtime()), last_checkpoint_(start_) {}

    double start() const noexcept { return start_; }

    /// Joint NMF adds its own carried state (per-modality history, pending traces) to every checkpoint.
    std::function<void(ResumeState &)> add_to_checkpoint;

    /// Before the loop: takes over a resumed run's iteration count, history and last objective (the next
    /// tolerance test compares with it). Returns the first iteration to run. Collective on comm.
    int begin(NmfInfo &info) {
        const ResumeState &r = opts_.resume;
        const auto n = static_cast<std::size_t>(std::max(r.iterations, 0));
        mpi::agree(comm_,
                   r.iterations >= 0 && r.history_relative_error.size() == n && r.history_seconds.size() == n,
                   "resume state of " + std::to_string(r.iterations) + " iterations has a history of " +
                       std::to_string(r.history_relative_error.size()) + " entries");
        if (r.iterations > 0) {
            info.iterations = r.iterations;
            info.objective = r.objective;
            info.relative_error = r.history_relative_error.back();
            info.history_relative_error = r.history_relative_error;
            info.history_seconds = r.history_seconds;
            previous_objective_ = r.objective;
        }
        return r.iterations + 1;
    }

    /// Collective on comm. Returns true when the loop must stop after iteration `it` (info.stop_reason set).
    bool end_iteration(int it, double t_iter, double objective, double relative_error, NmfInfo &info) {
        const double now = MPI_Wtime();
        // [0] rank 0's decision, [1] rank 0's seconds of this iteration, [2] stop requested on some rank,
        // [3] a checkpoint due by rank 0's clock. Every value is >= 0 and only rank 0 sets [0], [1], [3],
        // so a MAX all-reduce is rank 0's word for those and "any rank" for [2].
        double shared[4] = {0, 0, 0, 0};
        if (comm_.rank() == 0) {
            const double change =
                (previous_objective_ - objective) / std::max(std::abs(previous_objective_), 1e-300);
            const double elapsed = now - start_, last = std::max(0.0, now - t_iter);
            int decision = go_on;
            if (!std::isfinite(objective)) {
                decision = stop_non_finite;
            } else if (opts_.tol > 0 && it > 1 && std::abs(change) < opts_.tol) {
                decision = stop_tolerance;
            } else if (opts_.max_seconds > 0 && elapsed >= opts_.max_seconds) {
                decision = stop_max_time;
            } else if (opts_.deadline_seconds > 0 && elapsed + last >= opts_.deadline_seconds) {
                decision = stop_deadline; // the next iteration would not end in time
            }
            shared[0] = decision;
            shared[1] = last;
            shared[3] =
                opts_.checkpoint_interval > 0 && now - last_checkpoint_ >= opts_.checkpoint_interval ? 1 : 0;
        }
        shared[2] = opts_.stop_requested && opts_.stop_requested() ? 1 : 0;
        mpi::allreduce(comm_, shared, 4, mpi::Op::max);
        int decision = static_cast<int>(shared[0]);
        if (decision == go_on && shared[2] > 0) {
            decision = stop_interrupted; // a finished run (tolerance, max-time) is not turned into an
                                         // interrupted one
        }
        const double seconds = shared[1];
        if (decision == stop_non_finite) {
            // The decision came out of the all-reduce above, so every rank is here and throws together: no
            // agreement round needed (it would cost one more collective every iteration).
            throw Error("the objective became non-finite at iteration " + std::to_string(it) +
                            " (overflow in the data scale?)",
                        0, true);
        }
        previous_objective_ = objective;
        info.iterations = it;
        info.relative_error = relative_error;
        info.objective = objective;
        info.history_relative_error.push_back(relative_error);
        info.history_seconds.push_back(seconds);
        if (opts_.on_iteration) {
            opts_.on_iteration(IterationReport{it, relative_error, objective, seconds});
        }
        const bool last = decision != go_on || it >= opts_.max_iter;
        const bool checkpoint = (opts_.checkpoint_every > 0 && it % opts_.checkpoint_every == 0) ||
                                shared[3] > 0 || decision == stop_interrupted || decision == stop_deadline ||
                                (opts_.checkpoint_at_end && last);
        if (checkpoint && opts_.on_checkpoint) {
            ResumeState state;
            state.iterations = it;
            state.objective = objective;
            state.history_relative_error = info.history_relative_error;
            state.history_seconds = info.history_seconds;
            state.stopping = decision == stop_interrupted || decision == stop_deadline;
            if (add_to_checkpoint) {
                add_to_checkpoint(state);
            }
            opts_.on_checkpoint(state);
            last_checkpoint_ = MPI_Wtime();
        }
        if (decision != go_on) {
            info.converged = decision == stop_tolerance;
            info.stop_reason = decision == stop_tolerance  ? "tolerance"
                               : decision == stop_max_time ? "max-time"
                               : decision == stop_deadline ? "deadline"
                                                           : "interrupted";
            return true;
        }
        return false;
    }

    /// After the loop: stop reason, wall time, phase times, BPP counters summed over ranks (max for the
    /// per-column iteration count). Collective on comm.
    void finish(NmfInfo &info, const nnls::BppStats &bpp, double seconds_local, double seconds_comm) const {
        if (info.stop_reason.empty()) {
            info.stop_reason = "max-iter";
        }
        info.seconds = MPI_Wtime() - start_;
        info.t_products = seconds_local;
        info.t_comm += seconds_comm;
        lidx counters[10] = {bpp.columns,           bpp.exchange_rounds,  bpp.factorizations,
                             bpp.pivoted_fallbacks, bpp.backup_exchanges, bpp.cap_hits,
                             bpp.schur_groups,      bpp.refinements,      bpp.schur_fallbacks,
                             bpp.reused_rows};
        mpi::allreduce(comm_, counters, 10, mpi::Op::sum);
        info.bpp.columns = counters[0];
        info.bpp.exchange_rounds = counters[1];
        info.bpp.factorizations = counters[2];
        info.bpp.pivoted_fallbacks = counters[3];
        info.bpp.backup_exchanges = counters[4];
        info.bpp.cap_hits = counters[5];
        info.bpp.schur_groups = counters[6];
        info.bpp.refinements = counters[7];
        info.bpp.schur_fallbacks = counters[8];
        info.bpp.reused_rows = counters[9];
        info.bpp.iterations = mpi::allreduce_value(comm_, bpp.iterations, mpi::Op::max);
    }

  private:
    enum Decision : int {
        go_on = 0,
        stop_tolerance,
        stop_max_time,
        stop_deadline,
        stop_interrupted,
        stop_non_finite
    };

    const mpi::Comm &comm_;
    const NmfOptions &opts_;
    double start_;
    double last_checkpoint_;
    double previous_objective_ = std::numeric_limits<double>::infinity();
};

} // namespace prism::detail
