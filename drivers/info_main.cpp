// prism-info FILE[:OBJECT]: what an input is (any format prism-nmf reads: HDF5 dataset or CSR/CSC group, 10x,
// .h5ad, a .h5mu modality, .mtx), how it distributes, and whether NMF can take it.

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "driver_main.hpp"
#include "input_matrix.hpp"
#include "prism/dist_matrix.hpp"
#include "prism/grid.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/io/input_source.hpp"
#include "prism/linalg/sparse_products.hpp"
#include "prism/matrix_stats.hpp"
#include "prism/mpi/collectives.hpp"
#include "run_settings.hpp"

namespace po = boost::program_options;
using namespace prism;

namespace {

std::string join_dims(const std::vector<gidx> &dims) {
    std::string s;
    for (std::size_t i = 0; i < dims.size(); ++i) {
        s += (i ? " x " : "") + std::to_string(dims[i]);
    }
    return s.empty() ? "scalar" : s;
}

std::string pos(const Position &p) {
    return "(" + std::to_string(p.row) + ", " + std::to_string(p.col) + ")";
}

int run(const mpi::Comm &world, int argc, char **argv) {
    po::options_description visible(
        "Usage: mpirun -np P prism-info FILE[:OBJECT] [options]\n\n"
        "Describes any input prism-nmf reads (an HDF5 dataset, default /X, or CSR/CSC group; AnnData .h5ad;\n"
        "10x HDF5; a MuData modality FILE.h5mu:/mod/NAME; MatrixMarket .mtx), distributes it over a process\n"
        "grid (sparse data stays sparse) and prints global statistics computed in parallel.\n\nOptions");
    std::string grid_text, block_text;
    visible.add_options()("help,h", "print this help and exit")(
        "grid", po::value(&grid_text)->default_value("auto"), "process grid PRxPC, or auto")(
        "block", po::value(&block_text)->default_value("64"), "distribution block MB or MBxNB")(
        "check", "exit with status 1 if the matrix has NaN/Inf or negative entries (what NMF refuses)");
    po::options_description hidden;
    std::string input;
    hidden.add_options()("input", po::value(&input), "FILE[:OBJECT]");
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("input", 1);
    po::variables_map vm;
    mpi::agree_call(world, [&] {
        drivers::parse_command_line(po::command_line_parser(argc, argv).options(all).positional(positional),
                                    vm);
        if (!vm.count("help") && input.empty()) {
            throw Error("no input given: prism-info FILE[:OBJECT] (see --help)");
        }
    });
    if (vm.count("help")) {
        if (world.rank() == 0) {
            std::cout << visible << "\n";
        }
        return 0;
    }

    // Every format prism-nmf reads, described from metadata first (a wrong file costs nothing).
    const io::InputSource src = io::describe_input(world, input);
    const bool hdf5_dense = src.format == io::InputFormat::hdf5_dense;
    const io::DatasetPath path =
        hdf5_dense ? io::parse_dataset_path(input) : io::DatasetPath{src.file, src.object};
    io::DatasetInfo info;
    if (!src.sparse) {
        info = io::inspect_dataset(world, path);
    }
    GridShape shape{};
    gidx mb = default_block, nb = default_block;
    mpi::agree_call(world, [&] {
        if (!src.sparse && info.dims.size() != 2) {
            throw Error("'" + path.file + "': dataset '" + path.dataset + "' has " +
                        std::to_string(info.dims.size()) + " dimensions (" + join_dims(info.dims) +
                        "); expected a 2-D matrix");
        }
        shape = grid_text == "auto" ? choose_grid_shape(world.size(), src.rows, src.cols)
                                    : parse_grid_shape(grid_text);
        const GridShape blocks = parse_grid_shape(block_text.find_first_of("xX,") == std::string::npos
                                                      ? block_text + "x" + block_text
                                                      : block_text);
        mb = blocks.rows;
        nb = blocks.cols;
    });
    Grid grid(world, shape);
    const drivers::InputMatrix<double> in = drivers::read_input_matrix<double>(grid, src, path, mb, nb);
    const MatrixRef<double> a = in.ref();
    const MatrixStats s = compute_stats(a);
    const auto local_rows = mpi::allgather_value(world, a.local_rows());
    const auto local_cols = mpi::allgather_value(world, a.local_cols());
    std::vector<std::int64_t> local_stored;
    NnzBalance balance;
    if (in.sparse) {
        local_stored = mpi::allgather_value(world, static_cast<std::int64_t>(in.sparse->local_nnz()));
        balance = nnz_balance(*in.sparse);
    }
    bool has_row_names = !src.row_names.empty(), has_col_names = !src.col_names.empty();
    if (hdf5_dense) { // Prism's own layout: the name lists next to the matrix
        const std::string parent = path.dataset.substr(0, path.dataset.find_last_of('/'));
        has_row_names = io::dataset_exists(world, path.file, parent + "/row_names");
        has_col_names = io::dataset_exists(world, path.file, parent + "/col_names");
    }

    if (world.rank() == 0) {
        std::ostringstream out;
        const double cells = static_cast<double>(src.rows) * static_cast<double>(src.cols);
        out << "file       " << src.file << "\n";
        if (hdf5_dense) {
            out << "dataset    " << path.dataset << "\n";
        } else {
            out << "format     " << to_string(src.format) << (src.sparse ? ", sparse" : ", dense")
                << (src.object.empty() ? "" : " at " + src.object) << "\n";
            if (!src.orientation.empty()) {
                out << "           " << src.orientation << "\n";
            }
        }
        out << "shape      " << src.rows << " x " << src.cols << " (rows = features, columns = samples)\n";
        if (src.sparse) {
            out << "stored     " << balance.total << " entries ("
                << (cells > 0 ? 100.0 * balance.total / cells : 0.0) << " % of the matrix)\n";
        } else {
            out << "type       " << info.type << "\n"
                << "storage    " << (info.chunk.empty() ? "contiguous" : "chunked " + join_dims(info.chunk))
                << ", filters: " << info.filters << "\n";
        }
        out << "names      row_names " << (has_row_names ? "present" : "absent") << ", col_names "
            << (has_col_names ? "present" : "absent") << "\n"
            << "grid       " << grid.shape_string() << " on " << world.size() << " ranks, block " << mb << "x"
            << nb << "\n";
        for (int r = 0; r < world.size(); ++r) {
            out << "  rank " << r << " (" << r / grid.cols() << "," << r % grid.cols() << "): local block "
                << local_rows[r] << " x " << local_cols[r];
            if (in.sparse) {
                out << ", " << local_stored[r] << " stored";
            }
            out << "\n";
        }
        if (in.sparse) {
            out << "stored per rank min / mean / max " << balance.min << " / " << balance.mean << " / "
                << balance.max << " (imbalance " << balance.imbalance() << ")\n";
        }
        const double entries = static_cast<double>(s.rows) * static_cast<double>(s.cols);
        out << "statistics (computed in parallel)\n"
            << "  min        " << s.min << "\n"
            << "  max        " << s.max << "\n"
            << "  nonzeros   " << s.nonzeros << " (" << (entries > 0 ? 100.0 * s.nonzeros / entries : 0.0)
            << " %)\n"
            << "  NaN        " << s.nan_count
            << (s.first_nan.exists() ? ", first at " + pos(s.first_nan) : "") << "\n"
            << "  Inf        " << s.inf_count
            << (s.first_inf.exists() ? ", first at " + pos(s.first_inf) : "") << "\n"
            << "  negative   " << s.negative_count
            << (s.first_negative.exists()
                    ? ", first at " + pos(s.first_negative) + " = " + std::to_string(s.first_negative_value)
                    : "")
            << "\n"
            << "  zero rows  " << s.zero_rows
            << (s.first_zero_row_col.row >= 0 ? ", first is row " + std::to_string(s.first_zero_row_col.row)
                                              : "")
            << "\n"
            << "  zero cols  " << s.zero_cols
            << (s.first_zero_row_col.col >= 0
                    ? ", first is column " + std::to_string(s.first_zero_row_col.col)
                    : "")
            << "\n";
        std::cout << out.str() << std::flush;
    }
    if (vm.count("check")) {
        std::string problem;
        if (s.nan_count + s.inf_count > 0) {
            problem =
                std::to_string(s.nan_count) + " NaN and " + std::to_string(s.inf_count) + " Inf entries";
        } else if (s.negative_count > 0) {
            problem =
                std::to_string(s.negative_count) + " negative entries, first at " + pos(s.first_negative);
        }
        if (!problem.empty()) {
            if (world.rank() == 0) {
                std::cerr << "prism-info: check failed: " << src.label() << " has " << problem << "\n";
            }
            return drivers::exit_data_check_failed;
        }
    }
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    return drivers::run_driver("prism-info", argc, argv,
                               [&](const mpi::Comm &world) { return run(world, argc, argv); });
}
