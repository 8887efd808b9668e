// fp32 <-> bf16 buffer conversion: elementwise grid-stride loop, 8 elements per access when both
// pointers are 16-byte aligned (one 16-byte bf16 pack, two float4), scalar tail.
#include "kernels/convert.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 256;

template <int W>
__global__ void f32_to_bf16_kernel(bf16* out, const float* in, long n) {
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    float x[V];
    load_f32<V>(x, in + i);
    store_bf16<V>(out + i, x);
  });
}

template <int W>
__global__ void bf16_to_f32_kernel(float* out, const bf16* in, long n) {
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    float x[V];
    load_bf16<V>(x, in + i);
    store_f32<V>(out + i, x);
  });
}

}  // namespace

void convert_f32_to_bf16(bf16* out, const float* in, long n, cudaStream_t stream) {
  FLAME_CHECK(n >= 0, "n=" << n);
  if (n == 0) return;
  dispatch_width(vector_width(8, out, in), [&](auto width) {
    constexpr int W = decltype(width)::value;
    f32_to_bf16_kernel<W><<<grid_for(n / W + 1, kThreads), kThreads, 0, stream>>>(out, in, n);
  });
  CUDA_CHECK_LAUNCH();
}

void convert_bf16_to_f32(float* out, const bf16* in, long n, cudaStream_t stream) {
  FLAME_CHECK(n >= 0, "n=" << n);
  if (n == 0) return;
  dispatch_width(vector_width(8, out, in), [&](auto width) {
    constexpr int W = decltype(width)::value;
    bf16_to_f32_kernel<W><<<grid_for(n / W + 1, kThreads), kThreads, 0, stream>>>(out, in, n);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace flame::cuda
