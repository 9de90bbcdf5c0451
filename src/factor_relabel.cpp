#include "prism/factor_relabel.hpp"

#include <mpi.h>

#include "prism/mpi/collectives.hpp"

namespace prism {

namespace {

// Part of `n` rows split into `parts` slabs (slab_start's inverse) holding local row l.
int slab_of(lidx n, int parts, lidx l) {
    const lidx q = n / parts, r = n % parts;
    return static_cast<int>(l < r * (q + 1) ? l / (q + 1) : r + (l - r * (q + 1)) / std::max<lidx>(q, 1));
}

} // namespace

template <typename T> Factor<T> relabel_rows(const Factor<T> &f, const std::vector<gidx> &target) {
    const Grid &grid = f.grid();
    const mpi::Comm &comm = grid.comm();
    mpi::agree(comm, static_cast<gidx>(target.size()) == f.global_rows(),
               "relabel_rows: " + std::to_string(target.size()) + " targets for " +
                   std::to_string(f.global_rows()) + " factor rows");
    Factor<T> out(grid, f.dist(), f.side(), f.k());
    const bool w = f.side() == FactorSide::w;
    const int parts = w ? grid.cols() : grid.rows();
    const auto owner = [&](gidx t, lidx &slab_row) {
        const int p = f.dist().owner(t);
        const lidx l = f.dist().to_local(t);
        const lidx n = f.dist().local_size(p);
        const int part = slab_of(n, parts, l);
        slab_row = l - slab_start(n, parts, part);
        return w ? p * grid.cols() + part : part * grid.cols() + p;
    };
    const int P = comm.size();
    const gidx k = f.k();
    std::vector<std::vector<std::int64_t>> send_index(static_cast<std::size_t>(P));
    std::vector<std::vector<T>> send_values(static_cast<std::size_t>(P));
    for (lidx r = 0; r < f.rows(); ++r) {
        lidx slab_row = 0;
        const int dest = owner(target[static_cast<std::size_t>(f.global_index(r))], slab_row);
        send_index[static_cast<std::size_t>(dest)].push_back(slab_row);
        send_values[static_cast<std::size_t>(dest)].insert(send_values[static_cast<std::size_t>(dest)].end(),
                                                           &f.at(r, 0), &f.at(r, 0) + k);
    }
    std::vector<int> scount(static_cast<std::size_t>(P)), sdispl(static_cast<std::size_t>(P));
    std::vector<int> rcount(static_cast<std::size_t>(P)), rdispl(static_cast<std::size_t>(P));
    std::vector<std::int64_t> flat_index;
    std::vector<T> flat_values;
    for (int d = 0; d < P; ++d) {
        sdispl[static_cast<std::size_t>(d)] = narrow<int>(flat_index.size(), "factor rows sent");
        scount[static_cast<std::size_t>(d)] =
            narrow<int>(send_index[static_cast<std::size_t>(d)].size(), "factor rows sent");
        flat_index.insert(flat_index.end(), send_index[static_cast<std::size_t>(d)].begin(),
                          send_index[static_cast<std::size_t>(d)].end());
        flat_values.insert(flat_values.end(), send_values[static_cast<std::size_t>(d)].begin(),
                           send_values[static_cast<std::size_t>(d)].end());
    }
    MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, comm.get());
    int total = 0;
    for (int s = 0; s < P; ++s) {
        rdispl[static_cast<std::size_t>(s)] = total;
        total += rcount[static_cast<std::size_t>(s)];
    }
    std::vector<std::int64_t> recv_index(static_cast<std::size_t>(std::max(total, 1)));
    flat_index.resize(std::max<std::size_t>(flat_index.size(), 1));
    MPI_Alltoallv(flat_index.data(), scount.data(), sdispl.data(), MPI_INT64_T, recv_index.data(),
                  rcount.data(), rdispl.data(), MPI_INT64_T, comm.get());
    // The values: k per row, as a contiguous type so counts stay row counts.
    MPI_Datatype row_type;
    MPI_Type_contiguous(narrow<int>(k, "factor rank k"), mpi::mpi_type<T>(), &row_type);
    MPI_Type_commit(&row_type);
    std::vector<T> recv_values(static_cast<std::size_t>(std::max<gidx>(total * k, 1)));
    flat_values.resize(std::max<std::size_t>(flat_values.size(), 1));
    MPI_Alltoallv(flat_values.data(), scount.data(), sdispl.data(), row_type, recv_values.data(),
                  rcount.data(), rdispl.data(), row_type, comm.get());
    MPI_Type_free(&row_type);
    for (int q = 0; q < total; ++q) {
        const lidx r = recv_index[static_cast<std::size_t>(q)];
        std::copy(recv_values.begin() + q * k, recv_values.begin() + (q + 1) * k, &out.at(r, 0));
    }
    return out;
}

template Factor<double> relabel_rows<double>(const Factor<double> &, const std::vector<gidx> &);
template Factor<float> relabel_rows<float>(const Factor<float> &, const std::vector<gidx> &);

} // namespace prism
