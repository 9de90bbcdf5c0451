#include "prism/io/anndata_writer.hpp"

#include <map>

#include "prism/error.hpp"
#include "prism/io/hdf5_handle.hpp"

namespace prism::io {

namespace {

std::string in_quotes(const std::string &s) {
    return "'" + s + "'";
}

std::string child(const std::string &group, const std::string &name) {
    return (group == "/" ? "" : group) + "/" + name;
}

// Serial writes into one open file; every failure is an Error naming the file and the object.
class SerialOut {
  public:
    explicit SerialOut(const std::string &file) : file_(file) {
        silence_hdf5_errors();
        id_ = file_hid(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
        check(id_.valid(), "cannot reopen the file to add the AnnData elements");
    }
    void check(bool ok, const std::string &what) const {
        if (!ok) {
            throw Error(in_quotes(file_) + ": " + what);
        }
    }
    bool exists(const std::string &path) const {
        std::size_t pos = 0;
        while (true) {
            pos = path.find('/', pos + 1);
            if (H5Lexists(id_.get(), path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) {
                return false;
            }
            if (pos == std::string::npos) {
                return true;
            }
        }
    }
    void group(const std::string &path) {
        if (path == "/" || exists(path)) {
            return;
        }
        group(path.substr(0, std::max<std::size_t>(1, path.find_last_of('/'))));
        Hid g = group_hid(H5Gcreate2(id_.get(), path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        check(g.valid(), "cannot create group " + in_quotes(path));
    }
    // A variable-length UTF-8 string attribute (scalar), as h5py and anndata write them.
    void attribute(const std::string &object, const std::string &key, const std::string &value) {
        Hid type = string_type();
        Hid space = space_hid(H5Screate(H5S_SCALAR));
        if (H5Aexists_by_name(id_.get(), object.c_str(), key.c_str(), H5P_DEFAULT) > 0) {
            H5Adelete_by_name(id_.get(), object.c_str(), key.c_str(), H5P_DEFAULT);
        }
        Hid a = attr_hid(H5Acreate_by_name(id_.get(), object.c_str(), key.c_str(), type.get(), space.get(),
                                           H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        const char *p = value.c_str();
        check(a.valid() && H5Awrite(a.get(), type.get(), &p) >= 0,
              "cannot write attribute " + in_quotes(key) + " of " + in_quotes(object));
    }
    // A 1-D variable-length string attribute (dataframe column-order; MuData mod-order).
    void attribute_list(const std::string &object,
                        const std::string &key,
                        const std::vector<std::string> &values) {
        Hid type = string_type();
        const hsize_t n = values.size();
        Hid space = space_hid(H5Screate_simple(1, &n, nullptr));
        std::vector<const char *> ptrs;
        for (const auto &v : values) {
            ptrs.push_back(v.c_str());
        }
        Hid a = attr_hid(H5Acreate_by_name(id_.get(), object.c_str(), key.c_str(), type.get(), space.get(),
                                           H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        check(a.valid() && (n == 0 || H5Awrite(a.get(), type.get(), ptrs.data()) >= 0),
              "cannot write attribute " + in_quotes(key) + " of " + in_quotes(object));
    }
    void encoding(const std::string &object, const std::string &type, const std::string &version) {
        attribute(object, "encoding-type", type);
        attribute(object, "encoding-version", version);
    }
    void strings(const std::string &path, const std::vector<std::string> &values) {
        Hid type = string_type();
        const hsize_t n = values.size();
        Hid space = space_hid(H5Screate_simple(1, &n, nullptr));
        std::vector<const char *> ptrs;
        for (const auto &v : values) {
            ptrs.push_back(v.c_str());
        }
        Hid d = dataset_hid(H5Dcreate2(id_.get(), path.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
        check(d.valid() &&
                  (n == 0 || H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) >= 0),
              "cannot write " + in_quotes(path));
        encoding(path, "string-array", "0.2.0");
    }
    void number(const std::string &path, double value) {
        Hid space = space_hid(H5Screate(H5S_SCALAR));
        Hid d = dataset_hid(H5Dcreate2(id_.get(), path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
        check(d.valid() && H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0,
              "cannot write " + in_quotes(path));
        encoding(path, "numeric-scalar", "0.2.0");
    }
    void text(const std::string &path, const std::string &value) {
        Hid type = string_type();
        Hid space = space_hid(H5Screate(H5S_SCALAR));
        Hid d = dataset_hid(H5Dcreate2(id_.get(), path.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
        const char *p = value.c_str();
        check(d.valid() && H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) >= 0,
              "cannot write " + in_quotes(path));
        encoding(path, "string", "0.2.0");
    }
    void array(const std::string &path, const std::vector<double> &values) {
        const hsize_t n = values.size();
        Hid space = space_hid(H5Screate_simple(1, &n, nullptr));
        Hid d = dataset_hid(H5Dcreate2(id_.get(), path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
        check(d.valid() && (n == 0 || H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                               values.data()) >= 0),
              "cannot write " + in_quotes(path));
        encoding(path, "array", "0.2.0");
    }
    void integers(const std::string &path, const std::vector<std::int64_t> &values) {
        const hsize_t n = values.size();
        Hid space = space_hid(H5Screate_simple(1, &n, nullptr));
        Hid d = dataset_hid(H5Dcreate2(id_.get(), path.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
        check(d.valid() && (n == 0 || H5Dwrite(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                               values.data()) >= 0),
              "cannot write " + in_quotes(path));
        encoding(path, "array", "0.2.0");
    }
    void close() { check(H5Fclose(id_.release()) >= 0, "closing the file failed (disk full?)"); }

  private:
    static Hid string_type() {
        Hid t = type_hid(H5Tcopy(H5T_C_S1));
        H5Tset_size(t.get(), H5T_VARIABLE);
        H5Tset_cset(t.get(), H5T_CSET_UTF8);
        return t;
    }
    std::string file_;
    Hid id_;
};

void dataframe(SerialOut &out, const std::string &path, const std::vector<std::string> &names) {
    out.group(path);
    out.encoding(path, "dataframe", "0.2.0");
    out.attribute(path, "_index", "_index");
    out.attribute_list(path, "column-order", {});
    out.strings(path + "/_index", names);
}

void dict(SerialOut &out, const std::string &path) {
    out.group(path);
    out.encoding(path, "dict", "0.1.0");
}

void write_uns(SerialOut &out, const std::string &path, const UnsValues &uns) {
    dict(out, path);
    dict(out, path + "/prism");
    for (const auto &[key, value] : uns.numbers) {
        out.number(path + "/prism/" + key, value);
    }
    for (const auto &[key, value] : uns.strings) {
        out.text(path + "/prism/" + key, value);
    }
    for (const auto &[key, value] : uns.arrays) {
        out.array(path + "/prism/" + key, value);
    }
}

void anndata_element(SerialOut &out, const AnnDataElement &e) {
    out.group(e.group);
    out.encoding(e.group, "anndata", "0.1.0");
    dataframe(out, child(e.group, "obs"), e.obs_names);
    dataframe(out, child(e.group, "var"), e.var_names);
    for (const char *name : {"obsm", "varm", "obsp", "varp", "layers"}) {
        dict(out, child(e.group, name));
    }
    for (const auto &name : e.obsm) {
        out.encoding(child(e.group, "obsm/" + name), "array", "0.2.0");
    }
    for (const auto &name : e.varm) {
        out.encoding(child(e.group, "varm/" + name), "array", "0.2.0");
    }
    write_uns(out, child(e.group, "uns"), e.uns);
}

} // namespace

void finish_anndata(const std::string &file, const AnnDataElement &e) {
    SerialOut out(file);
    anndata_element(out, e);
    out.close();
}

void finish_mudata(const std::string &file,
                   const std::vector<std::string> &modality_names,
                   const std::vector<AnnDataElement> &modalities,
                   const std::vector<std::string> &obs_names,
                   const std::vector<std::string> &root_obsm,
                   const UnsValues &uns) {
    SerialOut out(file);
    out.encoding("/", "MuData", "0.1.0");
    out.group("/mod");
    out.attribute_list("/mod", "mod-order", modality_names);
    std::map<std::string, std::int64_t> obs_row;
    for (std::size_t j = 0; j < obs_names.size(); ++j) {
        obs_row[obs_names[j]] = static_cast<std::int64_t>(j);
    }
    std::vector<std::string> all_vars;
    dict(out, "/obsmap");
    dict(out, "/varmap");
    std::vector<std::vector<std::int64_t>> varmaps;
    for (std::size_t v = 0; v < modalities.size(); ++v) {
        anndata_element(out, modalities[v]);
        std::vector<std::int64_t> obsmap(obs_names.size(), 0);
        for (std::size_t j = 0; j < modalities[v].obs_names.size(); ++j) {
            obsmap[static_cast<std::size_t>(obs_row[modalities[v].obs_names[j]])] =
                static_cast<std::int64_t>(j + 1);
        }
        out.integers("/obsmap/" + modality_names[v], obsmap);
        for (const auto &name : modalities[v].var_names) {
            all_vars.push_back(modality_names[v] + ":" + name);
        }
    }
    std::size_t offset = 0;
    for (std::size_t v = 0; v < modalities.size(); ++v) {
        std::vector<std::int64_t> varmap(all_vars.size(), 0);
        for (std::size_t i = 0; i < modalities[v].var_names.size(); ++i) {
            varmap[offset + i] = static_cast<std::int64_t>(i + 1);
        }
        offset += modalities[v].var_names.size();
        out.integers("/varmap/" + modality_names[v], varmap);
    }
    dataframe(out, "/obs", obs_names);
    dataframe(out, "/var", all_vars);
    for (const char *name : {"obsm", "varm", "obsp", "varp"}) {
        dict(out, std::string("/") + name);
    }
    for (const auto &name : root_obsm) {
        out.encoding("/obsm/" + name, "array", "0.2.0");
    }
    write_uns(out, "/uns", uns);
    out.close();
}

} // namespace prism::io
