// prism-joint: joint NMF of several omics matrices over the same samples, X_v ~= W_v H, one shared H.
//
// Two ways to name the modalities:
//   --input STUDY.h5 [--modalities a,b,c]   one file with /<modality>/X and the shared /sample_names
//                                           (all columns of every X in that order)
//   --input FILE:DATASET --name NAME ...    one pair per modality, each with its own sample names
//                                           (--samples-dataset); samples are aligned by name, their
//                                           union is the column set and each modality's mask marks
//                                           the samples it has
//   --input STUDY.h5mu [--modalities a,b]  MuData: each /mod/<name> AnnData is a modality (cells x genes,
//                                           read transposed), samples aligned by their obs names
// Any --input may be any format prism-nmf reads (h5ad, 10x, CSR/CSC group, mtx); sparse ones stay sparse.
// Order of work, as prism-nmf: options, output path, metadata of every modality (shapes, names,
// alignment), the grid, the data and its values, then the factorization and one atomic write.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "driver_main.hpp"
#include "prism/algorithms/joint.hpp"
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
#include "prism/transform.hpp"
#include "run_settings.hpp"
#include "thread_count.hpp"

namespace po = boost::program_options;
using namespace prism;
using namespace prism::drivers;

namespace {

constexpr const char *program = "prism-joint";

struct Settings : RunSettings {
    std::vector<std::string> inputs, names;
    std::string modalities_text, weights_text = "auto", samples_dataset = "col_names", labels, log1p_text;
    int top = 5;
};

// One modality as the files describe it, before any data is read.
struct ModalitySource {
    std::string name;
    io::InputSource source; ///< format, orientation, names
    io::DatasetPath x;
    std::string row_names; ///< dataset path, empty if absent
    gidx rows = 0, cols = 0;
    std::vector<gidx> file_col; ///< study column j -> file column, -1 = not measured; empty = identity

    bool operator==(const std::string &other) const { return name == other; }
};

struct Study {
    std::vector<ModalitySource> modalities;
    std::vector<std::string> sample_names; ///< the column set (empty names if the file has none)
    gidx samples = 0;
};

std::vector<std::string> split_commas(const std::string &text) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) {
        parts.push_back(part);
    }
    return parts;
}

std::string join(const std::vector<std::string> &parts, const std::string &sep = ",") {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        out += (i ? sep : "") + parts[i];
    }
    return out;
}

std::string parent_of(const std::string &dataset) {
    const auto slash = dataset.find_last_of('/');
    return slash == 0 || slash == std::string::npos ? "" : dataset.substr(0, slash);
}

bool parse_settings(const mpi::Comm &world, int argc, char **argv, Settings &s) {
    po::options_description visible(
        "Usage: mpirun -np P prism-joint --input STUDY.h5 [--modalities a,b] --rank K --output OUT.h5 "
        "[options]\n"
        "       mpirun -np P prism-joint --input A.h5:/X --name a --input B.h5:/X --name b --rank K --output "
        "OUT.h5\n\n"
        "Joint NMF of several omics matrices over the same samples: X_v ~= W_v H, one W_v per modality and "
        "one\n"
        "shared H, minimising sum_v lambda_v ||M_v o (X_v - W_v H)||^2 where M_v masks the samples modality "
        "v\n"
        "does not have. Writes /H (k x n), /sample_names, /W/<modality>, /row_names/<modality>, the history\n"
        "and the run's parameters to OUT.h5.\n\nOptions");
    visible.add_options()("help,h", "print this help and exit")(
        "input,i", po::value(&s.inputs)->composing(),
        "STUDY.h5 (one group per modality) or STUDY.h5mu (MuData), or FILE[:DATASET] once per modality with "
        "--name (any format prism-nmf reads)")("name", po::value(&s.names)->composing(),
                                               "name of the modality given by the preceding --input")(
        "modalities", po::value(&s.modalities_text),
        "with a study file: the modalities to use, in order, comma-separated (default: the file's "
        "'modalities' attribute, else every group holding an X)")(
        "samples-dataset", po::value(&s.samples_dataset)->default_value("col_names"),
        "with --input/--name pairs: each modality's sample names, a dataset next to its matrix (or an "
        "absolute "
        "path in its file)")(
        "weights", po::value(&s.weights_text)->default_value("auto"),
        "auto (1/||X_v||^2 over observed samples, so every modality counts equally) | equal | w1,w2,... "
        "(one positive value per modality, in order)")(
        "labels", po::value(&s.labels),
        "a dataset of sample labels in the study file (e.g. /sample_annot/COC): report how the factors' "
        "clusters (argmax of each H column) match them (adjusted Rand index and a table)")(
        "top", po::value(&s.top)->default_value(5), "samples listed per factor in the summary (0: none)")(
        "log1p", po::value(&s.log1p_text),
        "modalities to transform by log(1 + x) after reading (comma-separated names, or all): counts and "
        "expression values, whose few largest features would otherwise dominate the fit");
    add_run_options(visible, s, "prism | h5mu");
    po::variables_map vm;
    mpi::agree_call(world, [&] {
        parse_command_line(po::command_line_parser(argc, argv).options(visible), vm);
        if (vm.count("help")) {
            return;
        }
        if (s.inputs.empty()) {
            throw Error(
                "no input given: --input STUDY.h5, or --input FILE:DATASET --name NAME per modality (see "
                "--help)");
        }
        check_run_settings(vm, s);
        if (!s.names.empty() && s.names.size() != s.inputs.size()) {
            throw Error(std::to_string(s.inputs.size()) + " --input but " + std::to_string(s.names.size()) +
                        " --name: give one --name after each --input");
        }
        if (s.inputs.size() > 1 && s.names.empty()) {
            throw Error("several --input files need a --name each (e.g. --input rna.h5:/X --name rna)");
        }
        if (!s.names.empty() && vm.count("modalities")) {
            throw Error(
                "--modalities picks groups of one study file; with --input/--name pairs, list the pairs");
        }
        if (s.output_format == "h5ad") {
            throw Error("--output-format h5ad is for single-matrix runs; a joint run writes prism or h5mu");
        }
        if (s.top < 0) {
            throw Error("--top must be >= 0, got " + std::to_string(s.top));
        }
        if (s.init != Init::random) {
            throw Error("--init " + s.init_text + " is not available for joint NMF (use --init random)");
        }
        if (s.weights_text != "auto" && s.weights_text != "equal") {
            for (const auto &w : split_commas(s.weights_text)) {
                char *end = nullptr;
                const double v = std::strtod(w.c_str(), &end);
                if (w.empty() || *end != '\0' || !std::isfinite(v) || v <= 0) {
                    throw Error("invalid --weights " + in_quotes(s.weights_text) +
                                ": expected auto, equal, or positive numbers separated by commas");
                }
            }
        }
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

// Duplicates in `names`, up to 5, quoted.
std::string duplicates_of(const std::vector<std::string> &names, std::size_t &count) {
    std::map<std::string, int> seen;
    std::vector<std::string> dups;
    count = 0;
    for (const auto &n : names) {
        if (++seen[n] == 2) {
            ++count;
            if (dups.size() < 5) {
                dups.push_back(in_quotes(n));
            }
        }
    }
    return join(dups, ", ");
}

// A study file: /<modality>/X for each modality, /sample_names shared. Collective on `world`.
Study study_from_file(const mpi::Comm &world, const Settings &s) {
    const std::string file = s.inputs[0];
    Study study;
    mpi::agree(world, file.size() < 4 || file.compare(file.size() - 4, 4, ".mtx") != 0,
               in_quotes(file) + ": a MatrixMarket file is one modality: give it a name with --input " +
                   file + " --name NAME");
    std::vector<std::string> available;
    for (const auto &member : io::list_group(world, file, "/")) {
        if (io::dataset_exists(world, file, "/" + member + "/X")) {
            available.push_back(member);
        }
    }
    mpi::agree(world, !available.empty(),
               in_quotes(file) +
                   ": no modality found (expected groups holding an X dataset, e.g. /rna/X); for "
                   "a single matrix use prism-nmf, or name it with --input FILE:DATASET --name NAME");
    std::vector<std::string> chosen;
    if (!s.modalities_text.empty()) {
        chosen = split_commas(s.modalities_text);
    } else {
        chosen = io::read_string_attribute(world, file, "/", "modalities");
        const bool usable =
            !chosen.empty() && std::all_of(chosen.begin(), chosen.end(), [&](const std::string &m) {
                return std::find(available.begin(), available.end(), m) != available.end();
            });
        if (!usable) {
            chosen = available;
        }
    }
    std::set<std::string> unique;
    for (const auto &m : chosen) {
        mpi::agree(world, std::find(available.begin(), available.end(), m) != available.end(),
                   in_quotes(file) + ": no modality " + in_quotes(m) + " (found: " + join(available, ", ") +
                       ")");
        mpi::agree(world, unique.insert(m).second, "--modalities names " + in_quotes(m) + " twice");
    }
    if (io::dataset_exists(world, file, "/sample_names")) {
        study.sample_names = io::read_strings(world, {file, "/sample_names"});
        std::size_t count = 0;
        const std::string dups = duplicates_of(study.sample_names, count);
        mpi::agree(world, count == 0,
                   in_quotes(file) + ":/sample_names has " + std::to_string(count) +
                       " duplicated names: " + dups);
    }
    for (const auto &m : chosen) {
        ModalitySource src;
        src.name = m;
        src.x = {file, "/" + m + "/X"};
        std::tie(src.rows, src.cols) = inspect_matrix(world, src.x);
        if (study.modalities.empty()) {
            study.samples =
                study.sample_names.empty() ? src.cols : static_cast<gidx>(study.sample_names.size());
        }
        mpi::agree(world, src.cols == study.samples,
                   in_quotes(file) + ":" + src.x.dataset + " has " + std::to_string(src.cols) +
                       " samples (columns) but " +
                       (study.sample_names.empty() ? in_quotes(study.modalities.front().x.dataset) + " has "
                                                   : std::string("/sample_names lists ")) +
                       std::to_string(study.samples) +
                       "; every modality of a study file has all samples, in order");
        if (io::dataset_exists(world, file, "/" + m + "/row_names")) {
            src.row_names = "/" + m + "/row_names";
        }
        study.modalities.push_back(src);
    }
    return study;
}

// --input FILE:DATASET --name NAME pairs, aligned by sample name. Collective on `world`.
Study study_from_pairs(const mpi::Comm &world, const Settings &s) {
    Study study;
    std::map<std::string, gidx> column_of; // sample name -> study column
    std::vector<std::vector<std::string>> samples_of;
    std::set<std::string> names;
    for (std::size_t v = 0; v < s.inputs.size(); ++v) {
        ModalitySource src;
        src.name = s.names[v];
        mpi::agree(world, !src.name.empty() && src.name.find('/') == std::string::npos,
                   "invalid --name " + in_quotes(src.name) + ": a modality name is non-empty and has no '/'");
        mpi::agree(world, names.insert(src.name).second, "--name " + in_quotes(src.name) + " is given twice");
        src.x = io::parse_dataset_path(s.inputs[v]);
        src.source = io::describe_input(world, s.inputs[v]);
        if (src.source.format == io::InputFormat::hdf5_dense) {
            std::tie(src.rows, src.cols) = inspect_matrix(world, src.x);
        } else {
            src.x = {src.source.file, src.source.object};
            src.rows = src.source.rows;
            src.cols = src.source.cols;
        }
        if (src.source.format == io::InputFormat::matrix_market) {
            // MatrixMarket has no sample names, and modalities are aligned by name: a lone modality is
            // fine (samples numbered sample0, sample1, ...), several are not.
            mpi::agree(world, s.inputs.size() == 1,
                       "modality " + in_quotes(src.name) + " (" + src.source.label() +
                           "): MatrixMarket carries no sample names and prism-joint aligns modalities by "
                           "sample name; convert it to .h5ad (with obs names) first");
            std::vector<std::string> samples;
            for (gidx j = 0; j < src.cols; ++j) {
                samples.push_back("sample" + std::to_string(j));
                column_of.emplace(samples.back(), j);
            }
            study.sample_names = samples;
            samples_of.push_back(std::move(samples));
            study.modalities.push_back(src);
            continue;
        }
        const std::string group = parent_of(src.x.dataset);
        const std::string samples_path =
            !src.source.col_names.empty() && s.samples_dataset == "col_names"
                ? src.source.col_names
                : (s.samples_dataset.front() == '/' ? s.samples_dataset : group + "/" + s.samples_dataset);
        const std::string where = in_quotes(src.x.file) + ":" + src.x.dataset;
        mpi::agree(world, io::dataset_exists(world, src.x.file, samples_path),
                   where + " (" + src.name + "): no sample names at " + in_quotes(samples_path) +
                       "; samples are aligned by name (see --samples-dataset)");
        std::vector<std::string> samples = io::read_strings(world, {src.x.file, samples_path});
        mpi::agree(world, static_cast<gidx>(samples.size()) == src.cols,
                   in_quotes(src.x.file) + ":" + samples_path + " has " + std::to_string(samples.size()) +
                       " names but " + where + " has " + std::to_string(src.cols) + " samples (columns)");
        std::size_t count = 0;
        const std::string dups = duplicates_of(samples, count);
        mpi::agree(world, count == 0,
                   in_quotes(src.x.file) + ":" + samples_path + " (" + src.name + ") has " +
                       std::to_string(count) + " duplicated sample names: " + dups);
        if (!src.source.row_names.empty()) {
            src.row_names = src.source.row_names;
        } else if (io::dataset_exists(world, src.x.file, group + "/row_names")) {
            src.row_names = group + "/row_names";
        }
        for (const auto &name : samples) {
            if (column_of.emplace(name, static_cast<gidx>(study.sample_names.size())).second) {
                study.sample_names.push_back(name);
            }
        }
        samples_of.push_back(std::move(samples));
        study.modalities.push_back(src);
    }
    study.samples = static_cast<gidx>(study.sample_names.size());
    for (std::size_t v = 0; v < study.modalities.size(); ++v) {
        ModalitySource &src = study.modalities[v];
        src.file_col.assign(static_cast<std::size_t>(study.samples), -1);
        for (std::size_t c = 0; c < samples_of[v].size(); ++c) {
            src.file_col[static_cast<std::size_t>(column_of[samples_of[v][c]])] = static_cast<gidx>(c);
        }
        if (study.modalities.size() > 1) { // shares at least one sample with another modality
            bool shared = false;
            for (std::size_t u = 0; u < study.modalities.size() && !shared; ++u) {
                if (u == v) {
                    continue;
                }
                std::set<std::string> other(samples_of[u].begin(), samples_of[u].end());
                shared = std::any_of(samples_of[v].begin(), samples_of[v].end(),
                                     [&](const std::string &n) { return other.count(n) > 0; });
            }
            mpi::agree(
                world, shared,
                "modality " + in_quotes(src.name) + " (" + src.x.str() +
                    ") has no sample in common with the other modalities: check the sample names (first: " +
                    in_quotes(samples_of[v].front()) + ")");
        }
    }
    return study;
}

// A MuData file: each /mod/<name> (AnnData, cells x genes) is a modality, samples aligned by obs names.
// The same alignment as --input/--name pairs. Collective on `world`.
Study study_from_mudata(const mpi::Comm &world, const Settings &s) {
    const std::string file = s.inputs[0];
    const std::vector<std::string> available = io::mudata_modalities(world, file);
    const std::vector<std::string> chosen =
        s.modalities_text.empty() ? available : split_commas(s.modalities_text);
    Study study;
    std::map<std::string, gidx> column_of;
    std::vector<std::vector<std::string>> samples_of;
    std::set<std::string> unique;
    for (const auto &m : chosen) {
        mpi::agree(world, std::find(available.begin(), available.end(), m) != available.end(),
                   in_quotes(file) + ": no modality " + in_quotes(m) +
                       " under /mod (found: " + join(available, ", ") + ")");
        mpi::agree(world, unique.insert(m).second, "--modalities names " + in_quotes(m) + " twice");
        ModalitySource src;
        src.name = m;
        src.source = io::describe_anndata(world, file, "/mod/" + m);
        src.x = {file, src.source.object};
        src.rows = src.source.rows;
        src.cols = src.source.cols;
        src.row_names = src.source.row_names;
        mpi::agree(world, !src.source.col_names.empty(),
                   in_quotes(file) + ":/mod/" + m +
                       " has no obs names; MuData modalities are aligned by them");
        std::vector<std::string> samples = io::read_unique_names(world, file, src.source.col_names, src.cols);
        for (const auto &name : samples) {
            if (column_of.emplace(name, static_cast<gidx>(study.sample_names.size())).second) {
                study.sample_names.push_back(name);
            }
        }
        samples_of.push_back(std::move(samples));
        study.modalities.push_back(src);
    }
    study.samples = static_cast<gidx>(study.sample_names.size());
    for (std::size_t v = 0; v < study.modalities.size(); ++v) {
        ModalitySource &src = study.modalities[v];
        src.file_col.assign(static_cast<std::size_t>(study.samples), -1);
        for (std::size_t c = 0; c < samples_of[v].size(); ++c) {
            src.file_col[static_cast<std::size_t>(column_of[samples_of[v][c]])] = static_cast<gidx>(c);
        }
        bool shared = study.modalities.size() == 1;
        for (std::size_t u = 0; u < study.modalities.size() && !shared; ++u) {
            const std::set<std::string> other(samples_of[u].begin(), samples_of[u].end());
            shared = u != v && std::any_of(samples_of[v].begin(), samples_of[v].end(),
                                           [&](const std::string &n) { return other.count(n) > 0; });
        }
        mpi::agree(world, shared,
                   "modality " + in_quotes(src.name) + " (" + src.source.label() +
                       ") has no sample in common with the other modalities: check the obs names (first: " +
                       in_quotes(samples_of[v].empty() ? std::string() : samples_of[v].front()) + ")");
    }
    return study;
}

// The `top` largest entries of each row of H (k x n) over all ranks: (value, sample) pairs, descending.
// Collective on the grid.
template <typename T>
std::vector<std::vector<std::pair<double, gidx>>>
top_samples(const mpi::Comm &world, const Factor<T> &ht, int top) {
    const gidx k = ht.k();
    std::vector<double> mine; // per factor: top (value, sample) pairs, padded with (-1, -1)
    for (gidx l = 0; l < k; ++l) {
        std::vector<std::pair<double, gidx>> local;
        for (lidx r = 0; r < ht.rows(); ++r) {
            local.emplace_back(static_cast<double>(ht.at(r, l)), ht.global_index(r));
        }
        const std::size_t keep = std::min<std::size_t>(local.size(), static_cast<std::size_t>(top));
        std::partial_sort(local.begin(), local.begin() + keep, local.end(), std::greater<>());
        for (int t = 0; t < top; ++t) {
            const bool have = static_cast<std::size_t>(t) < keep;
            mine.push_back(have ? local[t].first : -1.0);
            mine.push_back(have ? static_cast<double>(local[t].second) : -1.0);
        }
    }
    // Every rank contributes the same count, but a factor row lives on exactly one rank: gather and merge.
    const std::int64_t per_rank = static_cast<std::int64_t>(mine.size());
    std::vector<double> all(static_cast<std::size_t>(per_rank * world.size()));
    mpi::allgatherv(world, mine.data(), all.data(), std::vector<std::int64_t>(world.size(), per_rank));
    std::vector<std::vector<std::pair<double, gidx>>> best(static_cast<std::size_t>(k));
    for (gidx l = 0; l < k; ++l) {
        for (int p = 0; p < world.size(); ++p) {
            for (int t = 0; t < top; ++t) {
                const double *e = all.data() + p * per_rank + (l * top + t) * 2;
                if (e[1] >= 0) {
                    best[l].emplace_back(e[0], static_cast<gidx>(e[1]));
                }
            }
        }
        std::sort(best[l].begin(), best[l].end(), std::greater<>());
        best[l].resize(std::min<std::size_t>(best[l].size(), static_cast<std::size_t>(top)));
    }
    return best;
}

// Each sample's factor, on every rank: argmax over l of s_l H(l, j), with s_l = sqrt(sum_v lambda_v
// ||W_v(:, l)||^2) the scale of factor l in the weighted fit, so the answer does not depend on how W and H
// share each factor's scale (HALS normalises, ANLS does not). -1 for a zero column. Collective.
template <typename T>
std::vector<int> sample_clusters(const mpi::Comm &world,
                                 const std::vector<JointModality<T>> &mods,
                                 const std::vector<Factor<T>> &w,
                                 const Factor<T> &ht) {
    std::vector<double> scale(static_cast<std::size_t>(ht.k()), 0.0);
    for (std::size_t v = 0; v < w.size(); ++v) {
        for (lidx r = 0; r < w[v].rows(); ++r) {
            for (gidx l = 0; l < ht.k(); ++l) {
                scale[l] +=
                    mods[v].weight * static_cast<double>(w[v].at(r, l)) * static_cast<double>(w[v].at(r, l));
            }
        }
    }
    mpi::allreduce(world, scale.data(), ht.k(), mpi::Op::sum);
    std::vector<double> mine;
    for (lidx r = 0; r < ht.rows(); ++r) {
        int best = -1;
        double best_value = 0;
        for (gidx l = 0; l < ht.k(); ++l) {
            const double value = std::sqrt(scale[l]) * static_cast<double>(ht.at(r, l));
            if (value > best_value) {
                best_value = value;
                best = static_cast<int>(l);
            }
        }
        mine.push_back(static_cast<double>(ht.global_index(r)));
        mine.push_back(best);
    }
    const std::vector<std::int64_t> counts =
        mpi::allgather_value(world, static_cast<std::int64_t>(mine.size()));
    std::int64_t total = 0;
    for (auto c : counts) {
        total += c;
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    mpi::allgatherv(world, mine.data(), all.data(), counts);
    std::vector<int> cluster(static_cast<std::size_t>(ht.global_rows()), -1);
    for (std::int64_t i = 0; i < total; i += 2) {
        cluster[static_cast<std::size_t>(all[i])] = static_cast<int>(all[i + 1]);
    }
    return cluster;
}

// Adjusted Rand index of two labellings of the same items (Hubert & Arabie 1985).
double adjusted_rand_index(const std::vector<std::string> &a, const std::vector<std::string> &b) {
    std::map<std::pair<std::string, std::string>, double> joint;
    std::map<std::string, double> rows, cols;
    for (std::size_t i = 0; i < a.size(); ++i) {
        joint[{a[i], b[i]}] += 1;
        rows[a[i]] += 1;
        cols[b[i]] += 1;
    }
    const auto pairs = [](double c) { return c * (c - 1) / 2; };
    double index = 0, sum_rows = 0, sum_cols = 0;
    for (const auto &[key, c] : joint) {
        index += pairs(c);
    }
    for (const auto &[key, c] : rows) {
        sum_rows += pairs(c);
    }
    for (const auto &[key, c] : cols) {
        sum_cols += pairs(c);
    }
    const double expected = sum_rows * sum_cols / pairs(static_cast<double>(a.size()));
    const double maximum = 0.5 * (sum_rows + sum_cols);
    return maximum == expected ? 0.0 : (index - expected) / (maximum - expected);
}

// What a joint checkpoint must match: the options, the modalities in order and, per modality, its input
// (data as factorized, i.e. after log1p), transform, weight lambda_v and observed samples.
template <typename T>
Identity joint_identity(const mpi::Comm &world,
                        const Settings &s,
                        const Study &study,
                        const std::vector<JointModality<T>> &mods,
                        const std::vector<bool> &transformed) {
    Identity identity = problem_identity(s);
    std::vector<std::string> names;
    for (const auto &src : study.modalities) {
        names.push_back(src.name);
    }
    identity.emplace_back("modalities", join(names));
    identity.emplace_back("weighting", s.weights_text);
    for (std::size_t v = 0; v < study.modalities.size(); ++v) {
        const std::string label = "modality " + names[v];
        // The transform first: it changes the checksum too, and is the clearer reason to give.
        identity.emplace_back(label + " transform", transformed[v] ? "log1p" : "none");
        for (auto &entry : input_identity<T>(world, label, study.modalities[v].x,
                                             study.modalities[v].source.format, *mods[v].x)) {
            identity.push_back(std::move(entry));
        }
        std::ostringstream weight, observed;
        weight << std::setprecision(17) << mods[v].weight;
        std::uint64_t mask_hash = 1469598103934665603ULL; // FNV-1a over the observed flags
        for (char c : mods[v].observed) {
            mask_hash = (mask_hash ^ static_cast<unsigned char>(c != 0)) * 1099511628211ULL;
        }
        observed << (mods[v].observed.empty()
                         ? study.samples
                         : std::count(mods[v].observed.begin(), mods[v].observed.end(), 1))
                 << " of " << study.samples << " (" << std::hex << mask_hash << ")";
        identity.emplace_back(label + " weight", weight.str());
        identity.emplace_back(label + " observed", observed.str());
    }
    return identity;
}

template <typename T>
int factorize(
    const mpi::Comm &world, const Settings &s, const Study &study, double t_start, double t_start_epoch) {
    const std::size_t nmod = study.modalities.size();
    gidx total_rows = 0;
    for (const auto &src : study.modalities) {
        total_rows += src.rows;
    }
    const GridShape shape = grid_shape_for(world, s, total_rows, study.samples);
    Grid grid(world, shape);

    // The data: every modality on the same grid with the same column distribution; sparse ones sparse.
    // With --permute every modality's rows get their own permutation and the samples one shared one.
    std::vector<std::unique_ptr<DistMatrix<T>>> dense(nmod);
    std::vector<std::unique_ptr<SparseDistMatrix<T>>> sparse(nmod);
    std::vector<IndexOrigin> origins;
    const auto seed = static_cast<std::uint64_t>(s.seed);
    const std::vector<gidx> sample_perm =
        s.permute ? random_permutation(seed, PermutedAxis::cols, study.samples) : std::vector<gidx>{};
    for (std::size_t v = 0; v < nmod; ++v) {
        const ModalitySource &src = study.modalities[v];
        const std::string label = src.source.label();
        if (src.source.sparse) {
            // forward map: the source's column c -> study column (then permuted)
            std::vector<gidx> col_map(static_cast<std::size_t>(src.cols), -1);
            for (std::size_t j = 0; j < src.file_col.size(); ++j) {
                if (src.file_col[j] >= 0) {
                    col_map[static_cast<std::size_t>(src.file_col[j])] = static_cast<gidx>(j);
                }
            }
            if (src.file_col.empty()) {
                for (gidx c = 0; c < src.cols; ++c) {
                    col_map[static_cast<std::size_t>(c)] = c;
                }
            }
            std::vector<gidx> row_map;
            if (s.permute) {
                for (gidx &c : col_map) {
                    c = c >= 0 ? sample_perm[static_cast<std::size_t>(c)] : -1;
                }
                // each modality's rows: the permutation of its own row count, seeded by (seed + v)
                row_map = random_permutation(seed + v, PermutedAxis::rows, src.rows);
                origins.push_back({inverse_permutation(row_map), inverse_permutation(sample_perm)});
            }
            sparse[v] = std::make_unique<SparseDistMatrix<T>>(
                io::read_sparse_source<T>(grid, src.source, s.mb, s.nb, row_map, col_map, study.samples));
        } else {
            mpi::agree(world, !s.permute,
                       "--permute relabels sparse inputs; modality " + in_quotes(src.name) + " (" + label +
                           ") is dense");
            if (src.source.format == io::InputFormat::hdf5_dense) {
                dense[v] = std::make_unique<DistMatrix<T>>(
                    src.file_col.empty() ? io::read_matrix<T>(grid, src.x, s.mb, s.nb)
                                         : io::read_matrix_columns<T>(grid, src.x, src.file_col, s.mb, s.nb));
            } else {
                dense[v] = std::make_unique<DistMatrix<T>>(
                    io::read_dense_source<T>(grid, src.source, s.mb, s.nb, src.file_col));
            }
        }
    }
    if (world.rank() == 0 && !s.quiet) {
        for (std::size_t v = 0; v < nmod; ++v) {
            if (!study.modalities[v].source.orientation.empty()) {
                std::cout << program << ": " << study.modalities[v].source.orientation << "\n";
            }
        }
    }
    for (std::size_t v = 0; v < nmod; ++v) {
        if (sparse[v]) {
            const NnzBalance b = nnz_balance(*sparse[v]);
            if (world.rank() == 0 && !s.quiet) {
                std::cout << program << ": " << study.modalities[v].name << " sparse, " << b.total
                          << " stored entries; per rank min / mean / max " << b.min << " / " << b.mean
                          << " / " << b.max << "\n"
                          << std::flush;
            }
        }
    }
    std::vector<JointModality<T>> mods(nmod);
    for (std::size_t v = 0; v < nmod; ++v) {
        const ModalitySource &src = study.modalities[v];
        if (sparse[v]) {
            mods[v].x = sparse[v].get();
        } else {
            mods[v].x = dense[v].get();
        }
        mods[v].name = src.name;
        mods[v].source = in_quotes(src.x.file) + (src.x.dataset.empty() ? "" : ":" + src.x.dataset);
        if (!src.file_col.empty()) {
            mods[v].observed.resize(src.file_col.size());
            for (std::size_t j = 0; j < src.file_col.size(); ++j) {
                // observed flags follow the (permuted) study columns
                const std::size_t at = s.permute ? static_cast<std::size_t>(sample_perm[j]) : j;
                mods[v].observed[at] = src.file_col[j] >= 0 ? 1 : 0;
            }
        }
        mods[v].w = s.w;
    }
    validate_joint_input(mods, s.k); // on the data as stored, so errors name the file's own values
    const std::vector<std::string> log1p_names = split_commas(s.log1p_text);
    std::vector<bool> transformed(nmod, false);
    for (const auto &name : log1p_names) {
        const auto it = std::find(study.modalities.begin(), study.modalities.end(), name);
        mpi::agree(world, name == "all" || it != study.modalities.end(),
                   "--log1p names " + in_quotes(name) + ", which is not one of the modalities");
        for (std::size_t v = 0; v < nmod; ++v) {
            transformed[v] = transformed[v] || name == "all" || study.modalities[v].name == name;
        }
    }
    for (std::size_t v = 0; v < nmod; ++v) {
        if (transformed[v]) {
            if (sparse[v]) {
                log1p_in_place(*sparse[v]);
            } else {
                log1p_in_place(*dense[v]);
            }
        }
    }
    std::vector<double> given;
    JointWeighting weighting = JointWeighting::automatic;
    if (s.weights_text == "equal") {
        weighting = JointWeighting::equal;
    } else if (s.weights_text != "auto") {
        weighting = JointWeighting::given;
        for (const auto &w : split_commas(s.weights_text)) {
            given.push_back(std::strtod(w.c_str(), nullptr));
        }
        mpi::agree(world, given.size() == nmod,
                   "--weights has " + std::to_string(given.size()) + " values for " + std::to_string(nmod) +
                       " modalities");
    }
    const std::vector<double> weights = joint_weights(mods, weighting, given);
    for (std::size_t v = 0; v < nmod; ++v) {
        mods[v].weight = weights[v];
    }
    std::vector<std::vector<std::string>> row_names(nmod);
    for (std::size_t v = 0; v < nmod; ++v) {
        const ModalitySource &src = study.modalities[v];
        if (!src.row_names.empty()) {
            row_names[v] = io::read_strings(world, {src.x.file, src.row_names});
            if (static_cast<gidx>(row_names[v].size()) != src.rows) {
                if (world.rank() == 0) {
                    std::cerr << program << ": warning: not copying " << src.row_names << ": "
                              << row_names[v].size() << " names for " << src.rows << " rows\n";
                }
                row_names[v].clear();
            }
        }
    }
    std::vector<std::string> labels;
    if (!s.labels.empty()) {
        labels = io::read_strings(world, {study.modalities.front().x.file, s.labels});
        mpi::agree(world, static_cast<gidx>(labels.size()) == study.samples,
                   in_quotes(study.modalities.front().x.file) + ":" + s.labels + " has " +
                       std::to_string(labels.size()) + " labels for " + std::to_string(study.samples) +
                       " samples");
    }

    const bool root_prints = world.rank() == 0 && !s.quiet;
    std::vector<std::string> modality_names;
    for (const auto &src : study.modalities) {
        modality_names.push_back(src.name);
    }
    if (root_prints) {
        std::ostringstream head;
        head << program << ": " << to_string(s.algorithm) << ", k = " << s.k << ", " << nmod
             << " modalities x " << study.samples << " samples (" << (s.use_float ? "float" : "double")
             << "), grid " << grid.shape_string() << " on " << world.size() << " ranks x " << openmp_threads()
             << " threads, block " << s.mb << "x" << s.nb << ", init random (seed " << s.seed << "), weights "
             << s.weights_text << "\n";
        for (std::size_t v = 0; v < nmod; ++v) {
            const auto observed = mods[v].observed.empty()
                                      ? study.samples
                                      : std::count(mods[v].observed.begin(), mods[v].observed.end(), 1);
            head << "  " << std::left << std::setw(20) << modality_names[v] << std::right << std::setw(8)
                 << study.modalities[v].rows << " features, " << observed << " samples, weight "
                 << std::setprecision(4) << weights[v] << (transformed[v] ? ", log1p" : "") << "\n";
        }
        std::cout << head.str() << std::flush;
    }
    std::string extra_header;
    for (const auto &name : modality_names) {
        extra_header += "  " + name.substr(0, 12);
    }
    ProgressLog log(world, s, extra_header);

    const Identity identity = joint_identity(world, s, study, mods, transformed);
    std::vector<Factor<T>> w = make_joint_w(mods, s.k);
    Factor<T> ht(*mods.front().x, FactorSide::ht, s.k);
    std::vector<Factor<T> *> w_in;
    std::vector<const Factor<T> *> w_out;
    for (auto &f : w) {
        w_in.push_back(&f);
        w_out.push_back(&f);
    }
    ResumeState resume;
    if (s.resume) {
        resume = load_resume_state(world, s, identity, nmod);
        io::read_checkpoint_factors<T>(s.checkpoint, w_in, ht);
        if (root_prints) {
            std::cout << program << ": resuming from " << s.checkpoint << " after iteration "
                      << resume.iterations << "\n"
                      << std::flush;
        }
    } else {
        initialize_random_joint(mods, w, ht, static_cast<std::uint64_t>(s.seed), origins);
    }

    JointOptions opts;
    opts.algorithm = s.algorithm;
    opts.max_iter = s.max_iter;
    opts.tol = s.tol;
    opts.max_seconds = s.max_time;
    opts.h = s.h;
    std::map<int, IterationReport> reports;
    opts.on_iteration = [&](const IterationReport &r) { reports[r.iteration] = r; };
    // Per-modality errors of an iteration arrive one iteration later: the log line waits for them (a resumed
    // run gets those of the checkpoint's iteration, whose line the interrupted run could not print).
    opts.on_modality_errors = [&](int it, const std::vector<double> &errors) {
        std::ostringstream extra;
        extra << std::fixed << std::setprecision(6);
        for (double e : errors) {
            extra << std::setw(14) << e;
        }
        const auto r = reports.find(it);
        if (r != reports.end()) {
            log.iteration(r->second, extra.str());
            reports.erase(r);
        }
    };
    opts.resume = resume;
    set_checkpointing(opts, world, program, s, job_deadline_seconds(world, s, t_start_epoch),
                      [&](const ResumeState &state) {
                          io::write_checkpoint<T>(grid.comm(), s.checkpoint, w_out, ht,
                                                  to_record(identity, state, nmod));
                      });
    const JointInfo info = joint_nmf(mods, w, ht, opts);
    if (info.stop_reason == "interrupted" || info.stop_reason == "deadline") {
        report_stopped(world, program, s, info);
        return drivers::exit_stopped;
    }
    const std::vector<double> errors = joint_relative_errors_exact(mods, w, ht);
    if (s.permute) { // back to the files' order (rows of each modality, the study's sample order)
        for (std::size_t v = 0; v < nmod; ++v) {
            w[v] = relabel_rows(w[v], origins[v].rows);
        }
        ht = relabel_rows(ht, origins.front().cols);
    }
    const auto best = top_samples(world, ht, s.top);
    const std::vector<int> clusters =
        labels.empty() ? std::vector<int>{} : sample_clusters(world, mods, w, ht);

    if (s.output_format == "h5mu") {
        double wall = MPI_Wtime() - t_start;
        mpi::bcast(world, &wall, 1, 0);
        std::vector<std::string> samples = study.sample_names;
        for (gidx j = static_cast<gidx>(samples.size()); j < study.samples; ++j) {
            samples.push_back("sample" + std::to_string(j));
        }
        std::vector<io::AnnDataElement> elements(nmod);
        for (std::size_t v = 0; v < nmod; ++v) {
            io::AnnDataElement &e = elements[v];
            e.group = "/mod/" + modality_names[v];
            for (gidx j = 0; j < study.samples; ++j) {
                if (mods[v].observed.empty() || study.modalities[v].file_col.empty() ||
                    study.modalities[v].file_col[static_cast<std::size_t>(j)] >= 0) {
                    e.obs_names.push_back(samples[static_cast<std::size_t>(j)]);
                }
            }
            e.var_names = row_names[v];
            for (gidx i = static_cast<gidx>(e.var_names.size()); i < study.modalities[v].rows; ++i) {
                e.var_names.push_back("feature" + std::to_string(i));
            }
            e.varm = {"NMF"};
            e.uns.numbers = {{"relative_error", errors[v]}, {"weight", weights[v]}};
            e.uns.strings = {{"input", study.modalities[v].source.label()},
                             {"transform", transformed[v] ? "log1p" : "none"}};
        }
        io::UnsValues uns;
        uns.numbers = {{"relative_error", info.relative_error},
                       {"iterations", static_cast<double>(info.iterations)},
                       {"converged", info.converged ? 1.0 : 0.0},
                       {"rank", static_cast<double>(s.k)},
                       {"seed", static_cast<double>(s.seed)},
                       {"nprocs", static_cast<double>(world.size())},
                       {"wall_seconds", wall}};
        uns.strings = {{"algorithm", to_string(s.algorithm)}, {"stop_reason", info.stop_reason},
                       {"grid", grid.shape_string()},         {"command_line", s.command_line},
                       {"modalities", join(modality_names)},  {"weighting", s.weights_text}};
        uns.arrays = {{"weights", weights},
                      {"history_relative_error", info.history_relative_error},
                      {"history_seconds", info.history_seconds}};
        write_atomically(
            world, s.output, s.force,
            [&](io::Writer &out) {
                io::write_factor_rows(out, "/obsm/X_nmf", ht);
                for (std::size_t v = 0; v < nmod; ++v) {
                    io::write_factor_rows(out, "/mod/" + modality_names[v] + "/varm/NMF", w[v]);
                }
            },
            [&](const std::string &tmp) {
                io::finish_mudata(tmp, modality_names, elements, samples, {"X_nmf"}, uns);
            });
    } else
        write_atomically(world, s.output, s.force, [&](io::Writer &out) {
            io::write_factor(out, "/H", ht);
            if (!study.sample_names.empty()) {
                out.write_strings("/sample_names", study.sample_names);
            }
            for (std::size_t v = 0; v < nmod; ++v) {
                const std::string name = modality_names[v];
                io::write_factor(out, "/W/" + name, w[v]);
                if (!row_names[v].empty()) {
                    out.write_strings("/row_names/" + name, row_names[v]);
                }
                out.write_vector("/history/modality_relative_error/" + name,
                                 info.history_modality_relative_error[v]);
                out.write_attribute("relative_error", errors[v], "/W/" + name);
                out.write_attribute("weight", weights[v], "/W/" + name);
                out.write_attribute("input", study.modalities[v].x.str(), "/W/" + name);
                out.write_attribute("transform", std::string(transformed[v] ? "log1p" : "none"),
                                    "/W/" + name);
                out.write_attribute("observed_samples",
                                    static_cast<std::int64_t>(mods[v].observed.empty()
                                                                  ? study.samples
                                                                  : std::count(mods[v].observed.begin(),
                                                                               mods[v].observed.end(), 1)),
                                    "/W/" + name);
            }
            out.write_vector("/weights", weights);
            out.write_vector("/history/relative_error", info.history_relative_error);
            out.write_vector("/history/seconds", info.history_seconds);
            write_run_attributes(out, s, grid, info, info.relative_error, t_start);
            out.write_attribute("input", join(s.inputs));
            out.write_attribute("modalities", join(modality_names));
            std::ostringstream weight_text;
            weight_text << std::setprecision(17);
            for (std::size_t v = 0; v < nmod; ++v) {
                weight_text << (v ? "," : "") << weights[v];
            }
            out.write_attribute("weights", weight_text.str());
            out.write_attribute("weighting", s.weights_text);
            out.write_attribute("sample_patterns", std::int64_t{info.sample_patterns});
        });

    if (root_prints) {
        std::ostringstream summary;
        // info.seconds is this run's time: after a resume it covers only the iterations run since.
        const int run_iterations = info.iterations - resume.iterations;
        const double per_iteration = run_iterations > 0 ? info.seconds / run_iterations : 0.0;
        summary << program << ": " << info.iterations << " iterations (" << info.stop_reason << "), "
                << seconds_string(per_iteration) << " s/iteration, wall "
                << seconds_string(MPI_Wtime() - t_start) << " s; weighted relative error "
                << std::setprecision(6) << info.relative_error << "\n";
        summary << "fit per modality (||X_v - W_v H|| / ||X_v|| over observed samples):\n";
        for (std::size_t v = 0; v < nmod; ++v) {
            summary << "  " << std::left << std::setw(20) << modality_names[v] << std::right << std::fixed
                    << std::setprecision(4) << errors[v] << std::defaultfloat << "\n";
        }
        if (s.top > 0) {
            summary << "samples most loaded on each factor (H value):\n";
            for (gidx l = 0; l < s.k; ++l) {
                summary << "  factor " << l + 1 << ":";
                for (const auto &[value, j] : best[l]) {
                    const std::string who =
                        study.sample_names.empty() ? "#" + std::to_string(j) : study.sample_names[j];
                    summary << " " << who << " (" << std::setprecision(3) << value << ")";
                }
                summary << "\n";
            }
        }
        if (!labels.empty()) {
            std::vector<std::string> assigned;
            std::map<std::string, std::map<std::string, int>> table;
            std::set<std::string> classes;
            for (std::size_t j = 0; j < clusters.size(); ++j) {
                assigned.push_back(clusters[j] < 0 ? "none" : "factor " + std::to_string(clusters[j] + 1));
                table[assigned.back()][labels[j]] += 1;
                classes.insert(labels[j]);
            }
            summary << "clusters (argmax of each sample's weighted factor loadings) against " << s.labels
                    << ": adjusted Rand index " << std::fixed << std::setprecision(3)
                    << adjusted_rand_index(assigned, labels) << std::defaultfloat << "\n";
            summary << "  " << std::setw(10) << "";
            for (const auto &c : classes) {
                summary << std::setw(std::max<int>(8, static_cast<int>(c.size()) + 2)) << c;
            }
            summary << "\n";
            for (const auto &[cluster, row] : table) {
                summary << "  " << std::left << std::setw(10) << cluster << std::right;
                for (const auto &c : classes) {
                    const auto it = row.find(c);
                    summary << std::setw(std::max<int>(8, static_cast<int>(c.size()) + 2))
                            << (it == row.end() ? 0 : it->second);
                }
                summary << "\n";
            }
        }
        if (s.output_format == "h5mu") {
            summary << program << ": wrote " << s.output << ": MuData, /obsm/X_nmf " << study.samples << " x "
                    << s.k << ", /mod/<modality>/varm/NMF, obs / var names, uns['prism']\n";
        } else {
            summary << program << ": wrote " << s.output << ": /H " << s.k << " x " << study.samples
                    << ", /W/<modality>, /row_names/<modality>, /sample_names, /history\n";
        }
        std::cout << summary.str() << std::flush;
    }
    return exit_ok;
}

int run(const mpi::Comm &world, int argc, char **argv) {
    const double t_start = MPI_Wtime();
    const auto t_start_epoch = static_cast<double>(std::time(nullptr));
    Settings s;
    if (!parse_settings(world, argc, argv, s)) {
        return exit_ok;
    }
    check_output_path(world, s.output, s.force);
    check_checkpoint_path(world, s);
    std::vector<std::string> input_files;
    for (const std::string &text : s.inputs) {
        input_files.push_back(io::parse_dataset_path(text).file);
    }
    check_distinct_files(world, input_files, s.output, s.checkpoint);
    const bool study_file = s.names.empty();
    const bool mudata = study_file && io::is_mudata(world, s.inputs[0]);
    const Study study = mudata       ? study_from_mudata(world, s)
                        : study_file ? study_from_file(world, s)
                                     : study_from_pairs(world, s);
    mpi::agree(
        world,
        !s.labels.empty() ? io::dataset_exists(world, study.modalities.front().x.file, s.labels) : true,
        in_quotes(study.modalities.front().x.file) + ": no dataset " + in_quotes(s.labels) + " for --labels");
    return s.use_float ? factorize<float>(world, s, study, t_start, t_start_epoch)
                       : factorize<double>(world, s, study, t_start, t_start_epoch);
}

} // namespace

int main(int argc, char **argv) {
    // Before MPI_Init: a batch system's warning signal can arrive while MPI starts up (seen under Slurm with
    // short time limits), and the default action would kill this rank without a checkpoint.
    install_stop_handlers();
    return run_driver(program, argc, argv, [&](const mpi::Comm &world) { return run(world, argc, argv); });
}
