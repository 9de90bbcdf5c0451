#pragma once
/// The one exception type Prism throws, and the local check macro.

#include <stdexcept>
#include <string>

namespace prism {

/// Every error Prism reports. `collective()` is true when all ranks of the communicator threw the same
/// error together (after mpi::agree); a driver then prints it once and exits non-zero on every rank.
/// A non-collective error was raised on one rank only; the driver must abort the job.
class Error : public std::runtime_error {
  public:
    Error(const std::string &message, int rank = -1, bool collective = false)
        : std::runtime_error(message), rank_(rank), collective_(collective) {}

    /// Rank that first hit the problem (-1 if unknown / local).
    int rank() const noexcept { return rank_; }
    /// True when every rank of the communicator throws this error together.
    bool collective() const noexcept { return collective_; }

  private:
    int rank_;
    bool collective_;
};

namespace detail {
[[noreturn]] void
throw_check_failure(const std::string &message, const char *func, const char *file, int line);
} // namespace detail

} // namespace prism

/// Local check: throws a non-collective prism::Error with `msg` (a std::string expression) and the source
/// position.
#define PRISM_CHECK(cond, msg)                                                                               \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            ::prism::detail::throw_check_failure((msg), __func__, __FILE__, __LINE__);                       \
        }                                                                                                    \
    } while (0)
