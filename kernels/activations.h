// Pointwise activations: GELU (tanh approximation, as GPT-2) and SwiGLU (as Llama), and the MLP
// activation kinds the model chooses from (activation_forward/backward dispatch on the kind, so a
// new MLP type is a new enum value here plus its kernels).
#pragma once

namespace flame {

enum class Activation { gelu, swiglu };
// Whether mlp.fc produces two branches per row ([gate (F) | up (F)]) instead of one (F).
constexpr bool is_gated(Activation a) { return a == Activation::swiglu; }

}  // namespace flame

namespace flame::cpu {

// act (N,F) = activation of fch (N,F), or (N,2F) when gated
void activation_forward(Activation kind, float* act, const float* fch, int N, int F);
// dfch (N,F) or (N,2F) written from dact (N,F)
void activation_backward(Activation kind, float* dfch, const float* fch, const float* dact, int N,
                         int F);

// out (N) = gelu_tanh(inp (N))
void gelu_forward(float* out, const float* inp, long N);
// dinp (N) = dout * gelu'(inp)  (written)
void gelu_backward(float* dinp, const float* inp, const float* dout, long N);

// inp (N, 2F) = [gate (F) | up (F)] per row -> out (N,F) = silu(gate) * up
void swiglu_forward(float* out, const float* inp, int N, int F);
// dinp (N,2F) written
void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// As the CPU's, bf16.
void activation_forward(Activation kind, bf16* act, const bf16* fch, int N, int F,
                        cudaStream_t stream);
void activation_backward(Activation kind, bf16* dfch, const bf16* fch, const bf16* dact, int N,
                         int F, cudaStream_t stream);

// bf16 in and out, fp32 math, any sizes (vectorized when pointers are 16-byte aligned and, for
// SwiGLU, F % 8 == 0).
// out (N) = gelu_tanh(inp (N))  (out may alias inp)
void gelu_forward(bf16* out, const bf16* inp, long N, cudaStream_t stream);
// dinp (N) = dout * gelu'(inp)  (written; dinp may alias dout)
void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, long N, cudaStream_t stream);

// inp (N,2F) = [gate (F) | up (F)] per row -> out (N,F) = silu(gate) * up
void swiglu_forward(bf16* out, const bf16* inp, int N, int F, cudaStream_t stream);
// dinp (N,2F) = [dgate | dup] written; dout (N,F); dinp must not alias inp or dout
void swiglu_backward(bf16* dinp, const bf16* inp, const bf16* dout, int N, int F,
                     cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
