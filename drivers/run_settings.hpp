#pragma once
/// What the factorizing drivers (prism-nmf, prism-joint) share: the options that define a run and their
/// checks, the output-path rules (never overwrite without --force, never leave a partial file), the
/// progress log and the run attributes written next to the factors.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "prism/algorithms/options.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/grid.hpp"
#include "prism/io/checkpoint.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/io/input_source.hpp"
#include "prism/matrix_ref.hpp"
#include "prism/mpi/comm.hpp"

namespace prism::drivers {

/// The options every factorizing run has, checked.
struct RunSettings {
    std::string output;
    std::int64_t k = 0;
    Algorithm algorithm = Algorithm::hals;
    Init init = Init::random;
    std::string init_text = "random", algorithm_text = "hals", precision_text = "double", block_text = "64";
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
    std::string output_format = "prism"; ///< prism | h5ad (prism-nmf) | h5mu (prism-joint)
    bool permute = false;                ///< seeded random relabelling of rows and columns on read
    std::string command_line;
    // Checkpoint and restart (README "Checkpoint and restart").
    std::string checkpoint;         ///< --checkpoint, default OUTPUT.ckpt.h5
    int checkpoint_every = 0;       ///< iterations, 0: off
    double checkpoint_interval = 0; ///< seconds, 0: off
    bool resume = false;
    /// Any checkpoint option given: the last iteration is checkpointed too, so the run can be extended.
    bool checkpointing = false;
    bool max_time_given = false;
    int threads = 0; ///< --threads: OpenMP and OpenBLAS threads per rank; 0: as the environment sets them
};

/// Parses argv into `vm` (store + notify); a Boost.Program_options error becomes one prism::Error line
/// ending in "(see --help)". Local: call it inside mpi::agree_call so every rank fails together.
void parse_command_line(boost::program_options::command_line_parser parser,
                        boost::program_options::variables_map &vm);

/// Adds --rank --output --algorithm --max-iter --tol --seed --init --grid --block --precision
/// --l1-w --l1-h --l2-w --l2-h --max-time --log-every --quiet --force --checkpoint --checkpoint-every
/// --checkpoint-interval --resume --output-format --permute --threads, bound to `s`; `formats` lists the
/// output formats the driver offers (e.g. "prism | h5ad").
void add_run_options(boost::program_options::options_description &options,
                     RunSettings &s,
                     const std::string &formats = "prism");

/// Checks the values bound by add_run_options (after po::notify); throws prism::Error (local) with one
/// line naming the option. `vm` tells which were given.
void check_run_settings(const boost::program_options::variables_map &vm, RunSettings &s);

/// argv joined into one line a POSIX shell would split back the same way.
std::string shell_join(int argc, char **argv);

/// 'text', for naming files, datasets and values in messages.
std::string in_quotes(const std::string &text);

/// Refuses an output that exists (unless `force`), is a directory, or whose folder does not exist.
/// Collective on `world` (rank 0 looks at the file system); run it before reading any data.
void check_output_path(const mpi::Comm &world, const std::string &output, bool force);

/// Writes the result through `contents` to OUTPUT.tmp-PID next to the output and moves it into place
/// when complete; on failure the temporary is removed. Without `force` an output that appeared in the
/// meantime is never clobbered. `serial_finish` (optional) runs on rank 0 after the parallel file is
/// closed and before it is moved into place, with the temporary file's name: for what parallel HDF5
/// cannot write collectively (AnnData's variable-length strings). Collective on `world`.
void write_atomically(const mpi::Comm &world,
                      const std::string &output,
                      bool force,
                      const std::function<void(io::Writer &)> &contents,
                      const std::function<void(const std::string &)> &serial_finish = {});

/// The (rows, cols) of a 2-D numeric, non-empty dataset, from metadata only; anything else is one clear
/// error naming the file and dataset. Collective on `world`.
std::pair<gidx, gidx> inspect_matrix(const mpi::Comm &world, const io::DatasetPath &path);

/// The grid: --grid PRxPC, or chosen for an m x n problem. Collective on `world`.
GridShape grid_shape_for(const mpi::Comm &world, const RunSettings &s, gidx m, gidx n);

/// Rank 0's progress lines: the header once, then every `log_every` iterations one line with the
/// iteration, the relative error, its change, the mean seconds per iteration since the last line, and
/// `extra` (e.g. per-modality errors). Local; prints only on rank 0 and unless quiet.
class ProgressLog {
  public:
    ProgressLog(const mpi::Comm &world, const RunSettings &s, const std::string &extra_header = "");
    void iteration(const IterationReport &r, const std::string &extra = "");

  private:
    bool prints_;
    int log_every_;
    double previous_error_, window_seconds_ = 0;
    int window_iterations_ = 0;
};

/// Root attributes of a result: relative_error, iterations, converged, stop_reason, algorithm, rank,
/// seed, init, grid, block, nprocs, precision, version, command_line, wall_seconds (rank 0's clock),
/// max_iter, tol, max_time and the penalties. Collective on writer.comm().
void write_run_attributes(io::Writer &out,
                          const RunSettings &s,
                          const Grid &grid,
                          const NmfInfo &info,
                          double relative_error,
                          double t_start);

// ------------------------------------------------------------------------ checkpoint, restart, signals

using Identity = std::vector<std::pair<std::string, std::string>>;

/// Installs (sigaction) the handlers of SIGTERM and SIGUSR1 that only record the signal, for
/// stop_signal(). Local; drivers only (the library never touches signals).
void install_stop_handlers();
/// The last stop signal received by this rank (0: none). Local, async-signal-safe read.
int stop_signal();
/// "SIGTERM", "SIGUSR1" or "signal N".
std::string signal_name(int sig);

/// Seconds of iterating left before a batch job ends, from SLURM_JOB_END_TIME or PRISM_JOB_END_TIME (Unix
/// epoch seconds; PRISM_ wins) minus a margin for the final checkpoint of max(60 s, 5 % of the time left
/// at `t_start_epoch`), counted from now; 0 when neither is set or --max-time was given. May be
/// negative-clamped to a tiny positive value (the run then stops after its first iteration). Rank 0's
/// clock and environment, broadcast. Collective on `world`.
double job_deadline_seconds(const mpi::Comm &world, const RunSettings &s, double t_start_epoch);

/// The options that define the problem (k, algorithm, init, seed, precision, penalties), as identity entries.
Identity problem_identity(const RunSettings &s);

/// Identity entries of one input: file, dataset, shape, dtype (from metadata) and the checksum of the data
/// as factorized (io::data_checksum: the same for dense and sparse storage). `label` prefixes the keys
/// ("input", "modality rna"); `format` is how the file stores it (the dtype is read from metadata for a dense
/// HDF5 dataset only). Collective.
template <typename T>
Identity input_identity(const mpi::Comm &world,
                        const std::string &label,
                        const io::DatasetPath &path,
                        io::InputFormat format,
                        MatrixRef<T> x);

/// A ResumeState as a checkpoint record (with the identity), and back; `modalities` is the number of
/// per-modality series for joint runs (0 for single NMF). Local.
io::CheckpointRecord to_record(const Identity &identity, const ResumeState &state, std::size_t modalities);
ResumeState
resume_state_from(const io::CheckpointRecord &record, const std::string &path, std::size_t modalities);

/// Before any data is read: with --resume the checkpoint must be a readable Prism checkpoint; without it an
/// existing checkpoint is refused unless --force (a requeued job that forgot --resume must not overwrite
/// hours of work with iteration 1); the checkpoint's folder must exist. Collective on `world`.
void check_checkpoint_path(const mpi::Comm &world, const RunSettings &s);

/// Refuses an output or checkpoint that is one of the input files, or a checkpoint that is the output,
/// comparing the files themselves (any spelling, links), before anything is read. Collective on `world`.
void check_distinct_files(const mpi::Comm &world,
                          const std::vector<std::string> &inputs,
                          const std::string &output,
                          const std::string &checkpoint);

/// For --resume: reads the checkpoint's record, refuses (collective Error, one line) a missing, corrupt or
/// foreign checkpoint (first differing identity entry named) or one with more iterations than --max-iter.
/// Collective on `world`.
ResumeState load_resume_state(const mpi::Comm &world,
                              const RunSettings &s,
                              const Identity &identity,
                              std::size_t modalities);

/// Sets the checkpoint cadence, the stop-signal poll and the job deadline of `opts` from `s`; `save` writes
/// one checkpoint (collective). Call right before the factorization (the deadline counts from now).
/// A periodic checkpoint that fails (a collective Error) is a warning on rank 0 and the run goes on, the
/// previous checkpoint intact; a failing checkpoint that ends an interrupted run is an error.
void set_checkpointing(NmfOptions &opts,
                       const mpi::Comm &world,
                       const char *program,
                       const RunSettings &s,
                       double deadline_seconds,
                       std::function<void(const ResumeState &)> save);

/// Rank 0's line for a run stopped at a checkpoint (signal or job deadline): what stopped it, where the
/// checkpoint is, how to continue. Local.
void report_stopped(const mpi::Comm &world, const char *program, const RunSettings &s, const NmfInfo &info);

/// Seconds with 3 significant digits.
std::string seconds_string(double seconds);

} // namespace prism::drivers
