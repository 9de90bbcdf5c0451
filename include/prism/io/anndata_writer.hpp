#pragma once
/// Results in the formats scanpy and muon users open directly: AnnData (.h5ad) with H^T as
/// obsm['X_nmf'] (cells x k) and W as varm['NMF'] (genes x k), and MuData (.h5mu) with one AnnData per
/// modality (its W in /mod/<name>/varm/NMF) and the shared H^T in /obsm/X_nmf. X is not written: the
/// result is the factorization, not a copy of the input.
///
/// Writing happens in two steps because parallel HDF5 cannot write variable-length strings collectively
/// and AnnData's names and string attributes are variable-length: (1) the factors are written collectively
/// into the open parallel file (write_factor_rows at the paths below); (2) after that file is closed, rank
/// 0 reopens it serially and adds everything else with these functions: the obs / var dataframes with
/// their names, the empty dict elements AnnData expects, `uns` with the run's parameters, and the
/// `encoding-type` / `encoding-version` attributes of AnnData >= 0.8 on every element.

#include <string>
#include <utility>
#include <vector>

namespace prism::io {

/// Run parameters for `uns`: scalars, strings and 1-D arrays, each a dataset with its AnnData encoding.
struct UnsValues {
    std::vector<std::pair<std::string, double>> numbers;
    std::vector<std::pair<std::string, std::string>> strings;
    std::vector<std::pair<std::string, std::vector<double>>> arrays;
};

/// One AnnData element to complete: `group` ("/" for an .h5ad file, "/mod/rna" in a .h5mu file), the
/// names of its observations (cells) and variables (genes), and the datasets already written under
/// obsm / varm (e.g. {"X_nmf"} / {"NMF"}).
struct AnnDataElement {
    std::string group = "/";
    std::vector<std::string> obs_names, var_names;
    std::vector<std::string> obsm, varm;
    UnsValues uns;
};

/// Completes the AnnData at `e.group` of the closed file `file`. Local (rank 0 only, serial HDF5):
/// throws prism::Error (local) naming the file on failure; the caller agrees on it.
void finish_anndata(const std::string &file, const AnnDataElement &e);

/// Completes a MuData file: every modality as finish_anndata, plus the root's global obs (the union of
/// samples) and var (all features, prefixed "<modality>:"), /obsmap/<name> and /varmap/<name> (1-based
/// row of each global observation / variable in the modality, 0 if absent), `mod-order` on /mod, and
/// `root_obsm` under /obsm (already written, e.g. {"X_nmf"}). Local (rank 0 only).
void finish_mudata(const std::string &file,
                   const std::vector<std::string> &modality_names,
                   const std::vector<AnnDataElement> &modalities,
                   const std::vector<std::string> &obs_names,
                   const std::vector<std::string> &root_obsm,
                   const UnsValues &uns);

} // namespace prism::io
