// Residual stream ops, elementwise and memory-bound: a grid-stride loop moves 8 bf16 per access
// (16-byte loads/stores) when every pointer is 16-byte aligned, scalar otherwise; the N % 8 tail
// is handled one element at a time. Each element is read before it is written by the same
// thread, so out may alias an input.
#include "kernels/residual.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 256;

template <int W>
__global__ void residual_forward_kernel(bf16* out, const bf16* a, const bf16* b, long n) {
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    float x[V], y[V];
    load_bf16<V>(x, a + i);
    load_bf16<V>(y, b + i);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] += y[k];
    store_bf16<V>(out + i, x);
  });
}

}  // namespace

void residual_forward(bf16* out, const bf16* a, const bf16* b, long N, cudaStream_t stream) {
  FLAME_CHECK(N >= 0, "N=" << N);
  if (N == 0) return;
  dispatch_width(vector_width(8, out, a, b), [&](auto width) {
    constexpr int W = decltype(width)::value;
    residual_forward_kernel<W><<<grid_for(N / W + 1, kThreads), kThreads, 0, stream>>>(out, a, b,
                                                                                       N);
  });
  CUDA_CHECK_LAUNCH();
}

void accumulate(bf16* acc, const bf16* x, long N, cudaStream_t stream) {
  // acc = acc + x: the same kernel with out aliasing its first input.
  residual_forward(acc, acc, x, N, stream);
}

}  // namespace flame::cuda
