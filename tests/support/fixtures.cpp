#include "support/fixtures.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <mpi.h>

namespace prism::test {

namespace {
void ensure_groups(hid_t file, const std::string &path) {
    std::size_t pos = 0;
    while ((pos = path.find('/', pos + 1)) != std::string::npos) {
        const std::string prefix = path.substr(0, pos);
        if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
            H5Gclose(H5Gcreate2(file, prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        }
    }
}
} // namespace

void write_serial_file(const mpi::Comm &comm,
                       const std::string &file,
                       const std::vector<SerialDataset> &datasets) {
    if (comm.rank() == 0) {
        const hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0) {
            throw std::runtime_error("fixture: cannot create " + file);
        }
        for (const auto &d : datasets) {
            ensure_groups(f, d.name);
            const hsize_t dims[2] = {static_cast<hsize_t>(d.rows), static_cast<hsize_t>(d.cols)};
            const hid_t space = H5Screate_simple(2, dims, nullptr);
            const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
            if (!d.chunk.empty()) {
                H5Pset_chunk(dcpl, 2, d.chunk.data());
                if (d.deflate) {
                    H5Pset_shuffle(dcpl);
                    H5Pset_deflate(dcpl, 4);
                }
            }
            const hid_t set =
                H5Dcreate2(f, d.name.c_str(), d.file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
            if (!d.row_major.empty()) {
                H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.row_major.data());
            }
            H5Dclose(set);
            H5Pclose(dcpl);
            H5Sclose(space);
        }
        H5Fclose(f);
    }
    MPI_Barrier(comm.get());
}

void write_serial_strings(const mpi::Comm &comm,
                          const std::string &file,
                          const std::string &name,
                          const std::vector<std::string> &values,
                          bool variable_length) {
    if (comm.rank() == 0) {
        const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        ensure_groups(f, name);
        const hsize_t n = values.size();
        const hid_t space = H5Screate_simple(1, &n, nullptr);
        const hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_cset(type, H5T_CSET_UTF8);
        if (variable_length) {
            H5Tset_size(type, H5T_VARIABLE);
            std::vector<const char *> ptrs;
            for (const auto &v : values) {
                ptrs.push_back(v.c_str());
            }
            const hid_t set = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
            H5Dclose(set);
        } else {
            std::size_t width = 1;
            for (const auto &v : values) {
                width = std::max(width, v.size());
            }
            H5Tset_size(type, width);
            std::vector<char> packed(n * width, '\0');
            for (std::size_t i = 0; i < values.size(); ++i) {
                std::memcpy(packed.data() + i * width, values[i].data(), values[i].size());
            }
            const hid_t set = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data());
            H5Dclose(set);
        }
        H5Tclose(type);
        H5Sclose(space);
        H5Fclose(f);
    }
    MPI_Barrier(comm.get());
}

std::vector<double>
read_serial_matrix(const std::string &file, const std::string &name, gidx &rows, gidx &cols) {
    const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t set = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
    const hid_t space = H5Dget_space(set);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    rows = static_cast<gidx>(dims[0]);
    cols = static_cast<gidx>(dims[1]);
    std::vector<double> values(dims[0] * dims[1]);
    H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Sclose(space);
    H5Dclose(set);
    H5Fclose(f);
    return values;
}

void remove_file(const mpi::Comm &comm, const std::string &file) {
    MPI_Barrier(comm.get());
    if (comm.rank() == 0) {
        std::remove(file.c_str());
    }
}

} // namespace prism::test
