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
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <boost/program_options.hpp>

#include "driver_main.hpp"
#include "input_matrix.hpp"
#include "prism/algorithms/init_nndsvd.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/factor_relabel.hpp"
#include "prism/grid.hpp"
#include "prism/io/anndata_writer.hpp"
#include "prism/io/checkpoint.hpp"
#include "prism/io/factor_io.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/io/input_source.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/mpi/collectives.hpp"
#include "prism/permutation.hpp"
#include "run_settings.hpp"
#include "thread_count.hpp"

namespace po = boost::program_options;
using namespace prism;
using namespace prism::drivers;

namespace {

constexpr const char *program = "prism-nmf";

// Everything the command line asks for, checked.
struct Settings : RunSettings {
    std::string input_text;
    io::DatasetPath input;
    io::InputSource source; ///< format, orientation, names (from metadata)
};

// Parses and checks the command line. Returns false if --help was printed. Collective on `world`: a bad
// option is one Error on every rank.
bool parse_settings(const mpi::Comm &world, int argc, char **argv, Settings &s) {
    po::options_description visible(
        "Usage: mpirun -np P prism-nmf --input FILE[:DATASET] --rank K --output OUT.h5 [options]\n\n"
        "Non-negative matrix factorization X ~= W H (W, H >= 0) of a features x samples matrix, distributed\n"
        "over a 2D process grid. Writes /W (m x k), /H (k x n), the names, the per-iteration history and "
        "the\n"
        "run's parameters to OUT.h5 (or an AnnData file with --output-format h5ad).\n\n"
        "Inputs: an HDF5 dataset (dense) or CSR/CSC group, AnnData .h5ad (X dense or sparse; cells x genes "
        "is\n"
        "factorized as genes x cells), 10x Genomics feature-barcode .h5, a modality FILE.h5mu:/mod/NAME, or\n"
        "MatrixMarket .mtx; sparse inputs are read and factorized sparse.\n\nOptions");
    visible.add_options()("help,h", "print this help and exit")(
        "input,i", po::value(&s.input_text),
        "FILE[:DATASET], the matrix to factorize (DATASET defaults to /X)");
    add_run_options(visible, s, "prism | h5ad");
    po::variables_map vm;
    mpi::agree_call(world, [&] {
        parse_command_line(po::command_line_parser(argc, argv).options(visible), vm);
        if (vm.count("help")) {
            return;
        }
        if (!vm.count("input")) {
            throw Error("no input given: --input FILE[:DATASET] is required (see --help)");
        }
        check_run_settings(vm, s);
        if (s.output_format == "h5mu") {
            throw Error(
                "--output-format h5mu is for joint runs (prism-joint); prism-nmf writes prism or h5ad");
        }
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
    if (s.threads > 0) {
        set_threads_per_rank(s.threads); // every rank: the options were agreed on
    }
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
                problem =
                    "has " + std::to_string(names.size()) + " entries, expected " + std::to_string(expected);
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

// Rank 0's seconds of the phases before the iterations, the same on every rank (output attributes are
// collective): `read` from the start of run() to the data in memory and checked (options, metadata, X,
// its checks and checksum, names), `init` the initialisation (or the checkpoint load of a resume).
struct SetupSeconds {
    double read = 0, init = 0;
};

SetupSeconds shared_setup_seconds(const mpi::Comm &world, double read, double init) {
    double both[2] = {read, init};
    mpi::bcast(world, both, 2, 0);
    return {both[0], both[1]};
}

// Run parameters for AnnData's uns['prism'].
io::UnsValues run_uns(const Settings &s,
                      const Grid &grid,
                      const NmfInfo &info,
                      double relative_error,
                      double wall,
                      const SetupSeconds &setup) {
    io::UnsValues uns;
    uns.numbers = {{"relative_error", relative_error},
                   {"iterations", static_cast<double>(info.iterations)},
                   {"converged", info.converged ? 1.0 : 0.0},
                   {"rank", static_cast<double>(s.k)},
                   {"seed", static_cast<double>(s.seed)},
                   {"nprocs", static_cast<double>(grid.comm().size())},
                   {"max_iter", static_cast<double>(s.max_iter)},
                   {"tol", s.tol},
                   {"wall_seconds", wall},
                   {"read_seconds", setup.read},
                   {"init_seconds", setup.init},
                   {"l1_w", s.w.l1},
                   {"l1_h", s.h.l1},
                   {"l2_w", s.w.l2},
                   {"l2_h", s.h.l2}};
    uns.strings = {{"algorithm", to_string(s.algorithm)},
                   {"stop_reason", info.stop_reason},
                   {"init", s.init_text},
                   {"grid", grid.shape_string()},
                   {"precision", s.use_float ? "float" : "double"},
                   {"command_line", s.command_line},
                   {"input", s.input_text},
                   {"orientation", s.source.orientation},
                   {"permuted", s.permute ? "yes" : "no"}};
    uns.arrays = {{"history_relative_error", info.history_relative_error},
                  {"history_seconds", info.history_seconds}};
    return uns;
}

std::vector<std::string> numbered(const std::string &prefix, gidx n) {
    std::vector<std::string> names;
    for (gidx i = 0; i < n; ++i) {
        names.push_back(prefix + std::to_string(i));
    }
    return names;
}

// --output-format h5ad: the factors collectively (obsm/X_nmf = H^T, cells x k; varm/NMF = W, genes x k),
// then on rank 0 the names, encodings and uns. Observations are the samples (columns of X).
template <typename T>
void write_h5ad(const mpi::Comm &world,
                const Settings &s,
                const Grid &grid,
                const NmfInfo &info,
                double relative_error,
                double t_start,
                const SetupSeconds &setup,
                const Factor<T> &w,
                const Factor<T> &ht,
                const std::vector<std::string> &row_names,
                const std::vector<std::string> &col_names) {
    double wall = MPI_Wtime() - t_start;
    mpi::bcast(world, &wall, 1, 0);
    io::AnnDataElement e;
    e.obs_names = col_names.empty() ? numbered("sample", ht.global_rows()) : col_names;
    e.var_names = row_names.empty() ? numbered("feature", w.global_rows()) : row_names;
    e.obsm = {"X_nmf"};
    e.varm = {"NMF"};
    e.uns = run_uns(s, grid, info, relative_error, wall, setup);
    write_atomically(
        world, s.output, s.force,
        [&](io::Writer &out) {
            io::write_factor_rows(out, "/obsm/X_nmf", ht);
            io::write_factor_rows(out, "/varm/NMF", w);
        },
        [&](const std::string &tmp) { io::finish_anndata(tmp, e); });
}

template <typename T> InputMatrix<T> read_input(const Settings &s, const Grid &grid) {
    return read_input_matrix<T>(grid, s.source, s.input, s.mb, s.nb,
                                s.permute ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(s.seed))
                                          : std::nullopt);
}

// Names of the rows and columns: for Prism's dense layout the datasets next to the matrix (skipped with a
// warning if unusable); for the other formats the format's own (AnnData obs/var index, 10x features and
// barcodes), where duplicated sample names are an error.
std::pair<std::vector<std::string>, std::vector<std::string>> input_names(const mpi::Comm &world,
                                                                          const Settings &s) {
    const io::InputSource &src = s.source;
    if (src.format == io::InputFormat::hdf5_dense) {
        const std::string parent = s.input.dataset.substr(0, s.input.dataset.find_last_of('/'));
        std::vector<std::string> col_candidates = {parent + "/col_names"};
        if (!parent.empty()) {
            col_candidates.push_back("/sample_names");
        }
        return {read_names(world, s, {parent + "/row_names"}, src.rows),
                read_names(world, s, col_candidates, src.cols)};
    }
    std::vector<std::string> rows, cols;
    if (!src.row_names.empty()) {
        rows = io::read_strings(world, {src.file, src.row_names});
        mpi::agree(world, static_cast<gidx>(rows.size()) == src.rows,
                   in_quotes(src.file) + ":" + src.row_names + " has " + std::to_string(rows.size()) +
                       " names for " + std::to_string(src.rows) + " features (shape mismatch)");
    }
    if (!src.col_names.empty()) {
        cols = io::read_unique_names(world, src.file, src.col_names, src.cols);
    }
    return {rows, cols};
}

template <typename T>
int factorize(
    const mpi::Comm &world, const Settings &s, const Grid &grid, double t_start, double t_start_epoch) {
    const std::string name = s.source.label();
    InputMatrix<T> input = read_input<T>(s, grid);
    const MatrixRef<T> x = input.ref();
    validate_nmf_input(x, s.k, name);
    const auto [row_names, col_names] = input_names(world, s);
    if (input.sparse) {
        const NnzBalance balance = nnz_balance(*input.sparse);
        if (world.rank() == 0 && !s.quiet) {
            std::cout << program << ": sparse input, " << balance.total << " stored entries ("
                      << std::setprecision(3)
                      << 100.0 * static_cast<double>(balance.total) /
                             std::max(1.0, static_cast<double>(x.rows()) * static_cast<double>(x.cols()))
                      << " %); per rank min / mean / max " << balance.min << " / " << std::setprecision(6)
                      << balance.mean << " / " << balance.max
                      << (s.permute ? " (rows and columns permuted)" : "") << "\n"
                      << std::flush;
        }
    }

    const bool root_prints = world.rank() == 0 && !s.quiet;
    if (root_prints) {
        std::cout << program << ": " << to_string(s.algorithm) << ", k = " << s.k << ", " << name << " ("
                  << x.rows() << " x " << x.cols() << ", " << (s.use_float ? "float" : "double") << "), grid "
                  << grid.shape_string() << " on " << world.size() << " ranks x " << openmp_threads()
                  << " threads, block " << s.mb << "x" << s.nb << ", init " << s.init_text << " (seed "
                  << s.seed << ")\n"
                  << std::flush;
    }

    // What a checkpoint must match: the problem's options and the data as factorized.
    Identity identity = problem_identity(s);
    for (auto &entry :
         input_identity<T>(world, "input", {s.source.file, s.source.object}, s.source.format, x)) {
        identity.push_back(std::move(entry));
    }
    Factor<T> w(x, FactorSide::w, s.k), ht(x, FactorSide::ht, s.k);
    const double t_read = MPI_Wtime() - t_start;
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
            initialize_random(x, w, ht, static_cast<std::uint64_t>(s.seed), input.origin);
            break;
        case Init::nndsvd:
        case Init::nndsvda:
            initialize_nndsvd(x, w, ht, s.init == Init::nndsvda, static_cast<std::uint64_t>(s.seed), 2, 10,
                              input.origin);
            break;
        }
    }

    const SetupSeconds setup = shared_setup_seconds(world, t_read, MPI_Wtime() - t_start - t_read);
    if (root_prints) {
        std::cout << program << ": read and checked the input in " << seconds_string(setup.read) << " s, "
                  << (s.resume ? "loaded the checkpoint" : "initialised") << " in "
                  << seconds_string(setup.init) << " s\n"
                  << std::flush;
    }
    ProgressLog log(world, s);

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
    if (s.permute) { // back to the file's order: row g of the permuted run is file row origin[g]
        w = relabel_rows(w, input.origin.rows);
        ht = relabel_rows(ht, input.origin.cols);
    }

    if (s.output_format == "h5ad") {
        write_h5ad(world, s, grid, info, relative_error, t_start, setup, w, ht, row_names, col_names);
    } else
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
            out.write_attribute("read_seconds", setup.read);
            out.write_attribute("init_seconds", setup.init);
            out.write_attribute("input", s.source.format == io::InputFormat::hdf5_dense ? s.input.str()
                                                                                        : s.input_text);
            out.write_attribute("input_format", io::to_string(s.source.format));
            out.write_attribute("orientation", s.source.orientation);
        });

    if (root_prints) {
        // info.seconds is this run's time: after a resume it covers only the iterations run since.
        const int run_iterations = info.iterations - resume.iterations;
        const double per_iteration = run_iterations > 0 ? info.seconds / run_iterations : 0.0;
        std::cout << program << ": " << info.iterations << " iterations (" << info.stop_reason
                  << "), relative error " << std::setprecision(6) << relative_error << ", "
                  << seconds_string(per_iteration) << " s/iteration, wall "
                  << seconds_string(MPI_Wtime() - t_start) << " s\n"
                  << program << ": wrote " << s.output
                  << (s.output_format == "h5ad"
                          ? ": AnnData, obsm['X_nmf'] " + std::to_string(x.cols()) + " x " +
                                std::to_string(s.k) + ", varm['NMF'] " + std::to_string(x.rows()) + " x " +
                                std::to_string(s.k) + ", obs / var names, uns['prism']\n"
                          : ": /W " + std::to_string(x.rows()) + " x " + std::to_string(s.k) + ", /H " +
                                std::to_string(s.k) + " x " + std::to_string(x.cols()) +
                                (row_names.empty() ? "" : ", /row_names") +
                                (col_names.empty() ? "" : ", /col_names") + ", /history\n")
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
    check_distinct_files(world, {s.input.file}, s.output, s.checkpoint);

    // The format and shape from metadata only, so a wrong rank or a malformed file is refused before
    // reading any data.
    s.source = io::describe_input(world, s.input_text);
    gidx m = s.source.rows, n = s.source.cols;
    if (s.source.format == io::InputFormat::hdf5_dense) {
        std::tie(m, n) = inspect_matrix(world, s.input);
        s.source.rows = m;
        s.source.cols = n;
    }
    const std::string name = s.source.label();
    mpi::agree(world, m > 0 && n > 0,
               name + " is empty (" + std::to_string(m) + " x " + std::to_string(n) + ")");
    mpi::agree(world, !s.permute || s.source.sparse,
               "--permute relabels sparse inputs; " + name +
                   " is dense (a dense block-cyclic layout is already "
                   "balanced)");
    if (world.rank() == 0 && !s.quiet && !s.source.orientation.empty()) {
        std::cout << program << ": " << s.source.orientation << "\n" << std::flush;
    }
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
    return drivers::run_driver(program, argc, argv,
                               [&](const mpi::Comm &world) { return run(world, argc, argv); });
}
