// Joint NMF (shared H, one W per modality, missing samples): against nmf() with one modality, against
// nmf() of the stacked matrix, against a plain serial masked reference on every grid, planted fits, masks
// that really mask, degenerate slices, scale invariance of auto weights, the communication pattern, and
// bad input refused on every rank.

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <memory>
#include <set>

#include <mpi.h>

#include "prism/algorithms/joint.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/nnls/bpp.hpp"
#include "prism/nnls/hals_update.hpp"
#include "prism/nnls/mu_update.hpp"
#include "prism/util/counter_random.hpp"
#include "support/fixtures.hpp"
#include "support/mpi_test_env.hpp"
#include "support/random.hpp"
#include "support/reference.hpp"

// Counts the collectives the library calls (PMPI interposition: the library is linked statically into this
// executable, so its MPI calls land here first).
namespace {
struct CallCounts {
    long allreduce = 0, reduce_scatter = 0, allgatherv = 0, bcast = 0;
};
CallCounts calls;
} // namespace
extern "C" {
int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op o, MPI_Comm c) {
    ++calls.allreduce;
    return PMPI_Allreduce(s, r, n, t, o, c);
}
int MPI_Reduce_scatter(const void *s, void *r, const int n[], MPI_Datatype t, MPI_Op o, MPI_Comm c) {
    ++calls.reduce_scatter;
    return PMPI_Reduce_scatter(s, r, n, t, o, c);
}
int MPI_Allgatherv(const void *s,
                   int sn,
                   MPI_Datatype st,
                   void *r,
                   const int rn[],
                   const int d[],
                   MPI_Datatype rt,
                   MPI_Comm c) {
    ++calls.allgatherv;
    return PMPI_Allgatherv(s, sn, st, r, rn, d, rt, c);
}
int MPI_Bcast(void *b, int n, MPI_Datatype t, int root, MPI_Comm c) {
    ++calls.bcast;
    return PMPI_Bcast(b, n, t, root, c);
}
}

using namespace prism;
using prism::test::world;

namespace {

const Algorithm all_algorithms[] = {Algorithm::hals, Algorithm::anls_bpp, Algorithm::mu};
using Fn = std::function<double(gidx, gidx)>;

double data_at(std::uint64_t seed, gidx i, gidx j) {
    return test::uniform_at(seed, i, j) + (i % 3 == j % 4 ? 1.0 : 0.0);
}

// Sparse non-negative factor entries (about 40 % zeros), as in test_nmf.
double sparse_at(std::uint64_t seed, gidx i, gidx l) {
    const double a = test::uniform_at(seed, i, l);
    return a < 0.4 ? 0.0 : a;
}

// X_v = scale * W_v H with one planted H (k = 3) for all modalities.
Fn planted(int v, double scale) {
    return [=](gidx i, gidx j) {
        double s = 0;
        for (int l = 0; l < 3; ++l) {
            s += sparse_at(60 + v, i, l) * sparse_at(41, j, l);
        }
        return scale * s;
    };
}

double max_rel_diff(const std::vector<double> &a, const std::vector<double> &b) {
    double scale = 0, diff = 0;
    if (a.size() != b.size()) {
        return INFINITY;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) || std::isnan(b[i])) {
            return INFINITY;
        }
        scale = std::max(scale, std::abs(b[i]));
        diff = std::max(diff, std::abs(a[i] - b[i]));
    }
    return diff / std::max(scale, 1e-300);
}

bool all_finite(const std::vector<double> &a) {
    return std::all_of(a.begin(), a.end(), [](double x) { return std::isfinite(x); });
}

// One modality's description in a test: rows, data, observed flags (empty = all), weight, penalty.
struct Spec {
    Spec(gidx m_, Fn f_, std::vector<char> observed_ = {}, double weight_ = 1, Penalty w_ = {}, gidx mb_ = 4)
        : m(m_), f(std::move(f_)), observed(std::move(observed_)), weight(weight_), w(w_), mb(mb_) {}
    gidx m;
    Fn f;
    std::vector<char> observed;
    double weight;
    Penalty w;
    gidx mb;
};

// Distributed problem built from specs on a grid.
struct Problem {
    std::vector<std::unique_ptr<DistMatrix<double>>> x;
    std::vector<JointModality<double>> mods;
    Problem(const Grid &grid, const std::vector<Spec> &specs, gidx n, gidx nb) {
        for (std::size_t v = 0; v < specs.size(); ++v) {
            x.push_back(std::make_unique<DistMatrix<double>>(grid, specs[v].m, n, specs[v].mb, nb));
            test::fill(*x.back(), specs[v].f);
            mods.push_back(
                {x.back().get(), specs[v].observed, specs[v].weight, specs[v].w, "m" + std::to_string(v)});
        }
    }
};

struct JointRun {
    JointInfo info;
    std::vector<std::vector<double>> w;
    std::vector<double> ht;
    std::vector<double> exact;
};

JointRun run_joint(const Grid &grid,
                   const std::vector<Spec> &specs,
                   gidx n,
                   gidx nb,
                   gidx k,
                   const JointOptions &opts,
                   std::uint64_t seed = 7) {
    Problem p(grid, specs, n, nb);
    std::vector<Factor<double>> w = make_joint_w(p.mods, k);
    Factor<double> ht(*p.x[0], FactorSide::ht, k);
    initialize_random_joint(p.mods, w, ht, seed);
    JointRun r;
    r.info = joint_nmf(p.mods, w, ht, opts);
    for (auto &f : w) {
        r.w.push_back(test::gather_global(f));
    }
    r.ht = test::gather_global(ht);
    r.exact = joint_relative_errors_exact(p.mods, w, ht);
    return r;
}

// ---- A plain serial joint NMF with masks: full matrices, loops, the same local kernels and update order.
struct SerialJoint {
    gidx n = 0, k = 0;
    std::vector<gidx> m;
    std::vector<std::vector<double>> x, w; // x[v]: m_v x n, w[v]: m_v x k, row-major
    std::vector<std::vector<char>> obs;    // [v][j]
    std::vector<double> lam;               // weights / max weight
    std::vector<Penalty> pen;
    std::vector<double> ht; // n x k
};

SerialJoint make_serial_joint(const std::vector<Spec> &specs, gidx n, gidx k, std::uint64_t seed) {
    SerialJoint s;
    s.n = n;
    s.k = k;
    double c = 0;
    for (const Spec &sp : specs) {
        c = std::max(c, sp.weight);
    }
    std::vector<double> scales;
    for (const Spec &sp : specs) {
        s.m.push_back(sp.m);
        s.obs.push_back(sp.observed.empty() ? std::vector<char>(static_cast<std::size_t>(n), 1)
                                            : sp.observed);
        s.lam.push_back(sp.weight / c);
        s.pen.push_back(sp.w);
        std::vector<double> x;
        double sum = 0, seen = 0;
        for (gidx i = 0; i < sp.m; ++i) {
            for (gidx j = 0; j < n; ++j) {
                const bool o = s.obs.back()[j] != 0;
                x.push_back(o ? sp.f(i, j) : NAN); // the reference never reads a missing entry either
                sum += o ? x.back() : 0.0;
                seen += o ? 1 : 0;
            }
        }
        s.x.push_back(x);
        scales.push_back(std::sqrt(sum / seen / static_cast<double>(k)));
    }
    double logs = 0;
    for (double sc : scales) {
        logs += std::log(sc);
    }
    const double s_h = specs.size() == 1 ? scales[0] : std::exp(logs / static_cast<double>(specs.size()));
    for (std::size_t v = 0; v < specs.size(); ++v) {
        std::vector<double> w;
        for (gidx i = 0; i < s.m[v]; ++i) {
            for (gidx l = 0; l < k; ++l) {
                w.push_back(scales[v] * (scales[v] / s_h) * counter_uniform(seed, v == 0 ? 0 : v + 1, i, l));
            }
        }
        s.w.push_back(w);
    }
    for (gidx j = 0; j < n; ++j) {
        for (gidx l = 0; l < k; ++l) {
            s.ht.push_back(s_h * counter_uniform(seed, 1, j, l));
        }
    }
    return s;
}

void solve_rows(const JointOptions &opts,
                const Penalty &p,
                std::vector<double> g,
                const double *r,
                gidx rows,
                gidx k,
                double *f) {
    switch (opts.algorithm) {
    case Algorithm::anls_bpp: {
        for (gidx l = 0; l < k; ++l) {
            g[l * k + l] += p.l2;
        }
        nnls::BppOptions o;
        o.warm_start = true;
        o.l1 = p.l1;
        nnls::bpp_solve<double>(g.data(), k, r, k, rows, f, k, o);
        break;
    }
    case Algorithm::hals: {
        nnls::HalsOptions o;
        o.l1 = p.l1;
        o.l2 = p.l2;
        o.eps_floor = opts.hals_floor;
        nnls::hals_update<double>(g.data(), k, r, k, rows, f, k, o);
        break;
    }
    case Algorithm::mu: {
        nnls::MuOptions o;
        o.l1 = p.l1;
        o.l2 = p.l2;
        nnls::mu_update<double>(g.data(), k, r, k, rows, f, k, o);
        break;
    }
    }
}

std::vector<double> serial_gram(const std::vector<double> &f, gidx rows, gidx k) {
    std::vector<double> g(static_cast<std::size_t>(k * k), 0.0);
    for (gidx r = 0; r < rows; ++r) {
        for (gidx a = 0; a < k; ++a) {
            for (gidx b = 0; b < k; ++b) {
                g[a * k + b] += f[r * k + a] * f[r * k + b];
            }
        }
    }
    return g;
}

// Returns the per-modality relative error after each iteration (over observed entries, direct).
std::vector<std::vector<double>>
run_serial_joint(SerialJoint &s, const JointOptions &opts, double c, int iterations) {
    const gidx n = s.n, k = s.k;
    const std::size_t nv = s.m.size();
    std::vector<std::vector<double>> history(nv);
    for (int it = 0; it < iterations; ++it) {
        std::vector<std::vector<double>> gw(nv);
        for (std::size_t v = 0; v < nv; ++v) {
            std::vector<double> g(static_cast<std::size_t>(k * k), 0.0),
                r(static_cast<std::size_t>(s.m[v] * k), 0.0);
            for (gidx j = 0; j < n; ++j) {
                if (s.obs[v][j] == 0) {
                    continue;
                }
                for (gidx a = 0; a < k; ++a) {
                    for (gidx b = 0; b < k; ++b) {
                        g[a * k + b] += s.ht[j * k + a] * s.ht[j * k + b];
                    }
                }
                for (gidx i = 0; i < s.m[v]; ++i) {
                    for (gidx l = 0; l < k; ++l) {
                        r[i * k + l] += s.x[v][i * n + j] * s.ht[j * k + l];
                    }
                }
            }
            solve_rows(opts, s.pen[v], g, r.data(), s.m[v], k, s.w[v].data());
            gw[v] = serial_gram(s.w[v], s.m[v], k);
        }
        const bool unpenalised =
            penalty_free(opts.h) && std::all_of(s.pen.begin(), s.pen.end(), penalty_free);
        if (opts.algorithm == Algorithm::hals && unpenalised) { // unit columns of the weighted stacked W
            for (gidx l = 0; l < k; ++l) {
                double norm2 = 0;
                for (std::size_t v = 0; v < nv; ++v) {
                    norm2 += s.lam[v] * gw[v][l * k + l];
                }
                const double norm = std::sqrt(norm2);
                if (norm > 0) {
                    for (std::size_t v = 0; v < nv; ++v) {
                        for (gidx i = 0; i < s.m[v]; ++i) {
                            s.w[v][i * k + l] /= norm;
                        }
                    }
                    for (gidx j = 0; j < n; ++j) {
                        s.ht[j * k + l] *= norm;
                    }
                }
            }
            for (std::size_t v = 0; v < nv; ++v) {
                gw[v] = serial_gram(s.w[v], s.m[v], k);
            }
        }
        for (gidx j = 0; j < n; ++j) { // each sample with the Gram of the modalities that observe it
            std::vector<double> g(static_cast<std::size_t>(k * k), 0.0), r(static_cast<std::size_t>(k), 0.0);
            for (std::size_t v = 0; v < nv; ++v) {
                if (s.obs[v][j] == 0) {
                    continue;
                }
                for (gidx a = 0; a < k * k; ++a) {
                    g[a] += s.lam[v] * gw[v][a];
                }
                for (gidx i = 0; i < s.m[v]; ++i) {
                    for (gidx l = 0; l < k; ++l) {
                        r[l] += s.lam[v] * s.x[v][i * n + j] * s.w[v][i * k + l];
                    }
                }
            }
            solve_rows(opts, Penalty{opts.h.l1 / c, opts.h.l2 / c}, g, r.data(), 1, k, s.ht.data() + j * k);
        }
        for (std::size_t v = 0; v < nv; ++v) {
            double res = 0, norm = 0;
            for (gidx i = 0; i < s.m[v]; ++i) {
                for (gidx j = 0; j < n; ++j) {
                    if (s.obs[v][j] == 0) {
                        continue;
                    }
                    double p = 0;
                    for (gidx l = 0; l < k; ++l) {
                        p += s.w[v][i * k + l] * s.ht[j * k + l];
                    }
                    res += (s.x[v][i * n + j] - p) * (s.x[v][i * n + j] - p);
                    norm += s.x[v][i * n + j] * s.x[v][i * n + j];
                }
            }
            history[v].push_back(std::sqrt(res / norm));
        }
    }
    return history;
}

std::vector<char> flags(gidx n, const std::function<bool(gidx)> &observed) {
    std::vector<char> f;
    for (gidx j = 0; j < n; ++j) {
        f.push_back(observed(j) ? 1 : 0);
    }
    return f;
}

// Three modalities of 13, 3 and 21 rows (3 rows leave ranks of a 4 x 1 or 6 x 1 grid without any block).
std::vector<Spec> three_modalities() {
    return {Spec{13, [](gidx i, gidx j) { return data_at(1, i, j); }},
            Spec{3, [](gidx i, gidx j) { return 1e3 * data_at(2, i, j); }, {}, 1, {}, 2},
            Spec{21, [](gidx i, gidx j) { return 1e-3 * data_at(3, i, j); }, {}, 1, {}, 5}};
}

} // namespace

TEST(Joint, OneModalityEqualsNmfWithTheSameSeed) {
    const gidx m = 37, n = 23, k = 4;
    for (Algorithm algorithm : all_algorithms) {
        for (GridShape shape : test::all_grid_shapes(world().size())) {
            Grid grid(world(), shape);
            for (auto [mb, nb] : {std::pair<gidx, gidx>{4, 4}, {3, 5}}) {
                for (bool automatic : {false, true}) {
                    const std::string where = to_string(algorithm) + " grid " + grid.shape_string() +
                                              " block " + std::to_string(mb) + "x" + std::to_string(nb) +
                                              (automatic ? " auto" : " equal");
                    NmfOptions nopts;
                    nopts.algorithm = algorithm;
                    nopts.max_iter = 12;
                    nopts.tol = 0;
                    nopts.w = {0.01, 0.02};
                    nopts.h =
                        automatic ? Penalty{} : Penalty{0.0, 0.05}; // auto: the H penalty is in J's units
                    DistMatrix<double> x(grid, m, n, mb, nb);
                    test::fill(x, [](gidx i, gidx j) { return data_at(21, i, j); });
                    Factor<double> w(x, FactorSide::w, k), ht(x, FactorSide::ht, k);
                    initialize_random(x, w, ht, 7);
                    const NmfInfo ni = nmf(x, w, ht, nopts);

                    std::vector<JointModality<double>> mods{{&x, {}, 1.0, nopts.w, "X"}};
                    mods[0].weight =
                        joint_weights(mods, automatic ? JointWeighting::automatic : JointWeighting::equal)[0];
                    std::vector<Factor<double>> jw = make_joint_w(mods, k);
                    Factor<double> jht(x, FactorSide::ht, k);
                    initialize_random_joint(mods, jw, jht, 7);
                    Factor<double> w0(x, FactorSide::w, k), h0(x, FactorSide::ht, k);
                    initialize_random(x, w0, h0, 7);
                    EXPECT_EQ(test::gather_global(jw[0]), test::gather_global(w0)) << where; // bit for bit
                    EXPECT_EQ(test::gather_global(jht), test::gather_global(h0)) << where;
                    JointOptions jopts;
                    static_cast<NmfOptions &>(jopts) = nopts;
                    jopts.w = {};
                    const JointInfo ji = joint_nmf(mods, jw, jht, jopts);

                    EXPECT_LT(max_rel_diff(test::gather_global(jw[0]), test::gather_global(w)), 1e-10)
                        << where;
                    EXPECT_LT(max_rel_diff(test::gather_global(jht), test::gather_global(ht)), 1e-10)
                        << where;
                    ASSERT_EQ(ji.history_relative_error.size(), ni.history_relative_error.size()) << where;
                    EXPECT_LT(max_rel_diff(ji.history_relative_error, ni.history_relative_error), 1e-10)
                        << where;
                    // One modality: its own error is the overall error, iteration by iteration.
                    ASSERT_EQ(ji.history_modality_relative_error.size(), 1u);
                    EXPECT_LT(max_rel_diff(ji.history_modality_relative_error[0], ni.history_relative_error),
                              1e-8)
                        << where;
                    if (!automatic) {
                        EXPECT_NEAR(ji.objective, ni.objective, 1e-10 * ni.objective) << where;
                    }
                    EXPECT_EQ(ji.sample_patterns, 1);
                }
            }
        }
    }
}

TEST(Joint, EqualWeightsWithoutMissingSamplesEqualNmfOfTheStackedMatrix) {
    const gidx n = 23, k = 4;
    std::vector<Spec> specs = three_modalities();
    specs[1].f = [](gidx i, gidx j) { return 2 * data_at(2, i, j); };   // comparable scales: equal weights
    specs[2].f = [](gidx i, gidx j) { return 0.5 * data_at(3, i, j); }; // are the stacked problem's own
    const gidx offsets[4] = {0, 13, 16, 37};
    auto stacked = [&](gidx i, gidx j) {
        const int v = i < offsets[1] ? 0 : i < offsets[2] ? 1 : 2;
        return specs[v].f(i - offsets[v], j);
    };
    for (Algorithm algorithm : all_algorithms) {
        for (GridShape shape : test::all_grid_shapes(world().size())) {
            Grid grid(world(), shape);
            const std::string where = to_string(algorithm) + " grid " + grid.shape_string();
            JointOptions opts;
            opts.algorithm = algorithm;
            opts.max_iter = 15;
            opts.tol = 0;
            opts.h = {0.01, 0.03};
            Problem p(grid, specs, n, 3);
            std::vector<Factor<double>> w = make_joint_w(p.mods, k);
            Factor<double> ht(*p.x[0], FactorSide::ht, k);
            initialize_random_joint(p.mods, w, ht, 11);
            std::vector<std::vector<double>> w_init;
            for (auto &f : w) {
                w_init.push_back(test::gather_global(f));
            }
            const std::vector<double> h_init = test::gather_global(ht);
            const JointInfo ji = joint_nmf(p.mods, w, ht, opts);

            DistMatrix<double> xs(grid, offsets[3], n, 4, 3);
            test::fill(xs, stacked);
            Factor<double> ws(xs, FactorSide::w, k), hs(xs, FactorSide::ht, k);
            for (lidx r = 0; r < ws.rows(); ++r) { // the same initial factors, rows stacked
                const gidx i = ws.global_index(r);
                const int v = i < offsets[1] ? 0 : i < offsets[2] ? 1 : 2;
                for (gidx l = 0; l < k; ++l) {
                    ws.at(r, l) = w_init[v][static_cast<std::size_t>((i - offsets[v]) * k + l)];
                }
            }
            for (lidx r = 0; r < hs.rows(); ++r) {
                for (gidx l = 0; l < k; ++l) {
                    hs.at(r, l) = h_init[static_cast<std::size_t>(hs.global_index(r) * k + l)];
                }
            }
            NmfOptions nopts = opts;
            const NmfInfo ni = nmf(xs, ws, hs, nopts);
            const std::vector<double> w_stacked = test::gather_global(ws);
            for (int v = 0; v < 3; ++v) {
                const std::vector<double> part(w_stacked.begin() + offsets[v] * k,
                                               w_stacked.begin() + offsets[v + 1] * k);
                EXPECT_LT(max_rel_diff(test::gather_global(w[v]), part), 1e-10) << where << " W_" << v;
            }
            EXPECT_LT(max_rel_diff(test::gather_global(ht), test::gather_global(hs)), 1e-10) << where;
            EXPECT_LT(max_rel_diff(ji.history_relative_error, ni.history_relative_error), 1e-10) << where;
            EXPECT_NEAR(ji.objective, ni.objective, 1e-10 * ni.objective) << where;
        }
    }
}

TEST(Joint, MissingSamplesMatchASerialMaskedReferenceOnEveryGrid) {
    const gidx n = 29, k = 3;
    std::vector<Spec> specs = three_modalities();
    specs[0].observed = flags(n, [](gidx j) { return j % 5 != 0; });
    specs[1].observed = flags(n, [](gidx j) { return j % 7 != 1 && j != 10; });
    specs[2].observed = flags(n, [](gidx j) { return j < 10 || j > 14; });
    specs[0].w = {0.01, 0.0};
    specs[2].w = {0.0, 0.02};
    specs[1].weight = 3.0; // given weights: lambda' = (1/3, 1, 1/3)
    for (Algorithm algorithm : all_algorithms) {
        JointOptions opts;
        opts.algorithm = algorithm;
        opts.max_iter = 10;
        opts.tol = 0;
        opts.h = {0.0, 0.01};
        SerialJoint serial = make_serial_joint(specs, n, k, 5);
        const auto history = run_serial_joint(serial, opts, 3.0, opts.max_iter);
        for (GridShape shape : test::all_grid_shapes(world().size())) {
            Grid grid(world(), shape);
            const std::string where = to_string(algorithm) + " grid " + grid.shape_string();
            const JointRun r = run_joint(grid, specs, n, 4, k, opts, 5);
            for (int v = 0; v < 3; ++v) {
                EXPECT_LT(max_rel_diff(r.w[v], serial.w[v]), 1e-9) << where << " W_" << v;
                EXPECT_LT(max_rel_diff(r.info.history_modality_relative_error[v], history[v]), 1e-7)
                    << where << " modality " << v;
                EXPECT_NEAR(r.exact[v], history[v].back(), 1e-10) << where;
            }
            EXPECT_LT(max_rel_diff(r.ht, serial.ht), 1e-9) << where;
            // Patterns: all, -0, -1, -0-1 (j = 15), -2, -0-2 (j = 10) -> the count is exact.
            std::set<int> patterns;
            for (gidx j = 0; j < n; ++j) {
                patterns.insert(specs[0].observed[j] + 2 * specs[1].observed[j] + 4 * specs[2].observed[j]);
            }
            EXPECT_EQ(r.info.sample_patterns, static_cast<int>(patterns.size())) << where;
            EXPECT_GE(r.info.sample_patterns, 5);
        }
    }
}

TEST(Joint, PlantedModalitiesOfDifferentScalesAreFitExactly) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx n = 50;
    // 10^6 between the scales; the 3-row modality leaves process rows without blocks.
    const std::vector<Spec> specs{Spec{40, planted(0, 1e3), {}, 1, {}, 8},
                                  Spec{3, planted(1, 1.0), {}, 1, {}, 1},
                                  Spec{25, planted(2, 1e-3), {}, 1, {}, 4}};
    JointOptions opts;
    opts.algorithm = Algorithm::anls_bpp;
    opts.max_iter = 400;
    opts.tol = 0;
    Problem p(grid, specs, n, 8);
    const std::vector<double> weights = joint_weights(p.mods, JointWeighting::automatic);
    std::vector<Spec> weighted = specs;
    for (int v = 0; v < 3; ++v) {
        weighted[v].weight = weights[v];
    }
    const JointRun r = run_joint(grid, weighted, n, 8, 3, opts);
    for (int v = 0; v < 3; ++v) {
        EXPECT_LT(r.exact[v], 1e-8) << "modality " << v;
        EXPECT_NEAR(r.info.modality_relative_error[v], r.exact[v], 1e-6);
    }
    EXPECT_LT(r.info.relative_error, 1e-6);
}

TEST(Joint, MissingSamplesRecoverThePlantedFitAndMaskedEntriesHaveNoInfluence) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx n = 50;
    std::vector<Spec> specs{
        Spec{40, planted(0, 1.0), flags(n, [](gidx j) { return j % 6 != 2; }), 1, {}, 8},
        Spec{17, planted(1, 50.0), flags(n, [](gidx j) { return j % 4 != 0; }), 1, {}, 3},
        Spec{25, planted(2, 0.1), flags(n, [](gidx j) { return j < 20 || j >= 30; }), 1, {}, 4}};
    for (Spec &s : specs) {
        Problem p(grid, {s}, n, 8);
        s.weight = joint_weights(p.mods, JointWeighting::automatic)[0];
    }
    // The same data with missing entries replaced by garbage, NaN included.
    auto garbage = [&](double junk) {
        std::vector<Spec> g = specs;
        for (Spec &s : g) {
            const Fn f = s.f;
            const std::vector<char> o = s.observed;
            s.f = [=](gidx i, gidx j) {
                return o[j] != 0 ? f(i, j) : (std::isnan(junk) ? junk : junk * (i + 1));
            };
        }
        return g;
    };
    JointOptions opts;
    opts.algorithm = Algorithm::anls_bpp;
    opts.max_iter = 400;
    opts.tol = 0;
    const JointRun r = run_joint(grid, specs, n, 8, 3, opts);
    for (int v = 0; v < 3; ++v) {
        EXPECT_LT(r.exact[v], 1e-8) << "modality " << v;
    }
    for (Algorithm algorithm : all_algorithms) {
        opts.algorithm = algorithm;
        opts.max_iter = 20;
        const JointRun a = run_joint(grid, specs, n, 8, 3, opts);
        for (double junk : {1e6, static_cast<double>(NAN)}) {
            const JointRun b = run_joint(grid, garbage(junk), n, 8, 3, opts);
            for (int v = 0; v < 3; ++v) { // bit for bit: a missing entry is never read into a sum
                EXPECT_EQ(a.w[v], b.w[v]) << to_string(algorithm) << " junk " << junk;
            }
            EXPECT_EQ(a.ht, b.ht) << to_string(algorithm) << " junk " << junk;
            EXPECT_EQ(a.info.history_relative_error, b.info.history_relative_error);
            EXPECT_EQ(a.exact, b.exact);
        }
        // And the missing samples really are missing: treating them as zeros gives another answer.
        std::vector<Spec> zeros = garbage(0.0);
        for (Spec &s : zeros) {
            s.observed.clear();
        }
        const JointRun z = run_joint(grid, zeros, n, 8, 3, opts);
        EXPECT_GT(max_rel_diff(z.ht, a.ht), 1e-3) << to_string(algorithm);
    }
}

TEST(Joint, ZeroRowsZeroColumnsAndUnobservedSamplesGiveFiniteMonotoneRuns) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx n = 31;
    // Modality 1 has a zero feature row (2) and zero sample columns (j % 5 == 0), as Mutations has; sample
    // 30 is observed by no modality.
    std::vector<Spec> specs{
        Spec{19, [](gidx i, gidx j) { return data_at(4, i, j); }, flags(n, [](gidx j) { return j < 27; })},
        Spec{9,
             [](gidx i, gidx j) { return i == 2 || j % 5 == 0 ? 0.0 : 1e4 * data_at(5, i, j); },
             flags(n, [](gidx j) { return j != 30; }),
             1,
             {},
             2},
        Spec{6,
             [](gidx i, gidx j) { return 1e-4 * data_at(6, i, j); },
             flags(n, [](gidx j) { return j > 3 && j < 30; }),
             1,
             {},
             3}};
    for (Algorithm algorithm : all_algorithms) {
        JointOptions opts;
        opts.algorithm = algorithm;
        opts.max_iter = 40;
        opts.tol = 0;
        std::vector<double> objectives;
        opts.on_iteration = [&](const IterationReport &rep) { objectives.push_back(rep.objective); };
        std::vector<int> reported;
        opts.on_modality_errors = [&](int it, const std::vector<double> &e) {
            reported.push_back(it);
            EXPECT_EQ(e.size(), 3u);
        };
        Problem p(grid, specs, n, 4);
        std::vector<Spec> weighted = specs;
        const std::vector<double> lam = joint_weights(p.mods, JointWeighting::automatic);
        for (int v = 0; v < 3; ++v) {
            weighted[v].weight = lam[v];
        }
        const JointRun r = run_joint(grid, weighted, n, 4, 4, opts);
        const std::string where = to_string(algorithm);
        for (int v = 0; v < 3; ++v) {
            EXPECT_TRUE(all_finite(r.w[v])) << where;
            EXPECT_TRUE(all_finite(r.info.history_modality_relative_error[v])) << where;
            EXPECT_EQ(r.info.history_modality_relative_error[v].size(), 40u);
            EXPECT_TRUE(std::isfinite(r.exact[v])) << where;
            EXPECT_LT(r.exact[v], 0.6) << where;
        }
        EXPECT_TRUE(all_finite(r.ht)) << where;
        for (gidx l = 0; l < 4; ++l) {
            EXPECT_EQ(r.w[1][2 * 4 + l], 0.0) << where; // zero feature row -> zero W row
            // Sample 30: no modality has it; its H column has nothing to fit.
            EXPECT_LE(r.ht[30 * 4 + l], algorithm == Algorithm::hals ? opts.hals_floor : 0.0) << where;
        }
        ASSERT_EQ(objectives.size(), 40u);
        for (std::size_t i = 1; i < objectives.size(); ++i) {
            EXPECT_LE(objectives[i], objectives[i - 1] * (1 + 1e-12)) << where << " iteration " << i;
        }
        ASSERT_EQ(reported.size(), 40u);
        EXPECT_EQ(reported.front(), 1);
        EXPECT_EQ(reported.back(), 40);
        // The trace-identity history agrees with the direct residual at the end.
        for (int v = 0; v < 3; ++v) {
            EXPECT_NEAR(r.info.modality_relative_error[v], r.exact[v], 1e-7) << where;
        }
    }
}

TEST(Joint, AutoWeightsMakeTheFitIndependentOfEachModalitysScale) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx n = 23;
    auto run = [&](double scale, JointWeighting mode) {
        std::vector<Spec> specs = three_modalities();
        const Fn f = specs[2].f; // the 1e-3 modality, which equal weights all but ignore
        specs[2].f = [=](gidx i, gidx j) { return scale * f(i, j); };
        specs[2].observed = flags(n, [](gidx j) { return j != 4; });
        Problem p(grid, specs, n, 3);
        const std::vector<double> lam = joint_weights(p.mods, mode);
        double norm2 = 0; // ||X_2||^2 over observed samples directly, for the auto weight
        for (gidx i = 0; i < 21; ++i) {
            for (gidx j = 0; j < n; ++j) {
                norm2 += j != 4 ? specs[2].f(i, j) * specs[2].f(i, j) : 0.0;
            }
        }
        if (mode == JointWeighting::automatic) {
            EXPECT_NEAR(lam[2], 1.0 / norm2, 1e-14 / norm2);
        }
        for (int v = 0; v < 3; ++v) {
            specs[v].weight = lam[v];
        }
        JointOptions opts;
        opts.algorithm = Algorithm::anls_bpp;
        opts.max_iter = 30;
        opts.tol = 0;
        return run_joint(grid, specs, n, 3, 3, opts);
    };
    const JointRun a = run(1.0, JointWeighting::automatic), b = run(1e6, JointWeighting::automatic);
    EXPECT_LT(max_rel_diff(b.exact, a.exact), 1e-8);
    EXPECT_LT(max_rel_diff(b.info.history_relative_error, a.info.history_relative_error), 1e-8);
    const JointRun c = run(1.0, JointWeighting::equal), d = run(1e6, JointWeighting::equal);
    EXPECT_GT(max_rel_diff(d.exact, c.exact), 1e-3); // with equal weights the big modality takes over
    EXPECT_EQ(joint_weights(Problem(grid, three_modalities(), n, 3).mods, JointWeighting::equal),
              std::vector<double>(3, 1.0));
    EXPECT_EQ(parse_joint_weighting("auto"), JointWeighting::automatic);
    EXPECT_THROW(parse_joint_weighting("balanced"), Error);
}

TEST(Joint, OneGatherAndOneReduceScatterForHAndTwoGramAllReducesPerIteration) {
    Grid grid(world(), choose_grid_shape(world().size()));
    const gidx n = 23;
    std::vector<Spec> specs = three_modalities();
    specs[2].observed = flags(n, [](gidx j) { return j % 3 != 0; });
    for (Algorithm algorithm : all_algorithms) {
        auto count = [&](int iterations) {
            JointOptions opts;
            opts.algorithm = algorithm;
            opts.max_iter = iterations;
            opts.tol = 0;
            Problem p(grid, specs, n, 3);
            std::vector<Factor<double>> w = make_joint_w(p.mods, 3);
            Factor<double> ht(*p.x[0], FactorSide::ht, 3);
            initialize_random_joint(p.mods, w, ht, 1);
            const CallCounts before = calls;
            joint_nmf(p.mods, w, ht, opts);
            return CallCounts{calls.allreduce - before.allreduce,
                              calls.reduce_scatter - before.reduce_scatter,
                              calls.allgatherv - before.allgatherv, calls.bcast - before.bcast};
        };
        const CallCounts two = count(2), three = count(3);
        const long nv = 3;
        // Per iteration: H^T gathered once, W_v each once; X_v H^T per modality, the summed X^T W once --
        // each only over a group of more than one rank (on a grid column or row of one the slab is the
        // whole factor and the local product the whole sum: no call).
        const long h_side = grid.col_comm().size() > 1 ? 1 : 0;
        const long w_side = grid.row_comm().size() > 1 ? nv : 0;
        EXPECT_EQ(three.allgatherv - two.allgatherv, h_side + w_side) << to_string(algorithm);
        EXPECT_EQ(three.reduce_scatter - two.reduce_scatter, w_side + h_side) << to_string(algorithm);
        // Two Gram all-reduces (all G_Wv; G_H with the masked G_Hv and the objective), plus the one nmf()
        // also makes: the stop decision (rank 0's word and any rank's stop request; a non-finite objective
        // is part of that decision). No broadcast.
        EXPECT_EQ(three.allreduce - two.allreduce, 3) << to_string(algorithm);
        EXPECT_EQ(three.bcast - two.bcast, 0) << to_string(algorithm);
    }
}

TEST(Joint, BadInputIsRefusedNamingTheModalityOnEveryRank) {
    const int p = world().size();
    Grid grid(world(), choose_grid_shape(p));
    const gidx n = 30;
    auto ones = [](gidx, gidx) { return 1.0; };
    auto message = [&](const std::function<void()> &call) {
        try {
            call();
        } catch (const Error &e) {
            EXPECT_TRUE(e.collective());
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    auto validate = [&](std::vector<Spec> specs, gidx k, gidx n0 = 30, gidx nb_other = 4) {
        return message([&] {
            std::vector<std::unique_ptr<DistMatrix<double>>> x;
            std::vector<JointModality<double>> mods;
            for (std::size_t v = 0; v < specs.size(); ++v) {
                const gidx nv = v == 0 ? n0 : n;
                x.push_back(
                    std::make_unique<DistMatrix<double>>(grid, specs[v].m, nv, 4, v == 0 ? 4 : nb_other));
                test::fill(*x.back(), specs[v].f);
                mods.push_back(
                    {x.back().get(), specs[v].observed, specs[v].weight, {}, v == 0 ? "RNA" : "Methyl"});
            }
            validate_joint_input(mods, k);
        });
    };
    auto with = [](gidx bi, gidx bj, double bad) {
        return [=](gidx i, gidx j) { return i == bi && j == bj ? bad : 1.0; };
    };
    const std::vector<char> all(n, 1);
    EXPECT_EQ(validate({{10, ones}, {7, ones}}, 5), "accepted");
    EXPECT_EQ(validate({{10, ones}, {7, ones}}, 5, 31),
              "modality 'Methyl' has 30 samples (columns) but modality 'RNA' has 31");
    EXPECT_EQ(
        validate({{10, ones}, {7, ones}}, 5, 30, 5),
        "modality 'Methyl' distributes its samples differently from modality 'RNA' (column block 5 vs 4): "
        "every modality needs the same column distribution");
    EXPECT_EQ(validate({{10, ones}, {7, ones, std::vector<char>(29, 1)}}, 5),
              "modality 'Methyl' has 29 observed-sample flags for 30 samples");
    EXPECT_EQ(validate({{10, ones}, {7, ones, std::vector<char>(30, 0)}}, 5),
              "modality 'Methyl' observes no sample: every flag is 0");
    EXPECT_EQ(
        validate({{10, ones}, {7, with(6, 29, NAN)}}, 5),
        "modality 'Methyl' has 1 NaN entries in observed samples; the first is at row 6, column 29 "
        "(0-based). "
        "NMF needs finite data; leave a sample this modality did not measure out of it (not an observed "
        "sample) instead of storing NaN");
    std::vector<char> no29 = all;
    no29[29] = 0;
    EXPECT_EQ(validate({{10, ones}, {7, with(6, 29, NAN), no29}}, 5),
              "accepted"); // a missing sample may be NaN
    EXPECT_EQ(validate({{10, with(0, 0, INFINITY)}, {7, ones}}, 5),
              "modality 'RNA' has 1 infinite entries in observed samples; the first is at row 0, column 0 "
              "(0-based). "
              "NMF needs finite data");
    EXPECT_EQ(
        validate({{10, ones}, {7, with(3, 11, -0.5)}}, 5),
        "modality 'Methyl' has 1 negative entries in observed samples; the first is -0.5 at row 3, column 11 "
        "(0-based). NMF needs X >= 0");
    EXPECT_EQ(
        validate({{10, ones}, {7, [](gidx, gidx) { return 0.0; }}}, 5),
        "modality 'Methyl' has no nonzero entries in its observed samples (7 x 30): nothing to factorize");
    EXPECT_EQ(validate({{10, ones}, {7, ones, {}, -1.0}}, 5),
              "modality 'Methyl' has weight -1; weights must be finite and > 0");
    EXPECT_EQ(validate({{10, ones}, {7, ones}}, 0), "rank k = 0 must be at least 1");
    EXPECT_EQ(validate({{10, ones}, {7, ones}}, 18),
              "rank k = 18 exceeds min(total features 17, samples 30) = 17");
    EXPECT_EQ(validate({{10, ones}, {7, ones}}, 17), "accepted"); // a W_v may have fewer rows than k
    EXPECT_EQ(message([] { validate_joint_input(std::vector<JointModality<double>>{}, 2); }),
              "joint NMF needs at least one modality");

    // joint_nmf itself: factors that do not line up, a W penalty in the wrong place, bad given weights.
    DistMatrix<double> a(grid, 10, n, 4, 4), b(grid, 7, n, 4, 4);
    test::fill(a, ones);
    test::fill(b, ones);
    std::vector<JointModality<double>> mods{{&a, {}, 1, {}, "RNA"}, {&b, {}, 1, {}, "Methyl"}};
    Factor<double> ht(a, FactorSide::ht, 2);
    std::vector<Factor<double>> swapped;
    swapped.emplace_back(b, FactorSide::w, 2);
    swapped.emplace_back(a, FactorSide::w, 2);
    EXPECT_EQ(message([&] { joint_nmf(mods, swapped, ht, JointOptions{}); }),
              "W of modality 'RNA' does not line up with its rows or has k != 2");
    std::vector<Factor<double>> w = make_joint_w(mods, 2);
    JointOptions opts;
    opts.w = {0.1, 0};
    EXPECT_EQ(message([&] { joint_nmf(mods, w, ht, opts); }),
              "JointOptions::w must be zero: joint NMF takes W penalties per modality (JointModality::w)");
    EXPECT_EQ(message([&] { joint_weights(mods, JointWeighting::given, {1.0}); }),
              "modality weights: expected 2 finite values > 0, got 1");
    EXPECT_EQ(message([&] {
                  joint_weights(mods, JointWeighting::given, {1.0, 0.0});
              }),
              "modality weights: expected 2 finite values > 0, got 2 with a bad one");
}
