// prism-nmf --input FILE[:DATASET] --rank K --output OUT.h5: distributed NMF of one matrix, X ~= W H.
//
// Order of work, so that bad input costs nothing and never leaves a file behind: options (all checked
// before anything is read), the output path (refused if it exists, unless --force), the dataset's shape
// (metadata only), the process grid, then the data and its values (NaN/Inf/negative), and only then the
// factorization. The result is written collectively to OUT.h5.tmp-PID and renamed into place on rank 0
// after a successful close; on failure the temporary file is removed.

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "driver_main.hpp"
#include "prism/algorithms/init_nndsvd.hpp"
#include "prism/algorithms/nmf.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/factor.hpp"
#include "prism/grid.hpp"
#include "prism/io/factor_io.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/mpi/collectives.hpp"

#ifndef PRISM_VERSION
#define PRISM_VERSION "unknown"
#endif

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace prism;

namespace {

constexpr const char *program = "prism-nmf";

// Everything the command line asks for, checked.
struct Settings {
    std::string input_text, output;
    io::DatasetPath input;
    std::int64_t k = 0;
    Algorithm algorithm = Algorithm::hals;
    Init init = Init::random;
    std::string init_text = "random";
    int max_iter = 200;
    double tol = 1e-4;
    std::int64_t seed = 1;
    std::string grid_text = "auto";
    gidx mb = default_block, nb = default_block;
    bool use_float = false;
    Penalty w, h;
    double max_time = 0;
    int log_every = 10;
    bool quiet = false;
    bool force = false;
    std::string command_line;
};

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

// argv joined into one line a POSIX shell would split back the same way.
std::string shell_join(int argc, char **argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                 "0123456789-_=+./:,@%") == std::string::npos;
        std::string word = arg;
        if (!plain) {
            word = "'";
            for (char c : arg) {
                word += c == '\'' ? std::string("'\\''") : std::string(1, c);
            }
            word += "'";
        }
        line += (i ? " " : "") + word;
    }
    return line;
}

// "MB" or "MBxNB" with positive integers.
void parse_block(const std::string &text, gidx &mb, gidx &nb) {
    const auto bad = [&] {
        return Error("invalid --block " + in_quotes(text) + ": expected MB or MBxNB with positive integers, e.g. 64 or 64x32");
    };
    const auto sep = text.find_first_of("xX");
    const std::string a = text.substr(0, sep), b = sep == std::string::npos ? a : text.substr(sep + 1);
    const auto number = [&](const std::string &s) {
        if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) {
            throw bad();
        }
        const gidx v = std::stoll(s);
        if (v < 1) {
            throw bad();
        }
        return v;
    };
    mb = number(a);
    nb = number(b);
}

void require(bool ok, const std::string &message) {
    if (!ok) {
        throw Error(message);
    }
}

// Parses and checks the command line. Returns false if --help was printed. Collective on `world`: a bad
// option is one Error on every rank.
bool parse_settings(const mpi::Comm &world, int argc, char **argv, Settings &s) {
    po::options_description visible(
        "Usage: mpirun -np P prism-nmf --input FILE[:DATASET] --rank K --output OUT.h5 [options]\n\n"
        "Non-negative matrix factorization X ~= W H (W, H >= 0) of a features x samples matrix, distributed\n"
        "over a 2D process grid. Writes /W (m x k), /H (k x n), the names, the per-iteration history and the\n"
        "run's parameters to OUT.h5.\n\nOptions");
    std::string algorithm = "hals", precision = "double", block = "64";
    visible.add_options()("help,h", "print this help and exit")(
        "input,i", po::value(&s.input_text), "FILE[:DATASET], the matrix to factorize (DATASET defaults to /X)")(
        "rank,k", po::value(&s.k), "factorization rank k, 1 <= k <= min(m, n) (required)")(
        "output,o", po::value(&s.output), "HDF5 file to write (required; refused if it exists, see --force)")(
        "algorithm,a", po::value(&algorithm)->default_value("hals"), "hals | anls-bpp | mu")(
        "max-iter", po::value(&s.max_iter)->default_value(200), "maximum number of iterations (>= 1)")(
        "tol", po::value(&s.tol)->default_value(1e-4, "1e-4"),
        "stop when the objective's relative decrease over one iteration is below this (0: never)")(
        "seed", po::value(&s.seed)->default_value(1), "seed of the random initialization (>= 0)")(
        "init", po::value(&s.init_text)->default_value("random"), "random | nndsvd | nndsvda")(
        "grid", po::value(&s.grid_text)->default_value("auto"),
        "process grid PRxPC with PR * PC = number of ranks, or auto")(
        "block", po::value(&block)->default_value("64"), "distribution block MB or MBxNB")(
        "precision", po::value(&precision)->default_value("double"),
        "double | float (float halves memory and time; outputs are float32)")(
        "l1-w", po::value(&s.w.l1)->default_value(0.0, "0"), "L1 (sparsity) penalty on W (>= 0)")(
        "l1-h", po::value(&s.h.l1)->default_value(0.0, "0"), "L1 (sparsity) penalty on H (>= 0)")(
        "l2-w", po::value(&s.w.l2)->default_value(0.0, "0"), "L2 (ridge) penalty on W (>= 0)")(
        "l2-h", po::value(&s.h.l2)->default_value(0.0, "0"), "L2 (ridge) penalty on H (>= 0)")(
        "max-time", po::value(&s.max_time)->default_value(0.0, "0"),
        "stop iterating after this many seconds (0: no limit); the result is still written")(
        "log-every", po::value(&s.log_every)->default_value(10),
        "print one progress line every N iterations on rank 0 (0: none)")(
        "quiet,q", po::bool_switch(&s.quiet), "print nothing but errors")(
        "force,f", po::bool_switch(&s.force), "overwrite an existing output file");
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
        require(vm.count("input"), "no input given: --input FILE[:DATASET] is required (see --help)");
        require(vm.count("rank"), "no rank given: --rank K is required (see --help)");
        require(vm.count("output"), "no output given: --output OUT.h5 is required (see --help)");
        require(s.k >= 1, "rank k = " + std::to_string(s.k) + " must be at least 1");
        s.algorithm = parse_algorithm(algorithm);
        s.init = parse_init(s.init_text);
        require(precision == "double" || precision == "float",
                "invalid --precision " + in_quotes(precision) + ": expected double or float");
        s.use_float = precision == "float";
        require(s.max_iter >= 1, "--max-iter must be at least 1, got " + std::to_string(s.max_iter));
        require(std::isfinite(s.tol) && s.tol >= 0, "--tol must be a finite number >= 0");
        require(s.seed >= 0, "--seed must be >= 0, got " + std::to_string(s.seed));
        for (const auto &[name, value] : {std::pair<const char *, double>{"--l1-w", s.w.l1},
                                          {"--l1-h", s.h.l1},
                                          {"--l2-w", s.w.l2},
                                          {"--l2-h", s.h.l2},
                                          {"--max-time", s.max_time}}) {
            require(std::isfinite(value) && value >= 0, std::string(name) + " must be a finite number >= 0");
        }
        require(s.log_every >= 0, "--log-every must be >= 0, got " + std::to_string(s.log_every));
        if (s.grid_text != "auto") {
            parse_grid_shape(s.grid_text); // throws "invalid grid ..." on bad text
        }
        parse_block(block, s.mb, s.nb);
        s.input = io::parse_dataset_path(s.input_text);
    });
    if (vm.count("help")) {
        if (world.rank() == 0) {
            std::cout << visible << "\n"
                      << "Exit status: 0 success, 2 a clear error (printed once), 3 an internal failure on one "
                         "rank (job aborted).\n";
        }
        return false;
    }
    s.command_line = shell_join(argc, argv);
    return true;
}

// The output must be creatable, and must not exist unless --force: checked before any data is read.
// Collective on `world` (rank 0 looks at the file system).
void check_output_path(const mpi::Comm &world, const Settings &s) {
    mpi::agree_call(world, [&] {
        if (world.rank() != 0) {
            return;
        }
        const fs::path out(s.output);
        if (fs::is_directory(out)) {
            throw Error(in_quotes(s.output) + " is a directory; --output needs a file name");
        }
        if (fs::exists(out) && !s.force) {
            throw Error(in_quotes(s.output) + " already exists; use --force to overwrite it");
        }
        const fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
        if (!fs::is_directory(folder)) {
            throw Error("cannot write " + in_quotes(s.output) + ": folder " + in_quotes(folder.string()) +
                        " does not exist");
        }
    });
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

std::string seconds_string(double s) {
    std::ostringstream out;
    out << std::setprecision(3) << s;
    return out.str();
}

// Writes the result to a temporary file next to `output` and renames it into place after a successful
// close; removes the temporary file on failure. Collective on `world`.
template <typename T, typename WriteContents>
void write_atomically(const mpi::Comm &world, const Settings &s, WriteContents &&contents) {
    std::int64_t pid = ::getpid();
    mpi::bcast(world, &pid, 1, 0);
    const std::string tmp = s.output + ".tmp-" + std::to_string(pid);
    const auto remove_tmp = [&] {
        MPI_Barrier(world.get()); // every rank has closed (or never opened) the file
        if (world.rank() == 0) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
        }
    };
    try {
        io::Writer out(world, tmp, /*overwrite=*/true);
        contents(out);
        out.close();
    } catch (const Error &e) {
        if (e.collective()) {
            remove_tmp();
        }
        throw;
    }
    // Rank 0 moves it into place. Without --force, link() is an atomic "create unless it exists", so an
    // OUT that appeared while we were computing is never clobbered.
    mpi::agree_call(world, [&] {
        if (world.rank() != 0) {
            return;
        }
        std::error_code ec;
        if (s.force) {
            fs::rename(tmp, s.output, ec);
        } else if (::link(tmp.c_str(), s.output.c_str()) == 0) {
            fs::remove(tmp, ec);
            ec.clear();
        } else if (errno == EEXIST) {
            fs::remove(tmp, ec);
            throw Error(in_quotes(s.output) + " appeared while the factorization ran; not overwriting it (use --force)");
        } else if (fs::exists(s.output)) { // no hard links on this file system
            fs::remove(tmp, ec);
            throw Error(in_quotes(s.output) + " appeared while the factorization ran; not overwriting it (use --force)");
        } else {
            fs::rename(tmp, s.output, ec);
        }
        if (ec) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            throw Error("cannot move the result into place as " + in_quotes(s.output) + ": " + ec.message());
        }
    });
}

template <typename T> int factorize(const mpi::Comm &world, const Settings &s, const Grid &grid, double t_start) {
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
                  << ", init " << s.init_text << " (seed " << s.seed << ")\n";
        if (s.log_every > 0) {
            std::cout << std::setw(8) << "iter" << std::setw(14) << "rel. error" << std::setw(13) << "change"
                      << std::setw(12) << "s/iter" << "\n";
        }
        std::cout << std::flush;
    }

    Factor<T> w(x, FactorSide::w, s.k), ht(x, FactorSide::ht, s.k);
    switch (s.init) {
    case Init::random:
        initialize_random(x, w, ht, static_cast<std::uint64_t>(s.seed));
        break;
    case Init::nndsvd:
    case Init::nndsvda:
        initialize_nndsvd(x, w, ht, s.init == Init::nndsvda, static_cast<std::uint64_t>(s.seed));
        break;
    }

    NmfOptions opts;
    opts.algorithm = s.algorithm;
    opts.max_iter = s.max_iter;
    opts.tol = s.tol;
    opts.max_seconds = s.max_time;
    opts.w = s.w;
    opts.h = s.h;
    double previous_error = std::nan(""), window_seconds = 0;
    int window_iterations = 0;
    opts.on_iteration = [&](const IterationReport &r) {
        window_seconds += r.seconds;
        ++window_iterations;
        if (root_prints && s.log_every > 0 && r.iteration % s.log_every == 0) {
            std::ostringstream line;
            line << std::setw(8) << r.iteration << std::setw(14) << std::fixed << std::setprecision(8)
                 << r.relative_error << std::setw(13) << std::scientific << std::setprecision(3)
                 << r.relative_error - previous_error << std::setw(12) << std::defaultfloat << std::setprecision(4)
                 << window_seconds / window_iterations << "\n";
            std::cout << line.str() << std::flush;
        }
        if (s.log_every > 0 && r.iteration % s.log_every == 0) {
            window_seconds = 0;
            window_iterations = 0;
        }
        previous_error = r.relative_error;
    };
    const NmfInfo info = nmf(x, w, ht, opts);
    const double relative_error = relative_error_exact(x, w, ht);

    write_atomically<T>(world, s, [&](io::Writer &out) {
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
        double wall = MPI_Wtime() - t_start;
        mpi::bcast(world, &wall, 1, 0);
        out.write_attribute("relative_error", relative_error);
        out.write_attribute("iterations", std::int64_t{info.iterations});
        out.write_attribute("converged", std::int64_t{info.converged ? 1 : 0});
        out.write_attribute("stop_reason", info.stop_reason);
        out.write_attribute("algorithm", to_string(s.algorithm));
        out.write_attribute("rank", std::int64_t{s.k});
        out.write_attribute("seed", std::int64_t{s.seed});
        out.write_attribute("init", s.init_text);
        out.write_attribute("grid", grid.shape_string());
        out.write_attribute("block", std::to_string(s.mb) + "x" + std::to_string(s.nb));
        out.write_attribute("nprocs", std::int64_t{world.size()});
        out.write_attribute("precision", std::string(s.use_float ? "float" : "double"));
        out.write_attribute("version", std::string(PRISM_VERSION));
        out.write_attribute("command_line", s.command_line);
        out.write_attribute("wall_seconds", wall);
        out.write_attribute("input", s.input.str());
        out.write_attribute("max_iter", std::int64_t{s.max_iter});
        out.write_attribute("tol", s.tol);
        out.write_attribute("max_time", s.max_time);
        out.write_attribute("l1_w", s.w.l1);
        out.write_attribute("l1_h", s.h.l1);
        out.write_attribute("l2_w", s.w.l2);
        out.write_attribute("l2_h", s.h.l2);
    });

    if (root_prints) {
        const double per_iteration = info.iterations > 0 ? info.seconds / info.iterations : 0.0;
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
    Settings s;
    if (!parse_settings(world, argc, argv, s)) {
        return drivers::exit_ok;
    }
    check_output_path(world, s);

    // The shape from metadata only, so a wrong rank or a 1-D dataset is refused before reading any data.
    const io::DatasetInfo info = io::inspect_dataset(world, s.input);
    const std::string name = in_quotes(s.input.file) + ":" + s.input.dataset;
    std::string dims;
    for (std::size_t i = 0; i < info.dims.size(); ++i) {
        dims += (i ? " x " : "") + std::to_string(info.dims[i]);
    }
    mpi::agree(world, info.dims.size() == 2,
               in_quotes(s.input.file) + ": dataset " + in_quotes(s.input.dataset) + " has " +
                   std::to_string(info.dims.size()) + " dimensions (" + (dims.empty() ? "scalar" : dims) +
                   "); expected a 2-D matrix (features x samples)");
    mpi::agree(world, info.numeric,
               in_quotes(s.input.file) + ": dataset " + in_quotes(s.input.dataset) + " has type " + info.type +
                   "; expected a numeric (integer or floating-point) matrix");
    const gidx m = info.dims[0], n = info.dims[1];
    mpi::agree(world, m > 0 && n > 0, name + " is empty (" + dims + ")");
    mpi::agree(world, s.k <= std::min(m, n),
               "rank k = " + std::to_string(s.k) + " exceeds min(m, n) = " + std::to_string(std::min(m, n)) +
                   " for " + name + " (" + dims + ")");

    GridShape shape{};
    mpi::agree_call(world, [&] {
        shape = s.grid_text == "auto" ? choose_grid_shape(world.size(), m, n) : parse_grid_shape(s.grid_text);
    });
    Grid grid(world, shape);
    return s.use_float ? factorize<float>(world, s, grid, t_start) : factorize<double>(world, s, grid, t_start);
}

} // namespace

int main(int argc, char **argv) {
    return drivers::run_driver(program, argc, argv, [&](const mpi::Comm &world) { return run(world, argc, argv); });
}
