#include "bench_calibrate.hpp"

#include "prism/linalg/blas.hpp"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <vector>

namespace prism::drivers {

namespace {

/// Median over reps of the max over ranks of one call of f (each repetition started by a barrier).
template <typename F> double median_time(mpi::Comm const &world, int reps, int calls, F &&f) {
    std::vector<double> t(reps);
    for (int r = 0; r < reps; ++r) {
        MPI_Barrier(world.get());
        double const t0 = MPI_Wtime();
        for (int c = 0; c < calls; ++c)
            f();
        double local = (MPI_Wtime() - t0) / calls, worst = 0.0;
        MPI_Allreduce(&local, &worst, 1, MPI_DOUBLE, MPI_MAX, world.get());
        t[r] = worst;
    }
    std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
    return t[reps / 2];
}

} // namespace

CostConstants calibrate(mpi::Comm const &world, std::ostream &out) {
    int const p = world.size();
    CostConstants c;
    MPI_Comm comm = world.get();

    // alpha: one-word all-reduce, the latency-bound collective of the iteration (Grams' scalars, agreements);
    // a tree all-reduce takes log2 P steps.
    double one = 1.0, sum = 0.0;
    double const t_small =
        median_time(world, 21, 200, [&] { MPI_Allreduce(&one, &sum, 1, MPI_DOUBLE, MPI_SUM, comm); });
    double const steps = p > 1 ? std::log2(static_cast<double>(p)) : 1.0;
    c.alpha = t_small / steps;

    // beta: 2^21 words (16 MiB) gathered / reduce-scattered in total, as the factor slabs are.
    int const per_rank = (1 << 21) / p;
    std::vector<double> mine(per_rank, 1.0), all(static_cast<std::size_t>(per_rank) * p, 0.0);
    std::vector<int> counts(p, per_rank);
    double const t_gather = median_time(world, 7, 2, [&] {
        MPI_Allgather(mine.data(), per_rank, MPI_DOUBLE, all.data(), per_rank, MPI_DOUBLE, comm);
    });
    double const t_scatter = median_time(world, 7, 2, [&] {
        MPI_Reduce_scatter(all.data(), mine.data(), counts.data(), MPI_DOUBLE, MPI_SUM, comm);
    });
    double const words = static_cast<double>(per_rank) * (p - 1); // received (or reduced) per rank
    if (p > 1) {
        c.beta_allgather = std::max(0.0, t_gather - c.alpha * steps) / words;
        c.beta_reduce_scatter = std::max(0.0, t_scatter - c.alpha * steps) / words;
    }

    // gamma: the floor's local product shape, X (m x n) times a tall-skinny n x k factor.
    long const m = 2000, n = 2000, k = 50;
    std::vector<double> x(m * n, 0.5), h(n * k, 0.25), y(m * k, 0.0);
    double const t_gemm = median_time(world, 7, 1, [&] {
        blas::gemm<double>('N', 'N', m, k, n, 1.0, x.data(), m, h.data(), n, 0.0, y.data(), m);
    });
    c.gamma = t_gemm / (2.0 * m * n * k);

    if (world.rank() == 0) {
        out << std::setprecision(3);
        out << "prism-bench: calibrate on " << p << " ranks (medians, max over ranks)\n";
        out << "  alpha = " << c.alpha * 1e6 << " us per message (1-word all-reduce " << t_small * 1e6
            << " us, taken as log2 P = " << steps << " steps)\n";
        if (p > 1) {
            out << "  beta  = " << c.beta_allgather * 1e9 << " ns per word all-gather ("
                << 8e-9 / c.beta_allgather << " GB/s), " << c.beta_reduce_scatter * 1e9
                << " ns per word reduce-scatter (" << 8e-9 / c.beta_reduce_scatter << " GB/s); " << words
                << " words per rank in " << t_gather * 1e3 << " / " << t_scatter * 1e3 << " ms\n";
        } else {
            out << "  beta  = n/a at one rank (nothing moves; run with -np 2 or more)\n";
        }
        out << "  gamma = " << c.gamma * 1e12 << " ps per flop (" << 1e-9 / c.gamma << " Gflop/s; dgemm " << m
            << " x " << n << " times " << n << " x " << k << " in " << t_gemm * 1e3 << " ms)\n";
    }
    return c;
}

} // namespace prism::drivers
