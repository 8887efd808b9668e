// The model tests run tiny shapes thousands of times (finite differences). On a loaded machine an
// OpenMP team whose second thread is descheduled turns each microsecond-sized parallel region
// into a scheduler quantum, so these tests pin OpenMP to one thread: they check the model's
// math, and the kernels' own tests cover their threading.
#include <omp.h>

namespace {
const bool kSingleThreaded = [] {
  omp_set_num_threads(1);
  return true;
}();
}  // namespace
