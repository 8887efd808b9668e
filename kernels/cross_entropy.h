// Softmax cross-entropy with a loss mask; the loss is the mean over unmasked tokens.
#pragma once
#include <cstdint>

namespace flame::cpu {

// logits (N,V), targets (N) in [0,V), mask (N) in {0,1} (null = all ones).
// losses (N) = -log softmax(logits)[target] (0 where masked); returns sum(mask*loss)/sum(mask)
// (0 when no token is unmasked).
float cross_entropy_forward(float* losses, const float* logits, const int32_t* targets,
                            const float* mask, int N, int V);
// dlogits (N,V) = (softmax(logits) - onehot(target)) * mask * dloss / norm  (written;
// may alias logits). norm = number of unmasked tokens over the whole batch, passed in so that
// micro-batches of one optimizer step share one normaliser.
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets,
                            const float* mask, int N, int V, float dloss, float norm);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// logits (N,V) bf16, targets (N) int32 in [0,V), mask (N) fp32 (null = all ones), all on the
// device. One block per row, fp32 math: pass 1 keeps a running max and rescaled exp-sum per thread
// (merged over the block), pass 2 writes the gradient; probabilities are never stored.
// An unmasked row with an out-of-range target gets loss NaN (no device-side exception).

// losses (N) fp32 = -log softmax(logits)[target] (0 where masked); logits untouched.
void cross_entropy_forward(float* losses, const bf16* logits, const int32_t* targets,
                           const float* mask, int N, int V, cudaStream_t stream);
// Fused forward + backward: losses as above, and logits (N,V) OVERWRITTEN in place by
// dlogits = (softmax(logits) - onehot(target)) * mask * dloss / norm (bf16; all zero for masked
// rows or norm == 0). norm = unmasked tokens of the whole optimizer step, as on the CPU.
void cross_entropy_forward_backward(float* losses, bf16* logits, const int32_t* targets,
                                    const float* mask, int N, int V, float dloss, float norm,
                                    cudaStream_t stream);
// mean_out[0] = sum(mask * losses) / sum(mask) (0 when nothing is unmasked); one block, fixed
// order: deterministic. mask may be null.
void cross_entropy_mean(float* mean_out, const float* losses, const float* mask, int N,
                        cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
