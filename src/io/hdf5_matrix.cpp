#include "prism/io/hdf5_matrix.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "prism/io/chunk_unit_reader.hpp"
#include "prism/mpi/collectives.hpp"

namespace prism::io {

void silence_hdf5_errors() {
    static const bool done = [] {
        if (!std::getenv("PRISM_HDF5_DEBUG"))
            H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        return true;
    }();
    (void)done;
}

namespace {

void bcast_string(const mpi::Comm &comm, std::string &s, int root) {
    std::int64_t n = static_cast<std::int64_t>(s.size());
    mpi::bcast(comm, &n, 1, root);
    s.resize(static_cast<std::size_t>(n));
    if (n > 0) {
        mpi::bcast(comm, s.data(), n, root);
    }
}

void bcast_int64s(const mpi::Comm &comm, std::vector<gidx> &v, int root) {
    std::int64_t n = static_cast<std::int64_t>(v.size());
    mpi::bcast(comm, &n, 1, root);
    v.resize(static_cast<std::size_t>(n));
    if (n > 0) {
        mpi::bcast(comm, v.data(), n, root);
    }
}

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

// True if every component of `path` exists as a link (H5Lexists fails on a missing intermediate group).
bool path_exists(hid_t file, const std::string &path) {
    std::size_t pos = 0;
    while (true) {
        pos = path.find('/', pos + 1);
        const std::string prefix = path.substr(0, pos);
        if (!prefix.empty() && prefix != "/" && H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
            return false;
        }
        if (pos == std::string::npos) {
            return true;
        }
    }
}

std::string parent_group(const std::string &path) {
    const auto slash = path.find_last_of('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

void check_file_readable(const std::string &file) {
    if (!std::filesystem::exists(file)) {
        throw Error(in_quotes(file) + ": no such file");
    }
    if (std::filesystem::is_directory(file)) {
        throw Error(in_quotes(file) + ": is a directory, not an HDF5 file");
    }
    std::ifstream probe(file, std::ios::binary);
    if (!probe) {
        throw Error(in_quotes(file) + ": cannot be opened for reading (permissions?)");
    }
}

Hid open_file_serial(const std::string &file) {
    silence_hdf5_errors();
    check_file_readable(file);
    Hid f = file_hid(H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!f.valid()) {
        throw Error(in_quotes(file) + ": not a readable HDF5 file (corrupt, truncated, or another format)");
    }
    return f;
}

Hid open_dataset(hid_t file, const DatasetPath &path) {
    if (!path_exists(file, path.dataset)) {
        std::string hint;
        for (const auto &name : list_members(file, parent_group(path.dataset), 8)) {
            hint += (hint.empty() ? "" : ", ") + name;
        }
        throw Error(in_quotes(path.file) + ": no dataset " + in_quotes(path.dataset) +
                    (hint.empty() ? std::string() : " (found: " + hint + ")"));
    }
    H5O_info_t info{};
#if H5_VERSION_GE(1, 12, 0)
    const herr_t status =
        H5Oget_info_by_name3(file, path.dataset.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    const herr_t status =
        H5Oget_info_by_name2(file, path.dataset.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    if (status < 0 || info.type != H5O_TYPE_DATASET) {
        throw Error(in_quotes(path.file) + ": " + in_quotes(path.dataset) + " is a group, not a dataset");
    }
    Hid d = dataset_hid(H5Dopen2(file, path.dataset.c_str(), H5P_DEFAULT));
    if (!d.valid()) {
        throw Error(in_quotes(path.file) + ": cannot open dataset " + in_quotes(path.dataset) +
                    " (corrupt file?)");
    }
    return d;
}

std::string describe_type(hid_t type, bool &numeric) {
    const H5T_class_t cls = H5Tget_class(type);
    const std::size_t bytes = H5Tget_size(type);
    numeric = cls == H5T_INTEGER || cls == H5T_FLOAT;
    std::string name;
    switch (cls) {
    case H5T_INTEGER:
        name = (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * bytes);
        break;
    case H5T_FLOAT:
        name = "float" + std::to_string(8 * bytes);
        break;
    case H5T_STRING:
        return "string";
    case H5T_COMPOUND:
        return "compound";
    case H5T_ENUM:
        return "enum";
    default:
        return "non-numeric";
    }
    if (H5Tget_order(type) == H5T_ORDER_BE) {
        name += " (big-endian)";
    }
    return name;
}

DatasetInfo inspect_local(hid_t file, const DatasetPath &path) {
    Hid d = open_dataset(file, path);
    DatasetInfo info;
    Hid space = space_hid(H5Dget_space(d.get()));
    const int nd = H5Sget_simple_extent_ndims(space.get());
    if (nd < 0) {
        throw Error(in_quotes(path.file) + ": cannot read the shape of " + in_quotes(path.dataset));
    }
    std::vector<hsize_t> dims(static_cast<std::size_t>(nd));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    info.dims.assign(dims.begin(), dims.end());
    Hid type = type_hid(H5Dget_type(d.get()));
    info.type = describe_type(type.get(), info.numeric);
    Hid dcpl = plist_hid(H5Dget_create_plist(d.get()));
    if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
        std::vector<hsize_t> chunk(static_cast<std::size_t>(std::max(nd, 1)));
        H5Pget_chunk(dcpl.get(), nd, chunk.data());
        info.chunk.assign(chunk.begin(), chunk.begin() + nd);
    }
    const int nfilters = H5Pget_nfilters(dcpl.get());
    for (int i = 0; i < nfilters; ++i) {
        unsigned flags = 0;
        std::size_t nelements = 0;
        char name[64] = {0};
        const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelements,
                                               nullptr, sizeof name, name, nullptr);
        std::string label = id == H5Z_FILTER_DEFLATE      ? "deflate"
                            : id == H5Z_FILTER_SHUFFLE    ? "shuffle"
                            : id == H5Z_FILTER_FLETCHER32 ? "fletcher32"
                                                          : (name[0] ? name : "filter" + std::to_string(id));
        info.filters += (info.filters.empty() ? "" : "+") + label;
    }
    if (info.filters.empty()) {
        info.filters = "none";
    }
    return info;
}

// One dimension's block-cyclic selection on one process, as at most two regular hyperslab patterns:
// the full blocks (start, stride, count, block) and possibly the final partial block of the dimension.
struct Pattern {
    hsize_t start, stride, count, block;
};

// Patterns for local blocks [first_block, end_block) of `dist` on process `proc`.
std::vector<Pattern> block_patterns(const BlockCyclic &dist, int proc, lidx first_block, lidx end_block) {
    std::vector<Pattern> out;
    if (end_block <= first_block) {
        return out;
    }
    const gidx nb = dist.block();
    const gidx stride = nb * dist.procs();
    const gidx start = dist.to_global(first_block * nb, proc);
    const gidx last_start = dist.to_global((end_block - 1) * nb, proc);
    const bool last_partial = last_start + nb > dist.size();
    const lidx full = (end_block - first_block) - (last_partial ? 1 : 0);
    if (full > 0) {
        out.push_back({static_cast<hsize_t>(start), static_cast<hsize_t>(stride), static_cast<hsize_t>(full),
                       static_cast<hsize_t>(nb)});
    }
    if (last_partial) {
        out.push_back(
            {static_cast<hsize_t>(last_start), 1, 1, static_cast<hsize_t>(dist.size() - last_start)});
    }
    return out;
}

lidx local_blocks(lidx local_size, gidx block) {
    return (local_size + block - 1) / block;
}

// Selects rows(all local row blocks) x cols(local column blocks [b0, b1)) in `space`; returns false if empty.
bool select_blocks(hid_t space,
                   const BlockCyclic &rows,
                   int my_row,
                   lidx local_rows,
                   const BlockCyclic &cols,
                   int my_col,
                   lidx b0,
                   lidx b1) {
    const auto row_patterns = block_patterns(rows, my_row, 0, local_blocks(local_rows, rows.block()));
    const auto col_patterns = block_patterns(cols, my_col, b0, b1);
    H5Sselect_none(space);
    bool any = false;
    for (const auto &r : row_patterns) {
        for (const auto &c : col_patterns) {
            const hsize_t start[2] = {r.start, c.start}, stride[2] = {r.stride, c.stride};
            const hsize_t count[2] = {r.count, c.count}, block[2] = {r.block, c.block};
            H5Sselect_hyperslab(space, any ? H5S_SELECT_OR : H5S_SELECT_SET, start, stride, count, block);
            any = true;
        }
    }
    return any;
}

// Column rounds: each round moves whole local column blocks, at most ~`budget` elements of staging.
constexpr lidx staging_budget = lidx{1} << 23; // 8 Mi elements: 64 MiB of doubles

template <typename T> hid_t native_type();
template <> hid_t native_type<double>() {
    return H5T_NATIVE_DOUBLE;
}
template <> hid_t native_type<float>() {
    return H5T_NATIVE_FLOAT;
}

Hid mpio_fapl(const mpi::Comm &comm) {
    Hid fapl = plist_hid(H5Pcreate(H5P_FILE_ACCESS));
    H5Pset_fapl_mpio(fapl.get(), comm.get(), MPI_INFO_NULL);
    return fapl;
}

Hid collective_dxpl() {
    Hid dxpl = plist_hid(H5Pcreate(H5P_DATASET_XFER));
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
    return dxpl;
}

// Moves the local block between the file and the column-major local storage in rounds of whole column
// blocks, transposing through a row-major staging buffer (HDF5 iterates selections in row-major order).
template <typename T, typename Transfer>
void transfer_by_column_rounds(const DistMatrix<T> &a, Transfer &&transfer_round) {
    if (a.rows() == 0 || a.cols() == 0) { // nothing stored; HDF5 rejects I/O on storage never allocated
        return;
    }
    const Grid &grid = a.grid();
    const gidx nb = a.col_dist().block();
    const lidx my_blocks = local_blocks(a.local_cols(), nb);
    const lidx blocks_per_round = std::max<lidx>(1, staging_budget / std::max<lidx>(1, a.local_rows() * nb));
    const lidx my_rounds = (my_blocks + blocks_per_round - 1) / blocks_per_round;
    // Collective transfers need the same number of calls on every rank: ranks with fewer rounds do empty
    // ones.
    const lidx rounds = mpi::allreduce_value(grid.comm(), my_rounds, mpi::Op::max);
    for (lidx round = 0; round < rounds; ++round) {
        const lidx b0 = std::min(my_blocks, round * blocks_per_round);
        const lidx b1 = std::min(my_blocks, b0 + blocks_per_round);
        const lidx j0 = b0 * nb;
        const lidx j1 = std::min(a.local_cols(), b1 * nb);
        transfer_round(b0, b1, j0, j1);
    }
}

} // namespace

std::vector<std::string> list_members(hid_t file, const std::string &group, std::size_t limit) {
    std::vector<std::string> names;
    Hid g = group_hid(H5Gopen2(file, group.c_str(), H5P_DEFAULT));
    if (!g.valid()) {
        return names;
    }
    H5G_info_t info{};
    if (H5Gget_info(g.get(), &info) < 0) {
        return names;
    }
    for (hsize_t i = 0; i < info.nlinks && names.size() < limit; ++i) {
        char buffer[256] = {0};
        if (H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, buffer, sizeof buffer,
                               H5P_DEFAULT) >= 0) {
            names.push_back((group == "/" ? "/" : group + "/") + buffer);
        }
    }
    return names;
}

DatasetPath parse_dataset_path(const std::string &text, const std::string &default_dataset) {
    DatasetPath path{text, default_dataset};
    const auto colon = text.find_last_of(':');
    if (colon != std::string::npos && colon + 1 < text.size() && colon > 0) {
        const std::string file = text.substr(0, colon);
        if (std::filesystem::exists(file) || !std::filesystem::exists(text)) {
            path = {file, text.substr(colon + 1)};
        }
    }
    if (path.dataset.empty() || path.dataset[0] != '/') {
        path.dataset = "/" + path.dataset;
    }
    return path;
}

DatasetInfo inspect_dataset(const mpi::Comm &comm, const DatasetPath &path) {
    DatasetInfo info;
    mpi::agree_call(comm, [&] {
        if (comm.rank() == 0) {
            Hid f = open_file_serial(path.file);
            info = inspect_local(f.get(), path);
        }
    });
    bcast_int64s(comm, info.dims, 0);
    bcast_int64s(comm, info.chunk, 0);
    bcast_string(comm, info.type, 0);
    bcast_string(comm, info.filters, 0);
    int numeric = info.numeric ? 1 : 0;
    mpi::bcast(comm, &numeric, 1, 0);
    info.numeric = numeric != 0;
    return info;
}

bool dataset_exists(const mpi::Comm &comm, const std::string &file, const std::string &dataset) {
    int exists = 0;
    mpi::agree_call(comm, [&] {
        if (comm.rank() == 0) {
            Hid f = open_file_serial(file);
            exists = path_exists(f.get(), dataset) ? 1 : 0;
        }
    });
    mpi::bcast(comm, &exists, 1, 0);
    return exists != 0;
}

std::vector<std::string>
list_group(const mpi::Comm &comm, const std::string &file, const std::string &group) {
    std::vector<std::string> names;
    mpi::agree_call(comm, [&] {
        if (comm.rank() == 0) {
            Hid f = open_file_serial(file);
            PRISM_CHECK(path_exists(f.get(), group) || group == "/",
                        in_quotes(file) + ": no group " + in_quotes(group));
            for (const std::string &member : list_members(f.get(), group, std::size_t(-1))) {
                names.push_back(member.substr(member.find_last_of('/') + 1));
            }
        }
    });
    std::int64_t count = static_cast<std::int64_t>(names.size());
    mpi::bcast(comm, &count, 1, 0);
    names.resize(static_cast<std::size_t>(count));
    for (auto &name : names) {
        bcast_string(comm, name, 0);
    }
    return names;
}

namespace {

// Selects rows(all local row blocks) x the file columns `runs` (sorted, disjoint [first, last] runs) in
// `space`; returns false if empty.
bool select_column_runs(hid_t space,
                        const BlockCyclic &rows,
                        int my_row,
                        lidx local_rows,
                        const std::vector<std::pair<gidx, gidx>> &runs) {
    const auto row_patterns = block_patterns(rows, my_row, 0, local_blocks(local_rows, rows.block()));
    H5Sselect_none(space);
    bool any = false;
    for (const auto &r : row_patterns) {
        for (const auto &[first, last] : runs) {
            const hsize_t start[2] = {r.start, static_cast<hsize_t>(first)}, stride[2] = {r.stride, 1};
            const hsize_t count[2] = {r.count, 1},
                          block[2] = {r.block, static_cast<hsize_t>(last - first + 1)};
            H5Sselect_hyperslab(space, any ? H5S_SELECT_OR : H5S_SELECT_SET, start, stride, count, block);
            any = true;
        }
    }
    return any;
}

// Reads `path` into `a`. Without a column map, column j of `a` is file column j; with one, it is file
// column (*file_col)[j], and columns mapped to -1 stay zero.
template <typename T>
void read_into(DistMatrix<T> &a,
               const DatasetPath &path,
               const std::vector<gidx> *file_col,
               lidx unit_elements) {
    const Grid &grid = a.grid();
    const mpi::Comm &comm = grid.comm();
    Hid file, dataset, file_space;
    std::vector<gidx> chunk; // set if the dataset is chunked and filtered
    mpi::agree_call(comm, [&] {
        Hid fapl = mpio_fapl(comm);
        file = file_hid(H5Fopen(path.file.c_str(), H5F_ACC_RDONLY, fapl.get()));
        PRISM_CHECK(file.valid(), in_quotes(path.file) + ": parallel open failed");
        dataset = dataset_hid(H5Dopen2(file.get(), path.dataset.c_str(), H5P_DEFAULT));
        PRISM_CHECK(dataset.valid(), in_quotes(path.file) + ": cannot open " + in_quotes(path.dataset));
        file_space = space_hid(H5Dget_space(dataset.get()));
        Hid dcpl = plist_hid(H5Dget_create_plist(dataset.get()));
        hsize_t dims[2] = {0, 0};
        if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED && H5Pget_nfilters(dcpl.get()) > 0 &&
            H5Pget_chunk(dcpl.get(), 2, dims) == 2) {
            chunk = {static_cast<gidx>(dims[0]), static_cast<gidx>(dims[1])};
        }
    });
    if (a.rows() == 0 || a.cols() == 0) { // nothing stored; HDF5 rejects I/O on storage never allocated
        return;
    }
    // Filters work on whole chunks: read each chunk once, on one rank, and redistribute (see
    // chunk_unit_reader.hpp). Every rank has the same metadata, so all take the same branch.
    hsize_t file_dims[2] = {0, 0};
    H5Sget_simple_extent_dims(file_space.get(), file_dims, nullptr);
    if (chunk_units_fit(static_cast<gidx>(file_dims[0]), static_cast<gidx>(file_dims[1]), chunk, comm.size(),
                        unit_elements)) {
        const bool ok = read_chunk_units(a, dataset.get(), chunk, file_col, unit_elements);
        mpi::agree(comm, ok,
                   in_quotes(path.file) + ": reading dataset " + in_quotes(path.dataset) +
                       " failed (corrupt or truncated data?)");
        return;
    }
    Hid dxpl = collective_dxpl();
    std::vector<T> staging;
    std::vector<std::pair<gidx, lidx>> wanted; // (file column, local column), sorted by file column
    std::vector<std::pair<gidx, gidx>> runs;
    bool ok = true;
    transfer_by_column_rounds(a, [&](lidx b0, lidx b1, lidx j0, lidx j1) {
        const lidx rows = a.local_rows();
        bool any = false;
        if (file_col == nullptr) {
            any = rows > 0 && select_blocks(file_space.get(), a.row_dist(), grid.my_row(), rows, a.col_dist(),
                                            grid.my_col(), b0, b1);
        } else {
            // HDF5 returns a selection in file order, so read the wanted file columns sorted and scatter.
            wanted.clear();
            runs.clear();
            for (lidx j = j0; j < j1; ++j) {
                const gidx c = (*file_col)[static_cast<std::size_t>(a.global_col(j))];
                if (c >= 0) {
                    wanted.emplace_back(c, j);
                }
            }
            std::sort(wanted.begin(), wanted.end());
            for (const auto &[c, j] : wanted) {
                if (!runs.empty() && runs.back().second + 1 == c) {
                    runs.back().second = c;
                } else {
                    runs.emplace_back(c, c);
                }
            }
            any = rows > 0 && !runs.empty() &&
                  select_column_runs(file_space.get(), a.row_dist(), grid.my_row(), rows, runs);
        }
        const lidx cols = file_col == nullptr ? j1 - j0 : static_cast<lidx>(wanted.size());
        const hsize_t mem_dims[2] = {static_cast<hsize_t>(std::max<lidx>(rows, 1)),
                                     static_cast<hsize_t>(std::max<lidx>(cols, 1))};
        Hid mem_space = space_hid(H5Screate_simple(2, mem_dims, nullptr));
        staging.resize(static_cast<std::size_t>(std::max<lidx>(rows * cols, 1)));
        if (!any) {
            H5Sselect_none(file_space.get());
            H5Sselect_none(mem_space.get());
        }
        if (H5Dread(dataset.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
                    staging.data()) < 0) {
            ok = false;
            return;
        }
        if (!any) {
            return;
        }
        for (lidx i = 0; i < rows; ++i) { // row-major staging -> column-major local block
            const T *src = staging.data() + i * cols;
            for (lidx j = 0; j < cols; ++j) {
                a.local(i, file_col == nullptr ? j0 + j : wanted[static_cast<std::size_t>(j)].second) =
                    src[j];
            }
        }
    });
    mpi::agree(comm, ok,
               in_quotes(path.file) + ": reading dataset " + in_quotes(path.dataset) +
                   " failed (corrupt or truncated data?)");
}

// The dataset's dims, refusing anything but a 2-D numeric dataset.
std::vector<gidx> matrix_dims(const mpi::Comm &comm, const DatasetPath &path) {
    const DatasetInfo info = inspect_dataset(comm, path);
    mpi::agree(comm, info.dims.size() == 2,
               in_quotes(path.file) + ": dataset " + in_quotes(path.dataset) + " has " +
                   std::to_string(info.dims.size()) +
                   " dimensions; expected a 2-D matrix (features x samples)");
    mpi::agree(comm, info.numeric,
               in_quotes(path.file) + ": dataset " + in_quotes(path.dataset) + " has type " + info.type +
                   "; expected a numeric (integer or floating-point) matrix");
    return info.dims;
}

} // namespace

template <typename T>
DistMatrix<T> read_matrix(const Grid &grid, const DatasetPath &path, gidx mb, gidx nb, lidx unit_elements) {
    const std::vector<gidx> dims = matrix_dims(grid.comm(), path);
    DistMatrix<T> a(grid, dims[0], dims[1], mb, nb);
    read_into(a, path, nullptr, unit_elements);
    return a;
}

template <typename T>
DistMatrix<T> read_matrix_columns(const Grid &grid,
                                  const DatasetPath &path,
                                  const std::vector<gidx> &file_col,
                                  gidx mb,
                                  gidx nb,
                                  lidx unit_elements) {
    const std::vector<gidx> dims = matrix_dims(grid.comm(), path);
    bool valid = true;
    for (gidx c : file_col) {
        valid = valid && c >= -1 && c < dims[1];
    }
    mpi::agree(grid.comm(), valid,
               in_quotes(path.file) + ": column map for " + in_quotes(path.dataset) +
                   " names a column outside 0.." + std::to_string(dims[1] - 1));
    DistMatrix<T> a(grid, dims[0], static_cast<gidx>(file_col.size()), mb, nb);
    read_into(a, path, &file_col, unit_elements);
    return a;
}

namespace {

// The strings of a 1-D string dataset or attribute with file type `type` and extent `space`, joined with
// '\0'; `read(mem_type, buffer)` reads them. Variable and fixed length, ASCII or UTF-8; fixed-length
// values lose trailing NULs and spaces (Fortran-style padding). Throws a local Error on failure.
template <typename Read>
std::string
packed_strings(hid_t type, hid_t space, std::int64_t &count, const std::string &what, Read &&read) {
    if (H5Tget_class(type) != H5T_STRING || H5Sget_simple_extent_ndims(space) != 1) {
        throw Error(what + " is not a 1-D list of strings");
    }
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space, &n, nullptr);
    count = static_cast<std::int64_t>(n);
    std::string packed;
    Hid mem = type_hid(H5Tcopy(H5T_C_S1));
    H5Tset_cset(mem.get(), H5Tget_cset(type));
    if (H5Tis_variable_str(type) > 0) {
        H5Tset_size(mem.get(), H5T_VARIABLE);
        std::vector<char *> raw(n);
        if (read(mem.get(), static_cast<void *>(raw.data())) < 0) {
            throw Error("cannot read the strings of " + what);
        }
        for (char *s : raw) {
            packed += s ? s : "";
            packed.push_back('\0');
        }
        H5Dvlen_reclaim(mem.get(), space, H5P_DEFAULT, raw.data());
    } else {
        const std::size_t width = H5Tget_size(type);
        H5Tset_size(mem.get(), width);
        H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
        std::vector<char> raw(n * width + 1, '\0');
        if (read(mem.get(), static_cast<void *>(raw.data())) < 0) {
            throw Error("cannot read the strings of " + what);
        }
        for (hsize_t i = 0; i < n; ++i) {
            const char *s = raw.data() + i * width;
            std::string value(s, strnlen(s, width));
            while (!value.empty() && value.back() == ' ') {
                value.pop_back();
            }
            packed += value;
            packed.push_back('\0');
        }
    }
    return packed;
}

// Rank 0's packed strings to every rank, unpacked.
std::vector<std::string> share_strings(const mpi::Comm &comm, std::string &packed, std::int64_t count) {
    mpi::bcast(comm, &count, 1, 0);
    bcast_string(comm, packed, 0);
    std::vector<std::string> names;
    names.reserve(static_cast<std::size_t>(count));
    std::size_t pos = 0;
    for (std::int64_t i = 0; i < count; ++i) {
        const std::size_t end = packed.find('\0', pos);
        names.emplace_back(packed, pos, end - pos);
        pos = end + 1;
    }
    return names;
}

} // namespace

std::vector<std::string> read_strings(const mpi::Comm &comm, const DatasetPath &path) {
    std::string packed; // names joined with '\0'
    std::int64_t count = 0;
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        Hid f = open_file_serial(path.file);
        Hid d = open_dataset(f.get(), path);
        Hid type = type_hid(H5Dget_type(d.get()));
        Hid space = space_hid(H5Dget_space(d.get()));
        packed = packed_strings(type.get(), space.get(), count,
                                in_quotes(path.file) + ": " + in_quotes(path.dataset),
                                [&](hid_t mem, void *buffer) {
                                    return H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
                                });
    });
    return share_strings(comm, packed, count);
}

std::vector<std::string> read_string_attribute(const mpi::Comm &comm,
                                               const std::string &file,
                                               const std::string &object,
                                               const std::string &key) {
    std::string packed;
    std::int64_t count = 0;
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        Hid f = open_file_serial(file);
        if (H5Aexists_by_name(f.get(), object.c_str(), key.c_str(), H5P_DEFAULT) <= 0) {
            return;
        }
        Hid attr = attr_hid(H5Aopen_by_name(f.get(), object.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT));
        PRISM_CHECK(attr.valid(), in_quotes(file) + ": cannot open attribute " + in_quotes(key));
        Hid type = type_hid(H5Aget_type(attr.get()));
        Hid space = space_hid(H5Aget_space(attr.get()));
        packed =
            packed_strings(type.get(), space.get(), count,
                           in_quotes(file) + ": attribute " + in_quotes(key) + " of " + in_quotes(object),
                           [&](hid_t mem, void *buffer) { return H5Aread(attr.get(), mem, buffer); });
    });
    return share_strings(comm, packed, count);
}

// ----------------------------------------------------------------------------------------------- Writer

namespace {

// Creates the groups leading to `path` ("/a/b/c" creates /a and /a/b) if missing. Collective (metadata).
void ensure_parent_groups(hid_t file, const std::string &path) {
    std::size_t pos = 0;
    while ((pos = path.find('/', pos + 1)) != std::string::npos) {
        const std::string prefix = path.substr(0, pos);
        if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
            Hid g = group_hid(H5Gcreate2(file, prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        }
    }
}

Hid open_object(hid_t file, const std::string &object) {
    return Hid(H5Oopen(file, object.c_str(), H5P_DEFAULT), H5Oclose);
}

} // namespace

Writer::Writer(const mpi::Comm &comm, const std::string &file, bool overwrite) : comm_(&comm), file_(file) {
    silence_hdf5_errors();
    mpi::agree(comm, overwrite || !std::filesystem::exists(file),
               in_quotes(file) + ": already exists (refusing to overwrite it)");
    Hid fapl = mpio_fapl(comm);
    handle_ =
        file_hid(H5Fcreate(file.c_str(), overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()));
    mpi::agree(comm, handle_.valid(),
               in_quotes(file) + ": cannot create the file (missing folder or no permission?)");
}

template <typename T> void Writer::write_matrix(const std::string &name, const DistMatrix<T> &a) {
    const Grid &grid = a.grid();
    const hid_t file_type = std::is_same<T, double>::value ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
    Hid dataset =
        create_dataset(name, file_type, {static_cast<hsize_t>(a.rows()), static_cast<hsize_t>(a.cols())});
    Hid file_space = space_hid(H5Dget_space(dataset.get()));
    Hid dxpl = collective_dxpl();
    std::vector<T> staging;
    bool ok = true;
    transfer_by_column_rounds(a, [&](lidx b0, lidx b1, lidx j0, lidx j1) {
        const lidx rows = a.local_rows(), cols = j1 - j0;
        const bool any = rows > 0 && select_blocks(file_space.get(), a.row_dist(), grid.my_row(), rows,
                                                   a.col_dist(), grid.my_col(), b0, b1);
        const hsize_t mem_dims[2] = {static_cast<hsize_t>(std::max<lidx>(rows, 1)),
                                     static_cast<hsize_t>(std::max<lidx>(cols, 1))};
        Hid mem_space = space_hid(H5Screate_simple(2, mem_dims, nullptr));
        staging.resize(static_cast<std::size_t>(std::max<lidx>(rows * cols, 1)));
        if (any) {
            for (lidx i = 0; i < rows; ++i) { // column-major local block -> row-major staging
                T *dst = staging.data() + i * cols;
                for (lidx j = 0; j < cols; ++j) {
                    dst[j] = a.local(i, j0 + j);
                }
            }
        } else {
            H5Sselect_none(file_space.get());
            H5Sselect_none(mem_space.get());
        }
        if (H5Dwrite(dataset.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
                     staging.data()) < 0) {
            ok = false;
        }
    });
    mpi::agree(*comm_, ok,
               in_quotes(file_) + ": writing dataset " + in_quotes(name) + " failed (disk full?)");
}

void Writer::write_strings(const std::string &name, const std::vector<std::string> &values) {
    std::size_t width = 1;
    for (const auto &v : values) {
        width = std::max(width, v.size());
    }
    // Fixed-length: parallel HDF5 cannot write variable-length data collectively.
    Hid type = type_hid(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), width);
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    const hsize_t n = values.size();
    Hid dataset = create_dataset(name, type.get(), {n});
    bool ok = true;
    if (comm_->rank() == 0 && n > 0) { // independent write by one rank; the others have nothing to add
        std::vector<char> packed(n * width, '\0');
        for (std::size_t i = 0; i < values.size(); ++i) {
            std::memcpy(packed.data() + i * width, values[i].data(), values[i].size());
        }
        ok = H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()) >= 0;
    }
    mpi::agree(*comm_, ok, in_quotes(file_) + ": writing dataset " + in_quotes(name) + " failed");
}

void Writer::write_vector(const std::string &name, const std::vector<double> &values) {
    const hsize_t n = values.size();
    Hid dataset = create_dataset(name, H5T_IEEE_F64LE, {n});
    bool ok = true;
    if (comm_->rank() == 0 && n > 0) {
        ok = H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0;
    }
    mpi::agree(*comm_, ok, in_quotes(file_) + ": writing dataset " + in_quotes(name) + " failed");
}

namespace {
void write_attribute_raw(
    hid_t file, const std::string &object, const std::string &key, hid_t type, const void *value) {
    Hid obj = open_object(file, object);
    Hid space = space_hid(H5Screate(H5S_SCALAR));
    Hid attr = attr_hid(H5Acreate2(obj.get(), key.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
    H5Awrite(attr.get(), type, value);
}
} // namespace

void Writer::write_attribute(const std::string &key, const std::string &value, const std::string &object) {
    Hid type = type_hid(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), std::max<std::size_t>(1, value.size()));
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    std::string padded = value.empty() ? std::string(1, '\0') : value;
    write_attribute_raw(handle_.get(), object, key, type.get(), padded.data());
}

void Writer::write_attribute(const std::string &key, double value, const std::string &object) {
    write_attribute_raw(handle_.get(), object, key, H5T_NATIVE_DOUBLE, &value);
}

void Writer::write_attribute(const std::string &key, std::int64_t value, const std::string &object) {
    write_attribute_raw(handle_.get(), object, key, H5T_NATIVE_INT64, &value);
}

Hid Writer::create_dataset(const std::string &name, hid_t file_type, const std::vector<hsize_t> &dims) {
    mpi::agree(*comm_, handle_.valid(), in_quotes(file_) + ": already closed; cannot add " + in_quotes(name));
    ensure_parent_groups(handle_.get(), name);
    Hid space = space_hid(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    Hid dataset = dataset_hid(H5Dcreate2(handle_.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                         H5P_DEFAULT, H5P_DEFAULT));
    mpi::agree(*comm_, dataset.valid(), in_quotes(file_) + ": cannot create dataset " + in_quotes(name));
    return dataset;
}

void Writer::close() {
    if (!handle_.valid()) {
        return;
    }
    const bool ok = H5Fclose(handle_.release()) >= 0;
    mpi::agree(*comm_, ok, in_quotes(file_) + ": closing the file failed (disk full?)");
}

template DistMatrix<double> read_matrix<double>(const Grid &, const DatasetPath &, gidx, gidx, lidx);
template DistMatrix<float> read_matrix<float>(const Grid &, const DatasetPath &, gidx, gidx, lidx);
template DistMatrix<double>
read_matrix_columns<double>(const Grid &, const DatasetPath &, const std::vector<gidx> &, gidx, gidx, lidx);
template DistMatrix<float>
read_matrix_columns<float>(const Grid &, const DatasetPath &, const std::vector<gidx> &, gidx, gidx, lidx);
template void Writer::write_matrix<double>(const std::string &, const DistMatrix<double> &);
template void Writer::write_matrix<float>(const std::string &, const DistMatrix<float> &);

} // namespace prism::io
