// Token + learned position embedding.
#pragma once
#include <cstdint>

namespace flame::cpu {

// out (N,C) = wte[tokens[n]] + (wpe ? wpe[pos[n]] : 0)
// tokens (N) in [0,V), pos (N) in [0,maxT) (ignored when wpe == nullptr), wte (V,C), wpe (maxT,C)
void embedding_forward(float* out, const int32_t* tokens, const int32_t* pos, const float* wte,
                       const float* wpe, int N, int C);
// dwte (V,C) +=, dwpe (maxT,C) += (skipped when null); dout (N,C)
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                        const int32_t* pos, int N, int C);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// out (N,C) = wte[tokens[n]] + (wpe ? wpe[pos[n]] : 0), bf16, fp32 add. tokens, pos (N) int32 on
// the device; ids must be in range (not checked on the device: the data pipeline guarantees it).
void embedding_forward(bf16* out, const int32_t* tokens, const int32_t* pos, const bf16* wte,
                       const bf16* wpe, int N, int C, cudaStream_t stream);

// Deterministic backward (no atomics, bitwise reproducible). For each table the pairs
// (id[n], n) are sorted by id with CUB's radix sort, which is stable, so the rows of one id stay
// in ascending order; then each run of equal ids is summed by one block (per 256-channel chunk)
// in fp32 in a fixed order (its 8 warps take the run's rows round-robin; the warp sums are folded
// in warp order) and the total is added into the bf16 table row once. Cost grows with the
// longest run (a very frequent id, e.g. padding): about run_length / 8 row loads per warp of
// that block.
// workspace: embedding_backward_workspace_bytes(N) bytes of device memory.
size_t embedding_backward_workspace_bytes(int N);
// dwte (V,C) +=, dwpe (maxT,C) += (skipped when null); dout (N,C); tokens, pos (N) on the device.
void embedding_backward(bf16* dwte, bf16* dwpe, const bf16* dout, const int32_t* tokens,
                        const int32_t* pos, int N, int C, void* workspace,
                        size_t workspace_bytes, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
