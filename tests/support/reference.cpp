#include "support/reference.hpp"

#include <cmath>

#include "prism/mpi/collectives.hpp"
#include "prism/nnls/bpp.hpp"
#include "prism/nnls/hals_update.hpp"
#include "prism/nnls/mu_update.hpp"
#include "prism/util/counter_random.hpp"

namespace prism::test {

SerialNmf make_serial(gidx m, gidx n, gidx k, const std::function<double(gidx, gidx)> &f, std::uint64_t seed) {
    SerialNmf s;
    s.m = m;
    s.n = n;
    s.k = k;
    double total = 0;
    for (gidx i = 0; i < m; ++i) {
        for (gidx j = 0; j < n; ++j) {
            s.x.push_back(f(i, j));
            total += s.x.back();
        }
    }
    const double scale = std::sqrt(total / (static_cast<double>(m) * n) / static_cast<double>(k));
    for (gidx i = 0; i < m; ++i) {
        for (gidx l = 0; l < k; ++l) {
            s.w.push_back(scale * counter_uniform(seed, 0, i, l));
        }
    }
    for (gidx j = 0; j < n; ++j) {
        for (gidx l = 0; l < k; ++l) {
            s.ht.push_back(scale * counter_uniform(seed, 1, j, l));
        }
    }
    return s;
}

namespace {

// G = F^T F for F rows x k row-major.
std::vector<double> gram(const std::vector<double> &f, gidx rows, gidx k) {
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

void update(const NmfOptions &opts, const Penalty &p, const std::vector<double> &g, const std::vector<double> &r,
            gidx rows, gidx k, std::vector<double> &f) {
    switch (opts.algorithm) {
    case Algorithm::anls_bpp: {
        std::vector<double> gg = g;
        for (gidx l = 0; l < k; ++l) {
            gg[l * k + l] += p.l2;
        }
        nnls::BppOptions o;
        o.warm_start = true;
        o.l1 = p.l1;
        nnls::bpp_solve<double>(gg.data(), k, r.data(), k, rows, f.data(), k, o);
        break;
    }
    case Algorithm::hals: {
        nnls::HalsOptions o;
        o.l1 = p.l1;
        o.l2 = p.l2;
        o.eps_floor = opts.hals_floor;
        nnls::hals_update<double>(g.data(), k, r.data(), k, rows, f.data(), k, o);
        break;
    }
    case Algorithm::mu: {
        nnls::MuOptions o;
        o.l1 = p.l1;
        o.l2 = p.l2;
        nnls::mu_update<double>(g.data(), k, r.data(), k, rows, f.data(), k, o);
        break;
    }
    }
}

} // namespace

void run_serial(SerialNmf &s, const NmfOptions &opts, int iterations) {
    const gidx m = s.m, n = s.n, k = s.k;
    for (int it = 0; it < iterations; ++it) {
        // W <- argmin with G = H H^T, R = X H^T
        std::vector<double> r(static_cast<std::size_t>(m * k), 0.0);
        for (gidx i = 0; i < m; ++i) {
            for (gidx j = 0; j < n; ++j) {
                for (gidx l = 0; l < k; ++l) {
                    r[i * k + l] += s.x[i * n + j] * s.ht[j * k + l];
                }
            }
        }
        update(opts, opts.w, gram(s.ht, n, k), r, m, k, s.w);
        if (opts.algorithm == Algorithm::hals && penalty_free(opts.w) && penalty_free(opts.h)) {
            // unit-norm W columns, H scaled to compensate
            for (gidx l = 0; l < k; ++l) {
                double norm = 0;
                for (gidx i = 0; i < m; ++i) {
                    norm += s.w[i * k + l] * s.w[i * k + l];
                }
                norm = std::sqrt(norm);
                if (norm > 0) {
                    for (gidx i = 0; i < m; ++i) {
                        s.w[i * k + l] /= norm;
                    }
                    for (gidx j = 0; j < n; ++j) {
                        s.ht[j * k + l] *= norm;
                    }
                }
            }
        }
        // H^T <- argmin with G = W^T W, R = X^T W
        r.assign(static_cast<std::size_t>(n * k), 0.0);
        for (gidx i = 0; i < m; ++i) {
            for (gidx j = 0; j < n; ++j) {
                for (gidx l = 0; l < k; ++l) {
                    r[j * k + l] += s.x[i * n + j] * s.w[i * k + l];
                }
            }
        }
        update(opts, opts.h, gram(s.w, m, k), r, n, k, s.ht);
        double res = 0, norm = 0;
        for (gidx i = 0; i < m; ++i) {
            for (gidx j = 0; j < n; ++j) {
                double p = 0;
                for (gidx l = 0; l < k; ++l) {
                    p += s.w[i * k + l] * s.ht[j * k + l];
                }
                res += (s.x[i * n + j] - p) * (s.x[i * n + j] - p);
                norm += s.x[i * n + j] * s.x[i * n + j];
            }
        }
        s.history.push_back(std::sqrt(res / norm));
    }
}

template <typename T> std::vector<double> gather_global(const Factor<T> &f) {
    const mpi::Comm &comm = f.grid().comm();
    const gidx k = f.k();
    // Each rank sends (global index, k values) per slab row.
    std::vector<double> mine;
    for (lidx r = 0; r < f.rows(); ++r) {
        mine.push_back(static_cast<double>(f.global_index(r)));
        for (gidx l = 0; l < k; ++l) {
            mine.push_back(static_cast<double>(f.at(r, l)));
        }
    }
    const auto counts = mpi::allgather_value(comm, static_cast<std::int64_t>(mine.size()));
    std::int64_t total = 0;
    for (auto c : counts) {
        total += c;
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    mpi::allgatherv(comm, mine.data(), all.data(), counts);
    std::vector<double> global(static_cast<std::size_t>(f.global_rows() * k), std::nan(""));
    for (std::size_t p = 0; p < all.size(); p += static_cast<std::size_t>(k + 1)) {
        const auto g = static_cast<gidx>(all[p]);
        for (gidx l = 0; l < k; ++l) {
            global[static_cast<std::size_t>(g * k + l)] = all[p + 1 + static_cast<std::size_t>(l)];
        }
    }
    return global;
}

template std::vector<double> gather_global<double>(const Factor<double> &);
template std::vector<double> gather_global<float>(const Factor<float> &);

} // namespace prism::test
