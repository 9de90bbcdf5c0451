#pragma once
/// RAII ownership of HDF5 identifiers (files, groups, datasets, dataspaces, types, property lists).

#include <hdf5.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace prism::io {

/// Owns one hid_t and closes it with the matching H5?close. Move-only. A negative id means "none".
class Hid {
  public:
    using Closer = herr_t (*)(hid_t);
    Hid() = default;
    Hid(hid_t id, Closer closer) : id_(id), closer_(closer) {}
    ~Hid() { reset(); }
    Hid(Hid &&other) noexcept : id_(std::exchange(other.id_, -1)), closer_(other.closer_) {}
    Hid &operator=(Hid &&other) noexcept {
        if (this != &other) {
            reset();
            id_ = std::exchange(other.id_, -1);
            closer_ = other.closer_;
        }
        return *this;
    }
    Hid(const Hid &) = delete;
    Hid &operator=(const Hid &) = delete;

    hid_t get() const noexcept { return id_; }
    bool valid() const noexcept { return id_ >= 0; }
    /// Gives up ownership without closing.
    hid_t release() noexcept { return std::exchange(id_, -1); }
    void reset() noexcept {
        if (id_ >= 0 && closer_ != nullptr) {
            closer_(id_);
        }
        id_ = -1;
    }

  private:
    hid_t id_ = -1;
    Closer closer_ = nullptr;
};

inline Hid file_hid(hid_t id) {
    return Hid(id, H5Fclose);
}
inline Hid group_hid(hid_t id) {
    return Hid(id, H5Gclose);
}
inline Hid dataset_hid(hid_t id) {
    return Hid(id, H5Dclose);
}
inline Hid space_hid(hid_t id) {
    return Hid(id, H5Sclose);
}
inline Hid type_hid(hid_t id) {
    return Hid(id, H5Tclose);
}
inline Hid plist_hid(hid_t id) {
    return Hid(id, H5Pclose);
}
inline Hid attr_hid(hid_t id) {
    return Hid(id, H5Aclose);
}

/// Turns off HDF5's own error printing (we check return codes and report one clear line instead).
/// Local: no communication; idempotent.
void silence_hdf5_errors();

/// Full paths of the objects directly in `group` of an open file, at most `limit` (for "found: ..." hints
/// when a named object is missing); empty if `group` is not a group. Local.
std::vector<std::string> list_members(hid_t file, const std::string &group, std::size_t limit);

} // namespace prism::io
