// Rotary position embedding, "rotate-half" convention (as Hugging Face Llama): within each head,
// element i pairs with i + D/2, rotated by angle pos * theta^(-2i/D), i in [0, D/2).
#pragma once
#include <cstdint>

namespace flame::cpu {

// In place on x viewed as (N tokens, H heads, D) where token n's heads start at x + n*stride.
// Rotates the first H heads of each token (for the fused qkv buffer: H = Hq + Hkv, stride =
// (Hq+2*Hkv)*D). pos (N) is the position of each token within its example.
void rope_forward(float* x, const int32_t* pos, int N, int H, int D, long stride, float theta);
// In place on the gradient: applies the inverse rotation (the transpose).
void rope_backward(float* dx, const int32_t* pos, int N, int H, int D, long stride, float theta);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// In place on bf16 x viewed as (N tokens, H heads, D) with token n's heads at x + n*stride, as
// the CPU version; pos (N) int32 on the device. One thread per (token, frequency i): cos/sin of
// pos * theta^(-2i/D) computed in double (as the CPU reference), applied in fp32 to all H heads.
void rope_forward(bf16* x, const int32_t* pos, int N, int H, int D, long stride, float theta,
                  cudaStream_t stream);
// In place on the gradient: the inverse (transposed) rotation.
void rope_backward(bf16* dx, const int32_t* pos, int N, int H, int D, long stride, float theta,
                   cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
