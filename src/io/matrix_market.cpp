#include "prism/io/matrix_market.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "prism/io/sparse_assembly.hpp"
#include "prism/mpi/collectives.hpp"

namespace prism::io {

namespace {

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

struct Header {
    bool pattern = false, symmetric = false;
    gidx rows = 0, cols = 0, entries = 0;
    std::int64_t line = 0; // lines consumed (banner, comments, size line)
};

// Reads the banner, comments and size line. Throws a local Error naming the file and line.
Header read_header(std::istream &in, const std::string &file) {
    Header h;
    std::string line;
    const std::string where = in_quotes(file);
    if (!std::getline(in, line)) {
        throw Error(where +
                    ": empty file; expected a MatrixMarket banner '%%MatrixMarket matrix coordinate ...'");
    }
    h.line = 1;
    std::istringstream banner(line);
    std::string tag, object, format, field, symmetry;
    banner >> tag >> object >> format >> field >> symmetry;
    if (lower(tag) != "%%matrixmarket" || lower(object) != "matrix") {
        throw Error(where + ": line 1 is not a MatrixMarket banner ('%%MatrixMarket matrix coordinate ...')");
    }
    if (lower(format) != "coordinate") {
        throw Error(where + ": MatrixMarket format " + in_quotes(format) +
                    " is not supported; only sparse 'coordinate' files are (store dense data in HDF5)");
    }
    field = lower(field);
    symmetry = lower(symmetry);
    if (field != "real" && field != "integer" && field != "pattern" && field != "double") {
        throw Error(where + ": MatrixMarket field " + in_quotes(field) +
                    " is not supported (real, integer or pattern)");
    }
    if (symmetry != "general" && symmetry != "symmetric") {
        throw Error(where + ": MatrixMarket symmetry " + in_quotes(symmetry) +
                    " is not supported (general or symmetric)");
    }
    h.pattern = field == "pattern";
    h.symmetric = symmetry == "symmetric";
    while (std::getline(in, line)) {
        ++h.line;
        if (line.empty() || line[0] == '%') {
            continue;
        }
        std::istringstream size(line);
        long long m = -1, n = -1, nnz = -1;
        std::string rest;
        if (!(size >> m >> n >> nnz) || (size >> rest) || m < 0 || n < 0 || nnz < 0) {
            throw Error(where + ": line " + std::to_string(h.line) +
                        ": expected the size line 'ROWS COLS ENTRIES' with non-negative integers");
        }
        if (h.symmetric && m != n) {
            throw Error(where + ": a symmetric matrix must be square, the size line says " +
                        std::to_string(m) + " x " + std::to_string(n));
        }
        h.rows = m;
        h.cols = n;
        h.entries = nnz;
        return h;
    }
    throw Error(where + ": no size line after the MatrixMarket banner");
}

std::ifstream open(const std::string &file) {
    std::ifstream in(file);
    if (!in) {
        throw Error(in_quotes(file) + ": cannot be opened for reading (no such file, or permissions?)");
    }
    return in;
}

} // namespace

bool looks_like_matrix_market(const std::string &file) {
    std::ifstream in(file, std::ios::binary);
    char banner[14] = {0};
    in.read(banner, sizeof banner);
    return in.gcount() == 14 && lower(std::string(banner, 14)) == "%%matrixmarket";
}

std::pair<gidx, gidx> matrix_market_shape(const mpi::Comm &comm, const std::string &file) {
    gidx dims[2] = {0, 0};
    mpi::agree_call(comm, [&] {
        if (comm.rank() == 0) {
            std::ifstream in = open(file);
            const Header h = read_header(in, file);
            dims[0] = h.rows;
            dims[1] = h.cols;
        }
    });
    mpi::bcast(comm, dims, 2, 0);
    return {dims[0], dims[1]};
}

template <typename T>
SparseDistMatrix<T> read_matrix_market(const Grid &grid,
                                       const std::string &file,
                                       gidx mb,
                                       gidx nb,
                                       const std::vector<gidx> &row_map,
                                       const std::vector<gidx> &col_map,
                                       gidx rows,
                                       gidx cols) {
    const mpi::Comm &comm = grid.comm();
    std::vector<Entry<T>> entries;
    gidx dims[2] = {0, 0};
    mpi::agree_call(comm, [&] {
        if (comm.rank() != 0) {
            return;
        }
        std::ifstream in = open(file);
        const Header h = read_header(in, file);
        dims[0] = rows >= 0 ? rows : h.rows;
        dims[1] = cols >= 0 ? cols : h.cols;
        PRISM_CHECK(row_map.empty() || static_cast<gidx>(row_map.size()) == h.rows,
                    in_quotes(file) + ": the row relabelling does not match the " + std::to_string(h.rows) +
                        " rows");
        PRISM_CHECK(col_map.empty() || static_cast<gidx>(col_map.size()) == h.cols,
                    in_quotes(file) + ": the column relabelling does not match the " +
                        std::to_string(h.cols) + " columns");
        entries.reserve(
            static_cast<std::size_t>(std::min<gidx>(h.entries * (h.symmetric ? 2 : 1), gidx{1} << 26)));
        std::string line;
        std::int64_t line_no = h.line;
        gidx seen = 0;
        // (row, column, line) of every stored entry, 1-based as in the file, to name duplicates by line.
        struct Stored {
            gidx row, col;
            std::int64_t line;
        };
        std::vector<Stored> stored;
        const auto add = [&](gidx i, gidx j, double v) {
            const gidx mi = row_map.empty() ? i : row_map[static_cast<std::size_t>(i)];
            const gidx mj = col_map.empty() ? j : col_map[static_cast<std::size_t>(j)];
            if (mi >= 0 && mj >= 0) {
                entries.push_back({mi, mj, static_cast<T>(v)});
            }
        };
        while (std::getline(in, line)) {
            ++line_no;
            const auto first = line.find_first_not_of(" \t\r");
            if (first == std::string::npos || line[first] == '%') {
                continue;
            }
            const std::string at = in_quotes(file) + ": line " + std::to_string(line_no) + ": ";
            PRISM_CHECK(seen < h.entries, at + "more entries than the " + std::to_string(h.entries) +
                                              " the size line announces");
            const char *p = line.c_str();
            char *end = nullptr;
            const long long i = std::strtoll(p, &end, 10);
            PRISM_CHECK(end != p, at + "expected 'ROW COL" + std::string(h.pattern ? "" : " VALUE") + "'");
            p = end;
            const long long j = std::strtoll(p, &end, 10);
            PRISM_CHECK(end != p, at + "expected 'ROW COL" + std::string(h.pattern ? "" : " VALUE") + "'");
            p = end;
            double v = 1.0;
            if (!h.pattern) {
                v = std::strtod(p, &end);
                PRISM_CHECK(end != p, at + "expected a value after the row and column");
                p = end;
            }
            while (*p == ' ' || *p == '\t' || *p == '\r') {
                ++p;
            }
            PRISM_CHECK(*p == '\0', at + "unexpected text " + in_quotes(p));
            PRISM_CHECK(i >= 1 && i <= h.rows && j >= 1 && j <= h.cols,
                        at + "entry (" + std::to_string(i) + ", " + std::to_string(j) +
                            ") lies outside the " + std::to_string(h.rows) + " x " + std::to_string(h.cols) +
                            " matrix (indices are 1-based)");
            stored.push_back(
                {h.symmetric ? std::max<gidx>(i, j) : i, h.symmetric ? std::min<gidx>(i, j) : j, line_no});
            add(i - 1, j - 1, v);
            if (h.symmetric && i != j) {
                add(j - 1, i - 1, v);
            }
            ++seen;
        }
        PRISM_CHECK(seen == h.entries, in_quotes(file) + ": ends after " + std::to_string(seen) + " of the " +
                                           std::to_string(h.entries) +
                                           " entries the size line announces (truncated?)");
        std::sort(stored.begin(), stored.end(), [](const Stored &a, const Stored &b) {
            return a.row != b.row ? a.row < b.row : a.col != b.col ? a.col < b.col : a.line < b.line;
        });
        for (std::size_t k = 1; k < stored.size(); ++k) {
            const Stored &a = stored[k - 1], &b = stored[k];
            if (a.row == b.row && a.col == b.col) {
                throw Error(in_quotes(file) + ": lines " + std::to_string(a.line) + " and " +
                            std::to_string(b.line) + " both give the entry (" + std::to_string(a.row) + ", " +
                            std::to_string(a.col) + ")" + (h.symmetric ? " of the symmetric matrix" : "") +
                            " (duplicate entry; indices are 1-based)");
            }
        }
    });
    mpi::bcast(comm, dims, 2, 0);
    return assemble_sparse<T>(grid, dims[0], dims[1], mb, nb, std::move(entries), in_quotes(file));
}

template SparseDistMatrix<double> read_matrix_market<double>(const Grid &,
                                                             const std::string &,
                                                             gidx,
                                                             gidx,
                                                             const std::vector<gidx> &,
                                                             const std::vector<gidx> &,
                                                             gidx,
                                                             gidx);
template SparseDistMatrix<float> read_matrix_market<float>(const Grid &,
                                                           const std::string &,
                                                           gidx,
                                                           gidx,
                                                           const std::vector<gidx> &,
                                                           const std::vector<gidx> &,
                                                           gidx,
                                                           gidx);

} // namespace prism::io
