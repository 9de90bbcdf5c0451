#include "prism/error.hpp"

#include <cstring>

namespace prism::detail {

void throw_check_failure(const std::string &message, const char *func, const char *file, int line) {
    // Keep only the file name: the build directory is of no use to a user reading the message.
    const char *slash = std::strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    throw Error(message + " [" + func + " " + base + ":" + std::to_string(line) + "]");
}

} // namespace prism::detail
