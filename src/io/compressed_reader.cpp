#include "prism/io/compressed_reader.hpp"

#include <algorithm>
#include <filesystem>

#include "prism/io/hdf5_handle.hpp"
#include "prism/io/sparse_assembly.hpp"
#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

template <typename T> hid_t native_type();
template <> hid_t native_type<double>() {
    return H5T_NATIVE_DOUBLE;
}
template <> hid_t native_type<float>() {
    return H5T_NATIVE_FLOAT;
}

std::string field(const CompressedGroup &g, const std::string &name) {
    return in_quotes(g.file) + ":" + (g.group == "/" ? "" : g.group) + "/" + name;
}

// Length of the 1-D dataset `name` of the group, checking its type class. Throws a local Error.
gidx dataset_length(hid_t file, const CompressedGroup &g, const std::string &name, bool integer_only) {
    const std::string path = (g.group == "/" ? "" : g.group) + "/" + name;
    if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) {
        throw Error(in_quotes(g.file) + ": sparse matrix group " + in_quotes(g.group) + " has no " +
                    in_quotes(name) + " dataset (a CSR/CSC group holds data, indices and indptr)");
    }
    Hid d = dataset_hid(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
    if (!d.valid()) {
        throw Error(field(g, name) + " is not a dataset");
    }
    Hid type = type_hid(H5Dget_type(d.get()));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (integer_only ? cls != H5T_INTEGER : cls != H5T_INTEGER && cls != H5T_FLOAT) {
        throw Error(field(g, name) + " has a non-" + (integer_only ? "integer" : "numeric") +
                    " type; expected " +
                    (integer_only ? "int32 or int64 indices" : "integer or floating-point values"));
    }
    Hid space = space_hid(H5Dget_space(d.get()));
    if (H5Sget_simple_extent_ndims(space.get()) != 1) {
        throw Error(field(g, name) + " is not 1-D");
    }
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space.get(), &n, nullptr);
    return static_cast<gidx>(n);
}

// Reads elements [first, first + count) of a 1-D dataset as `mem_type` into `out` (collective: every rank
// calls it, possibly with count 0). Returns false on an HDF5 failure.
template <typename V>
bool read_range(hid_t dataset, hid_t mem_type, hid_t dxpl, gidx first, gidx count, V *out) {
    Hid file_space = space_hid(H5Dget_space(dataset));
    const hsize_t mem_n = static_cast<hsize_t>(std::max<gidx>(count, 1));
    Hid mem_space = space_hid(H5Screate_simple(1, &mem_n, nullptr));
    V dummy{};
    if (count > 0) {
        const hsize_t start = static_cast<hsize_t>(first), n = static_cast<hsize_t>(count);
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr);
    } else {
        H5Sselect_none(file_space.get());
        H5Sselect_none(mem_space.get());
        out = &dummy;
    }
    return H5Dread(dataset, mem_type, mem_space.get(), file_space.get(), dxpl, out) >= 0;
}

// Inverse of a map (matrix index -> file index, -1 where nothing maps), for error positions.
std::vector<gidx> origin_of(const std::vector<gidx> &map, gidx size) {
    if (map.empty()) {
        return {};
    }
    std::vector<gidx> origin(static_cast<std::size_t>(size), -1);
    for (std::size_t i = 0; i < map.size(); ++i) {
        if (map[i] >= 0 && map[i] < size) {
            origin[static_cast<std::size_t>(map[i])] = static_cast<gidx>(i);
        }
    }
    return origin;
}

} // namespace

gidx inspect_compressed(const mpi::Comm &comm, const CompressedGroup &g) {
    gidx nnz = 0;
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        silence_hdf5_errors();
        Hid f = file_hid(H5Fopen(g.file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
        PRISM_CHECK(f.valid(), in_quotes(g.file) + ": not a readable HDF5 file");
        PRISM_CHECK(g.stored_rows >= 0 && g.stored_cols >= 0,
                    field(g, "shape") + " is negative: " + std::to_string(g.stored_rows) + " x " +
                        std::to_string(g.stored_cols));
        const gidx data = dataset_length(f.get(), g, "data", false);
        const gidx indices = dataset_length(f.get(), g, "indices", true);
        const gidx indptr = dataset_length(f.get(), g, "indptr", true);
        const gidx major = g.by_rows ? g.stored_rows : g.stored_cols;
        PRISM_CHECK(indices == data, field(g, "indices") + " has " + std::to_string(indices) +
                                         " entries but " + field(g, "data") + " has " + std::to_string(data));
        PRISM_CHECK(indptr == major + 1,
                    field(g, "indptr") + " has " + std::to_string(indptr) + " entries; the " +
                        (g.by_rows ? "CSR" : "CSC") + " shape " + std::to_string(g.stored_rows) + " x " +
                        std::to_string(g.stored_cols) + " needs " + std::to_string(major + 1) +
                        " (shape mismatch, or CSR/CSC confused?)");
        nnz = data;
    });
    mpi::bcast(comm, &nnz, 1, 0);
    return nnz;
}

template <typename T>
SparseDistMatrix<T> read_compressed(const Grid &grid,
                                    const CompressedGroup &g,
                                    const Orientation &orientation,
                                    gidx mb,
                                    gidx nb,
                                    lidx round_entries) {
    const mpi::Comm &comm = grid.comm();
    const gidx nnz = inspect_compressed(comm, g);
    const gidx major = g.by_rows ? g.stored_rows : g.stored_cols;
    const gidx minor = g.by_rows ? g.stored_cols : g.stored_rows;
    const gidx oriented_rows = orientation.transpose ? g.stored_cols : g.stored_rows;
    const gidx oriented_cols = orientation.transpose ? g.stored_rows : g.stored_cols;
    const gidx m = orientation.rows >= 0 ? orientation.rows : oriented_rows;
    const gidx n = orientation.cols >= 0 ? orientation.cols : oriented_cols;
    const std::string where = in_quotes(g.file) + ":" + g.group;
    mpi::agree(
        comm,
        (orientation.row_map.empty() || static_cast<gidx>(orientation.row_map.size()) == oriented_rows) &&
            (orientation.col_map.empty() || static_cast<gidx>(orientation.col_map.size()) == oriented_cols),
        where + ": the row/column relabelling does not match the stored shape");

    silence_hdf5_errors();
    Hid fapl = plist_hid(H5Pcreate(H5P_FILE_ACCESS));
    H5Pset_fapl_mpio(fapl.get(), comm.get(), MPI_INFO_NULL);
    Hid file = file_hid(H5Fopen(g.file.c_str(), H5F_ACC_RDONLY, fapl.get()));
    mpi::agree(comm, file.valid(), in_quotes(g.file) + ": parallel open failed");
    const std::string prefix = g.group == "/" ? "" : g.group;
    Hid data = dataset_hid(H5Dopen2(file.get(), (prefix + "/data").c_str(), H5P_DEFAULT));
    Hid indices = dataset_hid(H5Dopen2(file.get(), (prefix + "/indices").c_str(), H5P_DEFAULT));
    Hid indptr = dataset_hid(H5Dopen2(file.get(), (prefix + "/indptr").c_str(), H5P_DEFAULT));
    mpi::agree(comm, data.valid() && indices.valid() && indptr.valid(),
               where + ": cannot open data/indices/indptr");
    Hid dxpl = plist_hid(H5Pcreate(H5P_DATASET_XFER));
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);

    // My contiguous range of major indices [lo, hi) and its offsets indptr[lo..hi].
    const int p = comm.size(), r = comm.rank();
    const gidx lo = major / p * r + std::min<gidx>(r, major % p);
    const gidx hi = lo + major / p + (r < major % p ? 1 : 0);
    std::vector<std::int64_t> ptr(static_cast<std::size_t>(hi - lo + 1));
    bool ok = read_range(indptr.get(), H5T_NATIVE_INT64, dxpl.get(), lo, hi > lo || lo == 0 ? hi - lo + 1 : 0,
                         ptr.data());
    mpi::agree(comm, ok, field(g, "indptr") + ": read failed (corrupt or truncated file?)");
    std::string defect;
    if (lo == 0 && ptr.front() != 0) {
        defect = field(g, "indptr") + "[0] = " + std::to_string(ptr.front()) + "; it must start at 0";
    }
    for (gidx i = lo; i < hi && defect.empty(); ++i) {
        const auto a = ptr[static_cast<std::size_t>(i - lo)], b = ptr[static_cast<std::size_t>(i - lo + 1)];
        if (i + 1 == major && a >= 0 && a <= nnz && b > nnz) { // the usual off-by-one at the end
            defect = field(g, "indptr") + " must end at len(data) (= " + std::to_string(nnz) +
                     "), but indptr[" + std::to_string(major) + "] = " + std::to_string(b);
        } else if (b < a || a < 0 || b > nnz) {
            defect = field(g, "indptr") + " is not monotone within [0, " + std::to_string(nnz) +
                     "]: indptr[" + std::to_string(i) + "] = " + std::to_string(a) + ", indptr[" +
                     std::to_string(i + 1) + "] = " + std::to_string(b);
        }
    }
    if (defect.empty() && hi == major && hi > lo && ptr.back() != nnz) {
        defect = field(g, "indptr") + " must end at len(data) (= " + std::to_string(nnz) + "), but indptr[" +
                 std::to_string(major) + "] = " + std::to_string(ptr.back());
    }
    if (defect.empty() && major == 0 && nnz != 0) {
        defect = field(g, "data") + " holds " + std::to_string(nnz) + " values for an empty shape";
    }
    mpi::agree(comm, defect.empty(), defect);

    // My entries [first, last), read in rounds; every rank makes the same number of collective calls.
    const std::int64_t first = hi > lo ? ptr.front() : 0, last = hi > lo ? ptr.back() : 0;
    round_entries = std::max<lidx>(1, round_entries);
    const std::int64_t rounds =
        mpi::allreduce_value(comm, (last - first + round_entries - 1) / round_entries, mpi::Op::max);
    std::vector<Entry<T>> entries;
    entries.reserve(static_cast<std::size_t>(last - first));
    std::vector<T> values;
    std::vector<std::int64_t> index;
    gidx cur = lo;              // major index of the next entry
    std::int64_t previous = -1; // minor index of the previous entry of `cur` (sortedness)
    for (std::int64_t round = 0; round < rounds; ++round) {
        const std::int64_t a = std::min(last, first + round * round_entries);
        const std::int64_t b = std::min(last, a + round_entries);
        values.resize(static_cast<std::size_t>(std::max<std::int64_t>(b - a, 1)));
        index.resize(values.size());
        ok = read_range(data.get(), native_type<T>(), dxpl.get(), a, b - a, values.data());
        ok = read_range(indices.get(), H5T_NATIVE_INT64, dxpl.get(), a, b - a, index.data()) && ok;
        mpi::agree(comm, ok, where + ": reading data/indices failed (corrupt or truncated file?)");
        for (std::int64_t q = a; q < b && defect.empty(); ++q) {
            while (q >= ptr[static_cast<std::size_t>(cur - lo + 1)]) {
                ++cur;
                previous = -1;
            }
            const std::int64_t c = index[static_cast<std::size_t>(q - a)];
            if (c < 0 || c >= minor) {
                defect = field(g, "indices") + "[" + std::to_string(q) + "] = " + std::to_string(c) +
                         " is outside [0, " + std::to_string(minor) + ") (" +
                         (g.by_rows ? "row " : "column ") + std::to_string(cur) + " of shape " +
                         std::to_string(g.stored_rows) + " x " + std::to_string(g.stored_cols) + ")";
                break;
            }
            if (g.sorted_required && c <= previous) {
                defect = field(g, "indices") + " are not strictly increasing within " +
                         (g.by_rows ? "row " : "column ") + std::to_string(cur) + " (at position " +
                         std::to_string(q) + ")";
                break;
            }
            previous = c;
            const gidx stored_row = g.by_rows ? cur : c, stored_col = g.by_rows ? c : cur;
            gidx i = orientation.transpose ? stored_col : stored_row;
            gidx j = orientation.transpose ? stored_row : stored_col;
            if (!orientation.row_map.empty()) {
                i = orientation.row_map[static_cast<std::size_t>(i)];
            }
            if (!orientation.col_map.empty()) {
                j = orientation.col_map[static_cast<std::size_t>(j)];
            }
            if (i >= 0 && j >= 0) {
                entries.push_back({i, j, values[static_cast<std::size_t>(q - a)]});
            }
        }
        mpi::agree(comm, defect.empty(), defect);
    }
    return assemble_sparse<T>(grid, m, n, mb, nb, std::move(entries), where,
                              origin_of(orientation.row_map, m), origin_of(orientation.col_map, n));
}

template SparseDistMatrix<double>
read_compressed<double>(const Grid &, const CompressedGroup &, const Orientation &, gidx, gidx, lidx);
template SparseDistMatrix<float>
read_compressed<float>(const Grid &, const CompressedGroup &, const Orientation &, gidx, gidx, lidx);

} // namespace prism::io
