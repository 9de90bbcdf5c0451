// prism-bench: seconds per NMF iteration, split into phases, against the "floor" — the two local BLAS-3
// products (X H^T and X^T W of this rank's block) that any iteration must do, timed in the same run on the
// same block. The data is planted (W0 H0 plus small non-negative noise), generated in memory from a
// counter-based generator, so it is bit-identical for every grid and block size and needs no file.
// With --sparse DENSITY the planted matrix is masked to that density and held as a SparseDistMatrix (CSR
// blocks built in place, never dense); the floor is then the two sparse x dense local products.

#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "bench_calibrate.hpp"
#include "bench_model.hpp"
#include "driver_main.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/grid.hpp"
#include "prism/linalg/dist_products.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/sparse_matrix.hpp"
#include "prism/util/counter_random.hpp"
#include "run_settings.hpp"
#include "thread_count.hpp"

namespace po = boost::program_options;
using namespace prism;

namespace {

constexpr const char *program = "prism-bench";

struct Settings {
    gidx m = 8000, n = 4000, k = 50;
    int iterations = 20, warmup = 2, floor_repeats = 7;
    std::vector<Algorithm> algorithms;
    bool use_float = false;
    std::string grid_text = "auto";
    gidx mb = default_block, nb = default_block;
    std::int64_t seed = 1;
    double noise = 0.01;
    double density = 0;           ///< > 0: sparse X with about this fraction of stored entries
    bool calibrate = false;       ///< --calibrate: measure the cost-model constants instead
    std::vector<int> model_ranks; ///< --model: rank counts the cost model predicts (empty: no model)
    /// Latency and per-word time for the model when no peer can measure them (1 rank) or when given.
    double alpha = 5e-6, beta = 1e-9;
    bool alpha_beta_given = false;
    int threads = 0; ///< --threads: OpenMP and OpenBLAS threads per rank (0: as the environment sets them)
};

void require(bool ok, const std::string &message) {
    if (!ok) {
        throw Error(message);
    }
}

// "MB" or "MBxNB" with positive integers.
void parse_block(const std::string &text, gidx &mb, gidx &nb) {
    const std::string bad = "invalid --block '" + text + "': expected MB or MBxNB with positive integers";
    const auto sep = text.find_first_of("xX");
    const std::string a = text.substr(0, sep), b = sep == std::string::npos ? a : text.substr(sep + 1);
    const auto number = [&](const std::string &s) {
        require(!s.empty() && s.size() <= 12 && s.find_first_not_of("0123456789") == std::string::npos, bad);
        const gidx v = std::stoll(s);
        require(v >= 1, bad);
        return v;
    };
    mb = number(a);
    nb = number(b);
}

std::vector<Algorithm> parse_algorithms(const std::string &text) {
    std::vector<Algorithm> list;
    std::stringstream in(text);
    std::string name;
    while (std::getline(in, name, ',')) {
        list.push_back(parse_algorithm(name));
    }
    require(!list.empty(), "--algorithms is empty: give e.g. hals,anls-bpp,mu");
    return list;
}

// Returns false if --help was printed. Collective: a bad option is one Error on every rank.
bool parse_settings(const mpi::Comm &world, int argc, char **argv, Settings &s) {
    po::options_description visible(
        "Usage: mpirun -np P prism-bench [options]\n\n"
        "Times NMF iterations on planted dense data generated in memory and compares them with the floor:\n"
        "the two local BLAS products X H^T and X^T W of each rank's block, timed in the same "
        "run.\n\nOptions");
    std::string algorithms = "hals,anls-bpp,mu", precision = "double", block = "64";
    std::vector<std::string> model_texts;
    visible.add_options()("help,h", "print this help and exit")(
        "m", po::value(&s.m)->default_value(s.m), "rows of X")("n", po::value(&s.n)->default_value(s.n),
                                                               "columns of X")(
        "k", po::value(&s.k)->default_value(s.k), "factorization rank (also the planted rank)")(
        "iterations", po::value(&s.iterations)->default_value(s.iterations),
        "timed iterations per algorithm")("warmup", po::value(&s.warmup)->default_value(s.warmup),
                                          "untimed iterations before them")(
        "algorithms", po::value(&algorithms)->default_value(algorithms),
        "comma-separated: hals, anls-bpp, mu")("precision", po::value(&precision)->default_value(precision),
                                               "double | float")(
        "grid", po::value(&s.grid_text)->default_value(s.grid_text), "process grid PRxPC, or auto")(
        "block", po::value(&block)->default_value(block),
        "distribution block MB or MBxNB")("seed", po::value(&s.seed)->default_value(s.seed),
                                          "seed of the planted data and of the initial factors")(
        "noise", po::value(&s.noise)->default_value(s.noise, "0.01"),
        "uniform noise added to W0 H0, relative to the mean entry (>= 0)")(
        "floor-repeats", po::value(&s.floor_repeats)->default_value(s.floor_repeats),
        "repetitions of the floor products (the median is reported)")(
        "sparse", po::value(&s.density)->default_value(s.density, "0 (dense)"),
        "sparse X (CSR blocks) with this density in (0, 1]: the planted matrix masked at random")(
        "calibrate", po::bool_switch(&s.calibrate),
        "measure alpha (latency), beta (per word) and gamma (per flop) for docs/SCALING.md and exit")(
        "model", po::value(&model_texts)->composing(),
        "after the measurement, print the cost model's (docs/SCALING.md) s/iter for these rank counts, e.g. "
        "1,2,4,64,4096 (repeatable), next to the measured s/iter for this run's rank count; alpha and beta "
        "are calibrated in the same run, gamma comes from this run's floor")(
        "alpha", po::value(&s.alpha)->default_value(s.alpha, "5e-6"),
        "--model: seconds per message; calibrated unless given, this value at 1 rank (no peer)")(
        "beta", po::value(&s.beta)->default_value(s.beta, "1e-9"),
        "--model: seconds per 8-byte word; calibrated unless given, this value at 1 rank (no peer)")(
        "threads", po::value(&s.threads),
        "OpenMP and OpenBLAS threads per rank (>= 1; default: as OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set "
        "them)");
    po::variables_map vm;
    mpi::agree_call(world, [&] {
        drivers::parse_command_line(po::command_line_parser(argc, argv).options(visible), vm);
        if (vm.count("help")) {
            return;
        }
        require(s.m >= 1 && s.n >= 1, "--m and --n must be at least 1");
        require(s.k >= 1 && s.k <= std::min(s.m, s.n),
                "--k must be in [1, min(m, n)] = [1, " + std::to_string(std::min(s.m, s.n)) + "]");
        require(s.iterations >= 1, "--iterations must be at least 1");
        require(s.warmup >= 0, "--warmup must be >= 0");
        require(s.floor_repeats >= 1, "--floor-repeats must be at least 1");
        require(!vm.count("threads") || s.threads >= 1,
                "--threads must be at least 1 (threads per rank), got " + std::to_string(s.threads));
        require(s.seed >= 0, "--seed must be >= 0");
        require(s.noise >= 0 && s.noise < 1e300, "--noise must be a finite number >= 0");
        require(s.density >= 0 && s.density <= 1, "--sparse must be a density in (0, 1] (0: dense)");
        require(precision == "double" || precision == "float",
                "invalid --precision '" + precision + "': expected double or float");
        s.use_float = precision == "float";
        s.algorithms = parse_algorithms(algorithms);
        if (s.grid_text != "auto") {
            parse_grid_shape(s.grid_text);
        }
        parse_block(block, s.mb, s.nb);
        for (const std::string &text : model_texts) {
            const std::vector<int> counts = drivers::parse_rank_counts(text, "--model");
            s.model_ranks.insert(s.model_ranks.end(), counts.begin(), counts.end());
        }
        require(std::isfinite(s.alpha) && s.alpha >= 0, "--alpha must be a finite number of seconds >= 0");
        require(std::isfinite(s.beta) && s.beta >= 0, "--beta must be a finite number of seconds >= 0");
        s.alpha_beta_given = !vm["alpha"].defaulted() || !vm["beta"].defaulted();
        require(!(s.calibrate && !s.model_ranks.empty()),
                "--calibrate and --model exclude each other (--model calibrates in the same run)");
    });
    if (vm.count("help")) {
        if (world.rank() == 0) {
            std::cout << visible << "\n";
        }
        return false;
    }
    if (s.threads > 0) {
        drivers::set_threads_per_rank(s.threads);
    }
    return true;
}

// X = W0 H0 / k + noise * mean * U, with W0, H0, U uniform in [0, 1) from (seed, global index): the same
// matrix for every grid. The k-sum runs in a fixed order, so entries are bit-identical too.
template <typename T> void fill_planted(DistMatrix<T> &x, gidx k, std::uint64_t seed, double noise) {
    const lidx mr = x.local_rows(), nc = x.local_cols();
    std::vector<double> w0(static_cast<std::size_t>(mr * k)), col(static_cast<std::size_t>(mr));
    for (gidx l = 0; l < k; ++l) {
        for (lidx i = 0; i < mr; ++i) {
            w0[static_cast<std::size_t>(i + l * mr)] = counter_uniform(seed, 10, x.global_row(i), l);
        }
    }
    const double mean = 0.25; // E[W0 H0 / k]
    for (lidx j = 0; j < nc; ++j) {
        const gidx jg = x.global_col(j);
        std::fill(col.begin(), col.end(), 0.0);
        for (gidx l = 0; l < k; ++l) {
            const double h = counter_uniform(seed, 11, jg, l) / static_cast<double>(k);
            const double *wl = w0.data() + l * mr;
            for (lidx i = 0; i < mr; ++i) {
                col[static_cast<std::size_t>(i)] += wl[i] * h;
            }
        }
        T *xc = x.data() + j * x.ld();
        for (lidx i = 0; i < mr; ++i) {
            xc[i] = static_cast<T>(col[static_cast<std::size_t>(i)] +
                                   noise * mean * counter_uniform(seed, 12, x.global_row(i), jg));
        }
    }
}

// Sparse planted data: row i keeps the columns a geometric skip sequence of parameter `density` visits
// (a pure function of (seed, i), so the pattern is the same for every grid), with the value of
// fill_planted's formula there. Each rank walks the sequences of its local rows and keeps its own
// columns; two passes (count, then fill) so the CSR arrays are allocated once at their exact size.
template <typename T>
SparseDistMatrix<T> sparse_planted(const Grid &grid, const Settings &s, std::uint64_t seed) {
    const BlockCyclic rows(s.m, s.mb, grid.rows()), cols(s.n, s.nb, grid.cols());
    CsrBlock<T> b;
    b.rows = rows.local_size(grid.my_row());
    b.cols = cols.local_size(grid.my_col());
    const double log_miss = std::log1p(-std::min(s.density, 1.0 - 1e-16));
    const auto visit_row = [&](gidx i, auto &&keep) {
        std::int64_t step = 0;
        for (gidx j = -1;;) {
            const double u = 1.0 - counter_uniform(seed, 13, i, step++); // in (0, 1]
            j += 1 + (s.density >= 1 ? 0 : static_cast<gidx>(std::log(u) / log_miss));
            if (j >= s.n || j < 0) {
                return;
            }
            if (cols.owner(j) == grid.my_col()) {
                keep(j);
            }
        }
    };
    b.row_ptr.assign(static_cast<std::size_t>(b.rows + 1), 0);
    for (lidx i = 0; i < b.rows; ++i) {
        std::int64_t count = 0;
        visit_row(rows.to_global(i, grid.my_row()), [&](gidx) { ++count; });
        b.row_ptr[static_cast<std::size_t>(i + 1)] = b.row_ptr[static_cast<std::size_t>(i)] + count;
    }
    b.col.resize(static_cast<std::size_t>(b.row_ptr.back()));
    b.values.resize(b.col.size());
    std::vector<double> h0(static_cast<std::size_t>(s.n * s.k)), w0(static_cast<std::size_t>(s.k));
    for (gidx j = 0; j < s.n; ++j) {
        for (gidx l = 0; l < s.k; ++l) {
            h0[static_cast<std::size_t>(j * s.k + l)] =
                counter_uniform(seed, 11, j, l) / static_cast<double>(s.k);
        }
    }
    for (lidx i = 0; i < b.rows; ++i) {
        const gidx ig = rows.to_global(i, grid.my_row());
        for (gidx l = 0; l < s.k; ++l) {
            w0[static_cast<std::size_t>(l)] = counter_uniform(seed, 10, ig, l);
        }
        auto p = static_cast<std::size_t>(b.row_ptr[static_cast<std::size_t>(i)]);
        visit_row(ig, [&](gidx j) {
            double v = 0;
            for (gidx l = 0; l < s.k; ++l) {
                v += w0[static_cast<std::size_t>(l)] * h0[static_cast<std::size_t>(j * s.k + l)];
            }
            b.col[p] = static_cast<std::int32_t>(cols.to_local(j));
            b.values[p++] = static_cast<T>(v + s.noise * 0.25 * counter_uniform(seed, 12, ig, j));
        });
    }
    return SparseDistMatrix<T>(grid, s.m, s.n, s.mb, s.nb, std::move(b), "planted sparse X");
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

std::string env_or_unset(const char *name) {
    const char *v = std::getenv(name);
    return v ? v : "unset";
}

double peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) * 1024.0; // kilobytes on Linux
}

std::string mib(double bytes) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << bytes / (1024.0 * 1024.0) << " MiB";
    return out.str();
}

// Resident bytes now (/proc/self/statm), 0 where unavailable.
double current_rss_bytes() {
    std::FILE *f = std::fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    const bool ok = f && std::fscanf(f, "%ld %ld", &pages, &resident) == 2;
    if (f) {
        std::fclose(f);
    }
    return ok ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) : 0.0;
}

// Resident and peak resident bytes at named points of the run, to see where the peak beyond X comes from
// (MPI and the libraries before any data, the data, each algorithm's iterations and floor).
class MemoryTrace {
  public:
    void mark(const std::string &stage) {
#ifdef __GLIBC__
        // Give the pages freed so far back to the system, so that what one stage freed (generation
        // temporaries, an algorithm's workspace) does not stay resident and is not counted in the next
        // stage's peak: each algorithm's peak is then the data plus its own working set.
        malloc_trim(0);
#endif
        stages_.push_back(stage);
        values_.push_back(current_rss_bytes());
        values_.push_back(peak_rss_bytes());
    }
    /// Resident bytes at the first mark (MPI and the libraries, before any data).
    double baseline() const {
        return values_.empty() ? 0.0 : values_.front();
    }
    /// Collective: every rank marked the same stages. "stage now / peak" in MiB, max over ranks.
    std::string report(const mpi::Comm &world) {
        std::vector<double> v = values_;
        mpi::allreduce(world, v.data(), static_cast<lidx>(v.size()), mpi::Op::max);
        std::ostringstream out;
        out << std::fixed << std::setprecision(1);
        for (std::size_t i = 0; i < stages_.size(); ++i) {
            out << (i ? ", " : "") << stages_[i] << " " << v[2 * i] / 1048576.0 << " / "
                << v[2 * i + 1] / 1048576.0;
        }
        return out.str();
    }

  private:
    std::vector<std::string> stages_;
    std::vector<double> values_;
};

struct Row {
    std::string name;
    double s_iter = 0, products = 0, grams = 0, nnls = 0, comm = 0, other = 0;
    double s_iter_median =
        0; ///< median of the iterations' own times (rank 0's clock, after the Gram all-reduce)
    double floor = 0, floor_w = 0, floor_ht = 0, relative_error = 0;
    nnls::BppStats bpp; ///< summed over ranks and timed iterations
    int iterations = 0;
    double factor_bytes = 0; ///< this rank's factor slabs and the gathered copies the products need
};

// The floor: local_product for both sides on X's block with gathered factors of the iteration's shapes.
// Ranks start each repetition together (as in the iteration, they share memory bandwidth); the median per
// rank, then the max over ranks, as for the phases.
template <typename T>
void measure_floor(MatrixRef<T> x, const Factor<T> &w, const Factor<T> &ht, int repeats, Row &row) {
    std::vector<T> w_buffer, ht_buffer, partial;
    ProductWorkspace<T> ws;
    // As in the iteration: a group of one rank uses the slab itself (no copy of the factor at the peak).
    const T *w_gathered = gathered_factor(w, w_buffer);
    const T *ht_gathered = gathered_factor(ht, ht_buffer);
    local_product<T>(x, ht_gathered, FactorSide::w, w.k(), partial, ws.scratch); // first touch of the buffers
    local_product<T>(x, w_gathered, FactorSide::ht, w.k(), partial, ws.scratch);
    std::vector<double> tw, tht, both;
    for (int r = 0; r < repeats; ++r) {
        MPI_Barrier(x.grid().comm().get());
        const double t0 = MPI_Wtime();
        local_product<T>(x, ht_gathered, FactorSide::w, w.k(), partial, ws.scratch);
        const double t1 = MPI_Wtime();
        local_product<T>(x, w_gathered, FactorSide::ht, w.k(), partial, ws.scratch);
        const double t2 = MPI_Wtime();
        tw.push_back(t1 - t0);
        tht.push_back(t2 - t1);
        both.push_back(t2 - t0);
    }
    double v[3] = {median(both), median(tw), median(tht)};
    mpi::allreduce(x.grid().comm(), v, 3, mpi::Op::max);
    row.floor = v[0];
    row.floor_w = v[1];
    row.floor_ht = v[2];
}

template <typename T>
Row bench_one(MatrixRef<T> x, const Settings &s, Algorithm algorithm, MemoryTrace &memory) {
    Factor<T> w(x, FactorSide::w, s.k), ht(x, FactorSide::ht, s.k);
    initialize_random<T>(x, w, ht, static_cast<std::uint64_t>(s.seed));
    NmfOptions opts;
    opts.algorithm = algorithm;
    opts.tol = 0; // a fixed number of iterations
    if (s.warmup > 0) {
        opts.max_iter = s.warmup;
        nmf<T>(x, w, ht, opts);
    }
    opts.max_iter = s.iterations;
    const NmfInfo info = nmf<T>(x, w, ht, opts);

    const double it = info.iterations;
    const double accounted = info.t_products + info.t_grams + info.t_solve + info.t_comm;
    double v[6] = {info.seconds, info.t_products, info.t_grams,
                   info.t_solve, info.t_comm,     info.seconds - accounted};
    mpi::allreduce(x.grid().comm(), v, 6, mpi::Op::max); // each phase: its slowest rank
    Row row;
    row.name = to_string(algorithm);
    row.s_iter = v[0] / it;
    // The floor is a median of repeats; the median iteration compares like with like (a mean of 20 catches
    // every descheduling of a shared host), so both ratios are printed.
    row.s_iter_median = median(info.history_seconds);
    row.products = v[1] / it;
    row.grams = v[2] / it;
    row.nnls = v[3] / it;
    row.comm = v[4] / it;
    row.other = v[5] / it;
    row.relative_error = info.relative_error;
    row.bpp = info.bpp;
    row.iterations = info.iterations;
    row.factor_bytes =
        static_cast<double>((w.rows() + ht.rows() + w.gathered_rows() + ht.gathered_rows()) * s.k) *
        static_cast<double>(sizeof(T));
    memory.mark(row.name + " iterations");
    measure_floor<T>(x, w, ht, s.floor_repeats, row);
    memory.mark(row.name + " floor");
    return row;
}

// --model: the cost model's prediction for each requested rank count and algorithm, with the measured
// s/iter of this run next to it for this run's rank count. gamma is the rate the floor's products ran at
// in this run (sparse: gamma_sparse, with the dense gamma of the Grams and update from the calibration),
// the update factor c of each algorithm its nnls column in units of gamma (m + n) k^2 / P, alpha and
// beta calibrated now (at 1 rank, or when given, --alpha and --beta). Collective on world.
void report_model(const mpi::Comm &world,
                  const Settings &s,
                  const Grid &grid,
                  const std::vector<Row> &rows,
                  double nnz_total) {
    const bool root = world.rank() == 0;
    const int p_run = world.size();
    std::ostringstream calibration; // rank 0's calibration report, printed with the model
    const drivers::CostConstants measured = drivers::calibrate(world, calibration);
    drivers::ModelConstants c;
    std::string alpha_beta_source;
    if (s.alpha_beta_given || p_run == 1) {
        c.alpha = s.alpha;
        c.beta = s.beta;
        alpha_beta_source = s.alpha_beta_given ? "given" : "no peer at 1 rank: --alpha, --beta";
    } else {
        c.alpha = measured.alpha;
        c.beta = 0.5 * (measured.beta_allgather + measured.beta_reduce_scatter);
        alpha_beta_source = "calibrated on " + std::to_string(p_run) +
                            " ranks, beta the mean of all-gather and reduce-scatter";
    }
    const drivers::ModelProblem problem{s.m, s.n, s.k, nnz_total};
    std::vector<double> floors;
    for (const Row &r : rows) {
        floors.push_back(r.floor);
    }
    const double product_flops = problem.nnz > 0 ? 4.0 * problem.nnz * static_cast<double>(s.k) / p_run
                                                 : 4.0 * static_cast<double>(s.m) * static_cast<double>(s.n) *
                                                       static_cast<double>(s.k) / p_run;
    const double floor_rate = median(floors) / product_flops;
    c.gamma = problem.nnz > 0 ? measured.gamma : floor_rate;
    c.gamma_sparse = floor_rate;
    const double update_unit =
        c.gamma * static_cast<double>(s.m + s.n) * static_cast<double>(s.k * s.k) / p_run;
    if (!root) {
        return;
    }
    std::ostringstream out;
    out << calibration.str() << std::setprecision(3);
    out << program << ": model (docs/SCALING.md) of this problem, " << s.m << " x " << s.n << ", k = " << s.k
        << (problem.nnz > 0 ? ", sparse " + std::to_string(static_cast<std::int64_t>(problem.nnz)) + " stored"
                            : std::string(", dense"))
        << "\n"
        << program << ": model constants: alpha = " << c.alpha * 1e6 << " us, beta = " << c.beta * 1e9
        << " ns/word (" << alpha_beta_source << "); ";
    if (problem.nnz > 0) {
        out << "gamma_sparse = " << c.gamma_sparse * 1e12 << " ps/flop (this run's floor, median over "
            << "algorithms), gamma = " << c.gamma * 1e12 << " ps/flop (calibration dgemm)";
    } else {
        out << "gamma = " << c.gamma * 1e12 << " ps/flop (this run's floor, median over algorithms)";
    }
    out << "; update factor c (this run's nnls / gamma (m + n) k^2 / P):";
    for (const Row &r : rows) {
        out << " " << r.name << " " << r.nnls / update_unit;
    }
    out << "\n";
    out << std::left << std::setw(7) << "model" << std::setw(10) << "algorithm" << std::right << std::setw(7)
        << "P" << std::setw(10) << "grid";
    for (const char *h : {"s/iter", "compute", "words", "latency", "measured", "meas/model"}) {
        out << std::setw(11) << h;
    }
    out << "\n";
    for (const Row &r : rows) {
        c.update_factor = r.nnls / update_unit;
        for (int p : s.model_ranks) {
            const bool here = p == p_run;
            const auto e = drivers::predict_iteration(
                c, problem, p, here ? GridShape{grid.rows(), grid.cols()} : GridShape{});
            out << std::left << std::setw(7) << "model" << std::setw(10) << r.name << std::right
                << std::setw(7) << p << std::setw(10)
                << std::to_string(e.grid.rows) + "x" + std::to_string(e.grid.cols) << std::setprecision(4);
            for (double v : {e.seconds, e.compute, e.bandwidth, e.latency}) {
                out << std::setw(11) << v;
            }
            if (here) {
                out << std::setw(11) << r.s_iter << std::fixed << std::setprecision(3) << std::setw(11)
                    << r.s_iter / e.seconds << std::defaultfloat;
            } else {
                out << std::setw(11) << "-" << std::setw(11) << "-";
            }
            out << "\n";
        }
    }
    std::cout << out.str() << std::flush;
}

template <typename T>
int run_bench(const mpi::Comm &world, const Settings &s, const Grid &grid, MemoryTrace &memory) {
    // Exactly one of the two holds the data; the other is an empty 0 x 0 placeholder.
    const bool sparse = s.density > 0;
    DistMatrix<T> dense(grid, sparse ? 0 : s.m, sparse ? 0 : s.n, s.mb, s.nb);
    SparseDistMatrix<T> sp = sparse ? sparse_planted<T>(grid, s, static_cast<std::uint64_t>(s.seed))
                                    : SparseDistMatrix<T>(grid, 0, 0, 1, 1, CsrBlock<T>{});
    if (!sparse) {
        fill_planted(dense, s.k, static_cast<std::uint64_t>(s.seed), s.noise);
    }
    const MatrixRef<T> x = sparse ? MatrixRef<T>(sp) : MatrixRef<T>(dense);
    memory.mark("data");
    // Bytes of X on this rank: the dense block, or values + column indices + row offsets of the CSR block.
    const double x_bytes =
        sparse ? static_cast<double>(sp.local_nnz()) * static_cast<double>(sizeof(T) + sizeof(std::int32_t)) +
                     static_cast<double>(sp.local_rows() + 1) * sizeof(std::int64_t)
               : static_cast<double>(x.local_rows()) * static_cast<double>(x.local_cols()) * sizeof(T);
    const NnzBalance balance = sparse ? nnz_balance(sp) : NnzBalance{};
    const bool root = world.rank() == 0;
    if (root) {
        std::cout << program << ": m = " << s.m << ", n = " << s.n << ", k = " << s.k << ", "
                  << (s.use_float ? "float" : "double") << ", grid " << grid.shape_string() << " on "
                  << world.size() << " ranks, block " << s.mb << "x" << s.nb << ", seed " << s.seed << "\n"
                  << program << ": threads per rank: OMP_NUM_THREADS=" << env_or_unset("OMP_NUM_THREADS")
                  << " OPENBLAS_NUM_THREADS=" << env_or_unset("OPENBLAS_NUM_THREADS") << " (OpenMP "
                  << drivers::openmp_threads() << ", OpenBLAS " << drivers::openblas_threads() << ")"
                  << (s.threads > 0 ? ", set by --threads " + std::to_string(s.threads) : std::string())
                  << "\n"
                  << (sparse
                          ? std::string(program) + ": sparse X, density " + std::to_string(s.density) +
                                ", stored entries per rank min / mean / max " + std::to_string(balance.min) +
                                " / " + std::to_string(static_cast<std::int64_t>(balance.mean)) + " / " +
                                std::to_string(balance.max) + " (total " + std::to_string(balance.total) +
                                ")\n"
                          : std::string())
                  << program << ": " << s.iterations << " timed iterations after " << s.warmup
                  << " warm-up; seconds per iteration, each phase the max over ranks; floor = median of "
                  << s.floor_repeats << " runs of local X H^T + X^T W\n"
                  << std::flush;
    }
    std::vector<Row> rows;
    for (Algorithm a : s.algorithms) {
        rows.push_back(bench_one(x, s, a, memory));
    }
    const double rss = peak_rss_bytes();
    const double factor_bytes = rows.empty() ? 0.0 : rows.front().factor_bytes;
    // Issue 7's memory target: peak RSS <= 1.15 x local X + the factor rows held and gathered.
    const double budget = 1.15 * x_bytes + factor_bytes;
    double mem[6] = {rss,
                     x_bytes,
                     rss / std::max(x_bytes, 1.0),
                     factor_bytes,
                     rss / std::max(budget, 1.0),
                     (rss - memory.baseline()) / std::max(budget, 1.0)};
    mpi::allreduce(world, mem, 6, mpi::Op::max);
    const std::string stages = memory.report(world);
    if (root) {
        std::ostringstream out;
        out << std::left << std::setw(10) << "algorithm" << std::right;
        for (const char *h : {"s/iter", "products", "grams", "nnls", "comm", "other", "floor", "ratio"}) {
            out << std::setw(10) << h;
        }
        out << std::setw(10) << "med.iter" << std::setw(10) << "med.ratio";
        out << std::setw(12) << "rel.error"
            << "\n"
            << std::fixed;
        for (const Row &r : rows) {
            out << std::left << std::setw(10) << r.name << std::right << std::defaultfloat
                << std::setprecision(4);
            for (double v : {r.s_iter, r.products, r.grams, r.nnls, r.comm, r.other, r.floor}) {
                out << std::setw(10) << v;
            }
            out << std::fixed << std::setw(10) << std::setprecision(3) << r.s_iter / r.floor
                << std::defaultfloat << std::setprecision(4) << std::setw(10) << r.s_iter_median << std::fixed
                << std::setprecision(3) << std::setw(10) << r.s_iter_median / r.floor << std::setw(12)
                << std::setprecision(6) << r.relative_error << "\n";
        }
        out << program << ": floor split (max over ranks):";
        for (const Row &r : rows) {
            out << " " << r.name << " " << std::setprecision(4) << r.floor_w << " + " << r.floor_ht;
        }
        out << "\n";
        for (const Row &r : rows) {
            if (r.bpp.columns > 0) {
                const double c = static_cast<double>(r.bpp.columns);
                out << program << ": " << r.name
                    << " inner solver per iteration: " << r.bpp.columns / r.iterations << " columns, "
                    << std::setprecision(2) << r.bpp.exchange_rounds / c << " exchange rounds and "
                    << r.bpp.factorizations / c << " factorizations per column, " << r.bpp.pivoted_fallbacks
                    << " pivoted fallbacks, " << r.bpp.cap_hits << " cap hits\n";
            }
        }
        if (sparse) {
            out << program << ": peak RSS (max over ranks) " << mib(mem[0])
                << "; bytes of the local nonzeros "
                << "(values + column indices + row offsets, max over ranks) " << mib(mem[1])
                << "; peak RSS / nonzero bytes (max over ranks) " << std::setprecision(2) << mem[2] << "\n";
        } else {
            out << program << ": peak RSS (max over ranks) " << mib(mem[0])
                << "; local block of X (max over ranks) " << x.local_rows() << " x " << x.local_cols()
                << " on rank 0, " << mib(mem[1]) << "\n";
        }
        out << program << ": memory target peak RSS <= 1.15 x local X + factor rows held and gathered ("
            << mib(mem[3]) << "), max over ranks: peak / target " << std::setprecision(3) << mem[4]
            << ", (peak - RSS at MPI init) / target " << mem[5] << "\n"
            << program << ": RSS MiB now / peak (max over ranks) after: " << stages << "\n";
        std::cout << out.str() << std::flush;
    }
    if (!s.model_ranks.empty()) {
        report_model(world, s, grid, rows, sparse ? std::max(1.0, static_cast<double>(balance.total)) : 0.0);
    }
    return drivers::exit_ok;
}

int run(const mpi::Comm &world, int argc, char **argv) {
    MemoryTrace memory;
    memory.mark("MPI init"); // MPI, the libraries and the process itself, before any data
    Settings s;
    if (!parse_settings(world, argc, argv, s)) {
        return drivers::exit_ok;
    }
    if (s.calibrate) {
        drivers::calibrate(world, std::cout);
        return drivers::exit_ok;
    }
    GridShape shape{};
    mpi::agree_call(world, [&] {
        shape =
            s.grid_text == "auto" ? choose_grid_shape(world.size(), s.m, s.n) : parse_grid_shape(s.grid_text);
    });
    Grid grid(world, shape);
    return s.use_float ? run_bench<float>(world, s, grid, memory) : run_bench<double>(world, s, grid, memory);
}

} // namespace

int main(int argc, char **argv) {
    return drivers::run_driver(program, argc, argv,
                               [&](const mpi::Comm &world) { return run(world, argc, argv); });
}
