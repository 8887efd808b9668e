// Residual add and in-place accumulate.
#pragma once

namespace flame::cpu {

// out (N) = a + b  (out may alias a or b)
void residual_forward(float* out, const float* a, const float* b, long N);
// acc (N) += x
void accumulate(float* acc, const float* x, long N);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// bf16 in and out, fp32 add, one rounding per element; vectorized when every pointer is 16-byte
// aligned, any N.
// out (N) = a + b  (out may alias a or b)
void residual_forward(bf16* out, const bf16* a, const bf16* b, long N, cudaStream_t stream);
// acc (N) += x
void accumulate(bf16* acc, const bf16* x, long N, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
