#pragma once
/// What the factorizing drivers (prism-nmf, prism-joint) share: the options that define a run and their
/// checks, the output-path rules (never overwrite without --force, never leave a partial file), the
/// progress log and the run attributes written next to the factors.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include <boost/program_options.hpp>

#include "prism/algorithms/options.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/grid.hpp"
#include "prism/io/hdf5_matrix.hpp"
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
};

/// Adds --rank --output --algorithm --max-iter --tol --seed --init --grid --block --precision
/// --l1-w --l1-h --l2-w --l2-h --max-time --log-every --quiet --force --output-format --permute, bound to
/// `s`; `formats` lists the output formats the driver offers (e.g. "prism | h5ad").
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

/// Seconds with 3 significant digits.
std::string seconds_string(double seconds);

} // namespace prism::drivers
