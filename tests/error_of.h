// The message of the flame::Error a callable throws, for tests that assert on error text.
#pragma once
#include <string>

#include "core/error.h"

namespace flame_test {

// Runs f and returns the flame::Error message it throws ("" if it does not throw).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const flame::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace flame_test
