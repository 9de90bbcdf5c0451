#include "run_settings.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <ctime>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <utility>

#include "prism/error.hpp"
#include "prism/mpi/collectives.hpp"

#ifndef PRISM_VERSION
#define PRISM_VERSION "unknown"
#endif

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace prism::drivers {

namespace {

void require(bool ok, const std::string &message) {
    if (!ok) {
        throw Error(message);
    }
}

// "MB" or "MBxNB" with positive integers.
void parse_block(const std::string &text, gidx &mb, gidx &nb) {
    const auto bad = [&] {
        return Error("invalid --block " + in_quotes(text) +
                     ": expected MB or MBxNB with positive integers, e.g. 64 or 64x32");
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

} // namespace

std::string in_quotes(const std::string &text) {
    return "'" + text + "'";
}

void add_run_options(po::options_description &options, RunSettings &s, const std::string &formats) {
    options.add_options()("rank,k", po::value(&s.k), "factorization rank k >= 1 (required)")(
        "output,o", po::value(&s.output), "HDF5 file to write (required; refused if it exists, see --force)")(
        "algorithm,a", po::value(&s.algorithm_text)->default_value("hals"), "hals | anls-bpp | mu")(
        "max-iter", po::value(&s.max_iter)->default_value(200), "maximum number of iterations (>= 1)")(
        "tol", po::value(&s.tol)->default_value(1e-4, "1e-4"),
        "stop when the objective's relative decrease over one iteration is below this (0: never)")(
        "seed", po::value(&s.seed)->default_value(1), "seed of the random initialization (>= 0)")(
        "init", po::value(&s.init_text)->default_value("random"),
        "random | nndsvd | nndsvda")("grid", po::value(&s.grid_text)->default_value("auto"),
                                     "process grid PRxPC with PR * PC = number of ranks, or auto")(
        "block", po::value(&s.block_text)->default_value("64"), "distribution block MB or MBxNB")(
        "precision", po::value(&s.precision_text)->default_value("double"),
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
        "force,f", po::bool_switch(&s.force), "overwrite an existing output file")(
        "checkpoint", po::value(&s.checkpoint),
        "checkpoint file (default: OUTPUT.ckpt.h5); written on SIGTERM/SIGUSR1, at the job's end time "
        "(SLURM_JOB_END_TIME / PRISM_JOB_END_TIME) and at the cadence below")(
        "checkpoint-every", po::value(&s.checkpoint_every)->default_value(0),
        "write a checkpoint every N iterations (0: off)")(
        "checkpoint-interval", po::value(&s.checkpoint_interval)->default_value(0.0, "0"),
        "write a checkpoint when this many seconds passed since the last one (0: off)")(
        "resume", po::bool_switch(&s.resume),
        "continue from the checkpoint (refused if it is missing, corrupt or of another problem)")(
        "output-format", po::value(&s.output_format)->default_value("prism"),
        (formats +
         " (prism: Prism's HDF5 layout; h5ad / h5mu: AnnData / MuData with the factors in obsm and varm, "
         "for scanpy and muon)")
            .c_str())(
        "permute", po::bool_switch(&s.permute),
        "sparse inputs: relabel rows and columns by a random permutation of --seed on read, so clustered "
        "non-zeros spread evenly over the ranks; the outputs are in the file's order")(
        "threads", po::value(&s.threads),
        "OpenMP and OpenBLAS threads per rank (>= 1; default: as OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set "
        "them); ranks x threads should not exceed the cores (README \"Ranks and threads\")");
}

void check_run_settings(const po::variables_map &vm, RunSettings &s) {
    require(vm.count("rank"), "no rank given: --rank K is required (see --help)");
    require(vm.count("output"), "no output given: --output OUT.h5 is required (see --help)");
    require(s.k >= 1, "rank k = " + std::to_string(s.k) + " must be at least 1");
    s.algorithm = parse_algorithm(s.algorithm_text);
    s.init = parse_init(s.init_text);
    require(s.precision_text == "double" || s.precision_text == "float",
            "invalid --precision " + in_quotes(s.precision_text) + ": expected double or float");
    s.use_float = s.precision_text == "float";
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
    require(!vm.count("threads") || s.threads >= 1,
            "--threads must be at least 1 (threads per rank), got " + std::to_string(s.threads));
    require(s.log_every >= 0, "--log-every must be >= 0, got " + std::to_string(s.log_every));
    require(s.checkpoint_every >= 0,
            "--checkpoint-every must be >= 0, got " + std::to_string(s.checkpoint_every));
    require(std::isfinite(s.checkpoint_interval) && s.checkpoint_interval >= 0,
            "--checkpoint-interval must be a finite number >= 0");
    require(!vm.count("checkpoint") || !s.checkpoint.empty(), "--checkpoint needs a file name");
    s.checkpointing =
        vm.count("checkpoint") || s.checkpoint_every > 0 || s.checkpoint_interval > 0 || s.resume;
    if (s.checkpoint.empty()) {
        s.checkpoint = s.output + ".ckpt.h5";
    }
    require(s.checkpoint != s.output, "--checkpoint must differ from --output");
    s.max_time_given = s.max_time > 0; // an explicit --max-time 0 means "no limit", so the job end applies
    if (s.grid_text != "auto") {
        parse_grid_shape(s.grid_text); // throws "invalid grid ..." on bad text
    }
    parse_block(s.block_text, s.mb, s.nb);
    require(s.output_format == "prism" || s.output_format == "h5ad" || s.output_format == "h5mu",
            "invalid --output-format " + in_quotes(s.output_format) + ": expected prism, h5ad or h5mu");
    // OUT.h5ad / OUT.h5mu mean AnnData / MuData unless the format is given: a Prism-layout file under that
    // name would be refused by anndata and muon.
    if (!vm.count("output-format") || vm["output-format"].defaulted()) {
        const std::string extension = fs::path(s.output).extension().string();
        if (extension == ".h5ad" || extension == ".h5mu") {
            s.output_format = extension.substr(1);
        }
    }
}

void parse_command_line(po::command_line_parser parser, po::variables_map &vm) {
    try {
        po::store(parser.run(), vm);
        po::notify(vm);
    } catch (const po::error &e) {
        throw Error(std::string(e.what()) + " (see --help)");
    }
}

std::string shell_join(int argc, char **argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool plain =
            !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
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

void check_output_path(const mpi::Comm &world, const std::string &output, bool force) {
    mpi::agree_call(world, [&] {
        if (world.rank() != 0) {
            return;
        }
        const fs::path out(output);
        if (fs::is_directory(out)) {
            throw Error(in_quotes(output) + " is a directory; --output needs a file name");
        }
        if (fs::exists(out) && !force) {
            throw Error(in_quotes(output) + " already exists; use --force to overwrite it");
        }
        const fs::path folder = out.has_parent_path() ? out.parent_path() : fs::path(".");
        if (!fs::is_directory(folder)) {
            throw Error("cannot write " + in_quotes(output) + ": folder " + in_quotes(folder.string()) +
                        " does not exist");
        }
    });
}

void write_atomically(const mpi::Comm &world,
                      const std::string &output,
                      bool force,
                      const std::function<void(io::Writer &)> &contents,
                      const std::function<void(const std::string &)> &serial_finish) {
    std::int64_t pid = ::getpid();
    mpi::bcast(world, &pid, 1, 0);
    const std::string tmp = output + ".tmp-" + std::to_string(pid);
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
        if (serial_finish) {
            mpi::agree_call(world, [&] {
                if (world.rank() == 0) {
                    serial_finish(tmp);
                }
            });
        }
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
        const std::string appeared =
            in_quotes(output) + " appeared while the factorization ran; not overwriting it (use --force)";
        std::error_code ec;
        if (force) {
            fs::rename(tmp, output, ec);
        } else if (::link(tmp.c_str(), output.c_str()) == 0) {
            fs::remove(tmp, ec);
            ec.clear();
        } else if (errno == EEXIST || fs::exists(output)) {
            fs::remove(tmp, ec);
            throw Error(appeared);
        } else { // no hard links on this file system
            fs::rename(tmp, output, ec);
        }
        if (ec) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            throw Error("cannot move the result into place as " + in_quotes(output) + ": " + ec.message());
        }
    });
}

std::pair<gidx, gidx> inspect_matrix(const mpi::Comm &world, const io::DatasetPath &path) {
    const io::DatasetInfo info = io::inspect_dataset(world, path);
    std::string dims;
    for (std::size_t i = 0; i < info.dims.size(); ++i) {
        dims += (i ? " x " : "") + std::to_string(info.dims[i]);
    }
    const std::string where = in_quotes(path.file) + ": dataset " + in_quotes(path.dataset);
    mpi::agree(world, info.dims.size() == 2,
               where + " has " + std::to_string(info.dims.size()) + " dimensions (" +
                   (dims.empty() ? "scalar" : dims) + "); expected a 2-D matrix (features x samples)");
    mpi::agree(world, info.numeric,
               where + " has type " + info.type + "; expected a numeric (integer or floating-point) matrix");
    mpi::agree(world, info.dims[0] > 0 && info.dims[1] > 0,
               in_quotes(path.file) + ":" + path.dataset + " is empty (" + dims + ")");
    return {info.dims[0], info.dims[1]};
}

GridShape grid_shape_for(const mpi::Comm &world, const RunSettings &s, gidx m, gidx n) {
    GridShape shape{};
    mpi::agree_call(world, [&] {
        shape = s.grid_text == "auto" ? choose_grid_shape(world.size(), m, n) : parse_grid_shape(s.grid_text);
    });
    return shape;
}

ProgressLog::ProgressLog(const mpi::Comm &world, const RunSettings &s, const std::string &extra_header)
    : prints_(world.rank() == 0 && !s.quiet && s.log_every > 0), log_every_(s.log_every),
      previous_error_(std::nan("")) {
    if (prints_) {
        std::cout << std::setw(8) << "iter" << std::setw(14) << "rel. error" << std::setw(13) << "change"
                  << std::setw(12) << "s/iter" << extra_header << "\n"
                  << std::flush;
    }
}

void ProgressLog::iteration(const IterationReport &r, const std::string &extra) {
    window_seconds_ += r.seconds;
    ++window_iterations_;
    if (log_every_ > 0 && r.iteration % log_every_ == 0) {
        if (prints_) {
            std::ostringstream line;
            line << std::setw(8) << r.iteration << std::setw(14) << std::fixed << std::setprecision(8)
                 << r.relative_error << std::setw(13) << std::scientific << std::setprecision(3)
                 << r.relative_error - previous_error_ << std::setw(12) << std::defaultfloat
                 << std::setprecision(4) << window_seconds_ / window_iterations_ << extra << "\n";
            std::cout << line.str() << std::flush;
        }
        window_seconds_ = 0;
        window_iterations_ = 0;
    }
    previous_error_ = r.relative_error;
}

void write_run_attributes(io::Writer &out,
                          const RunSettings &s,
                          const Grid &grid,
                          const NmfInfo &info,
                          double relative_error,
                          double t_start) {
    double wall = MPI_Wtime() - t_start;
    mpi::bcast(out.comm(), &wall, 1, 0);
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
    out.write_attribute("nprocs", std::int64_t{grid.comm().size()});
    out.write_attribute("precision", std::string(s.use_float ? "float" : "double"));
    out.write_attribute("version", std::string(PRISM_VERSION));
    out.write_attribute("command_line", s.command_line);
    out.write_attribute("wall_seconds", wall);
    out.write_attribute("max_iter", std::int64_t{s.max_iter});
    out.write_attribute("tol", s.tol);
    out.write_attribute("max_time", s.max_time);
    out.write_attribute("l1_w", s.w.l1);
    out.write_attribute("l1_h", s.h.l1);
    out.write_attribute("l2_w", s.w.l2);
    out.write_attribute("l2_h", s.h.l2);
}

// ------------------------------------------------------------------------ checkpoint, restart, signals

namespace {

// Written only by the handler, read at iteration boundaries: the one thing a handler may safely do.
volatile std::sig_atomic_t received_signal = 0;

extern "C" void record_stop_signal(int sig) {
    received_signal = sig;
}

std::string exact(double v) {
    std::ostringstream out;
    out << std::setprecision(17) << v;
    return out.str();
}

} // namespace

void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = record_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART; // a signal must not make MPI or HDF5 calls fail with EINTR
    for (int sig : {SIGTERM, SIGUSR1}) {
        sigaction(sig, &action, nullptr);
    }
}

int stop_signal() {
    return received_signal;
}

std::string signal_name(int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "signal " + std::to_string(sig);
}

double job_deadline_seconds(const mpi::Comm &world, const RunSettings &s, double t_start_epoch) {
    double seconds = 0;
    mpi::agree_call(world, [&] {
        if (world.rank() != 0 || s.max_time_given) {
            return;
        }
        // PRISM_ wins; an unusable value is an error, never silently ignored: the job would then run into
        // its time limit and lose everything since the last checkpoint.
        for (const char *name : {"PRISM_JOB_END_TIME", "SLURM_JOB_END_TIME"}) {
            const char *text = std::getenv(name);
            if (text == nullptr || *text == '\0') { // empty: unset, as shells treat it
                continue;
            }
            char *end = nullptr;
            const double end_time = std::strtod(text, &end);
            require(end != text && *end == '\0' && std::isfinite(end_time) && end_time > 0,
                    std::string(name) + " = " + in_quotes(text) +
                        " is not a job end time (Unix epoch seconds); fix or unset it");
            const double now = static_cast<double>(std::time(nullptr));
            const double margin = std::max(60.0, 0.05 * (end_time - t_start_epoch));
            seconds = std::max(end_time - margin - now, 1e-3); // past the deadline: stop after one iteration
            return;
        }
    });
    mpi::bcast(world, &seconds, 1, 0);
    return seconds;
}

Identity problem_identity(const RunSettings &s) {
    return {{"rank k", std::to_string(s.k)},
            {"algorithm", to_string(s.algorithm)},
            {"init", s.init_text},
            {"seed", std::to_string(s.seed)},
            {"precision", s.use_float ? "float" : "double"},
            {"l1-w", exact(s.w.l1)},
            {"l1-h", exact(s.h.l1)},
            {"l2-w", exact(s.w.l2)},
            {"l2-h", exact(s.h.l2)},
            {"permute", s.permute ? "yes" : "no"}};
}

template <typename T>
Identity input_identity(const mpi::Comm &world,
                        const std::string &label,
                        const io::DatasetPath &path,
                        io::InputFormat format,
                        MatrixRef<T> x) {
    const std::string stored =
        format == io::InputFormat::hdf5_dense ? io::inspect_dataset(world, path).type : io::to_string(format);
    std::ostringstream checksum;
    checksum << std::hex << std::setw(16) << std::setfill('0') << io::data_checksum<T>(x);
    // The absolute path, so a resume that names the same file another way (relative, via ./) is accepted.
    std::error_code ec;
    const fs::path absolute = fs::weakly_canonical(fs::absolute(path.file), ec);
    return {{label + " file", ec ? path.file : absolute.string()},
            {label + " dataset", path.dataset},
            {label + " shape", std::to_string(x.rows()) + " x " + std::to_string(x.cols())},
            {label + " stored as", stored},
            {label + " checksum", checksum.str()}};
}

io::CheckpointRecord to_record(const Identity &identity, const ResumeState &state, std::size_t modalities) {
    io::CheckpointRecord r;
    r.identity = identity;
    r.numbers["iterations"] = {static_cast<double>(state.iterations)};
    r.numbers["objective"] = {state.objective};
    r.numbers["history_relative_error"] = state.history_relative_error;
    r.numbers["history_seconds"] = state.history_seconds;
    if (modalities > 0) {
        r.numbers["pending_modality_fit"] = state.pending_modality_fit;
        for (std::size_t v = 0; v < modalities; ++v) {
            r.numbers["history_modality_relative_error_" + std::to_string(v)] =
                v < state.history_modality_relative_error.size() ? state.history_modality_relative_error[v]
                                                                 : std::vector<double>{};
        }
    }
    return r;
}

ResumeState
resume_state_from(const io::CheckpointRecord &record, const std::string &path, std::size_t modalities) {
    const auto series = [&](const std::string &name) -> const std::vector<double> & {
        const auto it = record.numbers.find(name);
        if (it == record.numbers.end()) {
            throw Error("checkpoint " + in_quotes(path) + " has no /state/" + name + " (corrupt?)");
        }
        return it->second;
    };
    ResumeState state;
    const std::vector<double> &iterations = series("iterations");
    const std::vector<double> &objective = series("objective");
    require(iterations.size() == 1 && objective.size() == 1 && iterations[0] >= 1 && iterations[0] < 1e9,
            "checkpoint " + in_quotes(path) + " has an invalid iteration count (corrupt?)");
    state.iterations = static_cast<int>(iterations[0]);
    state.objective = objective[0];
    state.history_relative_error = series("history_relative_error");
    state.history_seconds = series("history_seconds");
    const auto n = static_cast<std::size_t>(state.iterations);
    require(state.history_relative_error.size() == n && state.history_seconds.size() == n,
            "checkpoint " + in_quotes(path) + " has a history of the wrong length (corrupt?)");
    if (modalities > 0) {
        state.pending_modality_fit = series("pending_modality_fit");
        require(state.pending_modality_fit.size() == modalities,
                "checkpoint " + in_quotes(path) + " has state for another number of modalities (corrupt?)");
        for (std::size_t v = 0; v < modalities; ++v) {
            state.history_modality_relative_error.push_back(
                series("history_modality_relative_error_" + std::to_string(v)));
            require(state.history_modality_relative_error.back().size() == n - 1,
                    "checkpoint " + in_quotes(path) +
                        " has a modality history of the wrong length (corrupt?)");
        }
    }
    return state;
}

void check_distinct_files(const mpi::Comm &world,
                          const std::vector<std::string> &inputs,
                          const std::string &output,
                          const std::string &checkpoint) {
    mpi::agree_call(world, [&] {
        if (world.rank() != 0) {
            return;
        }
        // The same file however it is named (relative, ./, symbolic links, hard links): --force must never
        // let the result or a checkpoint replace the data it is computed from.
        const auto same = [](const std::string &a, const std::string &b) {
            std::error_code ec;
            if (fs::exists(a, ec) && fs::exists(b, ec)) {
                return fs::equivalent(a, b, ec);
            }
            const fs::path pa = fs::weakly_canonical(fs::absolute(a), ec);
            const fs::path pb = fs::weakly_canonical(fs::absolute(b), ec);
            return !ec && pa == pb;
        };
        for (const std::string &input : inputs) {
            require(!same(input, output), "--output " + in_quotes(output) + " is the input file " +
                                              in_quotes(input) + "; writing it would destroy the data");
            require(!same(input, checkpoint), "--checkpoint " + in_quotes(checkpoint) +
                                                  " is the input file " + in_quotes(input) +
                                                  "; writing it would destroy the data");
        }
        require(!same(output, checkpoint), "--checkpoint " + in_quotes(checkpoint) + " and --output " +
                                               in_quotes(output) + " are the same file");
    });
}

void check_checkpoint_path(const mpi::Comm &world, const RunSettings &s) {
    if (s.resume) {
        int w_count = 0;
        io::read_checkpoint_record(world, s.checkpoint, w_count); // missing, corrupt: one error everywhere
        return;
    }
    mpi::agree_call(world, [&] {
        if (world.rank() != 0) {
            return;
        }
        const fs::path file(s.checkpoint);
        require(
            !fs::exists(file) || s.force,
            "checkpoint " + in_quotes(s.checkpoint) +
                " exists: continue that run with --resume, or use --force to start afresh and replace it");
        const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
        require(fs::is_directory(folder), "cannot write checkpoint " + in_quotes(s.checkpoint) + ": folder " +
                                              in_quotes(folder.string()) + " does not exist");
    });
}

ResumeState load_resume_state(const mpi::Comm &world,
                              const RunSettings &s,
                              const Identity &identity,
                              std::size_t modalities) {
    int w_count = 0;
    const io::CheckpointRecord record = io::read_checkpoint_record(world, s.checkpoint, w_count);
    const std::string difference = io::identity_difference(record.identity, identity);
    mpi::agree(world, difference.empty(),
               "checkpoint " + in_quotes(s.checkpoint) +
                   " is of another problem, not resuming: " + difference);
    mpi::agree(world, w_count == static_cast<int>(std::max<std::size_t>(modalities, 1)),
               "checkpoint " + in_quotes(s.checkpoint) + " has " + std::to_string(w_count) +
                   " W factors for this run's " + std::to_string(std::max<std::size_t>(modalities, 1)));
    ResumeState state;
    mpi::agree_call(world, [&] { state = resume_state_from(record, s.checkpoint, modalities); });
    mpi::agree(world, state.iterations <= s.max_iter,
               "checkpoint " + in_quotes(s.checkpoint) + " has " + std::to_string(state.iterations) +
                   " completed iterations, more than --max-iter " + std::to_string(s.max_iter) +
                   "; give --max-iter " + std::to_string(state.iterations) + " or more");
    return state;
}

void set_checkpointing(NmfOptions &opts,
                       const mpi::Comm &world,
                       const char *program,
                       const RunSettings &s,
                       double deadline_seconds,
                       std::function<void(const ResumeState &)> save) {
    opts.checkpoint_every = s.checkpoint_every;
    opts.checkpoint_interval = s.checkpoint_interval;
    opts.checkpoint_at_end = s.checkpointing;
    opts.deadline_seconds = deadline_seconds;
    opts.stop_requested = [] { return stop_signal() != 0; };
    const bool warns = world.rank() == 0; // even with --quiet: the user counts on those checkpoints
    opts.on_checkpoint = [save = std::move(save), warns, program](const ResumeState &state) {
        try {
            save(state);
        } catch (const Error &e) {
            if (state.stopping || !e.collective()) {
                throw;
            }
            // Every rank caught the same collective error: warn once and keep the hours of work going.
            if (warns) {
                std::cerr << program << ": warning: checkpoint after iteration " << state.iterations
                          << " not written (the previous one is kept): " << e.what() << "\n"
                          << std::flush;
            }
        }
    };
}

void report_stopped(const mpi::Comm &world, const char *program, const RunSettings &s, const NmfInfo &info) {
    // The signal may have reached other ranks only: tell which one rank 0 saw, if any.
    const int sig = mpi::allreduce_value(world, static_cast<int>(stop_signal()), mpi::Op::max);
    if (world.rank() == 0) {
        const std::string why =
            info.stop_reason == "deadline"
                ? std::string("the job's end time is near")
                : (sig != 0 ? signal_name(sig) : std::string("a stop request")) + " received";
        std::cerr << program << ": stopped after iteration " << info.iterations << " (" << why
                  << "); checkpoint written to " << s.checkpoint
                  << "; no output written. Rerun with --resume "
                  << "to continue (exit status 4)\n"
                  << std::flush;
    }
}

template Identity input_identity<double>(
    const mpi::Comm &, const std::string &, const io::DatasetPath &, io::InputFormat, MatrixRef<double>);
template Identity input_identity<float>(
    const mpi::Comm &, const std::string &, const io::DatasetPath &, io::InputFormat, MatrixRef<float>);

std::string seconds_string(double seconds) {
    std::ostringstream out;
    out << std::setprecision(3) << seconds;
    return out.str();
}

} // namespace prism::drivers
