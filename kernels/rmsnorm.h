// RMSNorm over the last dim: y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps)
#pragma once

namespace flame::cpu {

// inp (N,C), w (C) -> out (N,C); saves rstd (N)
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                     float eps);
// dinp (N,C) +=  (accumulated), dw (C) +=
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int N, int C);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstddef>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// Same structure as the LayerNorm kernels (see kernels/layernorm.h): bf16 data, fp32 rstd and
// arithmetic, a warp per row, deterministic two-stage weight gradient.
// inp (N,C), w (C) -> out (N,C); rstd (N) fp32 (may be null)
void rmsnorm_forward(bf16* out, float* rstd, const bf16* inp, const bf16* w, int N, int C,
                     float eps, cudaStream_t stream);
// residual_out (N,C) = resid + delta (bf16; may alias either), out = rmsnorm(residual_out)
void rmsnorm_residual_forward(bf16* residual_out, bf16* out, float* rstd, const bf16* resid,
                              const bf16* delta, const bf16* w, int N, int C, float eps,
                              cudaStream_t stream);
// dinp (N,C) += (accumulated), dw (C) += via scratch (rmsnorm_backward_scratch_bytes(N, C)
// bytes of device memory). Needs C <= 51200 (shared memory).
size_t rmsnorm_backward_scratch_bytes(int N, int C);
void rmsnorm_backward(bf16* dinp, bf16* dw, float* scratch, const bf16* dout, const bf16* inp,
                      const bf16* w, const float* rstd, int N, int C, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
