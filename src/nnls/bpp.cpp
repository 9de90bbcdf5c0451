#include "prism/nnls/bpp.hpp"

#include "prism/error.hpp"
#include "prism/linalg/blas.hpp"
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
// Schur path: a passive residual above this (relative to |r| + |G||x|) triggers iterative refinement.
constexpr double refine_tol = 64 * eps;
constexpr int max_refinements = 2;
// Schur path only when the equilibrated G's smallest Cholesky pivot (squared) exceeds this, i.e. cond(G)
// stays below ~1e10: refinement then recovers full accuracy in one or two steps.
constexpr double schur_min_pivot = 1e-10;

/// Read-only data shared by all threads.
struct Problem {
    double const *g = nullptr;     // k×k, ld k, double copy of G
    double const *g_abs = nullptr; // row sums of |G|, scale for the dual tolerance
    double const *d = nullptr;     // equilibration diag(G_ii)^{-1/2} (0 for a zero diagonal)
    double const *gs = nullptr;    // D G D, k×k: every G[F,F] to factor is a gather from it
    double const *minv = nullptr;  // (D G D)^{-1} when D G D is safely positive definite, else null
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
          piv(k), lrow(k * k), inv_diag(k), pivot(k), factored(k), lsch(k * k), inv_sch(k), piv_sch(k),
          full(k), aidx(k), bbuf(k * nb), zbuf(k * nb), ybuf(k * nb), via_schur(nb), zpos(nb) {}

    std::vector<double> r, x, y, rhs; // k per column; x is zero outside F, y is zero inside F
    std::vector<double> best, xmax;   // per column: best feasible objective so far, max |x_F|
    std::vector<Word> pass;           // per column: passive-set bitmask
    std::vector<int> alpha;           // per column: full exchanges left (Kim & Park alpha)
    std::vector<lidx> beta, nviol;    // per column: smallest infeasible count seen, current count
    std::vector<lidx> active, infeasible;
    std::vector<double> gff, d, tmp, work; // factor of G[F,F], equilibration, permutation, pstrf work
    std::vector<int> idx, piv;
    // Unpivoted factor of the last group, kept so the next group (sorted to share leading passive indices)
    // only computes its new rows: lrow is column-major L (ld k), pivot the squared diagonal before the sqrt.
    std::vector<double> lrow, inv_diag, pivot;
    std::vector<int> factored; // passive indices of the rows in lrow, ascending
    int n_factored = 0;        // valid rows of lrow (0 after a pivoted fallback)
    // Schur path: factor of M[A,A] (M = (D G D)^{-1}, A the active set), a full-length scaled vector, A.
    std::vector<double> lsch, inv_sch, piv_sch, full;
    std::vector<int> aidx;
    // k per active column of a round: B (then X), Z = M B and Y = G X, each one gemm per round.
    std::vector<double> bbuf, zbuf, ybuf;
    std::vector<char> via_schur; // per column: solved on the Schur path this round
    bool schur_fallback_done = false;
    std::vector<lidx> zpos; // per position in the round: its column of zbuf, -1 if none
};

inline __attribute__((always_inline)) bool in_passive(Workspace const &ws, lidx nw, lidx c, lidx i) {
    return ((ws.pass[c * nw + i / word_bits] >> (i % word_bits)) & 1U) != 0;
}

void flip(Workspace &ws, lidx nw, lidx c, lidx i) {
    ws.pass[c * nw + i / word_bits] ^= Word{1} << (i % word_bits);
}

inline __attribute__((always_inline)) bool violates(Problem const &pb, Workspace const &ws, lidx c, lidx i) {
    lidx const o = c * pb.k + i;
    if (in_passive(ws, pb.nw, c, i))
        return ws.x[o] < -feas_tol * ws.xmax[c];
    return ws.y[o] < -feas_tol * (std::abs(ws.r[o]) + pb.g_abs[i] * ws.xmax[c]);
}

/// How G[F,F] was factored: rank == p and !pivoted for the unpivoted factor in ws.lrow.
struct Factorization {
    int rank = 0;
    bool pivoted = false;
};

// With GCC on x86-64 the small dense kernels below get an AVX2/FMA clone picked at load time (as the HALS
// sweep does): the build targets baseline x86-64, where these loops run at half width without FMA.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PRISM_BPP_CLONES __attribute__((target_clones("fma", "default")))
#else
#define PRISM_BPP_CLONES
#endif

/// Appends rows q..p-1 of the unpivoted Cholesky factor of gs[F,F] (F = idx) to the column-major L (ld k):
/// each row by forward substitution against the rows before it, as axpy updates along L's columns
/// (contiguous, so they vectorise). Returns the first row whose pivot fails (<= tol or NaN), or p.
/// pivot[a] keeps the squared diagonal before the square root.
PRISM_BPP_CLONES int append_rows(double const *gs,
                                 lidx k,
                                 int const *idx,
                                 int q,
                                 int p,
                                 double tol,
                                 double *l,
                                 double *inv_diag,
                                 double *pivot,
                                 double *s) {
    for (int a = q; a < p; ++a) {
        double const *ga = gs + static_cast<lidx>(idx[a]) * k;
        for (int c = 0; c <= a; ++c)
            s[c] = ga[idx[c]];
        for (int b = 0; b < a; ++b) {
            double const lab = s[b] * inv_diag[b];
            double *lb = l + static_cast<lidx>(b) * k;
            lb[a] = lab;
            for (int c = b + 1; c <= a; ++c) // c == a subtracts lab^2 from the pivot
                s[c] -= lab * lb[c];
        }
        pivot[a] = s[a];
        if (!(s[a] > tol))
            return a;
        double const laa = std::sqrt(s[a]);
        l[a + static_cast<lidx>(a) * k] = laa;
        inv_diag[a] = 1.0 / laa;
    }
    return p;
}

/// Solves L Lᵀ z = b in place with the unpivoted column-major factor L (ld k, p rows).
PRISM_BPP_CLONES void solve_unpivoted(double const *l, double const *inv_diag, lidx k, int p, double *b) {
    for (int a = 0; a < p; ++a) {
        double const za = b[a] * inv_diag[a];
        b[a] = za;
        double const *la = l + static_cast<lidx>(a) * k;
        for (int c = a + 1; c < p; ++c)
            b[c] -= za * la[c];
    }
    for (int a = p - 1; a >= 0; --a) {
        double const *la = l + static_cast<lidx>(a) * k;
        // Four partial sums: one running sum would serialise on the add latency.
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        int c = a + 1;
        for (; c + 3 < p; c += 4) {
            s0 += la[c] * b[c];
            s1 += la[c + 1] * b[c + 1];
            s2 += la[c + 2] * b[c + 2];
            s3 += la[c + 3] * b[c + 3];
        }
        for (; c < p; ++c)
            s0 += la[c] * b[c];
        b[a] = (b[a] - ((s0 + s1) + (s2 + s3))) * inv_diag[a];
    }
}

/// y = G[:,F] x_F (G k×k column-major; x holds zeros outside F).
PRISM_BPP_CLONES void
gradient_term(double const *g, lidx k, int const *idx, int p, double const *x, double *y) {
    std::fill(y, y + k, 0.0);
    for (int a = 0; a < p; ++a) {
        double const xj = x[idx[a]];
        if (xj == 0.0)
            continue;
        double const *gj = g + static_cast<lidx>(idx[a]) * k;
        for (lidx i = 0; i < k; ++i)
            y[i] += xj * gj[i];
    }
}

/// Factors D G[F,F] D (D = diag(G_ii)^{-1/2}, zero for a zero diagonal), F = ws.idx[0..p). Equilibration
/// makes the singularity test scale-free: a pivot below tol means that variable is numerically a combination
/// of earlier ones (e.g. duplicate columns in the Gram), and plain Cholesky would return garbage.
///
/// The unpivoted factor is computed inline into ws.lrow: for k ~ 50 the LAPACK calls (potrf, potrs) cost
/// more in call and blocking overhead than the arithmetic. Row a of L depends only on rows 0..a, so the rows
/// whose passive indices equal those of the previous group's factor are reused. A failed pivot falls back
/// to pivoted Cholesky (dpstrf) into ws.gff.
Factorization factor(Problem const &pb, Workspace &ws, int p, BppStats &st) {
    ++st.factorizations;
    lidx const k = pb.k;
    double const *gs = pb.gs;
    for (int a = 0; a < p; ++a)
        ws.d[a] = pb.d[ws.idx[a]];
    double const tol = 16.0 * p * eps;

    int q = 0; // rows shared with the previous factor
    while (q < p && q < ws.n_factored && ws.factored[q] == ws.idx[q])
        ++q;
    bool ok = true;
    for (int a = 0; a < q && ok; ++a) // the shared pivots must pass this (larger-p) tolerance too
        ok = ws.pivot[a] > tol;
    if (ok) {
        st.reused_rows += q;
        int const good = append_rows(gs, k, ws.idx.data(), q, p, tol, ws.lrow.data(), ws.inv_diag.data(),
                                     ws.pivot.data(), ws.tmp.data());
        std::copy(ws.idx.begin() + q, ws.idx.begin() + good, ws.factored.begin() + q);
        ws.n_factored = good;
        ok = good == p;
    }
    if (ok)
        return {p, false};

    ++st.pivoted_fallbacks;
    for (int b = 0; b < p; ++b)
        for (int a = 0; a < p; ++a)
            ws.gff[a + b * p] = gs[ws.idx[a] + ws.idx[b] * k];
    int rank = 0;
    int info = 0;
    dpstrf_("L", &p, ws.gff.data(), &p, ws.piv.data(), &rank, &tol, ws.work.data(), &info, 1);
    // info < 0 would be an argument bug; rank 0 (all-zero block) is handled by the caller.
    if (info < 0)
        rank = 0;
    return {rank, true};
}

/// max_a |x[idx[a]]| with four running maxima (one would serialise on the max latency).
PRISM_BPP_CLONES double max_abs_gather(double const *x, int const *idx, int p) {
    double m0 = 0.0, m1 = 0.0, m2 = 0.0, m3 = 0.0;
    int a = 0;
    for (; a + 3 < p; a += 4) {
        m0 = std::max(m0, std::abs(x[idx[a]]));
        m1 = std::max(m1, std::abs(x[idx[a + 1]]));
        m2 = std::max(m2, std::abs(x[idx[a + 2]]));
        m3 = std::max(m3, std::abs(x[idx[a + 3]]));
    }
    for (; a < p; ++a)
        m0 = std::max(m0, std::abs(x[idx[a]]));
    return std::max(std::max(m0, m1), std::max(m2, m3));
}

/// z += alpha m (k-length).
PRISM_BPP_CLONES void axpy_column(double const *m, lidx k, double alpha, double *z) {
    for (lidx i = 0; i < k; ++i)
        z[i] += alpha * m[i];
}

/// z = M v for symmetric M (k×k, column-major), as axpy updates along M's columns.
PRISM_BPP_CLONES void sym_matvec(double const *m, lidx k, double const *v, double *z) {
    std::fill(z, z + k, 0.0);
    for (lidx j = 0; j < k; ++j) {
        double const vj = v[j];
        if (vj == 0.0)
            continue;
        double const *mj = m + j * k;
        for (lidx i = 0; i < k; ++i)
            z[i] += vj * mj[i];
    }
}

/// Schur-complement solve of (D G D)[F,F] z_F = b_F through M = (D G D)^{-1} and the factor of M[A,A] in
/// ws.lsch: with t_A = -M[A,A]^{-1} M[A,F] b_F, the full solution of (D G D) z = [b_F; t_A] has z_A = 0,
/// so z_F solves the passive system. Costs one k×k product and an |A|×|A| solve instead of a p×p
/// factorization. schur_solve: in ws.full = b on F, 0 on A; out z (k-length; z_A is roundoff, unused).
/// schur_correct: the same from z = M b already formed (e.g. for a whole group by one gemm).
void schur_correct(Problem const &pb, Workspace &ws, int na, double *z) {
    lidx const k = pb.k;
    double *u = ws.piv_sch.data(); // |A| scratch
    for (int a = 0; a < na; ++a)
        u[a] = z[ws.aidx[a]];
    solve_unpivoted(ws.lsch.data(), ws.inv_sch.data(), k, na, u);
    for (int a = 0; a < na; ++a)
        axpy_column(pb.minv + static_cast<lidx>(ws.aidx[a]) * k, k, -u[a], z);
}

void schur_solve(Problem const &pb, Workspace &ws, int na, double *z) {
    // z = M b first: its A entries are M[A,F] b_F, and the correction M[:,A] t_A is added after.
    sym_matvec(pb.minv, pb.k, ws.full.data(), z);
    schur_correct(pb, ws, na, z);
}

/// Factors M[A,A] for the Schur path into ws.lsch. False when the path should not be used: no inverse, a
/// passive set smaller than its complement (then the direct factor is cheaper), or a failed pivot.
bool schur_factor(Problem const &pb, Workspace &ws, int p) {
    lidx const k = pb.k;
    int const na = static_cast<int>(k) - p;
    if (pb.minv == nullptr || na >= p)
        return false;
    if (na == 0)
        return true; // all passive: x = M b, nothing to factor
    double dmax = 0.0;
    for (int a = 0; a < na; ++a)
        dmax = std::max(dmax, pb.minv[ws.aidx[a] + static_cast<lidx>(ws.aidx[a]) * k]);
    double const tol = 16.0 * na * eps * dmax;
    return append_rows(pb.minv, k, ws.aidx.data(), 0, na, tol, ws.lsch.data(), ws.inv_sch.data(),
                       ws.piv_sch.data(), ws.tmp.data()) == na;
}

/// Lists column c's passive set into ws.idx and its complement into ws.aidx; returns |F|.
int list_sets(Problem const &pb, Workspace &ws, lidx c) {
    int p = 0, na = 0;
    for (lidx i = 0; i < pb.k; ++i) {
        if (in_passive(ws, pb.nw, c, i))
            ws.idx[p++] = static_cast<int>(i);
        else
            ws.aidx[na++] = static_cast<int>(i);
    }
    return p;
}

/// Solves G[F,F] x_F = r_F into ws.x for block columns active[g0..g1), which share F. The Schur path
/// takes z = M D r_F from ws.zbuf (one gemm for the whole round, see solve_block); otherwise G[F,F] is
/// factored once for the group.
void solve_group(Problem const &pb, Workspace &ws, lidx g0, lidx g1, BppStats &st) {
    lidx const k = pb.k;
    int const p = list_sets(pb, ws, ws.active[g0]);
    int const na = static_cast<int>(k) - p;
    for (lidx t = g0; t < g1; ++t) {
        double *xc = &ws.x[ws.active[t] * k];
        std::fill(xc, xc + k, 0.0);
        ws.via_schur[ws.active[t]] = 0;
    }
    if (p == 0)
        return;
    if (schur_factor(pb, ws, p)) {
        ++st.schur_groups;
        for (lidx t = g0; t < g1; ++t) {
            lidx const c = ws.active[t];
            double *xc = &ws.x[c * k];
            double *z = &ws.zbuf[ws.zpos[t] * k];
            schur_correct(pb, ws, na, z);
            for (int a = 0; a < p; ++a)
                xc[ws.idx[a]] = pb.d[ws.idx[a]] * z[ws.idx[a]];
            ws.via_schur[c] = 1;
        }
        return;
    }
    Factorization const f = factor(pb, ws, p, st);
    int const n_rhs = static_cast<int>(g1 - g0);
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
    if (!f.pivoted) {
        for (lidx t = g0; t < g1; ++t)
            solve_unpivoted(ws.lrow.data(), ws.inv_diag.data(), k, p, &ws.rhs[(t - g0) * p]);
    } else if (f.rank > 0) {
        int info = 0;
        int const n = f.rank;
        dpotrs_("L", &n, &n_rhs, ws.gff.data(), &p, ws.rhs.data(), &p, &info, 1);
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

/// Direct solve of column c alone (F = ws.idx[0..p)) into ws.x: the Schur path's fallback.
void direct_solve_column(Problem const &pb, Workspace &ws, int p, lidx c, BppStats &st) {
    lidx const k = pb.k;
    Factorization const f = factor(pb, ws, p, st);
    double const *rc = &ws.r[c * k];
    double *b = ws.full.data();
    for (int a = 0; a < p; ++a)
        b[a] = ws.d[a] * rc[ws.idx[a]];
    if (f.pivoted) {
        for (int a = 0; a < p; ++a)
            ws.tmp[a] = b[ws.piv[a] - 1];
        std::copy(ws.tmp.begin(), ws.tmp.begin() + p, b);
    }
    if (!f.pivoted) {
        solve_unpivoted(ws.lrow.data(), ws.inv_diag.data(), k, p, b);
    } else if (f.rank > 0) {
        int info = 0, one = 1;
        int const n = f.rank;
        dpotrs_("L", &n, &one, ws.gff.data(), &p, b, &p, &info, 1);
    }
    double *xc = &ws.x[c * k];
    for (int a = 0; a < p; ++a) {
        int const loc = f.pivoted ? ws.piv[a] - 1 : a;
        xc[ws.idx[loc]] = a < f.rank ? ws.d[loc] * b[a] : 0.0;
    }
}

/// Evaluates column c (at position t of this round) after its solve: dual y from ws.ybuf (G x, one gemm
/// for the round), refinement of a Schur-path solve, infeasibility count, and the best-feasible-iterate
/// bookkeeping. Final answers go to X.
template <typename T>
void evaluate_column(Problem const &pb, Workspace &ws, lidx t, lidx c, T *X, lidx ldx, BppStats &st) {
    lidx const k = pb.k;
    double const *g = pb.g;
    int const p = list_sets(pb, ws, c);
    int const na = static_cast<int>(k) - p;
    double *xc = &ws.x[c * k];
    double *yc = &ws.y[c * k];
    double const *rc = &ws.r[c * k];
    std::copy(&ws.ybuf[t * k], &ws.ybuf[t * k] + k, yc); // G x (x is zero outside F)
    // The Schur path's error grows with cond(G), not cond(G[F,F]): refine while the passive residual
    // r_F - (G x)_F exceeds what a backward-stable direct solve would leave.
    bool factored = false;
    double xm = max_abs_gather(xc, ws.idx.data(), p);
    for (int step = 0; ws.via_schur[c] != 0; ++step) {
        bool small = true;
        std::fill(ws.full.begin(), ws.full.end(), 0.0);
        for (int a = 0; a < p; ++a) {
            lidx const i = ws.idx[a];
            double const res = rc[i] - yc[i];
            small = small && std::abs(res) <= refine_tol * (std::abs(rc[i]) + pb.g_abs[i] * xm);
            ws.full[i] = pb.d[i] * res;
        }
        if (small)
            break;
        if (step == max_refinements) { // not converging (cond(G) near the bound): solve directly
            ++st.schur_fallbacks;
            direct_solve_column(pb, ws, p, c, st);
            gradient_term(g, k, ws.idx.data(), p, xc, yc);
            ws.schur_fallback_done = true;
            break;
        }
        if (!factored && !schur_factor(pb, ws, p))
            break; // cannot happen: the group's factor of the same M[A,A] succeeded
        factored = true;
        ++st.refinements;
        double *z = ws.tmp.data();
        schur_solve(pb, ws, na, z);
        for (int a = 0; a < p; ++a)
            xc[ws.idx[a]] += pb.d[ws.idx[a]] * z[ws.idx[a]];
        gradient_term(g, k, ws.idx.data(), p, xc, yc);
        xm = max_abs_gather(xc, ws.idx.data(), p);
    }
    if (ws.schur_fallback_done) // the direct solve changed x
        xm = max_abs_gather(xc, ws.idx.data(), p);
    ws.schur_fallback_done = false;
    bool negative = false;
    for (int a = 0; a < p; ++a)
        negative = negative || xc[ws.idx[a]] < 0;
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
        yc[i] = in_passive(ws, pb.nw, c, i) ? 0.0 : yc[i] - rc[i];

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
        // Group columns with equal passive sets: sort by mask, then one factorization per run. The order
        // is lexicographic in index order (the lowest differing index decides), so neighbouring groups share
        // their leading passive indices and hence the leading rows of their Cholesky factors.
        auto mask_less = [&](lidx a, lidx b) {
            for (lidx w = 0; w < nw; ++w) {
                Word const x = ws.pass[a * nw + w], y = ws.pass[b * nw + w];
                if (x != y)
                    return (x & (x ^ y) & (~(x ^ y) + 1)) != 0; // a holds the lowest differing index
            }
            return false;
        };
        std::sort(ws.active.begin(), ws.active.begin() + n_active, mask_less);
        // Level 3 for the whole round: Z = M B with B = D r on each column's F (the Schur path's first
        // product, whatever the column's passive set), then after the solves Y = G X (the duals).
        // Only columns with |A| < |F| can take the Schur path; the others get no column of Z.
        if (pb.minv != nullptr) {
            lidx nz = 0;
            for (lidx t = 0; t < n_active; ++t) {
                lidx const c = ws.active[t];
                lidx p = 0;
                for (lidx w = 0; w < nw; ++w)
                    p += __builtin_popcountll(ws.pass[c * nw + w]);
                if (2 * p <= k) {
                    ws.zpos[t] = -1;
                    continue;
                }
                ws.zpos[t] = nz;
                double const *rc = &ws.r[c * k];
                double *b = &ws.bbuf[nz * k];
                for (lidx i = 0; i < k; ++i)
                    b[i] = in_passive(ws, nw, c, i) ? pb.d[i] * rc[i] : 0.0;
                ++nz;
            }
            if (nz > 0)
                blas::gemm<double>('N', 'N', k, nz, k, 1.0, pb.minv, k, ws.bbuf.data(), k, 0.0,
                                   ws.zbuf.data(), k);
        }
        for (lidx g0 = 0; g0 < n_active;) {
            lidx g1 = g0 + 1;
            while (g1 < n_active &&
                   std::equal(&ws.pass[ws.active[g0] * nw], &ws.pass[ws.active[g0] * nw] + nw,
                              &ws.pass[ws.active[g1] * nw]))
                ++g1;
            solve_group(pb, ws, g0, g1, st);
            g0 = g1;
        }
        for (lidx t = 0; t < n_active; ++t) {
            double const *xc = &ws.x[ws.active[t] * k];
            std::copy(xc, xc + k, &ws.bbuf[t * k]);
        }
        blas::gemm<double>('N', 'N', k, n_active, k, 1.0, pb.g, k, ws.bbuf.data(), k, 0.0, ws.ybuf.data(), k);
        for (lidx t = 0; t < n_active; ++t)
            evaluate_column(pb, ws, t, ws.active[t], xb, ldx, st);

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
    std::vector<double> d(k), gs(k * k);
    for (lidx i = 0; i < k; ++i)
        d[i] = g[i + i * k] > 0 ? 1.0 / std::sqrt(g[i + i * k]) : 0.0;
    for (lidx j = 0; j < k; ++j)
        for (lidx i = 0; i < k; ++i)
            gs[i + j * k] = d[i] * g[i + j * k] * d[j];
    // M = (D G D)^{-1} for the Schur path, from the inline Cholesky of the whole equilibrated G.
    std::vector<double> minv;
    {
        std::vector<double> l(k * k, 0.0), inv_diag(k), pivot(k), s(k);
        std::vector<int> all(k);
        for (lidx i = 0; i < k; ++i)
            all[i] = static_cast<int>(i);
        int const kk = static_cast<int>(k);
        if (opts.schur && append_rows(gs.data(), k, all.data(), 0, kk, schur_min_pivot, l.data(),
                                      inv_diag.data(), pivot.data(), s.data()) == kk) {
            minv.assign(k * k, 0.0);
            for (lidx j = 0; j < k; ++j) {
                double *mj = &minv[j * k];
                mj[j] = 1.0;
                solve_unpivoted(l.data(), inv_diag.data(), k, kk, mj);
            }
            for (lidx j = 0; j < k; ++j) // symmetrise: the two triangles differ by roundoff
                for (lidx i = j + 1; i < k; ++i)
                    minv[i + j * k] = minv[j + i * k] = 0.5 * (minv[i + j * k] + minv[j + i * k]);
        }
    }
    Problem pb;
    pb.g = g.data();
    pb.minv = minv.empty() ? nullptr : minv.data();
    pb.d = d.data();
    pb.gs = gs.data();
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
