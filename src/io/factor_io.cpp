// Collective HDF5 I/O of NMF factors: every rank moves its own slab of W (m x k) or H (k x n).
//
// A slab is local indices [l0, l1) of X's block-cyclic dimension on process `proc`. In global indices that is
//
//   local   |  l0 .. | full block | full block | ... | full block | .. l1  |
//   global  |  tail of block B0 | B0+1 | B0+1+P | ... (stride b*P) ... | head of block B1 |
//
// so at most three regular hyperslabs: a partial first block, a strided run of full blocks, a partial last
// block. The union is selected with SET + at most two ORs, independent of the number of blocks.
//
// HDF5 transfers a selection in row-major order of file coordinates. For W (m x k) the selected rows come
// in increasing global = increasing local order, k values each: exactly the slab's row-major storage, so W
// moves without staging. For H (k x n) the order is "for each of the k factor columns, the selected
// columns of X in increasing order": the transpose of the slab, staged through a k x rows buffer.

#include "prism/io/factor_io.hpp"

#include <algorithm>
#include <type_traits>

#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

std::string dims_string(const std::vector<hsize_t> &dims) {
    std::string s;
    for (std::size_t i = 0; i < dims.size(); ++i) {
        s += (i ? " x " : "") + std::to_string(dims[i]);
    }
    return s.empty() ? "scalar" : s;
}

template <typename T> hid_t native_type() {
    return std::is_same<T, double>::value ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
}

Hid collective_dxpl() {
    Hid dxpl = plist_hid(H5Pcreate(H5P_DATASET_XFER));
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
    return dxpl;
}

// Selects the slab rows [l0, l1) with all k columns in `space` (dims {n_long, k} for W, {k, n_long} for
// H); selects nothing for an empty range.
void select_slab(hid_t space, const BlockCyclic &dist, int proc, lidx l0, lidx l1, bool transposed, gidx k) {
    H5Sselect_none(space);
    bool first = true;
    const hsize_t kk = static_cast<hsize_t>(k);
    for (const HyperslabRun &r : slab_runs(dist, proc, l0, l1)) {
        const hsize_t start[2] = {transposed ? 0 : r.start, transposed ? r.start : 0};
        const hsize_t stride[2] = {transposed ? 1 : r.stride, transposed ? r.stride : 1};
        const hsize_t count[2] = {transposed ? 1 : r.count, transposed ? r.count : 1};
        const hsize_t block[2] = {transposed ? kk : r.block, transposed ? r.block : kk};
        H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start, stride, count, block);
        first = false;
    }
}

// Calls round(a, b) for slab rows [a, b) in rounds of at most `round_elements` elements; every rank makes
// the same number of calls (ranks with fewer rows get empty rounds), as collective transfers require.
template <typename T, typename Round>
void for_each_round(const Factor<T> &f, lidx round_elements, Round &&round) {
    const lidx per_round = std::max<lidx>(1, round_elements / std::max<gidx>(1, f.k()));
    const lidx my_rounds = (f.rows() + per_round - 1) / per_round;
    const lidx rounds = mpi::allreduce_value(f.grid().comm(), my_rounds, mpi::Op::max);
    for (lidx i = 0; i < rounds; ++i) {
        const lidx a = std::min(f.rows(), i * per_round);
        round(a, std::min(f.rows(), a + per_round));
    }
}

// Selects slab rows [a, b) in `file_space` and returns the matching memory space: rows x k (W) or
// k x rows (H), or an empty selection when a == b.
template <typename T>
Hid select_round(const Factor<T> &f, hid_t file_space, lidx a, lidx b, bool transposed) {
    select_slab(file_space, f.dist(), f.dist_proc(), f.offset() + a, f.offset() + b, transposed, f.k());
    const hsize_t rows = static_cast<hsize_t>(std::max<lidx>(b - a, 1));
    const hsize_t k = static_cast<hsize_t>(f.k());
    const hsize_t mem_dims[2] = {transposed ? k : rows, transposed ? rows : k};
    Hid mem_space = space_hid(H5Screate_simple(2, mem_dims, nullptr));
    if (b == a) {
        H5Sselect_none(mem_space.get());
    }
    return mem_space;
}

bool same_ranks(const mpi::Comm &a, const mpi::Comm &b) {
    int result = MPI_UNEQUAL;
    MPI_Comm_compare(a.get(), b.get(), &result);
    return result == MPI_IDENT || result == MPI_CONGRUENT;
}

} // namespace

std::vector<HyperslabRun> slab_runs(const BlockCyclic &dist, int proc, lidx l0, lidx l1) {
    std::vector<HyperslabRun> runs;
    if (l1 <= l0) {
        return runs;
    }
    const gidx b = dist.block();
    const auto global = [&](lidx l) { return static_cast<hsize_t>(dist.to_global(l, proc)); };
    const lidx first_full = (l0 + b - 1) / b; // local blocks [first_full, end_full) lie wholly inside
    const lidx end_full = l1 / b;
    if (first_full > end_full) { // l0 and l1 inside one block
        runs.push_back({global(l0), 1, 1, static_cast<hsize_t>(l1 - l0)});
        return runs;
    }
    if (l0 % b != 0) {
        runs.push_back({global(l0), 1, 1, static_cast<hsize_t>(first_full * b - l0)});
    }
    if (end_full > first_full) {
        runs.push_back({global(first_full * b), static_cast<hsize_t>(b * dist.procs()),
                        static_cast<hsize_t>(end_full - first_full), static_cast<hsize_t>(b)});
    }
    if (l1 % b != 0) {
        runs.push_back({global(end_full * b), 1, 1, static_cast<hsize_t>(l1 - end_full * b)});
    }
    return runs;
}

template <typename T> std::vector<hsize_t> factor_dataset_dims(const Factor<T> &f) {
    const auto n = static_cast<hsize_t>(f.global_rows()), k = static_cast<hsize_t>(f.k());
    return f.side() == FactorSide::w ? std::vector<hsize_t>{n, k} : std::vector<hsize_t>{k, n};
}

template <typename T>
void write_factor_as(
    Writer &writer, const std::string &name, const Factor<T> &f, lidx round_elements, bool transposed) {
    const mpi::Comm &comm = f.grid().comm();
    mpi::agree(comm, same_ranks(comm, writer.comm()),
               in_quotes(writer.file()) + ": writing factor " + in_quotes(name) +
                   ": the file was opened on other ranks than the factor's grid");
    const hid_t file_type = std::is_same<T, double>::value ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
    const auto n = static_cast<hsize_t>(f.global_rows()), k = static_cast<hsize_t>(f.k());
    Hid dataset = writer.create_dataset(name, file_type,
                                        transposed ? std::vector<hsize_t>{k, n} : std::vector<hsize_t>{n, k});
    if (f.global_rows() == 0) { // nothing to store; HDF5 rejects I/O on storage never allocated
        return;
    }
    Hid file_space = space_hid(H5Dget_space(dataset.get()));
    Hid dxpl = collective_dxpl();
    std::vector<T> staging;
    bool ok = true;
    for_each_round(f, round_elements, [&](lidx a, lidx b) {
        const lidx rows = b - a;
        const T *source = f.data() + a * f.k();
        if (transposed && rows > 0) { // slab rows [a, b) -> k x rows, row-major
            staging.resize(static_cast<std::size_t>(rows * f.k()));
            for (lidx r = 0; r < rows; ++r) {
                for (gidx l = 0; l < f.k(); ++l) {
                    staging[static_cast<std::size_t>(l * rows + r)] = f.at(a + r, l);
                }
            }
            source = staging.data();
        }
        static const T dummy{}; // HDF5 wants a buffer even for an empty selection
        Hid mem_space = select_round(f, file_space.get(), a, b, transposed);
        ok = H5Dwrite(dataset.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
                      rows > 0 ? source : &dummy) >= 0 &&
             ok;
    });
    mpi::agree(comm, ok,
               in_quotes(writer.file()) + ": writing dataset " + in_quotes(name) + " failed (disk full?)");
}

template <typename T>
void write_factor(Writer &writer, const std::string &name, const Factor<T> &f, lidx round_elements) {
    write_factor_as(writer, name, f, round_elements, f.side() == FactorSide::ht);
}

template <typename T>
void write_factor_rows(Writer &writer, const std::string &name, const Factor<T> &f, lidx round_elements) {
    write_factor_as(writer, name, f, round_elements, false);
}

template <typename T> void read_factor(const DatasetPath &path, Factor<T> &f, lidx round_elements) {
    const mpi::Comm &comm = f.grid().comm();
    const DatasetInfo info = inspect_dataset(comm, path);
    const std::vector<hsize_t> expected = factor_dataset_dims(f);
    const std::vector<hsize_t> found(info.dims.begin(), info.dims.end());
    const std::string what = in_quotes(path.file) + ": dataset " + in_quotes(path.dataset);
    mpi::agree(comm, info.numeric, what + " has type " + info.type + "; expected a numeric matrix");
    mpi::agree(comm, found == expected,
               what + " is " + dims_string(found) + "; expected " + dims_string(expected) + " for " +
                   (f.side() == FactorSide::w ? "W (m x k)" : "H (k x n)"));
    if (f.global_rows() == 0) {
        return;
    }
    Hid file, dataset, file_space;
    mpi::agree_call(comm, [&] {
        Hid fapl = plist_hid(H5Pcreate(H5P_FILE_ACCESS));
        H5Pset_fapl_mpio(fapl.get(), comm.get(), MPI_INFO_NULL);
        file = file_hid(H5Fopen(path.file.c_str(), H5F_ACC_RDONLY, fapl.get()));
        PRISM_CHECK(file.valid(), in_quotes(path.file) + ": parallel open failed");
        dataset = dataset_hid(H5Dopen2(file.get(), path.dataset.c_str(), H5P_DEFAULT));
        PRISM_CHECK(dataset.valid(), in_quotes(path.file) + ": cannot open " + in_quotes(path.dataset));
        file_space = space_hid(H5Dget_space(dataset.get()));
    });
    Hid dxpl = collective_dxpl();
    const bool transposed = f.side() == FactorSide::ht;
    std::vector<T> staging;
    bool ok = true;
    for_each_round(f, round_elements, [&](lidx a, lidx b) {
        const lidx rows = b - a;
        T *target = f.data() + a * f.k();
        if (transposed) {
            staging.resize(static_cast<std::size_t>(std::max<lidx>(rows * f.k(), 1)));
            target = staging.data();
        }
        T dummy{};
        Hid mem_space = select_round(f, file_space.get(), a, b, f.side() == FactorSide::ht);
        if (H5Dread(dataset.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
                    rows > 0 ? target : &dummy) < 0) {
            ok = false;
            return;
        }
        if (transposed) { // k x rows, row-major -> slab rows [a, b)
            for (lidx r = 0; r < rows; ++r) {
                for (gidx l = 0; l < f.k(); ++l) {
                    f.at(a + r, l) = staging[static_cast<std::size_t>(l * rows + r)];
                }
            }
        }
    });
    mpi::agree(comm, ok, what + ": reading failed (corrupt or truncated data?)");
}

template std::vector<hsize_t> factor_dataset_dims<double>(const Factor<double> &);
template std::vector<hsize_t> factor_dataset_dims<float>(const Factor<float> &);
template void write_factor<double>(Writer &, const std::string &, const Factor<double> &, lidx);
template void write_factor<float>(Writer &, const std::string &, const Factor<float> &, lidx);
template void write_factor_rows<double>(Writer &, const std::string &, const Factor<double> &, lidx);
template void write_factor_rows<float>(Writer &, const std::string &, const Factor<float> &, lidx);
template void read_factor<double>(const DatasetPath &, Factor<double> &, lidx);
template void read_factor<float>(const DatasetPath &, Factor<float> &, lidx);

} // namespace prism::io
