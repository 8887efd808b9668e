// Buffer dtype conversion (GPU only: the CPU path is fp32 throughout). Used to upload weights
// (fp32 master -> bf16 working copy) and by tests.
#pragma once

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// out (n) = bf16(in (n)), round to nearest even
void convert_f32_to_bf16(bf16* out, const float* in, long n, cudaStream_t stream);
// out (n) = float(in (n)), exact
void convert_bf16_to_f32(float* out, const bf16* in, long n, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
