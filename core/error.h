// Error handling shared by every layer: one exception type and one check macro per library.
// A failed check throws flame::Error carrying the failed expression, file and line, so the CLI
// can print one clear line and exit non-zero instead of crashing.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace flame {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail_check(const char* lib, const char* expr, const std::string& msg,
                                    const char* file, int line) {
  std::ostringstream os;
  os << lib << " check failed: " << expr;
  if (!msg.empty()) os << " (" << msg << ")";
  os << " at " << file << ":" << line;
  throw Error(os.str());
}

}  // namespace flame

// Internal invariant / argument check: FLAME_CHECK(n > 0, "n=" << n)
#define FLAME_CHECK(cond, ...)                                                      \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::ostringstream flame_os_;                                                 \
      flame_os_ << "" __VA_ARGS__;                                                  \
      ::flame::fail_check("flame", #cond, flame_os_.str(), __FILE__, __LINE__);     \
    }                                                                               \
  } while (0)
