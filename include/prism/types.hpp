#pragma once
/// Index types and the one checked narrowing used at the BLAS / ScaLAPACK / MPI boundary.

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "prism/error.hpp"

namespace prism {

/// Global index or size (rows/columns of a distributed matrix). Always 64-bit.
using gidx = std::int64_t;
/// Local index or size within one rank's buffer. 64-bit: a local block may exceed 2^31 entries.
using lidx = std::int64_t;

/// Converts `value` to `To`, throwing prism::Error (local) if it does not fit.
/// `what` names the quantity for the message, e.g. "local rows for dgemm".
/// Local: no communication.
template <typename To, typename From> To narrow(From value, const char *what) {
    static_assert(std::is_integral<To>::value && std::is_integral<From>::value, "narrow is for integers");
    const To result = static_cast<To>(value);
    const bool sign_flipped = (value < From{}) != (result < To{});
    if (static_cast<From>(result) != value || sign_flipped) {
        throw Error(std::string(what) + " = " + std::to_string(value) + " does not fit in a " +
                        std::to_string(sizeof(To) * 8) + "-bit integer",
                    -1, false);
    }
    return result;
}

} // namespace prism
