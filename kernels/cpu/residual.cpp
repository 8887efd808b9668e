// Residual stream: elementwise add (out may alias an input, each element is read before it is
// written) and in-place accumulate. Memory-bound; OpenMP only pays off on large buffers.
#include "kernels/residual.h"

namespace flame::cpu {

void residual_forward(float* out, const float* a, const float* b, long N) {
#pragma omp parallel for simd schedule(static) if (N > 262144)
  for (long i = 0; i < N; ++i) out[i] = a[i] + b[i];
}

void accumulate(float* acc, const float* x, long N) {
#pragma omp parallel for simd schedule(static) if (N > 262144)
  for (long i = 0; i < N; ++i) acc[i] += x[i];
}

}  // namespace flame::cpu
