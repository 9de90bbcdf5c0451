#include "prism/nnls/bpp.hpp"

#include "prism/error.hpp"
#include "prism/linalg/lapack_abi.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace prism::nnls {

namespace {

using Word = std::uint64_t;
constexpr lidx word_bits = 64;
constexpr double eps = std::numeric_limits<double>::epsilon();
// Violations smaller than this (relative to the magnitudes that produced them) are roundoff: counting them
// would make degenerate problems exchange forever.
constexpr double feas_tol = 32 * eps;
// Kim & Park's p: full exchanges allowed without shrinking the infeasible set before the backup rule.
constexpr int full_exchange_budget = 3;

/// Read-only data shared by all threads.
struct Problem {
    double const *g = nullptr;     // k×k, ld k, double copy of G
    double const *g_abs = nullptr; // row sums of |G|, scale for the dual tolerance
    lidx k = 0;
    lidx nw = 0; // words per passive-set bitmask
    lidx max_iter = 0;
    double l1 = 0.0;
};

/// Per-thread buffers, allocated once per call and reused for every block (no per-column allocation).
struct Workspace {
    Workspace(lidx k, lidx nb, lidx nw)
        : r(k * nb), x(k * nb), y(k * nb), rhs(k * nb), best(nb), xmax(nb), pass(nw * nb), alpha(nb),
          beta(nb), nviol(nb), active(nb), infeasible(nb), gff(k * k), d(k), tmp(k), work(2 * k), idx(k),
          piv(k) {}

    std::vector<double> r, x, y, rhs; // k per column; x is zero outside F, y is zero inside F
    std::vector<double> best, xmax;   // per column: best feasible objective so far, max |x_F|
    std::vector<Word> pass;           // per column: passive-set bitmask
    std::vector<int> alpha;           // per column: full exchanges left (Kim & Park alpha)
    std::vector<lidx> beta, nviol;    // per column: smallest infeasible count seen, current count
    std::vector<lidx> active, infeasible;
    std::vector<double> gff, d, tmp, work; // factor of G[F,F], equilibration, permutation, pstrf work
    std::vector<int> idx, piv;
};

bool in_passive(Workspace const &ws, lidx nw, lidx c, lidx i) {
    return ((ws.pass[c * nw + i / word_bits] >> (i % word_bits)) & 1U) != 0;
}

void flip(Workspace &ws, lidx nw, lidx c, lidx i) {
    ws.pass[c * nw + i / word_bits] ^= Word{1} << (i % word_bits);
}

bool violates(Problem const &pb, Workspace const &ws, lidx c, lidx i) {
    lidx const o = c * pb.k + i;
    if (in_passive(ws, pb.nw, c, i))
        return ws.x[o] < -feas_tol * ws.xmax[c];
    return ws.y[o] < -feas_tol * (std::abs(ws.r[o]) + pb.g_abs[i] * ws.xmax[c]);
}

/// How G[F,F] was factored: rank == p and !pivoted for plain Cholesky.
struct Factorization {
    int rank = 0;
    bool pivoted = false;
};

/// Factors D G[F,F] D (D = diag(G_ii)^{-1/2}, zero for a zero diagonal) into ws.gff (ld p). Equilibration
/// makes the singularity test scale-free: a pivot below tol means that variable is numerically a
/// combination of earlier ones (e.g. duplicate columns in the Gram), and plain Cholesky would return garbage.
Factorization factor(Problem const &pb, Workspace &ws, int p, BppStats &st) {
    ++st.factorizations;
    double const *g = pb.g;
    lidx const k = pb.k;
    for (int a = 0; a < p; ++a) {
        double const gaa = g[ws.idx[a] + ws.idx[a] * k];
        ws.d[a] = gaa > 0 ? 1.0 / std::sqrt(gaa) : 0.0;
    }
    auto load = [&] {
        for (int b = 0; b < p; ++b)
            for (int a = 0; a < p; ++a)
                ws.gff[a + b * p] = ws.d[a] * g[ws.idx[a] + ws.idx[b] * k] * ws.d[b];
    };
    load();
    double const tol = 16.0 * p * eps;
    int info = 0;
    dpotrf_("L", &p, ws.gff.data(), &p, &info, 1);
    bool ok = info == 0;
    for (int a = 0; ok && a < p; ++a) {
        double const l = ws.gff[a + a * p];
        ok = l * l > tol;
    }
    if (ok)
        return {p, false};

    ++st.pivoted_fallbacks;
    load();
    int rank = 0;
    dpstrf_("L", &p, ws.gff.data(), &p, ws.piv.data(), &rank, &tol, ws.work.data(), &info, 1);
    // info < 0 would be an argument bug; rank 0 (all-zero block) is handled by the caller.
    if (info < 0)
        rank = 0;
    return {rank, true};
}

/// Solves G[F,F] x_F = r_F for block columns active[g0..g1), which share F, and evaluates each column:
/// dual y, infeasibility count, and the best-feasible-iterate bookkeeping. Final answers go to X.
template <typename T>
void solve_group(Problem const &pb, Workspace &ws, lidx g0, lidx g1, T *X, lidx ldx, BppStats &st) {
    lidx const k = pb.k;
    lidx const nw = pb.nw;
    lidx const c_first = ws.active[g0];
    int p = 0;
    for (lidx i = 0; i < k; ++i)
        if (in_passive(ws, nw, c_first, i))
            ws.idx[p++] = static_cast<int>(i);

    for (lidx t = g0; t < g1; ++t) {
        double *xc = &ws.x[ws.active[t] * k];
        std::fill(xc, xc + k, 0.0);
    }
    if (p > 0) {
        Factorization const f = factor(pb, ws, p, st);
        int const ng = static_cast<int>(g1 - g0);
        // Gather scaled, permuted right-hand sides: rhs(:, t) = Pᵀ D r_F.
        for (lidx t = g0; t < g1; ++t) {
            double const *rc = &ws.r[ws.active[t] * k];
            double *b = &ws.rhs[(t - g0) * p];
            for (int a = 0; a < p; ++a)
                b[a] = ws.d[a] * rc[ws.idx[a]];
            if (f.pivoted) {
                for (int a = 0; a < p; ++a)
                    ws.tmp[a] = b[ws.piv[a] - 1];
                std::copy(ws.tmp.begin(), ws.tmp.begin() + p, b);
            }
        }
        if (f.rank > 0) {
            int info = 0;
            int const n = f.rank;
            dpotrs_("L", &n, &ng, ws.gff.data(), &p, ws.rhs.data(), &p, &info, 1);
        }
        // Scatter x_F = D P z; the non-pivot tail of z is the basic solution's zeros.
        for (lidx t = g0; t < g1; ++t) {
            double *xc = &ws.x[ws.active[t] * k];
            double const *b = &ws.rhs[(t - g0) * p];
            for (int a = 0; a < p; ++a) {
                int const loc = f.pivoted ? ws.piv[a] - 1 : a;
                xc[ws.idx[loc]] = a < f.rank ? ws.d[loc] * b[a] : 0.0;
            }
        }
    }

    double const *g = pb.g;
    for (lidx t = g0; t < g1; ++t) {
        lidx const c = ws.active[t];
        double *xc = &ws.x[c * k];
        double *yc = &ws.y[c * k];
        double const *rc = &ws.r[c * k];
        // yc <- G[:,F] x_F (the full gradient term), accumulated column by column (contiguous in G).
        std::fill(yc, yc + k, 0.0);
        double xm = 0.0;
        bool negative = false;
        for (int a = 0; a < p; ++a) {
            lidx const j = ws.idx[a];
            double const xj = xc[j];
            xm = std::max(xm, std::abs(xj));
            negative = negative || xj < 0;
            if (xj != 0.0)
                for (lidx i = 0; i < k; ++i)
                    yc[i] += xj * g[i + j * k];
        }
        ws.xmax[c] = xm;
        // Objective of the clamped iterate max(x, 0), which is always feasible.
        double obj = 0.0;
        if (!negative) {
            for (int a = 0; a < p; ++a) {
                lidx const j = ws.idx[a];
                obj += xc[j] * (0.5 * yc[j] - rc[j]);
            }
        } else {
            for (int a = 0; a < p; ++a) {
                lidx const ia = ws.idx[a];
                if (!(xc[ia] > 0))
                    continue;
                double gx = 0.0;
                for (int b = 0; b < p; ++b) {
                    lidx const ib = ws.idx[b];
                    if (xc[ib] > 0)
                        gx += g[ia + ib * k] * xc[ib];
                }
                obj += xc[ia] * (0.5 * gx - rc[ia]);
            }
        }
        for (lidx i = 0; i < k; ++i)
            yc[i] = in_passive(ws, nw, c, i) ? 0.0 : yc[i] - rc[i];

        lidx nv = 0;
        for (lidx i = 0; i < k; ++i)
            nv += violates(pb, ws, c, i) ? 1 : 0;
        ws.nviol[c] = nv;
        // Optimal iterate: always written. Otherwise keep the best clamped iterate for a possible cap.
        if (nv == 0 || obj < ws.best[c]) {
            ws.best[c] = obj;
            T *xo = X + c * ldx;
            for (lidx i = 0; i < k; ++i)
                xo[i] = xc[i] > 0 ? static_cast<T>(xc[i]) : T(0);
        }
    }
}

/// Kim & Park exchange rule for one infeasible column.
void exchange(Problem const &pb, Workspace &ws, lidx c, BppStats &st) {
    lidx const nv = ws.nviol[c];
    bool full = true;
    if (nv < ws.beta[c]) {
        ws.beta[c] = nv;
        ws.alpha[c] = full_exchange_budget;
    } else if (ws.alpha[c] >= 1) {
        --ws.alpha[c];
    } else {
        full = false;
    }
    if (full) {
        // Decide all flips from the current (x, y) before changing the mask.
        lidx n = 0;
        for (lidx i = 0; i < pb.k; ++i)
            if (violates(pb, ws, c, i))
                ws.idx[n++] = static_cast<int>(i);
        for (lidx a = 0; a < n; ++a)
            flip(ws, pb.nw, c, ws.idx[a]);
    } else {
        ++st.backup_exchanges;
        for (lidx i = pb.k - 1; i >= 0; --i)
            if (violates(pb, ws, c, i)) {
                flip(ws, pb.nw, c, i);
                break;
            }
    }
}

/// Runs BPP on columns [c0, c0 + nb) of R/X.
template <typename T>
void solve_block(Problem const &pb,
                 Workspace &ws,
                 T const *R,
                 lidx ldr,
                 T *X,
                 lidx ldx,
                 bool warm,
                 lidx c0,
                 lidx nb,
                 BppStats &st) {
    lidx const k = pb.k;
    lidx const nw = pb.nw;
    T *xb = X + c0 * ldx;
    for (lidx c = 0; c < nb; ++c) {
        T const *rc = R + (c0 + c) * ldr;
        T *xc = xb + c * ldx;
        Word *mask = &ws.pass[c * nw];
        std::fill(mask, mask + nw, Word{0});
        for (lidx i = 0; i < k; ++i) {
            ws.r[c * k + i] = static_cast<double>(rc[i]) - pb.l1;
            if (warm && xc[i] > 0) // false for NaN
                mask[i / word_bits] |= Word{1} << (i % word_bits);
            xc[i] = T(0);
        }
        ws.best[c] = 0.0; // x = 0 is feasible with objective 0
        ws.alpha[c] = full_exchange_budget;
        ws.beta[c] = k + 1;
        ws.active[c] = c;
    }
    st.columns += nb;

    lidx n_active = nb;
    for (lidx iter = 0;; ++iter) {
        // Group columns with equal passive sets: sort by mask, then one factorization per run.
        auto mask_less = [&](lidx a, lidx b) {
            return std::lexicographical_compare(&ws.pass[a * nw], &ws.pass[a * nw] + nw, &ws.pass[b * nw],
                                                &ws.pass[b * nw] + nw);
        };
        std::sort(ws.active.begin(), ws.active.begin() + n_active, mask_less);
        for (lidx g0 = 0; g0 < n_active;) {
            lidx g1 = g0 + 1;
            while (g1 < n_active &&
                   std::equal(&ws.pass[ws.active[g0] * nw], &ws.pass[ws.active[g0] * nw] + nw,
                              &ws.pass[ws.active[g1] * nw]))
                ++g1;
            solve_group(pb, ws, g0, g1, xb, ldx, st);
            g0 = g1;
        }

        lidx n_inf = 0;
        for (lidx t = 0; t < n_active; ++t) {
            lidx const c = ws.active[t];
            if (ws.nviol[c] > 0)
                ws.infeasible[n_inf++] = c;
            else
                st.exchange_rounds += iter;
        }
        st.iterations = std::max(st.iterations, iter);
        if (n_inf == 0)
            return;
        if (iter >= pb.max_iter) {
            // X already holds each column's best clamped iterate.
            st.cap_hits += n_inf;
            st.exchange_rounds += n_inf * iter;
            return;
        }
        for (lidx t = 0; t < n_inf; ++t)
            exchange(pb, ws, ws.infeasible[t], st);
        std::copy(ws.infeasible.begin(), ws.infeasible.begin() + n_inf, ws.active.begin());
        n_active = n_inf;
    }
}

} // namespace

template <typename T>
void bpp_solve(T const *G,
               lidx k,
               T const *R,
               lidx ldr,
               lidx nrhs,
               T *X,
               lidx ldx,
               BppOptions const &opts,
               BppStats *stats) {
    PRISM_CHECK(k >= 0 && nrhs >= 0,
                "bpp_solve: negative size k=" + std::to_string(k) + " nrhs=" + std::to_string(nrhs));
    narrow<int>(k, "bpp_solve: k (LAPACK int)");
    PRISM_CHECK(ldr >= std::max<lidx>(1, k) && ldx >= std::max<lidx>(1, k),
                "bpp_solve: leading dimensions ldr=" + std::to_string(ldr) + " ldx=" + std::to_string(ldx) +
                    " smaller than k=" + std::to_string(k));
    PRISM_CHECK(opts.max_iter >= 0 && opts.block_cols >= 0, "bpp_solve: negative max_iter or block_cols");
    PRISM_CHECK(opts.l1 >= 0 && std::isfinite(opts.l1), "bpp_solve: l1 must be finite and >= 0");
    if (stats != nullptr)
        *stats = BppStats{};
    if (k == 0 || nrhs == 0)
        return;
    PRISM_CHECK(G != nullptr && R != nullptr && X != nullptr, "bpp_solve: null matrix pointer");

    lidx const nb_max = opts.block_cols == 0 ? nrhs : std::min(opts.block_cols, nrhs);
    narrow<int>(nb_max, "bpp_solve: columns per block (LAPACK int)");

    std::vector<double> g(k * k);
    std::vector<double> g_abs(k, 0.0);
    for (lidx j = 0; j < k; ++j)
        for (lidx i = 0; i < k; ++i) {
            g[i + j * k] = static_cast<double>(G[i + j * k]);
            g_abs[i] += std::abs(g[i + j * k]);
        }
    Problem pb;
    pb.g = g.data();
    pb.g_abs = g_abs.data();
    pb.k = k;
    pb.nw = (k + word_bits - 1) / word_bits;
    pb.max_iter = opts.max_iter > 0 ? opts.max_iter : std::max<lidx>(100, 10 * k);
    pb.l1 = opts.l1;

    lidx const n_blocks = (nrhs + nb_max - 1) / nb_max;
    BppStats total;
    std::exception_ptr failure;
    // Exceptions (only bad_alloc is possible) must not cross the OpenMP region, and every thread must reach
    // the worksharing loop, so failures are recorded and rethrown after the region.
#ifdef _OPENMP
#pragma omp parallel if (n_blocks > 1)
#endif
    {
        BppStats local;
        std::unique_ptr<Workspace> ws;
        try {
            ws = std::make_unique<Workspace>(k, nb_max, pb.nw);
        } catch (...) {
#ifdef _OPENMP
#pragma omp critical(prism_bpp_error)
#endif
            failure = std::current_exception();
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (lidx b = 0; b < n_blocks; ++b) {
            if (!ws)
                continue;
            lidx const c0 = b * nb_max;
            try {
                solve_block(pb, *ws, R, ldr, X, ldx, opts.warm_start, c0, std::min(nb_max, nrhs - c0), local);
            } catch (...) {
#ifdef _OPENMP
#pragma omp critical(prism_bpp_error)
#endif
                failure = std::current_exception();
            }
        }
#ifdef _OPENMP
#pragma omp critical(prism_bpp_stats)
#endif
        total += local;
    }
    if (failure)
        std::rethrow_exception(failure);
    if (stats != nullptr)
        *stats = total;
}

template void bpp_solve<float>(float const *G,
                               lidx k,
                               float const *R,
                               lidx ldr,
                               lidx nrhs,
                               float *X,
                               lidx ldx,
                               BppOptions const &opts,
                               BppStats *stats);
template void bpp_solve<double>(double const *G,
                                lidx k,
                                double const *R,
                                lidx ldr,
                                lidx nrhs,
                                double *X,
                                lidx ldx,
                                BppOptions const &opts,
                                BppStats *stats);

} // namespace prism::nnls
