// Distributed NMF: one outer iteration, on a pr x pc grid with X_ij the local block of rank (i, j),
//
//   H^T[MR,*]  <- all-gather H^T slabs within the grid column         (n/pc) k words
//   (XH^T) slab <- reduce-scatter of X_ij H_j^T within the grid row     (m/pr) k words
//   W slab     <- local NNLS / HALS / MU with G = H H^T (k x k, already all-reduced)
//   G_W        <- all-reduce of slab Grams W^T W                        k^2 words
//   W[MC,*]    <- all-gather W slabs within the grid row                (m/pr) k words
//   (X^T W) slab <- reduce-scatter of X_ij^T W_i within the grid column (n/pc) k words
//   H^T slab   <- local update with G = W^T W
//   G_H, tr(W^T X H^T), penalties <- one all-reduce                     k^2 + 3 words
//   stop?      <- one 4-word all-reduce: rank 0's decision, any rank's stop request (a signal)
//
// On a grid column of one rank (pr = 1) the H^T slab already is H^T[MR,*] and X^T W needs no sum: that
// gather and reduce-scatter are skipped, not run as copies (likewise W's on a grid row of one, pc = 1), so
// a 1 x 1 grid communicates only the Grams and the stop word.
//
// The objective comes from ||X - WH||^2 = ||X||^2 - 2 tr(W^T X H^T) + tr(G_W G_H) using quantities the
// iteration already has: X^T W (the H update's right-hand side) dotted with the new H^T slab.

#include "prism/algorithms/nmf.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "data_kernels.hpp"
#include "factor_update.hpp"
#include "prism/linalg/blas.hpp"
#include "prism/linalg/dist_products.hpp"
#include "prism/matrix_stats.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/nnls/bpp.hpp"
#include "prism/nnls/hals_update.hpp"
#include "prism/nnls/mu_update.hpp"
#include "prism/util/counter_random.hpp"

namespace prism {

using detail::dot_in_double;
using detail::local_sum;
using detail::local_sum_squares;
using detail::normalise_columns;
using detail::slab_sum;
using detail::trace;
using detail::trace_product;
using detail::update_factor;

namespace {

std::string shape_of(gidx m, gidx n) {
    return std::to_string(m) + " x " + std::to_string(n);
}
std::string at(const Position &p) {
    return "row " + std::to_string(p.row) + ", column " + std::to_string(p.col) + " (0-based)";
}

} // namespace

template <typename T> double validate_nmf_input(MatrixRef<T> x, gidx k, const std::string &name) {
    const gidx m = x.rows(), n = x.cols();
    mpi::agree(x.grid().comm(), m > 0 && n > 0, name + " is empty (" + shape_of(m, n) + ")");
    const MatrixStats s = compute_stats(x);
    auto fail_if = [&](bool bad, const std::string &message) { mpi::agree(x.grid().comm(), !bad, message); };
    fail_if(s.nan_count > 0, name + " has " + std::to_string(s.nan_count) + " NaN entries; the first is at " +
                                 at(s.first_nan) + ". NMF needs finite data");
    fail_if(s.inf_count > 0, name + " has " + std::to_string(s.inf_count) +
                                 " infinite entries; the first is at " + at(s.first_inf) +
                                 ". NMF needs finite data");
    if (s.negative_count > 0) {
        std::ostringstream v;
        v.precision(6);
        v << s.first_negative_value;
        fail_if(true, name + " has " + std::to_string(s.negative_count) + " negative entries; the first is " +
                          v.str() + " at " + at(s.first_negative) + ". NMF needs X >= 0");
    }
    fail_if(s.nonzeros == 0, name + " has no nonzero entries (" + shape_of(m, n) + "): nothing to factorize");
    fail_if(k < 1, "rank k = " + std::to_string(k) + " must be at least 1");
    fail_if(k > std::min(m, n), "rank k = " + std::to_string(k) +
                                    " exceeds min(m, n) = " + std::to_string(std::min(m, n)) + " for " +
                                    name + " (" + shape_of(m, n) + ")");
    return s.sum_squares;
}

template <typename T>
void initialize_random(
    NoDeduce<MatrixRef<T>> x, Factor<T> &w, Factor<T> &ht, std::uint64_t seed, const IndexOrigin &origin) {
    const double total = mpi::allreduce_value(x.grid().comm(), local_sum<T>(x), mpi::Op::sum);
    const double entries = static_cast<double>(x.rows()) * static_cast<double>(x.cols());
    const double mean = entries > 0 ? total / entries : 0.0;
    const double scale = std::sqrt(std::max(mean, 0.0) / static_cast<double>(w.k()));
    for (lidx r = 0; r < w.rows(); ++r) {
        for (gidx l = 0; l < w.k(); ++l) {
            w.at(r, l) = static_cast<T>(scale * counter_uniform(seed, 0, origin.row(w.global_index(r)), l));
        }
    }
    for (lidx r = 0; r < ht.rows(); ++r) {
        for (gidx l = 0; l < ht.k(); ++l) {
            ht.at(r, l) = static_cast<T>(scale * counter_uniform(seed, 1, origin.col(ht.global_index(r)), l));
        }
    }
}

template <typename T>
NmfInfo nmf(NoDeduce<MatrixRef<T>> x, Factor<T> &w, Factor<T> &ht, const NmfOptions &opts) {
    const Grid &grid = x.grid();
    const mpi::Comm &comm = grid.comm();
    const gidx k = w.k();
    mpi::agree(comm, w.k() == ht.k() && w.global_rows() == x.rows() && ht.global_rows() == x.cols(),
               "factor shapes do not match the data");
    NmfInfo info;
    const double x_norm2 = mpi::allreduce_value(comm, local_sum_squares<T>(x), mpi::Op::sum);
    const double x_norm2_safe = x_norm2 > 0 ? x_norm2 : 1.0;

    ProductWorkspace<T> ws;
    std::vector<T> gram_w, gram_h, cross_w, cross_h, scratch;
    nnls::BppStats bpp;
    detail::IterationControl control(comm, opts);
    const int first = control.begin(info);
    // A resumed run recomputes G_H in a message of the loop's size (k^2 + 3): the same reduction order,
    // so the same bits as the uninterrupted run's G_H from the end of iteration first - 1.
    gram_allreduce(ht, gram_h, first > 1 ? 3 : 0);
    gram_h.resize(static_cast<std::size_t>(k * k));

    for (int it = first; it <= opts.max_iter; ++it) {
        const double t_iter = MPI_Wtime();
        // ---- W update: needs H H^T (gram_h) and X H^T restricted to my W rows.
        double t = MPI_Wtime();
        const T *ht_gathered = gathered_factor(ht, ws.gathered);
        info.t_comm += MPI_Wtime() - t;
        x_times_factor<T>(x, ht_gathered, w, ws, cross_w);
        t = MPI_Wtime();
        update_factor(opts.algorithm, gram_h, cross_w, opts.w, opts.hals_floor, w, scratch, bpp);
        info.t_solve += MPI_Wtime() - t;

        // ---- H update: needs W^T W and X^T W restricted to my H^T rows.
        t = MPI_Wtime();
        gram_allreduce(w, gram_w);
        info.t_grams += MPI_Wtime() - t;
        if (opts.algorithm == Algorithm::hals && penalty_free(opts.w) && penalty_free(opts.h)) {
            normalise_columns(gram_w, w, ht);
        }
        t = MPI_Wtime();
        const T *w_gathered = gathered_factor(w, ws.gathered);
        info.t_comm += MPI_Wtime() - t;
        x_times_factor<T>(x, w_gathered, ht, ws, cross_h);
        t = MPI_Wtime();
        update_factor(opts.algorithm, gram_w, cross_h, opts.h, opts.hals_floor, ht, scratch, bpp);
        info.t_solve += MPI_Wtime() - t;

        // ---- Objective pieces ride along with the next iteration's Gram: one all-reduce.
        const double cross_trace = dot_in_double(cross_h.data(), ht.data(), ht.rows() * k);
        t = MPI_Wtime();
        gram_h.resize(static_cast<std::size_t>(k * k + 3));
        gram_h[static_cast<std::size_t>(k * k)] = static_cast<T>(cross_trace);
        gram_h[static_cast<std::size_t>(k * k + 1)] = static_cast<T>(opts.w.l1 != 0 ? slab_sum(w) : 0.0);
        gram_h[static_cast<std::size_t>(k * k + 2)] = static_cast<T>(opts.h.l1 != 0 ? slab_sum(ht) : 0.0);
        gram_allreduce(ht, gram_h, 3);
        info.t_grams += MPI_Wtime() - t;
        const double tr_wxh = static_cast<double>(gram_h[static_cast<std::size_t>(k * k)]);
        const double fit2 = std::max(0.0, x_norm2 - 2 * tr_wxh + trace_product(gram_w, gram_h, k));
        const double objective = 0.5 * fit2 + opts.w.l1 * static_cast<double>(gram_h[k * k + 1]) +
                                 opts.h.l1 * static_cast<double>(gram_h[k * k + 2]) +
                                 0.5 * opts.w.l2 * trace(gram_w, k) + 0.5 * opts.h.l2 * trace(gram_h, k);
        gram_h.resize(static_cast<std::size_t>(k * k));
        const double relative_error = std::sqrt(fit2 / x_norm2_safe);

        // ---- Stop? Rank 0 decides, any rank may ask, all learn it together: no rank leaves the loop alone.
        if (control.end_iteration(it, t_iter, objective, relative_error, info)) {
            break;
        }
    }
    control.finish(info, bpp, ws.seconds_local, ws.seconds_comm);
    return info;
}

template <typename T>
double relative_error_exact(NoDeduce<MatrixRef<T>> xr, const Factor<T> &w, const Factor<T> &ht) {
    const mpi::Comm &comm = xr.grid().comm();
    std::vector<T> w_i, h_j;
    gather_factor(w, w_i);  // W[MC,*]: rows matching X_ij's local rows
    gather_factor(ht, h_j); // H^T[MR,*]: rows matching X_ij's local columns
    const gidx k = w.k();
    if (const SparseDistMatrix<T> *sp = xr.sparse()) {
        double sums[2] = {0, 0};
        detail::sparse_residual(*sp, w_i.data(), h_j.data(), k, nullptr, sums[0], sums[1]);
        mpi::allreduce(comm, sums, 2, mpi::Op::sum);
        return sums[1] > 0 ? std::sqrt(sums[0] / sums[1]) : 0.0;
    }
    const DistMatrix<T> &x = *xr.dense();
    const lidx mr = x.local_rows(), nc = x.local_cols();
    const lidx chunk = std::max<lidx>(1, std::min<lidx>(nc, (lidx{1} << 20) / std::max<lidx>(mr, 1)));
    std::vector<T> product(static_cast<std::size_t>(std::max<lidx>(mr * chunk, 1)));
    double residual = 0, norm = 0;
    for (lidx j0 = 0; j0 < nc; j0 += chunk) {
        const lidx cols = std::min(chunk, nc - j0);
        // product (mr x cols) = W_i (mr x k) H_j(j0:j0+cols)^T, W_i stored as column-major k x mr.
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
    double sums[2] = {residual, norm};
    mpi::allreduce(comm, sums, 2, mpi::Op::sum);
    return sums[1] > 0 ? std::sqrt(sums[0] / sums[1]) : 0.0;
}

template double validate_nmf_input<double>(MatrixRef<double>, gidx, const std::string &);
template double validate_nmf_input<float>(MatrixRef<float>, gidx, const std::string &);
template void initialize_random<double>(
    MatrixRef<double>, Factor<double> &, Factor<double> &, std::uint64_t, const IndexOrigin &);
template void initialize_random<float>(
    MatrixRef<float>, Factor<float> &, Factor<float> &, std::uint64_t, const IndexOrigin &);
template NmfInfo nmf<double>(MatrixRef<double>, Factor<double> &, Factor<double> &, const NmfOptions &);
template NmfInfo nmf<float>(MatrixRef<float>, Factor<float> &, Factor<float> &, const NmfOptions &);
template double
relative_error_exact<double>(MatrixRef<double>, const Factor<double> &, const Factor<double> &);
template double relative_error_exact<float>(MatrixRef<float>, const Factor<float> &, const Factor<float> &);

} // namespace prism
