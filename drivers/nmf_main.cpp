// prism-nmf --input FILE[:DATASET] --rank K --output OUT.h5: distributed NMF of one matrix, X ~= W H.
//
// Order of work, so that bad input costs nothing and never leaves a file behind: options (all checked
// before anything is read), the output path (refused if it exists, unless --force), the dataset's shape
// (metadata only), the process grid, then the data and its values (NaN/Inf/negative), and only then the
// factorization. The result is written collectively to OUT.h5.tmp-PID and renamed into place on rank 0
// after a successful close; on failure the temporary file is removed.

#include <cmath>
#include <cstdint>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "driver_main.hpp"
#include "prism/algorithms/init_nndsvd.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/grid.hpp"
#include "prism/io/checkpoint.hpp"
#include "prism/io/factor_io.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/mpi/collectives.hpp"
#include "run_settings.hpp"

namespace po = boost::program_options;
using namespace prism;
using namespace prism::drivers;

namespace {

constexpr const char *program = "prism-nmf";

// Everything the command line asks for, checked.
struct Settings : RunSettings {
    std::string input_text;
    io::DatasetPath input;
};

// Parses and checks the command line. Returns false if --help was printed. Collective on `world`: a bad
// option is one Error on every rank.
bool parse_settings(const mpi::Comm &world, int argc, char **argv, Settings &s) {
    po::options_description visible(
        "Usage: mpirun -np P prism-nmf --input FILE[:DATASET] --rank K --output OUT.h5 [options]\n\n"
        "Non-negative matrix factorization X ~= W H (W, H >= 0) of a features x samples matrix, distributed\n"
        "over a 2D process grid. Writes /W (m x k), /H (k x n), the names, the per-iteration history and the\n"
        "run's parameters to OUT.h5.\n\nOptions");
    visible.add_options()("help,h", "print this help and exit")(
        "input,i", po::value(&s.input_text), "FILE[:DATASET], the matrix to factorize (DATASET defaults to /X)");
    add_run_options(visible, s);
    po::variables_map vm;
    mpi::agree_call(world, [&] {
        try {
            po::store(po::command_line_parser(argc, argv).options(visible).run(), vm);
            po::notify(vm);
        } catch (const po::error &e) {
            throw Error(std::string(e.what()) + " (see --help)");
        }
        if (vm.count("help")) {
            return;
        }
        if (!vm.count("input")) {
            throw Error("no input given: --input FILE[:DATASET] is required (see --help)");
        }
        check_run_settings(vm, s);
        s.input = io::parse_dataset_path(s.input_text);
    });
    if (vm.count("help")) {
        if (world.rank() == 0) {
            std::cout
                << visible << "\n"
                << "Exit status: 0 success, 2 a clear error (printed once), 3 an internal failure on one "
                   "rank (job aborted), 4 stopped early at a checkpoint (SIGTERM/SIGUSR1 or the job's end "
                   "time): rerun with --resume.\n";
        }
        return false;
    }
    s.command_line = shell_join(argc, argv);
    return true;
}

// Names stored next to the dataset: GROUP/row_names (m) and GROUP/col_names (n); for a dataset inside a
// group (multi-omics files), the root's /sample_names also serve as column names. A names dataset of the
// wrong length or type is skipped with a warning. Collective on `world`.
std::vector<std::string> read_names(const mpi::Comm &world,
                                    const Settings &s,
                                    const std::vector<std::string> &candidates,
                                    gidx expected) {
    for (const auto &name : candidates) {
        if (!io::dataset_exists(world, s.input.file, name)) {
            continue;
        }
        std::string problem;
        std::vector<std::string> names;
        try {
            names = io::read_strings(world, {s.input.file, name});
            if (static_cast<gidx>(names.size()) != expected) {
                problem = "has " + std::to_string(names.size()) + " entries, expected " + std::to_string(expected);
            }
        } catch (const Error &e) {
            if (!e.collective()) {
                throw;
            }
            problem = e.what();
        }
        if (problem.empty()) {
            return names;
        }
        if (world.rank() == 0) {
            std::cerr << program << ": warning: not copying " << name << ": " << problem << "\n";
        }
    }
    return {};
}

template <typename T>
int factorize(
    const mpi::Comm &world, const Settings &s, const Grid &grid, double t_start, double t_start_epoch) {
    const std::string name = in_quotes(s.input.file) + ":" + s.input.dataset;
    DistMatrix<T> x = io::read_matrix<T>(grid, s.input, s.mb, s.nb);
    validate_nmf_input(x, s.k, name);
    const std::string parent = s.input.dataset.substr(0, s.input.dataset.find_last_of('/'));
    const std::vector<std::string> row_names = read_names(world, s, {parent + "/row_names"}, x.rows());
    std::vector<std::string> col_candidates = {parent + "/col_names"};
    if (!parent.empty()) {
        col_candidates.push_back("/sample_names");
    }
    const std::vector<std::string> col_names = read_names(world, s, col_candidates, x.cols());

    const bool root_prints = world.rank() == 0 && !s.quiet;
    if (root_prints) {
        std::cout << program << ": " << to_string(s.algorithm) << ", k = " << s.k << ", " << name << " (" << x.rows()
                  << " x " << x.cols() << ", " << (s.use_float ? "float" : "double") << "), grid "
                  << grid.shape_string() << " on " << world.size() << " ranks, block " << s.mb << "x" << s.nb
                  << ", init " << s.init_text << " (seed " << s.seed << ")\n"
                  << std::flush;
    }
    ProgressLog log(world, s);

    // What a checkpoint must match: the problem's options and the data as factorized.
    Identity identity = problem_identity(s);
    for (auto &entry : input_identity(world, "input", s.input, x)) {
        identity.push_back(std::move(entry));
    }
    Factor<T> w(x, FactorSide::w, s.k), ht(x, FactorSide::ht, s.k);
    ResumeState resume;
    if (s.resume) {
        resume = load_resume_state(world, s, identity, 0);
        io::read_checkpoint_factors<T>(s.checkpoint, {&w}, ht);
        if (root_prints) {
            std::cout << program << ": resuming from " << s.checkpoint << " after iteration "
                      << resume.iterations << "\n"
                      << std::flush;
        }
    } else {
        switch (s.init) {
        case Init::random:
            initialize_random(x, w, ht, static_cast<std::uint64_t>(s.seed));
            break;
        case Init::nndsvd:
        case Init::nndsvda:
            initialize_nndsvd(x, w, ht, s.init == Init::nndsvda, static_cast<std::uint64_t>(s.seed));
            break;
        }
    }

    NmfOptions opts;
    opts.algorithm = s.algorithm;
    opts.max_iter = s.max_iter;
    opts.tol = s.tol;
    opts.max_seconds = s.max_time;
    opts.w = s.w;
    opts.h = s.h;
    opts.on_iteration = [&](const IterationReport &r) { log.iteration(r); };
    opts.resume = resume;
    set_checkpointing(opts, world, program, s, job_deadline_seconds(world, s, t_start_epoch),
                      [&](const ResumeState &state) {
                          io::write_checkpoint<T>(grid.comm(), s.checkpoint, {&w}, ht,
                                                  to_record(identity, state, 0));
                      });
    const NmfInfo info = nmf(x, w, ht, opts);
    if (info.stop_reason == "interrupted" || info.stop_reason == "deadline") {
        report_stopped(world, program, s, info);
        return drivers::exit_stopped;
    }
    const double relative_error = relative_error_exact(x, w, ht);

    write_atomically(world, s.output, s.force, [&](io::Writer &out) {
        io::write_factor(out, "/W", w);
        io::write_factor(out, "/H", ht);
        if (!row_names.empty()) {
            out.write_strings("/row_names", row_names);
        }
        if (!col_names.empty()) {
            out.write_strings("/col_names", col_names);
        }
        out.write_vector("/history/relative_error", info.history_relative_error);
        out.write_vector("/history/seconds", info.history_seconds);
        write_run_attributes(out, s, grid, info, relative_error, t_start);
        out.write_attribute("input", s.input.str());
    });

    if (root_prints) {
        // info.seconds is this run's time: after a resume it covers only the iterations run since.
        const int run_iterations = info.iterations - resume.iterations;
        const double per_iteration = run_iterations > 0 ? info.seconds / run_iterations : 0.0;
        std::cout << program << ": " << info.iterations << " iterations (" << info.stop_reason
                  << "), relative error " << std::setprecision(6) << relative_error << ", "
                  << seconds_string(per_iteration) << " s/iteration, wall " << seconds_string(MPI_Wtime() - t_start)
                  << " s\n"
                  << program << ": wrote " << s.output << ": /W " << x.rows() << " x " << s.k << ", /H " << s.k
                  << " x " << x.cols() << (row_names.empty() ? "" : ", /row_names")
                  << (col_names.empty() ? "" : ", /col_names") << ", /history\n"
                  << std::flush;
    }
    return drivers::exit_ok;
}

int run(const mpi::Comm &world, int argc, char **argv) {
    const double t_start = MPI_Wtime();
    const auto t_start_epoch = static_cast<double>(std::time(nullptr));
    Settings s;
    if (!parse_settings(world, argc, argv, s)) {
        return drivers::exit_ok;
    }
    check_output_path(world, s.output, s.force);
    check_checkpoint_path(world, s);

    // The shape from metadata only, so a wrong rank or a 1-D dataset is refused before reading any data.
    const auto [m, n] = inspect_matrix(world, s.input);
    const std::string name = in_quotes(s.input.file) + ":" + s.input.dataset;
    mpi::agree(world, s.k <= std::min(m, n),
               "rank k = " + std::to_string(s.k) + " exceeds min(m, n) = " + std::to_string(std::min(m, n)) +
                   " for " + name + " (" + std::to_string(m) + " x " + std::to_string(n) + ")");
    const GridShape shape = grid_shape_for(world, s, m, n);
    Grid grid(world, shape);
    return s.use_float ? factorize<float>(world, s, grid, t_start, t_start_epoch)
                       : factorize<double>(world, s, grid, t_start, t_start_epoch);
}

} // namespace

int main(int argc, char **argv) {
    // Before MPI_Init: a batch system's warning signal can arrive while MPI starts up (seen under Slurm with
    // short time limits), and the default action would kill this rank without a checkpoint.
    install_stop_handlers();
    return drivers::run_driver(program, argc, argv, [&](const mpi::Comm &world) { return run(world, argc, argv); });
}
