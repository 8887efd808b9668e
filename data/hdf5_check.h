// HDF5_CHECK: the one check macro for HDF5 calls. Negative ids/status are failures; the message
// names the expression, file and line (HDF5's own error stack printing is switched off, so a
// failure is one clear flame::Error, not pages of stderr).
#pragma once
#include <hdf5.h>

#include "core/error.h"

#define HDF5_CHECK(expr)                                                                    \
  ([&] {                                                                                    \
    const auto hdf5_check_rc_ = (expr);                                                     \
    if (hdf5_check_rc_ < 0)                                                                 \
      throw ::flame::Error(std::string("HDF5 call failed: ") + #expr + " at " + __FILE__ + \
                           ":" + std::to_string(__LINE__));                                 \
    return hdf5_check_rc_;                                                                  \
  }())
