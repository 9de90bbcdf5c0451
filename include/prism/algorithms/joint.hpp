#pragma once
/// Joint NMF of several omics matrices over the same samples (integrative NMF):
///
///     X_v (m_v x n) ~= W_v (m_v x k) H (k x n),  v = 0..V-1,  W_v, H >= 0,
///
/// minimising  J = sum_v lambda_v [ 1/2 ||M_v o (X_v - W_v H)||_F^2 + l1_v sum(W_v) + l2_v/2 ||W_v||_F^2 ]
///                 + h.l1 sum(H) + h.l2/2 ||H||_F^2,
///
/// where M_v keeps the samples (columns) modality v observed: a missing sample is not a zero, its entries
/// of X_v are never read (they may hold anything, NaN included). The W_v penalties sit inside lambda_v so
/// that they mean what they mean for prism-nmf on X_v alone, whatever the weighting.
///
/// Distribution: every X_v is a DistMatrix or a SparseDistMatrix (modalities may mix kinds) on the same grid
/// with the same column (sample) distribution, so one H^T Factor lines up with all of them; W_v is a Factor
/// aligned with X_v's rows, exactly as for single NMF (src/algorithms/joint.cpp has the per-iteration
/// communication). No rank holds any X_v, W_v or H whole; the observed flags (one char per sample per
/// modality) are replicated.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "prism/algorithms/options.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/permutation.hpp"

namespace prism {

/// One modality of a joint problem. Plain aggregate; the matrix is borrowed, never modified.
template <typename T> struct JointModality {
    MatrixPtr<T> x = nullptr; ///< &dense or &sparse, m_v x n, non-negative on observed samples
    /// observed[j] != 0 when this modality has sample j (global column index); size n, or empty = all.
    std::vector<char> observed;
    double weight = 1.0;     ///< lambda_v > 0 (see joint_weights)
    Penalty w;               ///< penalties on W_v (inside lambda_v, see above)
    std::string name;        ///< used in error messages, e.g. "rna"
    std::string source = ""; ///< after the name in messages, e.g. "'acc.h5':/RNASeq2GeneNorm"
};

/// How lambda_v is chosen. `automatic`: 1 / ||X_v||_F^2 over the observed samples, so modalities whose
/// scales differ by 10^6 count equally. `equal`: 1. `given`: the values passed in.
enum class JointWeighting { automatic, equal, given };

/// "auto" | "equal" | "given"; throws prism::Error otherwise. Local.
JointWeighting parse_joint_weighting(const std::string &name);
std::string to_string(JointWeighting w);

/// NmfOptions for joint NMF: algorithm, stopping rules, the penalty `h` on H, the HALS floor and the
/// callbacks mean the same as for nmf(). `w` must stay zero: W penalties are per modality
/// (JointModality::w); joint_nmf refuses a nonzero `w` rather than ignoring it.
struct JointOptions : NmfOptions {
    /// Called on every rank with (iteration, per-modality relative errors of that iteration). The values
    /// of iteration `it` become available during iteration it + 1 (see JointInfo), so this runs one
    /// iteration late, and for the last iteration after the loop.
    std::function<void(int, const std::vector<double> &)> on_modality_errors;
};

/// What a joint run did. The NmfInfo fields refer to the whole (weighted) problem: relative_error =
/// sqrt(sum_v lambda_v ||M_v o (X_v - W_v H)||^2 / sum_v lambda_v ||M_v o X_v||^2), objective = J.
struct JointInfo : NmfInfo {
    std::vector<double> weights;                 ///< lambda_v used
    std::vector<double> modality_relative_error; ///< ||M_v o (X_v - W_v H)|| / ||M_v o X_v|| at the end
    std::vector<std::vector<double>> history_modality_relative_error; ///< [v][iteration - 1]
    int sample_patterns = 0; ///< distinct missingness patterns over all samples (1 when nothing is missing)
};

/// Refuses joint input with one clear line naming the modality: no modality, a null matrix, matrices on
/// different grids, a different number of samples or column distribution than modality 0, observed flags
/// of the wrong size (or differing across ranks), a modality with no observed sample, NaN / Inf /
/// negative entries in observed samples (first position given), a modality with no nonzero observed
/// entry, a weight that is not finite and > 0, k < 1 or k > min(sum_v m_v, n).
/// Returns ||M_v o X_v||_F^2 per modality. Collective on the grid of modality 0.
template <typename T>
std::vector<double> validate_joint_input(const std::vector<JointModality<T>> &modalities, gidx k);

/// lambda_v for each modality (see JointWeighting); `given` must have one finite value > 0 per modality
/// for JointWeighting::given and is ignored otherwise. Assign the result to JointModality::weight.
/// Collective on the grid of modality 0 (one all-reduce for `automatic`).
template <typename T>
std::vector<double> joint_weights(const std::vector<JointModality<T>> &modalities,
                                  JointWeighting mode,
                                  const std::vector<double> &given = {});

/// One zero-filled W_v Factor per modality (aligned with X_v's rows) with k columns. Collective.
template <typename T>
std::vector<Factor<T>> make_joint_w(const std::vector<JointModality<T>> &modalities, gidx k);

/// Uniform random initial factors, each entry a pure function of (seed, factor, global row, column), so
/// they do not depend on the grid or block size. H^T uses stream 1, W_0 stream 0, W_v stream v + 1 (v >= 1):
/// with one modality this is exactly initialize_random (same seed, same factors). Scales: s_v =
/// sqrt(mean_v / k) with mean_v the mean observed entry of X_v; H in [0, s_H), s_H the geometric mean of
/// the s_v; W_v in [0, s_v^2 / s_H), so every W_v H starts at its modality's scale.
/// Collective on the grid (one all-reduce).
/// @param[in,out] w   one Factor per modality (see make_joint_w)
/// @param[in,out] ht  H^T, n x k, aligned with the columns of every X_v
/// @param[in] origins  for a --permute run, one IndexOrigin per modality (rows of X_v; the columns of
///                     modality 0's serve H): values are keyed by original indices. Empty: identity.
template <typename T>
void initialize_random_joint(const std::vector<JointModality<T>> &modalities,
                             std::vector<Factor<T>> &w,
                             Factor<T> &ht,
                             std::uint64_t seed,
                             const std::vector<IndexOrigin> &origins = {});

/// Runs joint NMF from the factors given. Collective on the grid.
///
/// Per iteration: W_v <- update with G = H_v H_v^T (H restricted to v's observed samples) and X_v H_v^T;
/// then H <- update where sample j uses G = sum over modalities observing j of lambda_v W_v^T W_v and
/// R = sum of lambda_v X_v^T W_v (samples sharing a missingness pattern are solved together).
/// HALS rescales the columns of the lambda-weighted stacked W (sqrt(sum_v lambda_v ||W_v(:,l)||^2) = 1),
/// H compensating; with one modality this is nmf()'s normalisation, with equal weights and nothing missing
/// it is that of single NMF on the vertically stacked matrix.
/// @param[in]     modalities  data, observed samples, weights, W penalties (validate_joint_input first)
/// @param[in,out] w           W_v, m_v x k each
/// @param[in,out] ht          H^T, n x k; samples observed by no modality end at zero (or the HALS floor)
/// @param[in]     opts        see JointOptions
template <typename T>
JointInfo joint_nmf(const std::vector<JointModality<T>> &modalities,
                    std::vector<Factor<T>> &w,
                    Factor<T> &ht,
                    const JointOptions &opts);

/// ||M_v o (X_v - W_v H)||_F / ||M_v o X_v||_F per modality (0 when the norm is 0), computed directly block
/// by block (no m_v x n temporary), for final reports and tests. Collective on the grid.
template <typename T>
std::vector<double> joint_relative_errors_exact(const std::vector<JointModality<T>> &modalities,
                                                const std::vector<Factor<T>> &w,
                                                const Factor<T> &ht);

} // namespace prism
