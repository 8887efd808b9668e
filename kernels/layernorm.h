// LayerNorm over the last dim: y = (x - mean) * rstd * w + b
#pragma once

namespace flame::cpu {

// inp (N,C), w (C), b (C) or null -> out (N,C); saves mean (N), rstd (N) for backward
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps);
// dinp (N,C) +=  (accumulated: it feeds the residual stream), dw (C) +=, db (C) += (if non-null)
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int N, int C);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstddef>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// bf16 activations and parameters, fp32 statistics and arithmetic; one warp per row, rows read
// in 16-byte packs when C % 8 == 0 and every pointer is 16-byte aligned (scalar otherwise).
// Two-pass statistics (mean, then the variance around it) like the CPU reference.
// inp (N,C), w (C), b (C) or null -> out (N,C); mean, rstd (N) fp32 (either may be null)
void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* w,
                       const bf16* b, int N, int C, float eps, cudaStream_t stream);
// Fused with the residual add: residual_out (N,C) = resid + delta (rounded to bf16; may alias
// resid or delta), then out = layernorm(residual_out) as above, with the statistics of the
// rounded values (those backward reads back as inp).
void layernorm_residual_forward(bf16* residual_out, bf16* out, float* mean, float* rstd,
                                const bf16* resid, const bf16* delta, const bf16* w,
                                const bf16* b, int N, int C, float eps, cudaStream_t stream);

// Backward, one pass over the rows (a warp per row, rows dealt round-robin over a grid whose size
// depends only on N and C): dinp (N,C) += dx (accumulated: it is the residual gradient), while
// each warp sums dout*xhat and dout for its channels in its own fp32 shared-memory row; a block
// folds its warps in order and writes one fp32 partial row to scratch; a second tiny kernel adds
// the partial rows in a fixed order into dw (C) += and db (C) += (db may be null). No atomics:
// deterministic. scratch: layernorm_backward_scratch_bytes(N, C) bytes of device memory.
// Needs C <= 25600 (shared memory).
size_t layernorm_backward_scratch_bytes(int N, int C);
void layernorm_backward(bf16* dinp, bf16* dw, bf16* db, float* scratch, const bf16* dout,
                        const bf16* inp, const bf16* w, const float* mean, const float* rstd,
                        int N, int C, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
