// Pointwise activations in bf16 with fp32 math, one grid-stride loop each (8 elements per access
// when the pointers allow it, see common.cuh). GELU is the tanh approximation of GPT-2,
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); its backward is the closed-form derivative.
// SwiGLU rows are [gate (F) | up (F)] -> silu(gate) * up; a pack of 8 outputs never crosses a row
// because the vector path requires F % 8 == 0. Formulas match kernels/cpu/activations.cpp.
#include "kernels/activations.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

__device__ __forceinline__ float gelu(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

__device__ __forceinline__ float gelu_grad(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  const float th = tanhf(u);
  const float du_dx = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
}

// Accurate expf (not __expf): the activations are memory-bound, the exact form costs nothing.
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <int W>
__global__ void gelu_forward_kernel(bf16* out, const bf16* inp, long n) {
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    float x[V];
    load_bf16<V>(x, inp + i);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = gelu(x[k]);
    store_bf16<V>(out + i, x);
  });
}

template <int W>
__global__ void gelu_backward_kernel(bf16* dinp, const bf16* inp, const bf16* dout, long n) {
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    float x[V], g[V];
    load_bf16<V>(x, inp + i);
    load_bf16<V>(g, dout + i);
#pragma unroll
    for (int k = 0; k < V; ++k) g[k] *= gelu_grad(x[k]);
    store_bf16<V>(dinp + i, g);
  });
}

// Element e of out (N,F) is row e / F, column e % F; its gate and up live in row e / F of inp.
template <int W>
__global__ void swiglu_forward_kernel(bf16* out, const bf16* inp, long n, int F) {
  grid_stride_packs<W>(n, [&](long e, auto width) {
    constexpr int V = decltype(width)::value;
    const long row = e / F, f = e % F;
    const bf16* gate = inp + row * 2 * F + f;
    float a[V], b[V];
    load_bf16<V>(a, gate);
    load_bf16<V>(b, gate + F);
#pragma unroll
    for (int k = 0; k < V; ++k) a[k] = a[k] * sigmoid(a[k]) * b[k];
    store_bf16<V>(out + e, a);
  });
}

template <int W>
__global__ void swiglu_backward_kernel(bf16* dinp, const bf16* inp, const bf16* dout, long n,
                                       int F) {
  grid_stride_packs<W>(n, [&](long e, auto width) {
    constexpr int V = decltype(width)::value;
    const long row = e / F, f = e % F;
    const long in_off = row * 2 * F + f;
    float a[V], b[V], g[V], da[V], db[V];
    load_bf16<V>(a, inp + in_off);
    load_bf16<V>(b, inp + in_off + F);
    load_bf16<V>(g, dout + e);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float sig = sigmoid(a[k]);
      // silu'(x) = sig(x) (1 + x (1 - sig(x)))
      da[k] = g[k] * b[k] * sig * (1.0f + a[k] * (1.0f - sig));
      db[k] = g[k] * a[k] * sig;
    }
    store_bf16<V>(dinp + in_off, da);
    store_bf16<V>(dinp + in_off + F, db);
  });
}

}  // namespace

void gelu_forward(bf16* out, const bf16* inp, long N, cudaStream_t stream) {
  FLAME_CHECK(N >= 0, "N=" << N);
  if (N == 0) return;
  dispatch_width(vector_width(8, out, inp), [&](auto width) {
    constexpr int W = decltype(width)::value;
    gelu_forward_kernel<W><<<grid_for(N / W + 1, kThreads), kThreads, 0, stream>>>(out, inp, N);
  });
  CUDA_CHECK_LAUNCH();
}

void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, long N, cudaStream_t stream) {
  FLAME_CHECK(N >= 0, "N=" << N);
  if (N == 0) return;
  dispatch_width(vector_width(8, dinp, inp, dout), [&](auto width) {
    constexpr int W = decltype(width)::value;
    gelu_backward_kernel<W><<<grid_for(N / W + 1, kThreads), kThreads, 0, stream>>>(dinp, inp,
                                                                                    dout, N);
  });
  CUDA_CHECK_LAUNCH();
}

void swiglu_forward(bf16* out, const bf16* inp, int N, int F, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && F > 0, "N=" << N << " F=" << F);
  if (N == 0) return;
  const long n = long(N) * F;
  dispatch_width(vector_width(F, out, inp), [&](auto width) {
    constexpr int W = decltype(width)::value;
    swiglu_forward_kernel<W><<<grid_for(n / W + 1, kThreads), kThreads, 0, stream>>>(out, inp, n,
                                                                                     F);
  });
  CUDA_CHECK_LAUNCH();
}

void swiglu_backward(bf16* dinp, const bf16* inp, const bf16* dout, int N, int F,
                     cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && F > 0, "N=" << N << " F=" << F);
  if (N == 0) return;
  const long n = long(N) * F;
  dispatch_width(vector_width(F, dinp, inp, dout), [&](auto width) {
    constexpr int W = decltype(width)::value;
    swiglu_backward_kernel<W><<<grid_for(n / W + 1, kThreads), kThreads, 0, stream>>>(
        dinp, inp, dout, n, F);
  });
  CUDA_CHECK_LAUNCH();
}

void activation_forward(Activation kind, bf16* act, const bf16* fch, int N, int F,
                        cudaStream_t stream) {
  switch (kind) {
    case Activation::gelu: return gelu_forward(act, fch, long(N) * F, stream);
    case Activation::swiglu: return swiglu_forward(act, fch, N, F, stream);
  }
}

void activation_backward(Activation kind, bf16* dfch, const bf16* fch, const bf16* dact, int N,
                         int F, cudaStream_t stream) {
  switch (kind) {
    case Activation::gelu: return gelu_backward(dfch, fch, dact, long(N) * F, stream);
    case Activation::swiglu: return swiglu_backward(dfch, fch, dact, N, F, stream);
  }
}

}  // namespace flame::cuda
