#include "prism/io/input_source.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "prism/io/hdf5_matrix.hpp"
#include "prism/io/matrix_market.hpp"
#include "prism/io/transposed_reader.hpp"
#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join_path(const std::string &group, const std::string &name) {
    return (group == "/" || group.empty() ? "" : group) + "/" + name;
}

// ------------------------------------------------------------------ serial metadata helpers (rank 0)

// gzip magic bytes (1f 8b): 10x ships matrix.mtx.gz, and HDF5 would only say "not HDF5".
bool is_gzip(const std::string &file) {
    std::ifstream in(file, std::ios::binary);
    unsigned char magic[2] = {0, 0};
    in.read(reinterpret_cast<char *>(magic), 2);
    return (in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b) || ends_with(file, ".gz");
}

Hid open_serial(const std::string &file) {
    silence_hdf5_errors();
    if (!std::filesystem::exists(file)) {
        throw Error(in_quotes(file) + ": no such file");
    }
    if (std::filesystem::is_directory(file)) {
        throw Error(in_quotes(file) + ": is a directory, not a data file");
    }
    if (is_gzip(file)) {
        throw Error(in_quotes(file) +
                    ": gzip-compressed files are not supported; decompress it first (gunzip " + file + ")");
    }
    Hid f = file_hid(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!f.valid()) {
        throw Error(in_quotes(file) + ": not a readable HDF5 file (corrupt, truncated, or another format)");
    }
    return f;
}

enum class Kind { none, dataset, group };

Kind kind_of(hid_t file, const std::string &path) {
    if (path == "/" || path.empty()) {
        return Kind::group;
    }
    std::size_t pos = 0;
    while (true) {
        pos = path.find('/', pos + 1);
        if (H5Lexists(file, path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) {
            return Kind::none;
        }
        if (pos == std::string::npos) {
            break;
        }
    }
    H5O_info_t info{};
#if H5_VERSION_GE(1, 12, 0)
    const herr_t status = H5Oget_info_by_name3(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    const herr_t status = H5Oget_info_by_name2(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    if (status < 0) {
        return Kind::none;
    }
    return info.type == H5O_TYPE_DATASET ? Kind::dataset
           : info.type == H5O_TYPE_GROUP ? Kind::group
                                         : Kind::none;
}

// A scalar (or one-element) string attribute, fixed or variable length; "" with found = false if absent.
std::string string_attribute(hid_t file, const std::string &object, const std::string &key, bool &found) {
    found = false;
    if (H5Aexists_by_name(file, object.c_str(), key.c_str(), H5P_DEFAULT) <= 0) {
        return "";
    }
    Hid attr = attr_hid(H5Aopen_by_name(file, object.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT));
    Hid type = type_hid(H5Aget_type(attr.get()));
    if (!attr.valid() || H5Tget_class(type.get()) != H5T_STRING) {
        return "";
    }
    Hid space = space_hid(H5Aget_space(attr.get()));
    if (H5Sget_simple_extent_npoints(space.get()) != 1) {
        return "";
    }
    Hid mem = type_hid(H5Tcopy(H5T_C_S1));
    H5Tset_cset(mem.get(), H5Tget_cset(type.get())); // HDF5 does not convert between character sets
    std::string value;
    if (H5Tis_variable_str(type.get()) > 0) {
        H5Tset_size(mem.get(), H5T_VARIABLE);
        char *raw = nullptr;
        if (H5Aread(attr.get(), mem.get(), &raw) < 0) {
            return "";
        }
        value = raw ? raw : "";
        H5free_memory(raw);
    } else {
        const std::size_t width = H5Tget_size(type.get());
        H5Tset_size(mem.get(), width);
        std::vector<char> raw(width + 1, '\0');
        if (H5Aread(attr.get(), mem.get(), raw.data()) < 0) {
            return "";
        }
        value.assign(raw.data(), strnlen(raw.data(), width));
    }
    found = true;
    return value;
}

std::string string_attribute(hid_t file, const std::string &object, const std::string &key) {
    bool found = false;
    return string_attribute(file, object, key, found);
}

// The integers of a 1-D integer attribute or dataset; empty if absent or not integer.
std::vector<gidx> integers(hid_t file, const std::string &object, const std::string &key, bool attribute) {
    Hid obj, space;
    hid_t id = -1;
    if (attribute) {
        if (H5Aexists_by_name(file, object.c_str(), key.c_str(), H5P_DEFAULT) <= 0) {
            return {};
        }
        obj = attr_hid(H5Aopen_by_name(file, object.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT));
        id = obj.get();
        space = space_hid(H5Aget_space(id));
    } else {
        const std::string path = join_path(object, key);
        if (kind_of(file, path) != Kind::dataset) {
            return {};
        }
        obj = dataset_hid(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
        id = obj.get();
        space = space_hid(H5Dget_space(id));
    }
    Hid type = type_hid(attribute ? H5Aget_type(id) : H5Dget_type(id));
    if (H5Tget_class(type.get()) != H5T_INTEGER) {
        return {};
    }
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    std::vector<gidx> values(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
    if (n > 0) {
        const herr_t s = attribute
                             ? H5Aread(id, H5T_NATIVE_INT64, values.data())
                             : H5Dread(id, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
        if (s < 0) {
            return {};
        }
    }
    return values;
}

std::vector<gidx> dataset_dims(hid_t file, const std::string &path) {
    Hid d = dataset_hid(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
    Hid space = space_hid(H5Dget_space(d.get()));
    const int nd = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(nd, 0)));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return std::vector<gidx>(dims.begin(), dims.end());
}

gidx length_of(hid_t file, const std::string &path) {
    const auto dims = dataset_dims(file, path);
    return dims.size() == 1 ? dims[0] : -1;
}

// A CSR/CSC group: which one, and its stored shape.
void describe_compressed(hid_t file, InputSource &src, bool tenx) {
    const std::string &g = src.object;
    const std::string where = in_quotes(src.file) + ":" + g;
    CompressedGroup &c = src.compressed;
    c.file = src.file;
    c.group = g;
    bool found = false;
    const std::string encoding = string_attribute(file, g, "encoding-type", found);
    if (found) {
        if (encoding != "csr_matrix" && encoding != "csc_matrix") {
            throw Error(where + ": encoding-type is " + in_quotes(encoding) +
                        "; a sparse matrix group has csr_matrix or csc_matrix");
        }
        c.by_rows = encoding == "csr_matrix";
    } else if (const std::string h5sparse = string_attribute(file, g, "h5sparse_format", found); found) {
        if (h5sparse != "csr" && h5sparse != "csc") {
            throw Error(where + ": h5sparse_format is " + in_quotes(h5sparse) + "; expected csr or csc");
        }
        c.by_rows = h5sparse == "csr";
    } else if (tenx) {
        c.by_rows = false; // 10x stores CSC, genes x cells
    } else {
        throw Error(where +
                    " is a group but not a recognised sparse matrix: give it the attribute encoding-type = "
                    "csr_matrix or csc_matrix (AnnData's convention), or name a dataset");
    }
    std::vector<gidx> shape = integers(file, g, "shape", true);
    if (shape.empty()) {
        shape = integers(file, g, "shape", false);
    }
    if (shape.size() != 2) {
        throw Error(where +
                    ": no valid 'shape' (a 2-element integer attribute or dataset) for the sparse matrix");
    }
    if (shape[0] < 0 || shape[1] < 0) {
        throw Error(where + ": shape " + std::to_string(shape[0]) + " x " + std::to_string(shape[1]) +
                    " is negative");
    }
    c.stored_rows = shape[0];
    c.stored_cols = shape[1];
    src.sparse = true;
}

// The AnnData in `group`: its matrix `x` (X, a layer, or raw/X; cells x genes like X) with the cell
// names of group/obs and the gene names of `var_frame` (group/var, or group/raw/var for raw/X).
void describe_anndata_local(
    hid_t file, InputSource &src, const std::string &group, std::string x = "", std::string var_frame = "") {
    if (x.empty()) {
        x = join_path(group, "X");
    }
    if (var_frame.empty()) {
        var_frame = join_path(group, "var");
    }
    const std::string where = in_quotes(src.file) + (group == "/" ? "" : ":" + group);
    const std::string what = // "X", "layers/counts", "raw/X"
        x == join_path(group, "X") ? std::string("X") : x.substr(group == "/" ? 1 : group.size() + 1);
    src.format = InputFormat::anndata;
    src.object = x;
    src.transpose = true;
    gidx n_obs = 0, n_vars = 0;
    switch (kind_of(file, x)) {
    case Kind::none:
        throw Error(where + ": AnnData has no " + what + " (nothing to factorize)");
    case Kind::dataset: {
        const auto dims = dataset_dims(file, x);
        if (dims.size() != 2) {
            throw Error(in_quotes(src.file) + ":" + x + " has " + std::to_string(dims.size()) +
                        " dimensions; expected a 2-D cells x genes matrix");
        }
        n_obs = dims[0];
        n_vars = dims[1];
        break;
    }
    case Kind::group: {
        bool found = false;
        const std::string encoding = string_attribute(file, x, "encoding-type", found);
        if (!found) {
            throw Error(in_quotes(src.file) + ":" + x + ": sparse " + what +
                        " has no encoding-type attribute (csr_matrix or csc_matrix)");
        }
        describe_compressed(file, src, false);
        n_obs = src.compressed.stored_rows;
        n_vars = src.compressed.stored_cols;
        break;
    }
    }
    src.rows = n_vars;
    src.cols = n_obs;
    // Names: the obs / var dataframes' index (named by their _index attribute).
    for (const auto &[frame, expected, target] :
         {std::make_tuple(join_path(group, "obs"), n_obs, &src.col_names),
          std::make_tuple(var_frame, n_vars, &src.row_names)}) {
        const std::string &df = frame;
        if (kind_of(file, df) != Kind::group) {
            continue;
        }
        bool found = false;
        std::string index = string_attribute(file, df, "_index", found);
        if (!found) {
            index = "_index";
        }
        const std::string path = join_path(df, index);
        if (kind_of(file, path) != Kind::dataset) {
            throw Error(in_quotes(src.file) + ":" + df + ": its index " + in_quotes(index) +
                        " is not a dataset");
        }
        const gidx length = length_of(file, path);
        if (length != expected) {
            throw Error(in_quotes(src.file) + ":" + path + " has " + std::to_string(length) + " names but " +
                        what + " is " + std::to_string(n_obs) + " x " + std::to_string(n_vars) +
                        " (n_obs x n_vars): shape mismatch");
        }
        *target = path;
    }
    src.orientation = src.label() + ": AnnData " + what + " is cells x genes (" + std::to_string(n_obs) +
                      " x " + std::to_string(n_vars) +
                      (src.sparse ? (src.compressed.by_rows ? ", CSR" : ", CSC") : ", dense") +
                      "); factorizing its transpose, genes x cells (" + std::to_string(n_vars) + " x " +
                      std::to_string(n_obs) + ")";
}

void describe_tenx(hid_t file, InputSource &src, const std::string &group) {
    src.format = InputFormat::tenx;
    src.object = group;
    describe_compressed(file, src, true);
    src.rows = src.compressed.stored_rows;
    src.cols = src.compressed.stored_cols;
    const std::string where = in_quotes(src.file) + ":" + group;
    const std::string barcodes = join_path(group, "barcodes");
    if (kind_of(file, barcodes) == Kind::dataset) {
        if (length_of(file, barcodes) != src.cols) {
            throw Error(in_quotes(src.file) + ":" + barcodes + " has " +
                        std::to_string(length_of(file, barcodes)) + " barcodes for " +
                        std::to_string(src.cols) + " cells (shape mismatch)");
        }
        src.col_names = barcodes;
    }
    for (const std::string candidate : {"features/name", "features/id", "gene_names", "genes"}) {
        const std::string path = join_path(group, candidate);
        if (kind_of(file, path) == Kind::dataset) {
            if (length_of(file, path) != src.rows) {
                throw Error(in_quotes(src.file) + ":" + path + " has " +
                            std::to_string(length_of(file, path)) + " names for " + std::to_string(src.rows) +
                            " features (shape mismatch)");
            }
            if (src.row_names.empty()) {
                src.row_names = path;
            }
        }
    }
    src.orientation = where + ": 10x feature-barcode matrix, genes x cells (" + std::to_string(src.rows) +
                      " x " + std::to_string(src.cols) + ", CSC), factorized as stored";
}

bool is_tenx_group(hid_t file, const std::string &group) {
    return kind_of(file, join_path(group, "indptr")) == Kind::dataset &&
           kind_of(file, join_path(group, "shape")) == Kind::dataset &&
           kind_of(file, join_path(group, "barcodes")) == Kind::dataset;
}

// The root groups holding data, indices, indptr and shape (10x v2 genome groups).
std::vector<std::string> tenx_v2_genomes(hid_t file) {
    std::vector<std::string> genomes;
    H5G_info_t info;
    if (H5Gget_info(file, &info) < 0) {
        return genomes;
    }
    for (hsize_t k = 0; k < info.nlinks; ++k) {
        const ssize_t n =
            H5Lget_name_by_idx(file, "/", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT);
        if (n <= 0) {
            continue;
        }
        std::string name(static_cast<std::size_t>(n) + 1, '\0');
        H5Lget_name_by_idx(file, "/", H5_INDEX_NAME, H5_ITER_INC, k, name.data(), name.size(), H5P_DEFAULT);
        name.resize(static_cast<std::size_t>(n));
        const std::string g = "/" + name;
        bool complete = kind_of(file, g) == Kind::group;
        for (const char *field : {"data", "indices", "indptr", "shape"}) {
            complete = complete && kind_of(file, join_path(g, field)) == Kind::dataset;
        }
        if (complete) {
            genomes.push_back(name);
        }
    }
    return genomes;
}

bool is_anndata_group(hid_t file, const std::string &group) {
    return kind_of(file, join_path(group, "X")) != Kind::none &&
           kind_of(file, join_path(group, "obs")) != Kind::none &&
           kind_of(file, join_path(group, "var")) != Kind::none;
}

void describe_hdf5_object(hid_t file, InputSource &src, const std::string &object) {
    src.object = object;
    const std::string parent = object.substr(0, object.find_last_of('/'));
    // FILE.h5ad:/X (or FILE.h5mu:/mod/rna/X) names an AnnData's X: oriented and named as the AnnData.
    const std::string owner = parent.empty() ? "/" : parent;
    if (object.size() >= 2 && object.compare(object.size() - 2, 2, "/X") == 0 &&
        is_anndata_group(file, owner) && kind_of(file, join_path(owner, "obs")) == Kind::group) {
        describe_anndata_local(file, src, owner);
        return;
    }
    // An AnnData's layers (OWNER/layers/NAME) and raw counts (OWNER/raw/X) are cells x genes like X:
    // transposed, with X's cell names and, for raw/X, raw's own gene names (raw/var).
    const auto anndata_owner = [&](const std::string &suffix_dir) -> std::string {
        const std::size_t at = object.rfind(suffix_dir);
        if (at == std::string::npos || object.find('/', at + suffix_dir.size()) != std::string::npos ||
            at + suffix_dir.size() == object.size()) {
            return "";
        }
        const std::string g = at == 0 ? "/" : object.substr(0, at);
        return is_anndata_group(file, g) && kind_of(file, join_path(g, "obs")) == Kind::group ? g : "";
    };
    if (const std::string g = anndata_owner("/layers/"); !g.empty() && kind_of(file, object) != Kind::none) {
        describe_anndata_local(file, src, g, object);
        return;
    }
    if (const std::string g = anndata_owner("/raw/");
        !g.empty() && object == join_path(g, "raw/X") && kind_of(file, object) != Kind::none) {
        describe_anndata_local(file, src, g, object, join_path(g, "raw/var"));
        return;
    }
    switch (kind_of(file, object)) {
    case Kind::none: {
        std::string found;
        for (const auto &name : list_members(file, owner, 8)) { // what the user may have meant
            found += (found.empty() ? "" : ", ") + name;
        }
        throw Error(in_quotes(src.file) + ": no dataset " + in_quotes(object) +
                    " (nor a sparse matrix group of that name" + (found.empty() ? "" : "; found: " + found) +
                    ")");
    }
    case Kind::dataset: {
        const auto dims = dataset_dims(file, object);
        src.format = InputFormat::hdf5_dense;
        if (dims.size() == 2) {
            src.rows = dims[0];
            src.cols = dims[1];
        }
        break;
    }
    case Kind::group:
        if (is_anndata_group(file, object)) {
            describe_anndata_local(file, src, object);
            return;
        }
        if (is_tenx_group(file, object)) {
            describe_tenx(file, src, object);
            return;
        }
        src.format = InputFormat::hdf5_sparse;
        describe_compressed(file, src, false);
        src.rows = src.compressed.stored_rows;
        src.cols = src.compressed.stored_cols;
        src.orientation = src.label() + ": " + (src.compressed.by_rows ? "CSR" : "CSC") + " group, " +
                          std::to_string(src.rows) + " x " + std::to_string(src.cols) +
                          ", factorized as stored";
        for (const auto &[name, target, expected] :
             {std::make_tuple(std::string("row_names"), &src.row_names, src.rows),
              std::make_tuple(std::string("col_names"), &src.col_names, src.cols)}) {
            const std::string path = parent + "/" + name;
            if (kind_of(file, path) == Kind::dataset && length_of(file, path) == expected) {
                *target = path;
            }
        }
        return;
    }
}

// Every field of an InputSource, rank 0 -> all ranks.
void share(const mpi::Comm &comm, InputSource &src) {
    std::vector<std::string *> strings = {
        &src.file,      &src.object,    &src.compressed.file, &src.compressed.group,
        &src.row_names, &src.col_names, &src.orientation};
    for (std::string *s : strings) {
        std::int64_t n = static_cast<std::int64_t>(s->size());
        mpi::bcast(comm, &n, 1, 0);
        s->resize(static_cast<std::size_t>(n));
        if (n > 0) {
            mpi::bcast(comm, s->data(), n, 0);
        }
    }
    std::int64_t ints[9] = {static_cast<std::int64_t>(src.format),
                            src.sparse,
                            src.compressed.by_rows,
                            src.compressed.stored_rows,
                            src.compressed.stored_cols,
                            src.compressed.sorted_required,
                            src.transpose,
                            src.rows,
                            src.cols};
    mpi::bcast(comm, ints, 9, 0);
    src.format = static_cast<InputFormat>(ints[0]);
    src.sparse = ints[1] != 0;
    src.compressed.by_rows = ints[2] != 0;
    src.compressed.stored_rows = ints[3];
    src.compressed.stored_cols = ints[4];
    src.compressed.sorted_required = ints[5] != 0;
    src.transpose = ints[6] != 0;
    src.rows = ints[7];
    src.cols = ints[8];
}

} // namespace

std::string to_string(InputFormat f) {
    switch (f) {
    case InputFormat::hdf5_dense:
        return "hdf5";
    case InputFormat::hdf5_sparse:
        return "hdf5 sparse group";
    case InputFormat::tenx:
        return "10x";
    case InputFormat::anndata:
        return "h5ad";
    case InputFormat::matrix_market:
        return "mtx";
    }
    return "unknown";
}

InputSource describe_input(const mpi::Comm &comm, const std::string &text) {
    InputSource src;
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        const bool explicit_object = !std::filesystem::exists(text) && text.find(':') != std::string::npos;
        const DatasetPath path = parse_dataset_path(text);
        src.file = path.file;
        if (!explicit_object && (ends_with(text, ".mtx") || (std::filesystem::is_regular_file(text) &&
                                                             looks_like_matrix_market(text)))) {
            src.format = InputFormat::matrix_market;
            src.sparse = true;
            src.file = text;
            std::ifstream probe(text);
            if (!probe) {
                throw Error(in_quotes(text) + ": no such file (or not readable)");
            }
            return; // the shape is read collectively below
        }
        Hid f = open_serial(src.file);
        if (explicit_object) {
            describe_hdf5_object(f.get(), src, path.dataset);
        } else if (string_attribute(f.get(), "/", "encoding-type") == "MuData" ||
                   (ends_with(src.file, ".h5mu") && kind_of(f.get(), "/mod") == Kind::group)) {
            throw Error(in_quotes(src.file) +
                        " is a MuData file (several modalities): use prism-joint --input " + src.file +
                        ", or pick one modality with " + src.file + ":/mod/NAME");
        } else if (string_attribute(f.get(), "/", "encoding-type") == "anndata" ||
                   ends_with(src.file, ".h5ad")) {
            describe_anndata_local(f.get(), src, "/");
        } else if (is_tenx_group(f.get(), "/matrix")) {
            describe_tenx(f.get(), src, "/matrix");
        } else if (kind_of(f.get(), path.dataset) == Kind::none) {
            // 10x v2 (Cell Ranger 2) keeps one matrix group per genome (/GRCh38, /mm10) at the root.
            const std::vector<std::string> genomes = tenx_v2_genomes(f.get());
            if (!genomes.empty()) {
                std::string list;
                for (const auto &g : genomes) {
                    list += (list.empty() ? "/" : ", /") + g;
                }
                throw Error(in_quotes(src.file) + ": no dataset " + in_quotes(path.dataset) +
                            "; it looks like a 10x v2 file (genome groups: " + list +
                            "); name the genome group, e.g. " + src.file + ":/" + genomes.front());
            }
            describe_hdf5_object(f.get(), src, path.dataset);
        } else {
            describe_hdf5_object(f.get(), src, path.dataset);
        }
    });
    share(comm, src);
    if (src.format == InputFormat::matrix_market) {
        std::tie(src.rows, src.cols) = matrix_market_shape(comm, src.file);
        src.orientation = src.label() + ": MatrixMarket coordinate, " + std::to_string(src.rows) + " x " +
                          std::to_string(src.cols) +
                          ", factorized as stored (read by rank 0: for small data)";
    }
    return src;
}

InputSource describe_anndata(const mpi::Comm &comm, const std::string &file, const std::string &group) {
    InputSource src;
    mpi::agree_call(comm, [&] {
        if (comm.rank() == 0) {
            src.file = file;
            Hid f = open_serial(file);
            PRISM_CHECK(kind_of(f.get(), group) == Kind::group,
                        in_quotes(file) + ": no group " + in_quotes(group));
            describe_anndata_local(f.get(), src, group);
        }
    });
    share(comm, src);
    return src;
}

bool is_mudata(const mpi::Comm &comm, const std::string &file) {
    int yes = 0;
    mpi::agree_call(comm, [&] {
        if (comm.rank() == 0 && std::filesystem::is_regular_file(file) && !looks_like_matrix_market(file)) {
            Hid f = open_serial(file);
            yes = string_attribute(f.get(), "/", "encoding-type") == "MuData" ||
                  (ends_with(file, ".h5mu") && kind_of(f.get(), "/mod") == Kind::group);
        }
    });
    mpi::bcast(comm, &yes, 1, 0);
    return yes != 0;
}

std::vector<std::string> mudata_modalities(const mpi::Comm &comm, const std::string &file) {
    std::vector<std::string> names = read_string_attribute(comm, file, "/mod", "mod-order");
    if (names.empty()) {
        names = list_group(comm, file, "/mod");
    }
    mpi::agree(comm, !names.empty(), in_quotes(file) + ": MuData file without modalities under /mod");
    return names;
}

template <typename T>
SparseDistMatrix<T> read_sparse_source(const Grid &grid,
                                       const InputSource &src,
                                       gidx mb,
                                       gidx nb,
                                       const std::vector<gidx> &row_map,
                                       const std::vector<gidx> &col_map,
                                       gidx cols) {
    if (src.format == InputFormat::matrix_market) {
        return read_matrix_market<T>(grid, src.file, mb, nb, row_map, col_map, src.rows,
                                     cols >= 0 ? cols : src.cols);
    }
    Orientation o;
    o.transpose = src.transpose;
    o.row_map = row_map;
    o.col_map = col_map;
    o.rows = src.rows;
    o.cols = cols >= 0 ? cols : src.cols;
    return read_compressed<T>(grid, src.compressed, o, mb, nb);
}

template <typename T>
DistMatrix<T> read_dense_source(
    const Grid &grid, const InputSource &src, gidx mb, gidx nb, const std::vector<gidx> &file_col) {
    const DatasetPath path{src.file, src.object};
    if (src.transpose) {
        return read_matrix_transposed<T>(grid, path, mb, nb, file_col);
    }
    return file_col.empty() ? read_matrix<T>(grid, path, mb, nb)
                            : read_matrix_columns<T>(grid, path, file_col, mb, nb);
}

std::vector<std::string>
read_unique_names(const mpi::Comm &comm, const std::string &file, const std::string &dataset, gidx expected) {
    std::vector<std::string> names = read_strings(comm, {file, dataset});
    mpi::agree(comm, static_cast<gidx>(names.size()) == expected,
               in_quotes(file) + ":" + dataset + " has " + std::to_string(names.size()) +
                   " names, expected " + std::to_string(expected) + " (shape mismatch)");
    std::map<std::string, int> seen;
    std::string dups;
    std::size_t count = 0;
    for (const auto &n : names) {
        if (++seen[n] == 2) {
            if (++count <= 5) {
                dups += (dups.empty() ? "" : ", ") + in_quotes(n);
            }
        }
    }
    mpi::agree(comm, count == 0,
               in_quotes(file) + ":" + dataset + " has " + std::to_string(count) +
                   " duplicated names: " + dups);
    return names;
}

template SparseDistMatrix<double> read_sparse_source<double>(const Grid &,
                                                             const InputSource &,
                                                             gidx,
                                                             gidx,
                                                             const std::vector<gidx> &,
                                                             const std::vector<gidx> &,
                                                             gidx);
template SparseDistMatrix<float> read_sparse_source<float>(const Grid &,
                                                           const InputSource &,
                                                           gidx,
                                                           gidx,
                                                           const std::vector<gidx> &,
                                                           const std::vector<gidx> &,
                                                           gidx);
template DistMatrix<double>
read_dense_source<double>(const Grid &, const InputSource &, gidx, gidx, const std::vector<gidx> &);
template DistMatrix<float>
read_dense_source<float>(const Grid &, const InputSource &, gidx, gidx, const std::vector<gidx> &);

} // namespace prism::io
