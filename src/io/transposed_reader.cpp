#include "prism/io/transposed_reader.hpp"

#include <algorithm>

#include "prism/io/factor_io.hpp"
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

} // namespace

template <typename T>
DistMatrix<T> read_matrix_transposed(const Grid &grid,
                                     const DatasetPath &path,
                                     gidx mb,
                                     gidx nb,
                                     const std::vector<gidx> &file_row,
                                     lidx round_elements) {
    const mpi::Comm &comm = grid.comm();
    const DatasetInfo info = inspect_dataset(comm, path);
    const std::string where = in_quotes(path.file) + ":" + path.dataset;
    mpi::agree(comm, info.dims.size() == 2 && info.numeric, where + " is not a 2-D numeric dataset");
    const gidx r = info.dims[0], c = info.dims[1];
    bool valid = true;
    for (gidx f : file_row) {
        valid = valid && f >= -1 && f < r;
    }
    mpi::agree(comm, valid, where + ": sample map names a row outside 0.." + std::to_string(r - 1));
    DistMatrix<T> a(grid, c, file_row.empty() ? r : static_cast<gidx>(file_row.size()), mb, nb);
    if (a.rows() == 0 || a.cols() == 0) {
        return a;
    }
    Hid file, dataset;
    mpi::agree_call(comm, [&] {
        Hid fapl = plist_hid(H5Pcreate(H5P_FILE_ACCESS));
        H5Pset_fapl_mpio(fapl.get(), comm.get(), MPI_INFO_NULL);
        file = file_hid(H5Fopen(path.file.c_str(), H5F_ACC_RDONLY, fapl.get()));
        PRISM_CHECK(file.valid(), in_quotes(path.file) + ": parallel open failed");
        dataset = dataset_hid(H5Dopen2(file.get(), path.dataset.c_str(), H5P_DEFAULT));
        PRISM_CHECK(dataset.valid(), in_quotes(path.file) + ": cannot open " + in_quotes(path.dataset));
    });
    Hid file_space = space_hid(H5Dget_space(dataset.get()));
    Hid dxpl = plist_hid(H5Pcreate(H5P_DATASET_XFER));
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);

    // The dataset's columns I need are my matrix rows: at most three regular runs.
    const lidx rows = a.local_rows();
    const std::vector<HyperslabRun> col_runs = slab_runs(a.row_dist(), grid.my_row(), 0, rows);
    const lidx per_round = std::max<lidx>(1, round_elements / std::max<lidx>(rows, 1));
    const lidx my_rounds = (a.local_cols() + per_round - 1) / per_round;
    const lidx rounds = mpi::allreduce_value(comm, my_rounds, mpi::Op::max);
    std::vector<T> staging;
    std::vector<std::pair<gidx, lidx>> wanted; // (dataset row, local column), sorted by dataset row
    bool ok = true;
    for (lidx round = 0; round < rounds; ++round) {
        const lidx j0 = std::min(a.local_cols(), round * per_round);
        const lidx j1 = std::min(a.local_cols(), j0 + per_round);
        wanted.clear();
        for (lidx j = j0; j < j1; ++j) {
            const gidx f =
                file_row.empty() ? a.global_col(j) : file_row[static_cast<std::size_t>(a.global_col(j))];
            if (f >= 0) {
                wanted.emplace_back(f, j);
            }
        }
        std::sort(wanted.begin(), wanted.end()); // HDF5 returns a selection in file order
        H5Sselect_none(file_space.get());
        bool any = false;
        for (std::size_t q = 0; q < wanted.size() && rows > 0;) {
            std::size_t e = q + 1;
            while (e < wanted.size() && wanted[e].first == wanted[e - 1].first + 1) {
                ++e;
            }
            for (const HyperslabRun &cr : col_runs) {
                const hsize_t start[2] = {static_cast<hsize_t>(wanted[q].first), cr.start};
                const hsize_t stride[2] = {1, cr.stride}, count[2] = {1, cr.count};
                const hsize_t block[2] = {static_cast<hsize_t>(e - q), cr.block};
                H5Sselect_hyperslab(file_space.get(), any ? H5S_SELECT_OR : H5S_SELECT_SET, start, stride,
                                    count, block);
                any = true;
            }
            q = e;
        }
        const hsize_t mem_n =
            static_cast<hsize_t>(std::max<lidx>(rows * static_cast<lidx>(wanted.size()), 1));
        Hid mem_space = space_hid(H5Screate_simple(1, &mem_n, nullptr));
        staging.resize(static_cast<std::size_t>(mem_n));
        if (!any) {
            H5Sselect_none(file_space.get());
            H5Sselect_none(mem_space.get());
        }
        if (H5Dread(dataset.get(), native_type<T>(), mem_space.get(), file_space.get(), dxpl.get(),
                    staging.data()) < 0) {
            ok = false;
        }
        if (any && ok) { // dataset row q of the selection = local column wanted[q].second, genes contiguous
            for (std::size_t q = 0; q < wanted.size(); ++q) {
                std::copy(staging.begin() + static_cast<std::ptrdiff_t>(q) * rows,
                          staging.begin() + static_cast<std::ptrdiff_t>(q + 1) * rows,
                          &a.local(0, wanted[q].second));
            }
        }
    }
    mpi::agree(comm, ok, where + ": reading the data failed (corrupt or truncated file?)");
    return a;
}

template DistMatrix<double> read_matrix_transposed<double>(
    const Grid &, const DatasetPath &, gidx, gidx, const std::vector<gidx> &, lidx);
template DistMatrix<float>
read_matrix_transposed<float>(const Grid &, const DatasetPath &, gidx, gidx, const std::vector<gidx> &, lidx);

} // namespace prism::io
