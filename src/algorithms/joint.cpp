// Joint NMF: V modalities X_v (m_v x n) on one pr x pc grid with one column distribution, one shared H.
// One outer iteration, with X_v,ij the local block of modality v on rank (i, j):
//
//   H^T[MR,*]      <- all-gather of H^T slabs within the grid column (ONE, shared by all v)   (n/pc) k
//   per v: (X_v H_v^T) slab <- local product over v's observed local columns only, then
//                     reduce-scatter within the grid row (V of them: the W_v have different rows) (m_v/pr) k
//   per v: W_v slab <- local update with G = H_v H_v^T (Gram over v's observed samples)
//   all G_Wv, lagged per-modality traces <- ONE all-reduce                             V k^2 + V
//   HALS: columns of the lambda-weighted stacked W to unit norm (from those diagonals, no collective)
//   per v: W_v[MC,*] <- all-gather within the grid row (V of them)                     (m_v/pr) k
//   sum_v lambda_v X_v^T W_v over observed columns: accumulated locally, then
//                  ONE reduce-scatter within the grid column                          (n/pc) k
//   H^T slab       <- per missingness pattern p: G_p = sum_{v in p} lambda_v G_Wv (at most 2^V patterns)
//   G_H, masked G_Hv, objective pieces <- ONE all-reduce                              (1 + V_missing) k^2 + V
//   + 2 stop?          <- 4-word all-reduce (detail::IterationControl, shared with nmf())
//
// Masking never touches X: products run over the observed local columns only (a gemm per run of observed
// columns), so whatever a missing entry holds, NaN included, it is never read into a sum.
//
// The objective is exact per iteration from the trace identity with the summed cross product. The
// per-modality traces tr(W_v^T X_v H_v^T) are not separable from the ONE summed reduce-scatter; they come
// one iteration late from the next W-side products (W_v is still the old one there) and ride in the Gram
// all-reduce. The last iteration's come from one extra W-side pass after the loop.
//
// Weights: with c = max_v lambda_v, the H system is divided by c (lambda'_v = lambda_v / c <= 1, exactly 1
// for the heaviest modality), so one modality reproduces nmf() to rounding whatever lambda is.

#include "prism/algorithms/joint.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "data_kernels.hpp"
#include "factor_update.hpp"
#include "prism/error.hpp"
#include "prism/linalg/blas.hpp"
#include "prism/linalg/dist_products.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/util/counter_random.hpp"

namespace prism {

namespace {

constexpr std::size_t max_modalities = 63; // missingness patterns are 64-bit masks

using Run = std::pair<lidx, lidx>; // [begin, end) of local columns

template <typename T> std::string label(const JointModality<T> &m, std::size_t v) {
    return (m.name.empty() ? "modality " + std::to_string(v) : "modality '" + m.name + "'") +
           (m.source.empty() ? "" : " (" + m.source + ")");
}

template <typename T> bool observes(const JointModality<T> &m, gidx j) {
    return m.observed.empty() || m.observed[static_cast<std::size_t>(j)] != 0;
}

template <typename T> bool complete(const JointModality<T> &m) {
    return std::all_of(m.observed.begin(), m.observed.end(), [](char c) { return c != 0; });
}

// Runs of observed local columns of X_v (equivalently of gathered H^T rows). Local.
template <typename T> std::vector<Run> observed_runs(const JointModality<T> &m) {
    std::vector<Run> runs;
    const MatrixRef<T> &x = *m.x;
    for (lidx j = 0; j < x.local_cols(); ++j) {
        if (!observes(m, x.global_col(j))) {
            continue;
        }
        if (!runs.empty() && runs.back().second == j) {
            runs.back().second = j + 1;
        } else {
            runs.emplace_back(j, j + 1);
        }
    }
    return runs;
}

// One flag per local column of X_v (observed or not), or empty when every local column is observed. Local.
std::vector<char> local_mask(const std::vector<Run> &runs, lidx local_cols) {
    if (runs.size() == 1 && runs[0].first == 0 && runs[0].second == local_cols) {
        return {};
    }
    std::vector<char> mask(static_cast<std::size_t>(local_cols), 0);
    for (const Run &r : runs) {
        std::fill(mask.begin() + r.first, mask.begin() + r.second, 1);
    }
    return mask;
}

// partial += alpha * (X restricted to observed columns) times the gathered other factor:
//   side w:  partial (k x mr, column-major) += alpha H_g[:, runs] X[:, runs]^T
//   side ht: partial (k x nc, column-major), columns in runs += alpha W_g^T X[:, runs]
// Columns outside the runs are neither read nor written. A sparse X uses the sparse kernel with the
// equivalent column mask (`mask`, empty = all observed). Local.
template <typename T>
void masked_product(MatrixRef<T> xr,
                    const std::vector<Run> &runs,
                    const std::vector<char> &mask,
                    const T *other,
                    FactorSide side,
                    gidx k,
                    T alpha,
                    T *partial) {
    if (const SparseDistMatrix<T> *sp = xr.sparse()) {
        sparse_local_product(*sp, other, side, k, alpha, mask.empty() ? nullptr : mask.data(), true, partial);
        return;
    }
    const DistMatrix<T> &x = *xr.dense();
    const lidx mr = x.local_rows();
    for (const Run &r : runs) {
        const lidx len = r.second - r.first;
        const T *xr = x.data() + r.first * x.ld();
        if (side == FactorSide::w) {
            blas::gemm<T>('N', 'T', k, mr, len, alpha, other + r.first * k, k, xr, x.ld(), T{1}, partial, k);
        } else {
            blas::gemm<T>('N', 'N', k, len, mr, alpha, other, k, xr, x.ld(), T{1}, partial + r.first * k, k);
        }
    }
}

std::vector<std::int64_t> word_counts(const std::vector<lidx> &rows, gidx k) {
    std::vector<std::int64_t> counts;
    for (lidx r : rows) {
        counts.push_back(r * k);
    }
    return counts;
}

// Observed-sample sums per modality: ||M_v o X_v||^2 (or sum) on this rank. Local.
template <typename T> double local_observed_sum(const JointModality<T> &m, bool squares) {
    const std::vector<char> mask = local_mask(observed_runs(m), m.x->local_cols());
    return detail::local_sum<T>(*m.x, squares, mask.empty() ? nullptr : mask.data());
}

template <typename T> std::vector<double> observed_norms2(const std::vector<JointModality<T>> &mods) {
    std::vector<double> s;
    for (const auto &m : mods) {
        s.push_back(local_observed_sum(m, true));
    }
    mpi::allreduce(mods[0].x->grid().comm(), s.data(), static_cast<std::int64_t>(s.size()), mpi::Op::sum);
    return s;
}

// Samples grouped by missingness pattern (bit v set: modality v observes the sample), over H^T slab rows.
struct PatternGroup {
    std::uint64_t mask = 0;
    std::vector<lidx> rows; // slab rows, ascending
};

// Fixed per run: which samples each modality sees, on this rank's blocks and H^T slab.
template <typename T> struct JointLayout {
    std::vector<std::vector<Run>> runs;      // [v] observed local columns of X_v
    std::vector<std::vector<char>> masks;    // [v] the same as flags per local column (empty: all)
    std::vector<bool> complete;              // [v] observes every sample
    std::vector<std::vector<char>> slab_obs; // [v][slab row], only for incomplete v
    std::vector<std::size_t> gram_h_offset;  // [v] where G_Hv sits in the H Gram buffer
    std::size_t gram_h_extras_at = 0;        // first objective extra in the H Gram buffer
    std::vector<PatternGroup> groups;        // this rank's H^T slab rows by pattern
    int patterns = 0;                        // distinct patterns over all n samples
};

template <typename T>
JointLayout<T> make_layout(const std::vector<JointModality<T>> &mods, const Factor<T> &ht) {
    const std::size_t nv = mods.size();
    const gidx k = ht.k();
    JointLayout<T> lay;
    std::size_t offset = static_cast<std::size_t>(k * k);
    for (std::size_t v = 0; v < nv; ++v) {
        lay.runs.push_back(observed_runs(mods[v]));
        lay.masks.push_back(local_mask(lay.runs[v], mods[v].x->local_cols()));
        lay.complete.push_back(complete(mods[v]));
        lay.slab_obs.emplace_back();
        if (lay.complete[v]) {
            lay.gram_h_offset.push_back(0); // the full Gram
        } else {
            for (lidx r = 0; r < ht.rows(); ++r) {
                lay.slab_obs[v].push_back(observes(mods[v], ht.global_index(r)) ? 1 : 0);
            }
            lay.gram_h_offset.push_back(offset);
            offset += static_cast<std::size_t>(k * k);
        }
    }
    lay.gram_h_extras_at = offset;
    auto mask_of = [&](gidx j) {
        std::uint64_t mask = 0;
        for (std::size_t v = 0; v < nv; ++v) {
            mask |= observes(mods[v], j) ? std::uint64_t{1} << v : 0;
        }
        return mask;
    };
    std::map<std::uint64_t, std::vector<lidx>> by_mask;
    for (lidx r = 0; r < ht.rows(); ++r) {
        by_mask[mask_of(ht.global_index(r))].push_back(r);
    }
    for (auto &[mask, rows] : by_mask) {
        lay.groups.push_back(PatternGroup{mask, std::move(rows)});
    }
    std::map<std::uint64_t, bool> all; // replicated flags: every rank counts the same without communication
    for (gidx j = 0; j < ht.global_rows(); ++j) {
        all[mask_of(j)] = true;
    }
    lay.patterns = static_cast<int>(all.size());
    return lay;
}

// Everything one iteration needs, allocated once.
template <typename T> struct JointWorkspace {
    std::vector<T> gathered, partial, cross_h, scratch, rows_f, rows_r, gram_p, combined, packed;
    std::vector<std::vector<T>> cross_w; // [v] X_v H_v^T on W_v's slab
    std::vector<T> gram_w;               // [v k^2 .. (v+1) k^2): G_Wv; then V lagged traces
    std::vector<T> gram_h;               // full G_H, masked G_Hv, objective extras
    double seconds_local = 0, seconds_comm = 0;
};

// Gathers H^T once and computes every X_v H_v^T on W_v's slab: V reduce-scatters within the grid row.
// Collective on the grid.
template <typename T>
void w_side_products(const std::vector<JointModality<T>> &mods,
                     const JointLayout<T> &lay,
                     const std::vector<Factor<T>> &w,
                     const Factor<T> &ht,
                     JointWorkspace<T> &ws) {
    const gidx k = ht.k();
    double t0 = MPI_Wtime();
    // H^T[MR,*]: the same rows line up with every X_v's local columns (on a grid column of one: the slab)
    const T *ht_gathered = gathered_factor(ht, ws.gathered);
    ws.seconds_comm += MPI_Wtime() - t0;
    ws.cross_w.resize(mods.size());
    for (std::size_t v = 0; v < mods.size(); ++v) {
        t0 = MPI_Wtime();
        // On a grid row of one rank the sum is the local product itself: written straight into the slab.
        const bool alone = w[v].gather_comm().size() == 1;
        std::vector<T> &partial = alone ? ws.cross_w[v] : ws.partial;
        partial.assign(static_cast<std::size_t>(mods[v].x->local_rows() * k), T{0});
        masked_product<T>(*mods[v].x, lay.runs[v], lay.masks[v], ht_gathered, FactorSide::w, k, T{1},
                          partial.data());
        const double t1 = MPI_Wtime();
        if (alone) {
            ws.seconds_local += t1 - t0;
            continue;
        }
        ws.cross_w[v].resize(static_cast<std::size_t>(w[v].rows() * k));
        // (X_v H_v^T)[MC,*] summed over the grid row, scattered into W_v's slabs.
        mpi::reduce_scatter_sum(w[v].gather_comm(), ws.partial.data(), ws.cross_w[v].data(),
                                word_counts(w[v].slab_rows(), k));
        ws.seconds_local += t1 - t0;
        ws.seconds_comm += MPI_Wtime() - t1;
    }
}

// Local dot of W_v's slab with X_v H_v^T: this rank's share of tr(W_v^T X_v H_v^T).
template <typename T> double slab_dot(const Factor<T> &f, const std::vector<T> &cross) {
    return detail::dot_in_double(f.data(), cross.data(), f.rows() * f.k());
}

// G_H (k x k) plus G_Hv over observed samples for incomplete modalities plus `extras` values already placed
// in ws.gram_h after them, in ONE all-reduce. Collective on the grid.
template <typename T>
void h_grams(const JointLayout<T> &lay, const Factor<T> &ht, JointWorkspace<T> &ws, int extras) {
    const gidx k = ht.k();
    ws.gram_h.resize(lay.gram_h_extras_at + static_cast<std::size_t>(extras));
    for (std::size_t v = 0; v < lay.complete.size(); ++v) {
        if (lay.complete[v]) {
            continue;
        }
        ws.packed.clear();
        for (lidx r = 0; r < ht.rows(); ++r) {
            if (lay.slab_obs[v][static_cast<std::size_t>(r)] != 0) {
                ws.packed.insert(ws.packed.end(), ht.data() + r * k, ht.data() + (r + 1) * k);
            }
        }
        T *g = ws.gram_h.data() + lay.gram_h_offset[v];
        std::fill(g, g + k * k, T{0});
        blas::syrk_full<T>(k, static_cast<lidx>(ws.packed.size()) / k, T{1}, ws.packed.data(), k, T{0}, g, k);
    }
    const int beyond = static_cast<int>(ws.gram_h.size()) - static_cast<int>(k * k);
    gram_allreduce(ht, ws.gram_h, beyond); // G[*,*] and the rest summed over all ranks in one message
}

template <typename T>
const T *gram_hv(const JointLayout<T> &lay, const JointWorkspace<T> &ws, std::size_t v) {
    return ws.gram_h.data() + lay.gram_h_offset[v];
}

// Factors line up with the data (collective check).
template <typename T>
void check_factors(const std::vector<JointModality<T>> &mods,
                   const std::vector<Factor<T>> &w,
                   const Factor<T> &ht,
                   const NmfOptions &opts) {
    const mpi::Comm &comm = mods[0].x->grid().comm();
    const MatrixRef<T> &x0 = *mods[0].x;
    mpi::agree(comm, w.size() == mods.size(),
               "joint NMF got " + std::to_string(w.size()) + " W factors for " + std::to_string(mods.size()) +
                   " modalities");
    mpi::agree(comm,
               ht.side() == FactorSide::ht && ht.global_rows() == x0.cols() && ht.dist() == x0.col_dist() &&
                   &ht.grid() == &x0.grid(),
               "H^T does not line up with the samples (columns) of the data");
    for (std::size_t v = 0; v < mods.size(); ++v) {
        const MatrixRef<T> &x = *mods[v].x;
        mpi::agree(comm,
                   w[v].side() == FactorSide::w && w[v].global_rows() == x.rows() &&
                       w[v].dist() == x.row_dist() && w[v].k() == ht.k() && &w[v].grid() == &x.grid(),
                   "W of " + label(mods[v], v) +
                       " does not line up with its rows or has k != " + std::to_string(ht.k()));
    }
    mpi::agree(comm, opts.w.l1 == 0 && opts.w.l2 == 0,
               "JointOptions::w must be zero: joint NMF takes W penalties per modality (JointModality::w)");
}

} // namespace

JointWeighting parse_joint_weighting(const std::string &name) {
    if (name == "auto") {
        return JointWeighting::automatic;
    }
    if (name == "equal") {
        return JointWeighting::equal;
    }
    if (name == "given") {
        return JointWeighting::given;
    }
    throw Error("unknown modality weighting '" + name + "': expected auto, equal or given");
}

std::string to_string(JointWeighting w) {
    switch (w) {
    case JointWeighting::automatic:
        return "auto";
    case JointWeighting::equal:
        return "equal";
    case JointWeighting::given:
        return "given";
    }
    return "?";
}

template <typename T>
std::vector<double> validate_joint_input(const std::vector<JointModality<T>> &mods, gidx k) {
    // Without a matrix there is no communicator to agree on; the input is the same everywhere.
    if (mods.empty()) {
        throw Error("joint NMF needs at least one modality", -1, true);
    }
    if (mods[0].x == nullptr) {
        throw Error(label(mods[0], 0) + " has no matrix", -1, true);
    }
    const MatrixRef<T> &x0 = *mods[0].x;
    const mpi::Comm &comm = x0.grid().comm();
    const gidx n = x0.cols();
    auto fail_if = [&](bool bad, const std::string &message) { mpi::agree(comm, !bad, message); };
    fail_if(mods.size() > max_modalities, "joint NMF takes at most " + std::to_string(max_modalities) +
                                              " modalities, got " + std::to_string(mods.size()));
    gidx total_rows = 0;
    for (std::size_t v = 0; v < mods.size(); ++v) {
        const JointModality<T> &m = mods[v];
        const std::string who = label(m, v);
        fail_if(m.x == nullptr, who + " has no matrix");
        const MatrixRef<T> &x = *m.x;
        fail_if(&x.grid() != &x0.grid(), who + " is on a different process grid than " + label(mods[0], 0));
        fail_if(x.cols() != n, who + " has " + std::to_string(x.cols()) + " samples (columns) but " +
                                   label(mods[0], 0) + " has " + std::to_string(n));
        fail_if(x.col_dist() != x0.col_dist(),
                who + " distributes its samples differently from " + label(mods[0], 0) + " (column block " +
                    std::to_string(x.col_dist().block()) + " vs " + std::to_string(x0.col_dist().block()) +
                    "): every modality needs the same column distribution");
        fail_if(x.rows() < 1, who + " has no features (0 rows)");
        fail_if(!m.observed.empty() && static_cast<gidx>(m.observed.size()) != n,
                who + " has " + std::to_string(m.observed.size()) + " observed-sample flags for " +
                    std::to_string(n) + " samples");
        std::ostringstream weight;
        weight << m.weight;
        fail_if(!(std::isfinite(m.weight) && m.weight > 0),
                who + " has weight " + weight.str() + "; weights must be finite and > 0");
        total_rows += x.rows();
    }
    // The flags are replicated: a rank with other flags would silently solve another problem.
    std::vector<std::int64_t> hashes;
    for (const auto &m : mods) {
        std::uint64_t h = 0x632be59bd9b4e019ULL; // of the meaning: empty flags == all ones
        for (gidx j = 0; j < n; ++j) {           // sizes were checked above
            h = mix64(h ^ (observes(m, j) ? static_cast<std::uint64_t>(j) + 1 : 0));
        }
        hashes.push_back(static_cast<std::int64_t>(h >> 1));
    }
    std::vector<std::int64_t> lo = hashes, hi = hashes;
    mpi::allreduce(comm, lo.data(), static_cast<std::int64_t>(lo.size()), mpi::Op::min);
    mpi::allreduce(comm, hi.data(), static_cast<std::int64_t>(hi.size()), mpi::Op::max);
    for (std::size_t v = 0; v < mods.size(); ++v) {
        fail_if(lo[v] != hi[v],
                label(mods[v], v) + " has different observed-sample flags on different ranks");
        const auto seen = mods[v].observed.empty()
                              ? static_cast<std::int64_t>(n)
                              : std::count_if(mods[v].observed.begin(), mods[v].observed.end(),
                                              [](char c) { return c != 0; });
        fail_if(seen == 0, label(mods[v], v) + " observes no sample: every flag is 0");
    }

    // Entries of observed samples only: counts, sums and the first bad position in row-major order.
    std::vector<double> norms;
    for (std::size_t v = 0; v < mods.size(); ++v) {
        const JointModality<T> &m = mods[v];
        const MatrixRef<T> &x = *m.x;
        const std::int64_t none = std::numeric_limits<std::int64_t>::max();
        double sums[5] = {0, 0, 0, 0, 0}; // NaN, Inf, negative, nonzero counts; sum of squares
        std::int64_t first[3] = {none, none, none};
        double first_negative = 0;
        const BlockCyclic &row_dist = x.row_dist(), &col_dist = x.col_dist();
        const int my_row = x.grid().my_row(), my_col = x.grid().my_col();
        auto visit = [&](double a, lidx i, lidx j) {
            const std::int64_t at = row_dist.to_global(i, my_row) * n + col_dist.to_global(j, my_col);
            const int kind = std::isnan(a) ? 0 : std::isinf(a) ? 1 : a < 0 ? 2 : -1;
            if (kind >= 0) {
                sums[kind] += 1;
                if (at < first[kind]) {
                    first[kind] = at;
                    first_negative = kind == 2 ? a : first_negative;
                }
            } else {
                sums[3] += a != 0 ? 1 : 0;
                sums[4] += a * a;
            }
        };
        const std::vector<Run> runs = observed_runs(m);
        if (const SparseDistMatrix<T> *sp = x.sparse()) { // stored values of observed columns only
            const std::vector<char> mask = local_mask(runs, x.local_cols());
            const CsrBlock<T> &b = sp->block();
            for (lidx i = 0; i < b.rows; ++i) {
                for (auto p = b.row_ptr[static_cast<std::size_t>(i)];
                     p < b.row_ptr[static_cast<std::size_t>(i + 1)]; ++p) {
                    const lidx j = b.col[static_cast<std::size_t>(p)];
                    if (mask.empty() || mask[static_cast<std::size_t>(j)] != 0) {
                        visit(static_cast<double>(b.values[static_cast<std::size_t>(p)]), i, j);
                    }
                }
            }
        } else {
            const DistMatrix<T> &d = *x.dense();
            for (const Run &r : runs) {
                for (lidx j = r.first; j < r.second; ++j) {
                    for (lidx i = 0; i < d.local_rows(); ++i) {
                        visit(static_cast<double>(d.local(i, j)), i, j);
                    }
                }
            }
        }
        mpi::allreduce(comm, sums, 5, mpi::Op::sum);
        const std::int64_t my_first_negative = first[2];
        mpi::allreduce(comm, first, 3, mpi::Op::min);
        // The value at the first negative position, from its owner.
        double value = my_first_negative == first[2] && first[2] != none ? first_negative : -INFINITY;
        value = mpi::allreduce_value(comm, value, mpi::Op::max);
        auto position = [&](std::int64_t at) {
            return "row " + std::to_string(at / n) + ", column " + std::to_string(at % n) + " (0-based)";
        };
        const std::string who = label(m, v);
        fail_if(sums[0] > 0, who + " has " + std::to_string(static_cast<std::int64_t>(sums[0])) +
                                 " NaN entries in observed samples; the first is at " + position(first[0]) +
                                 ". NMF needs finite data; leave a sample this modality did not measure out "
                                 "of it (not an observed sample) instead of storing NaN");
        fail_if(sums[1] > 0, who + " has " + std::to_string(static_cast<std::int64_t>(sums[1])) +
                                 " infinite entries in observed samples; the first is at " +
                                 position(first[1]) + ". NMF needs finite data");
        if (sums[2] > 0) {
            std::ostringstream s;
            s.precision(6);
            s << value;
            fail_if(true, who + " has " + std::to_string(static_cast<std::int64_t>(sums[2])) +
                              " negative entries in observed samples; the first is " + s.str() + " at " +
                              position(first[2]) + ". NMF needs X >= 0");
        }
        fail_if(sums[3] == 0, who + " has no nonzero entries in its observed samples (" +
                                  std::to_string(x.rows()) + " x " + std::to_string(n) +
                                  "): nothing to factorize");
        norms.push_back(sums[4]);
    }
    fail_if(k < 1, "rank k = " + std::to_string(k) + " must be at least 1");
    fail_if(k > std::min(total_rows, n), "rank k = " + std::to_string(k) + " exceeds min(total features " +
                                             std::to_string(total_rows) + ", samples " + std::to_string(n) +
                                             ") = " + std::to_string(std::min(total_rows, n)));
    return norms;
}

template <typename T>
std::vector<double> joint_weights(const std::vector<JointModality<T>> &mods,
                                  JointWeighting mode,
                                  const std::vector<double> &given) {
    PRISM_CHECK(!mods.empty() && mods[0].x != nullptr, "joint_weights needs at least one modality");
    const mpi::Comm &comm = mods[0].x->grid().comm();
    switch (mode) {
    case JointWeighting::equal:
        return std::vector<double>(mods.size(), 1.0);
    case JointWeighting::given: {
        bool ok = given.size() == mods.size();
        for (double g : given) {
            ok = ok && std::isfinite(g) && g > 0;
        }
        mpi::agree(comm, ok,
                   "modality weights: expected " + std::to_string(mods.size()) + " finite values > 0, got " +
                       std::to_string(given.size()) + (given.size() == mods.size() ? " with a bad one" : ""));
        return given;
    }
    case JointWeighting::automatic:
        break;
    }
    std::vector<double> w = observed_norms2(mods);
    for (double &x : w) {
        x = x > 0 ? 1.0 / x : 1.0; // an all-zero modality is refused by validation; never divide by 0
    }
    return w;
}

template <typename T> std::vector<Factor<T>> make_joint_w(const std::vector<JointModality<T>> &mods, gidx k) {
    std::vector<Factor<T>> w;
    w.reserve(mods.size());
    for (const auto &m : mods) {
        w.emplace_back(*m.x, FactorSide::w, k);
    }
    return w;
}

template <typename T>
void initialize_random_joint(const std::vector<JointModality<T>> &mods,
                             std::vector<Factor<T>> &w,
                             Factor<T> &ht,
                             std::uint64_t seed,
                             const std::vector<IndexOrigin> &origins) {
    const std::size_t nv = mods.size();
    PRISM_CHECK(nv >= 1 && w.size() == nv, "initialize_random_joint: one W factor per modality needed");
    PRISM_CHECK(origins.empty() || origins.size() == nv,
                "initialize_random_joint: one IndexOrigin per modality needed (or none)");
    const IndexOrigin identity;
    const auto origin = [&](std::size_t v) -> const IndexOrigin & {
        return origins.empty() ? identity : origins[v];
    };
    const mpi::Comm &comm = mods[0].x->grid().comm();
    std::vector<double> sums;
    for (const auto &m : mods) {
        sums.push_back(local_observed_sum(m, false));
    }
    mpi::allreduce(comm, sums.data(), static_cast<std::int64_t>(nv), mpi::Op::sum);
    const double k = static_cast<double>(ht.k());
    std::vector<double> s(nv);
    double log_sum = 0;
    int positive = 0;
    for (std::size_t v = 0; v < nv; ++v) {
        const auto seen =
            mods[v].observed.empty()
                ? mods[v].x->cols()
                : static_cast<gidx>(std::count_if(mods[v].observed.begin(), mods[v].observed.end(),
                                                  [](char c) { return c != 0; }));
        const double entries = static_cast<double>(mods[v].x->rows()) * static_cast<double>(seen);
        const double mean = entries > 0 ? sums[v] / entries : 0.0;
        s[v] = std::sqrt(std::max(mean, 0.0) / k);
        if (s[v] > 0) {
            log_sum += std::log(s[v]);
            ++positive;
        }
    }
    // One modality: s_H = s_0 exactly, so this is initialize_random's scale for both factors.
    const double s_h = nv == 1 ? s[0] : positive > 0 ? std::exp(log_sum / positive) : 0.0;
    for (std::size_t v = 0; v < nv; ++v) {
        const double scale = s_h > 0 ? s[v] * (s[v] / s_h) : 0.0;
        const std::uint64_t stream = v == 0 ? 0 : v + 1;
        for (lidx r = 0; r < w[v].rows(); ++r) {
            for (gidx l = 0; l < w[v].k(); ++l) {
                w[v].at(r, l) = static_cast<T>(
                    scale * counter_uniform(seed, stream, origin(v).row(w[v].global_index(r)), l));
            }
        }
    }
    for (lidx r = 0; r < ht.rows(); ++r) {
        for (gidx l = 0; l < ht.k(); ++l) {
            ht.at(r, l) =
                static_cast<T>(s_h * counter_uniform(seed, 1, origin(0).col(ht.global_index(r)), l));
        }
    }
}

template <typename T>
JointInfo joint_nmf(const std::vector<JointModality<T>> &mods,
                    std::vector<Factor<T>> &w,
                    Factor<T> &ht,
                    const JointOptions &opts) {
    PRISM_CHECK(!mods.empty() && mods[0].x != nullptr, "joint_nmf needs at least one modality");
    check_factors(mods, w, ht, opts);
    const mpi::Comm &comm = mods[0].x->grid().comm();
    const std::size_t nv = mods.size();
    const gidx k = ht.k();
    const auto kk = static_cast<std::size_t>(k * k);

    JointInfo info;
    const std::vector<double> norm2 = observed_norms2(mods);
    double c = 0;
    for (const auto &m : mods) {
        c = std::max(c, m.weight);
        info.weights.push_back(m.weight);
    }
    std::vector<double> lam(nv); // lambda'_v = lambda_v / c
    double norm2_weighted = 0;
    for (std::size_t v = 0; v < nv; ++v) {
        lam[v] = mods[v].weight / c;
        norm2_weighted += lam[v] * norm2[v];
    }
    const double norm2_weighted_safe = norm2_weighted > 0 ? norm2_weighted : 1.0;
    const Penalty h_penalty{opts.h.l1 / c, opts.h.l2 / c};

    const JointLayout<T> lay = make_layout(mods, ht);
    info.sample_patterns = lay.patterns;
    info.history_modality_relative_error.assign(nv, {});
    JointWorkspace<T> ws;
    nnls::BppStats bpp;
    std::vector<double> tr_gg(nv, 0.0); // tr(G_Wv G_Hv) of the iteration whose per-modality error is pending

    // Records iteration `it`'s per-modality errors from the all-reduced traces tr(W_v^T X_v H_v^T).
    auto record_modalities = [&](int it, const T *traces) {
        std::vector<double> errors(nv);
        for (std::size_t v = 0; v < nv; ++v) {
            const double fit = std::max(0.0, norm2[v] - 2 * static_cast<double>(traces[v]) + tr_gg[v]);
            errors[v] = norm2[v] > 0 ? std::sqrt(fit / norm2[v]) : 0.0;
            info.history_modality_relative_error[v].push_back(errors[v]);
        }
        info.modality_relative_error = errors;
        if (opts.on_modality_errors) {
            opts.on_modality_errors(it, errors);
        }
    };

    bool normalise = opts.algorithm == Algorithm::hals && penalty_free(opts.h); // see penalty_free
    for (const auto &m : mods) {
        normalise = normalise && penalty_free(m.w);
    }
    detail::IterationControl control(comm, opts);
    const int first = control.begin(info);
    if (first > 1) { // resumed: the per-modality history, and the pending traces of iteration first - 1
        mpi::agree(comm,
                   opts.resume.history_modality_relative_error.size() == nv &&
                       opts.resume.pending_modality_fit.size() == nv,
                   "joint resume state has " + std::to_string(opts.resume.pending_modality_fit.size()) +
                       " modalities, the problem " + std::to_string(nv));
        info.history_modality_relative_error = opts.resume.history_modality_relative_error;
        tr_gg = opts.resume.pending_modality_fit;
    }
    control.add_to_checkpoint = [&](ResumeState &state) {
        state.history_modality_relative_error = info.history_modality_relative_error;
        state.pending_modality_fit = tr_gg;
    };
    // A resumed run sizes the message as the loop does: the same reduction order, the same bits (see nmf()).
    h_grams(lay, ht, ws, first > 1 ? static_cast<int>(2 + nv) : 0);
    ws.gram_h.resize(lay.gram_h_extras_at);

    for (int it = first; it <= opts.max_iter; ++it) {
        const double t_iter = MPI_Wtime();
        // ---- W_v updates: G = H_v H_v^T, R = X_v H_v^T (observed samples of v only).
        w_side_products(mods, lay, w, ht, ws);
        ws.gram_w.resize(nv * kk + nv);
        for (std::size_t v = 0; v < nv; ++v) { // W_v has not moved yet: traces of the previous iteration
            ws.gram_w[nv * kk + v] = static_cast<T>(it > 1 ? slab_dot(w[v], ws.cross_w[v]) : 0.0);
        }
        double t = MPI_Wtime();
        for (std::size_t v = 0; v < nv; ++v) {
            detail::update_rows(opts.algorithm, gram_hv(lay, ws, v), ws.cross_w[v].data(), mods[v].w,
                                opts.hals_floor, k, w[v].rows(), w[v].data(), ws.scratch, bpp);
        }
        info.t_solve += MPI_Wtime() - t;

        // ---- Every G_Wv (and the lagged traces) in one all-reduce: G_W0 by the kernel, the rest as extras.
        t = MPI_Wtime();
        for (std::size_t v = 1; v < nv; ++v) {
            blas::syrk_full<T>(k, w[v].rows(), T{1}, w[v].data(), k, T{0}, ws.gram_w.data() + v * kk, k);
        }
        gram_allreduce(w[0], ws.gram_w, static_cast<int>((nv - 1) * kk + nv));
        info.t_grams += MPI_Wtime() - t;
        if (it > 1) {
            record_modalities(it - 1, ws.gram_w.data() + nv * kk);
        }
        ws.combined.assign(kk, T{0}); // sum_v lambda'_v G_Wv: the Gram of the weighted stacked W
        for (std::size_t v = 0; v < nv; ++v) {
            for (std::size_t i = 0; i < kk; ++i) {
                ws.combined[i] += static_cast<T>(lam[v]) * ws.gram_w[v * kk + i];
            }
        }
        if (normalise) {
            // Unit columns of the weighted stacked W; H^T compensates, every W_v H is unchanged.
            const std::vector<T> scale = detail::column_norms(ws.combined, k);
            for (std::size_t v = 0; v < nv; ++v) {
                detail::scale_columns(w[v], scale, true);
                std::vector<T> g(ws.gram_w.begin() + static_cast<std::ptrdiff_t>(v * kk),
                                 ws.gram_w.begin() + static_cast<std::ptrdiff_t>((v + 1) * kk));
                detail::scale_gram(g, scale, k);
                std::copy(g.begin(), g.end(), ws.gram_w.begin() + static_cast<std::ptrdiff_t>(v * kk));
            }
            detail::scale_columns(ht, scale, false);
            detail::scale_gram(ws.combined, scale, k);
        }

        // ---- H update: R = sum_v lambda'_v X_v^T W_v over observed samples, ONE reduce-scatter.
        // On a grid column of one rank the sum over it is the local sum itself: accumulated straight into
        // the slab's right-hand side, no reduce-scatter.
        const bool h_alone = ht.gather_comm().size() == 1;
        std::vector<T> &h_partial = h_alone ? ws.cross_h : ws.partial;
        h_partial.assign(static_cast<std::size_t>(mods[0].x->local_cols() * k), T{0});
        for (std::size_t v = 0; v < nv; ++v) {
            t = MPI_Wtime();
            const T *w_gathered = gathered_factor(w[v], ws.gathered); // W_v[MC,*]
            const double t1 = MPI_Wtime();
            info.t_comm += t1 - t;
            masked_product<T>(*mods[v].x, lay.runs[v], lay.masks[v], w_gathered, FactorSide::ht, k,
                              static_cast<T>(lam[v]), h_partial.data());
            ws.seconds_local += MPI_Wtime() - t1;
        }
        if (!h_alone) {
            t = MPI_Wtime();
            ws.cross_h.resize(static_cast<std::size_t>(ht.rows() * k));
            // (sum_v lambda'_v X_v^T W_v)[MR,*] summed over the grid column, scattered into H^T's slabs.
            mpi::reduce_scatter_sum(ht.gather_comm(), ws.partial.data(), ws.cross_h.data(),
                                    word_counts(ht.slab_rows(), k));
            ws.seconds_comm += MPI_Wtime() - t;
        }
        t = MPI_Wtime();
        const std::uint64_t all_mask = nv == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << nv) - 1;
        for (const PatternGroup &g : lay.groups) {
            const T *gram = ws.combined.data();
            if (g.mask != all_mask) {
                ws.gram_p.assign(kk, T{0});
                for (std::size_t v = 0; v < nv; ++v) {
                    if ((g.mask >> v) & 1U) {
                        for (std::size_t i = 0; i < kk; ++i) {
                            ws.gram_p[i] += static_cast<T>(lam[v]) * ws.gram_w[v * kk + i];
                        }
                    }
                }
                gram = ws.gram_p.data();
            }
            const auto rows = static_cast<lidx>(g.rows.size());
            if (rows == ht.rows()) { // one pattern on this slab: solve in place
                detail::update_rows(opts.algorithm, gram, ws.cross_h.data(), h_penalty, opts.hals_floor, k,
                                    rows, ht.data(), ws.scratch, bpp);
                continue;
            }
            ws.rows_f.resize(static_cast<std::size_t>(rows * k));
            ws.rows_r.resize(static_cast<std::size_t>(rows * k));
            for (lidx q = 0; q < rows; ++q) {
                const lidx r = g.rows[static_cast<std::size_t>(q)];
                std::copy_n(ht.data() + r * k, k, ws.rows_f.data() + q * k);
                std::copy_n(ws.cross_h.data() + r * k, k, ws.rows_r.data() + q * k);
            }
            detail::update_rows(opts.algorithm, gram, ws.rows_r.data(), h_penalty, opts.hals_floor, k, rows,
                                ws.rows_f.data(), ws.scratch, bpp);
            for (lidx q = 0; q < rows; ++q) {
                std::copy_n(ws.rows_f.data() + q * k, k, ht.data() + g.rows[static_cast<std::size_t>(q)] * k);
            }
        }
        info.t_solve += MPI_Wtime() - t;

        // ---- Objective pieces ride with the H Grams the next W updates need: one all-reduce.
        // sum_v lambda'_v tr(W_v^T X_v H_v^T)
        const double cross_trace = detail::dot_in_double(ws.cross_h.data(), ht.data(), ht.rows() * k);
        t = MPI_Wtime();
        ws.gram_h.resize(lay.gram_h_extras_at + 2 + nv);
        T *extra = ws.gram_h.data() + lay.gram_h_extras_at;
        extra[0] = static_cast<T>(cross_trace);
        extra[1] = static_cast<T>(opts.h.l1 != 0 ? detail::slab_sum(ht) : 0.0);
        for (std::size_t v = 0; v < nv; ++v) {
            extra[2 + v] = static_cast<T>(mods[v].w.l1 != 0 ? detail::slab_sum(w[v]) : 0.0);
        }
        h_grams(lay, ht, ws, static_cast<int>(2 + nv));
        info.t_grams += MPI_Wtime() - t;
        extra = ws.gram_h.data() + lay.gram_h_extras_at;
        double fit = -2 * static_cast<double>(extra[0]); // sum_v lambda'_v ||M_v o (X_v - W_v H)||^2
        double penalties_w = 0;
        for (std::size_t v = 0; v < nv; ++v) {
            const T *gw = ws.gram_w.data() + v * kk;
            tr_gg[v] = detail::trace_product(gw, gram_hv(lay, ws, v), k);
            fit += lam[v] * (norm2[v] + tr_gg[v]);
            penalties_w += lam[v] * (mods[v].w.l1 * static_cast<double>(extra[2 + v]) +
                                     0.5 * mods[v].w.l2 * detail::trace(gw, k));
        }
        fit = std::max(0.0, fit);
        const double objective = c * (0.5 * fit + penalties_w) + opts.h.l1 * static_cast<double>(extra[1]) +
                                 0.5 * opts.h.l2 * detail::trace(ws.gram_h.data(), k);
        const double relative_error = std::sqrt(fit / norm2_weighted_safe);
        ws.gram_h.resize(lay.gram_h_extras_at);

        if (control.end_iteration(it, t_iter, objective, relative_error, info)) {
            break;
        }
    }
    if (info.iterations > 0) {
        // The last iteration's per-modality traces: one more W-side pass (no update) and one all-reduce.
        w_side_products(mods, lay, w, ht, ws);
        std::vector<T> traces(nv);
        for (std::size_t v = 0; v < nv; ++v) {
            traces[v] = static_cast<T>(slab_dot(w[v], ws.cross_w[v]));
        }
        mpi::allreduce(comm, traces.data(), static_cast<std::int64_t>(nv), mpi::Op::sum);
        record_modalities(info.iterations, traces.data());
    }
    control.finish(info, bpp, ws.seconds_local, ws.seconds_comm);
    return info;
}

template <typename T>
std::vector<double> joint_relative_errors_exact(const std::vector<JointModality<T>> &mods,
                                                const std::vector<Factor<T>> &w,
                                                const Factor<T> &ht) {
    PRISM_CHECK(!mods.empty() && w.size() == mods.size(), "joint_relative_errors_exact: one W per modality");
    const mpi::Comm &comm = mods[0].x->grid().comm();
    const gidx k = ht.k();
    std::vector<T> w_i, h_j, product;
    gather_factor(ht, h_j);   // H^T[MR,*]: rows matching every X_v's local columns
    std::vector<double> sums; // residual, norm per modality
    for (std::size_t v = 0; v < mods.size(); ++v) {
        gather_factor(w[v], w_i); // W_v[MC,*]
        double residual = 0, norm = 0;
        if (const SparseDistMatrix<T> *sp = mods[v].x->sparse()) {
            const std::vector<char> mask = local_mask(observed_runs(mods[v]), sp->local_cols());
            detail::sparse_residual(*sp, w_i.data(), h_j.data(), k, mask.empty() ? nullptr : mask.data(),
                                    residual, norm);
            sums.push_back(residual);
            sums.push_back(norm);
            continue;
        }
        const DistMatrix<T> &x = *mods[v].x->dense();
        const lidx mr = x.local_rows();
        const lidx chunk = std::max<lidx>(1, (lidx{1} << 20) / std::max<lidx>(mr, 1));
        product.resize(static_cast<std::size_t>(std::max<lidx>(mr * chunk, 1)));
        for (const Run &run : observed_runs(mods[v])) {
            for (lidx j0 = run.first; j0 < run.second; j0 += chunk) {
                const lidx cols = std::min(chunk, run.second - j0);
                blas::gemm<T>('T', 'N', mr, cols, k, T{1}, w_i.data(), k, h_j.data() + j0 * k, k, T{0},
                              product.data(), std::max<lidx>(mr, 1));
                for (lidx j = 0; j < cols; ++j) {
                    const T *xc = x.data() + (j0 + j) * x.ld();
                    const T *pc = product.data() + j * mr;
                    for (lidx i = 0; i < mr; ++i) {
                        const double d = static_cast<double>(xc[i]) - static_cast<double>(pc[i]);
                        residual += d * d;
                        norm += static_cast<double>(xc[i]) * static_cast<double>(xc[i]);
                    }
                }
            }
        }
        sums.push_back(residual);
        sums.push_back(norm);
    }
    mpi::allreduce(comm, sums.data(), static_cast<std::int64_t>(sums.size()), mpi::Op::sum);
    std::vector<double> errors;
    for (std::size_t v = 0; v < mods.size(); ++v) {
        errors.push_back(sums[2 * v + 1] > 0 ? std::sqrt(sums[2 * v] / sums[2 * v + 1]) : 0.0);
    }
    return errors;
}

template std::vector<double> validate_joint_input<double>(const std::vector<JointModality<double>> &, gidx);
template std::vector<double> joint_weights<double>(const std::vector<JointModality<double>> &,
                                                   JointWeighting,
                                                   const std::vector<double> &);
template std::vector<Factor<double>> make_joint_w<double>(const std::vector<JointModality<double>> &, gidx);
template void initialize_random_joint<double>(const std::vector<JointModality<double>> &,
                                              std::vector<Factor<double>> &,
                                              Factor<double> &,
                                              std::uint64_t,
                                              const std::vector<IndexOrigin> &);
template JointInfo joint_nmf<double>(const std::vector<JointModality<double>> &,
                                     std::vector<Factor<double>> &,
                                     Factor<double> &,
                                     const JointOptions &);
template std::vector<double> joint_relative_errors_exact<double>(const std::vector<JointModality<double>> &,
                                                                 const std::vector<Factor<double>> &,
                                                                 const Factor<double> &);
template std::vector<double> validate_joint_input<float>(const std::vector<JointModality<float>> &, gidx);
template std::vector<double>
joint_weights<float>(const std::vector<JointModality<float>> &, JointWeighting, const std::vector<double> &);
template std::vector<Factor<float>> make_joint_w<float>(const std::vector<JointModality<float>> &, gidx);
template void initialize_random_joint<float>(const std::vector<JointModality<float>> &,
                                             std::vector<Factor<float>> &,
                                             Factor<float> &,
                                             std::uint64_t,
                                             const std::vector<IndexOrigin> &);
template JointInfo joint_nmf<float>(const std::vector<JointModality<float>> &,
                                    std::vector<Factor<float>> &,
                                    Factor<float> &,
                                    const JointOptions &);
template std::vector<double> joint_relative_errors_exact<float>(const std::vector<JointModality<float>> &,
                                                                const std::vector<Factor<float>> &,
                                                                const Factor<float> &);

} // namespace prism
