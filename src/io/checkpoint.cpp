// Checkpoint files. Crash safety comes from never writing in place: the file is written collectively to
// PATH.tmp-PID, closed on every rank, flushed to disk by rank 0 and only then renamed over PATH (rename is
// atomic on POSIX file systems, Lustre and GPFS included). A run killed at any moment leaves either the old
// PATH or the new one, never a mix; at worst a stale PATH.tmp-PID, removed by the next successful write.
//
// The factors carry an order-free checksum each (stored in the record), verified after reading, so a file
// damaged after it was written is refused rather than resumed from.

#include "prism/io/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "prism/error.hpp"
#include "prism/io/factor_io.hpp"
#include "prism/io/hdf5_matrix.hpp"
#include "prism/mpi/collectives.hpp"

namespace fs = std::filesystem;

namespace prism::io {

namespace {

constexpr std::int64_t format_version = 1;
constexpr const char *version_attribute = "prism_checkpoint";

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

// SplitMix64's finaliser: a bijective mix of 64 bits.
std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t entry_hash(gidx i, gidx j, double value) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    return mix(
        mix(mix(static_cast<std::uint64_t>(i)) ^ (static_cast<std::uint64_t>(j) + 0x9e3779b97f4a7c15ULL)) ^
        bits);
}

// Order-free checksum of a factor: entries keyed by (global row, column). Collective on the grid.
template <typename T> std::uint64_t factor_checksum(const Factor<T> &f) {
    std::uint64_t sum = 0;
    for (lidx r = 0; r < f.rows(); ++r) {
        for (gidx l = 0; l < f.k(); ++l) {
            sum += entry_hash(f.global_index(r), l, static_cast<double>(f.at(r, l)));
        }
    }
    unsigned long long total = sum;
    mpi::allreduce(f.grid().comm(), &total, 1, mpi::Op::sum); // unsigned: wraps mod 2^64 on every rank alike
    return total;
}

// A 64-bit value as two float64 (exact: each half < 2^32) and back.
std::vector<double> split64(std::uint64_t v) {
    return {static_cast<double>(v >> 32), static_cast<double>(v & 0xffffffffULL)};
}
std::uint64_t join64(const std::vector<double> &v) {
    return v.size() == 2 ? (static_cast<std::uint64_t>(v[0]) << 32) | static_cast<std::uint64_t>(v[1]) : 0;
}

std::string w_name(std::size_t v) {
    return "/W/" + std::to_string(v);
}

// Flushes a closed file's data to disk, so the rename never publishes a name whose data is still in a cache
// a node crash could lose. Local (rank 0).
void sync_file(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    PRISM_CHECK(fd >= 0, "cannot reopen " + in_quotes(path) + " to flush it");
    const int rc = ::fsync(fd);
    ::close(fd);
    PRISM_CHECK(rc == 0, "cannot flush " + in_quotes(path) + " to disk: " + std::strerror(errno));
}

// Removes PATH.tmp-* left by runs killed while writing (never the one just renamed). Local (rank 0).
void remove_stale_temporaries(const std::string &path) {
    const fs::path p(path);
    const fs::path folder = p.has_parent_path() ? p.parent_path() : fs::path(".");
    const std::string prefix = p.filename().string() + ".tmp-";
    std::error_code ec;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().filename().string().rfind(prefix, 0) == 0) {
            std::error_code ignored;
            fs::remove(it->path(), ignored);
        }
    }
}

// Byte packing for sending the record from rank 0 to every rank in one broadcast.
void put_u64(std::string &b, std::uint64_t v) {
    b.append(reinterpret_cast<const char *>(&v), sizeof v);
}
void put_string(std::string &b, const std::string &s) {
    put_u64(b, s.size());
    b += s;
}
struct Unpacker {
    const std::string &b;
    std::size_t pos = 0;
    std::uint64_t u64() {
        std::uint64_t v = 0;
        std::memcpy(&v, b.data() + pos, sizeof v);
        pos += sizeof v;
        return v;
    }
    std::string string() {
        const std::size_t n = u64();
        std::string s = b.substr(pos, n);
        pos += n;
        return s;
    }
};

void share_string(const mpi::Comm &comm, std::string &s) {
    std::int64_t n = static_cast<std::int64_t>(s.size());
    mpi::bcast(comm, &n, 1, 0);
    s.resize(static_cast<std::size_t>(n));
    mpi::bcast(comm, s.data(), n, 0);
}

// Rank 0: every /state/<name> series, packed. Throws prism::Error (local) on anything unexpected.
std::string read_state_packed(hid_t file, const std::string &what, int &w_count) {
    PRISM_CHECK(H5Aexists(file, version_attribute) > 0,
                what + " is not a Prism checkpoint (no format attribute)");
    std::int64_t version = 0;
    {
        Hid attr = attr_hid(H5Aopen(file, version_attribute, H5P_DEFAULT));
        PRISM_CHECK(attr.valid() && H5Aread(attr.get(), H5T_NATIVE_INT64, &version) >= 0,
                    what + ": cannot read its format attribute (corrupt?)");
    }
    PRISM_CHECK(version == format_version, what + " has checkpoint format " + std::to_string(version) +
                                               "; this Prism reads format " + std::to_string(format_version));
    for (const char *name : {"/W", "/H", "/identity", "/state"}) {
        PRISM_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, what + " has no " + name + " (corrupt?)");
    }
    w_count = 0;
    while (H5Lexists(file, w_name(static_cast<std::size_t>(w_count)).c_str(), H5P_DEFAULT) > 0) {
        ++w_count;
    }
    PRISM_CHECK(w_count > 0, what + " has no /W/0 (corrupt?)");
    Hid group = group_hid(H5Gopen2(file, "/state", H5P_DEFAULT));
    H5G_info_t info{};
    PRISM_CHECK(group.valid() && H5Gget_info(group.get(), &info) >= 0,
                what + ": cannot list /state (corrupt?)");
    std::string packed;
    put_u64(packed, info.nlinks);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        char name[256] = {};
        PRISM_CHECK(H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                       H5P_DEFAULT) > 0,
                    what + ": cannot list /state (corrupt?)");
        Hid d = dataset_hid(H5Dopen2(group.get(), name, H5P_DEFAULT));
        PRISM_CHECK(d.valid(), what + ": cannot open /state/" + name + " (corrupt?)");
        Hid space = space_hid(H5Dget_space(d.get()));
        PRISM_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, what + ": /state/" + name + " is not 1-D");
        hsize_t n = 0;
        H5Sget_simple_extent_dims(space.get(), &n, nullptr);
        std::vector<double> values(static_cast<std::size_t>(n));
        PRISM_CHECK(
            n == 0 || H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0,
            what + ": cannot read /state/" + name + " (corrupt or truncated?)");
        put_string(packed, name);
        put_u64(packed, values.size());
        packed.append(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(double));
    }
    return packed;
}

} // namespace

template <typename T> std::uint64_t data_checksum(MatrixRef<T> x) {
    std::uint64_t sum = 0;
    auto add = [&sum](gidx i, gidx j, T value) {
        if (value != T{0} || std::signbit(value)) { // +0.0 adds nothing: dense and sparse storage agree
            sum += entry_hash(i, j, static_cast<double>(value));
        }
    };
    if (const SparseDistMatrix<T> *s = x.sparse()) {
        const CsrBlock<T> &b = s->block();
        for (lidx i_loc = 0; i_loc < b.rows; ++i_loc) {
            const gidx i = s->global_row(i_loc);
            for (std::int64_t p = b.row_ptr[static_cast<std::size_t>(i_loc)];
                 p < b.row_ptr[static_cast<std::size_t>(i_loc + 1)]; ++p) {
                add(i, s->global_col(b.col[static_cast<std::size_t>(p)]),
                    b.values[static_cast<std::size_t>(p)]);
            }
        }
    } else {
        const DistMatrix<T> &d = *x.dense();
        for (lidx j_loc = 0; j_loc < d.local_cols(); ++j_loc) {
            const gidx j = d.global_col(j_loc);
            const T *col = d.data() + j_loc * d.ld();
            for (lidx i_loc = 0; i_loc < d.local_rows(); ++i_loc) {
                add(d.global_row(i_loc), j, col[i_loc]);
            }
        }
    }
    unsigned long long total = sum;
    // Wrapping unsigned addition is associative and commutative: the same total for any grid.
    mpi::allreduce(x.grid().comm(), &total, 1, mpi::Op::sum);
    return total;
}

template <typename T>
void write_checkpoint(const mpi::Comm &comm,
                      const std::string &path,
                      const std::vector<const Factor<T> *> &w,
                      const Factor<T> &ht,
                      const CheckpointRecord &record) {
    std::int64_t pid = ::getpid();
    mpi::bcast(comm, &pid, 1, 0);
    const std::string tmp = path + ".tmp-" + std::to_string(pid);
    CheckpointRecord full = record;
    for (std::size_t v = 0; v < w.size(); ++v) {
        full.numbers["checksum_W" + std::to_string(v)] = split64(factor_checksum(*w[v]));
    }
    full.numbers["checksum_H"] = split64(factor_checksum(ht));
    try {
        Writer out(comm, tmp, /*overwrite=*/true);
        for (std::size_t v = 0; v < w.size(); ++v) {
            write_factor(out, w_name(v), *w[v]);
        }
        write_factor(out, "/H", ht);
        std::vector<std::string> identity;
        for (const auto &[key, value] : full.identity) {
            identity.push_back(key + "=" + value);
        }
        out.write_strings("/identity", identity);
        for (const auto &[name, values] : full.numbers) {
            out.write_vector("/state/" + name, values);
        }
        out.write_attribute(version_attribute, format_version);
        out.close();
    } catch (const Error &e) {
        if (e.collective()) {
            MPI_Barrier(comm.get()); // every rank has closed (or never opened) the file
            if (comm.rank() == 0) {
                std::error_code ignored;
                fs::remove(tmp, ignored);
            }
        }
        throw;
    }
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        std::error_code ec;
        try {
            sync_file(tmp);
        } catch (const Error &) {
            fs::remove(tmp, ec);
            throw;
        }
        fs::rename(tmp, path, ec); // atomic replacement of the previous checkpoint
        if (ec) {
            std::error_code ignored;
            fs::remove(tmp, ignored);
            throw Error("cannot move the checkpoint into place as " + in_quotes(path) + ": " + ec.message());
        }
        remove_stale_temporaries(path);
    });
}

CheckpointRecord read_checkpoint_record(const mpi::Comm &comm, const std::string &path, int &w_count) {
    const std::string what = "checkpoint " + in_quotes(path);
    std::string packed;
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        std::error_code ec;
        PRISM_CHECK(fs::exists(path, ec), what + " does not exist");
        PRISM_CHECK(fs::is_regular_file(path, ec), what + " is not a file");
        silence_hdf5_errors();
        PRISM_CHECK(H5Fis_hdf5(path.c_str()) > 0,
                    what + " is not a readable HDF5 file (truncated or corrupt?)");
        Hid file = file_hid(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
        PRISM_CHECK(file.valid(), what + " cannot be opened (truncated or corrupt?)");
        int count = 0;
        packed = read_state_packed(file.get(), what, count);
        put_u64(packed, static_cast<std::uint64_t>(count));
    });
    share_string(comm, packed);
    CheckpointRecord record;
    Unpacker in{packed};
    const std::uint64_t series = in.u64();
    for (std::uint64_t s = 0; s < series; ++s) {
        const std::string name = in.string();
        std::vector<double> values(static_cast<std::size_t>(in.u64()));
        std::memcpy(values.data(), packed.data() + in.pos, values.size() * sizeof(double));
        in.pos += values.size() * sizeof(double);
        record.numbers[name] = std::move(values);
    }
    w_count = static_cast<int>(in.u64());
    std::vector<std::string> identity;
    try {
        identity = read_strings(comm, {path, "/identity"});
    } catch (const Error &e) {
        if (!e.collective()) {
            throw;
        }
        throw Error(what + ": cannot read /identity (corrupt?): " + e.what(), e.rank(), true);
    }
    for (const std::string &entry : identity) {
        const auto eq = entry.find('=');
        record.identity.emplace_back(entry.substr(0, eq),
                                     eq == std::string::npos ? "" : entry.substr(eq + 1));
    }
    return record;
}

template <typename T>
void read_checkpoint_factors(const std::string &path, const std::vector<Factor<T> *> &w, Factor<T> &ht) {
    const mpi::Comm &comm = ht.grid().comm();
    int w_count = 0;
    const CheckpointRecord record = read_checkpoint_record(comm, path, w_count);
    mpi::agree(comm, static_cast<std::size_t>(w_count) == w.size(),
               "checkpoint " + in_quotes(path) + " has " + std::to_string(w_count) + " W factors; expected " +
                   std::to_string(w.size()));
    const auto verify = [&](const Factor<T> &f, const std::string &key, const std::string &name) {
        const auto it = record.numbers.find(key);
        const bool known = it != record.numbers.end();
        mpi::agree(comm, known && join64(it->second) == factor_checksum(f),
                   "checkpoint " + in_quotes(path) + ": " + name +
                       (known ? " does not match its checksum (corrupt?)" : " has no checksum (corrupt?)"));
    };
    for (std::size_t v = 0; v < w.size(); ++v) {
        read_factor(DatasetPath{path, w_name(v)}, *w[v]);
        verify(*w[v], "checksum_W" + std::to_string(v), w_name(v));
    }
    read_factor(DatasetPath{path, "/H"}, ht);
    verify(ht, "checksum_H", "/H");
}

std::string identity_difference(const std::vector<std::pair<std::string, std::string>> &saved,
                                const std::vector<std::pair<std::string, std::string>> &now) {
    for (const auto &[key, value] : now) {
        const auto it =
            std::find_if(saved.begin(), saved.end(), [&](const auto &e) { return e.first == key; });
        if (it == saved.end()) {
            return key + " is missing in the checkpoint (now " + in_quotes(value) + ")";
        }
        if (it->second != value) {
            return key + " is " + in_quotes(it->second) + " in the checkpoint, " + in_quotes(value) + " now";
        }
    }
    for (const auto &[key, value] : saved) {
        const auto it = std::find_if(now.begin(), now.end(), [&](const auto &e) { return e.first == key; });
        if (it == now.end()) {
            return key + " is " + in_quotes(value) + " in the checkpoint but not part of this run";
        }
    }
    return "";
}

template std::uint64_t data_checksum<double>(MatrixRef<double>);
template std::uint64_t data_checksum<float>(MatrixRef<float>);
template void write_checkpoint<double>(const mpi::Comm &,
                                       const std::string &,
                                       const std::vector<const Factor<double> *> &,
                                       const Factor<double> &,
                                       const CheckpointRecord &);
template void write_checkpoint<float>(const mpi::Comm &,
                                      const std::string &,
                                      const std::vector<const Factor<float> *> &,
                                      const Factor<float> &,
                                      const CheckpointRecord &);
template void
read_checkpoint_factors<double>(const std::string &, const std::vector<Factor<double> *> &, Factor<double> &);
template void
read_checkpoint_factors<float>(const std::string &, const std::vector<Factor<float> *> &, Factor<float> &);

} // namespace prism::io
