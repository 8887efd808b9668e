// Times the fused causal attention (kernels/cuda/attention.cu), forward alone and forward +
// backward, with CUDA events, and reports TFLOP/s from the causal FLOP count:
//   forward  = 2 products (S = Q K^T, O = P V) x 2*B*H*T*T*D / 2 (half the matrix is masked),
//   backward = 2.5 x forward (the usual convention; the kernels actually recompute more),
// and the share of the device's dense bf16 tensor peak (H100 / H200 SXM: 989 TFLOP/s).
// Compare with bench/torch_attention.py (torch scaled_dot_product_attention, same line format).
// Usage: bench_attention [iterations]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/attention.h"
#include "core/error.h"
#include "kernels/cuda_check.h"

namespace {

// Uniform values in [-1, 1) from a hash of the index, as bf16.
__global__ void fill_random(__nv_bfloat16* x, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    x[i] = __float2bfloat16(float(h) * (2.0f / 4294967296.0f) - 1.0f);
  }
}

double peak_tflops(const cudaDeviceProp& prop) {
  const std::string name = prop.name;
  for (const char* hopper : {"H100", "H200", "H800"})
    if (name.find(hopper) != std::string::npos) return 989.4;  // SXM dense bf16
  if (name.find("A100") != std::string::npos) return 312.0;
  return 0.0;  // unknown
}

struct Case {
  int B, H, T, D;
};

void report(const char* name, const Case& c, double ms, double flops, double peak) {
  const double tflops = flops / (ms * 1e-3) / 1e12;
  std::printf("%s B=%d H=%d T=%d D=%d: %.3f ms, %.1f TFLOP/s", name, c.B, c.H, c.T, c.D, ms,
              tflops);
  if (peak > 0)
    std::printf(" (%.0f%% of peak)\n", 100.0 * tflops / peak);
  else
    std::printf(" (peak unknown)\n");
}

void run_case(const Case& c, int iters, double peak) {
  const flame::cpu::AttentionShape s{c.B, c.T, c.H, c.H, c.D};
  const size_t n_qkv = size_t(c.B) * c.T * 3 * c.H * c.D;
  const size_t n_out = size_t(c.B) * c.T * c.H * c.D;
  const size_t n_lse = size_t(c.B) * c.H * c.T;
  __nv_bfloat16 *qkv, *out, *dout, *dqkv;
  float* lse;
  void* scratch;
  CUDA_CHECK(cudaMalloc(&qkv, n_qkv * 2));
  CUDA_CHECK(cudaMalloc(&dqkv, n_qkv * 2));
  CUDA_CHECK(cudaMalloc(&out, n_out * 2));
  CUDA_CHECK(cudaMalloc(&dout, n_out * 2));
  CUDA_CHECK(cudaMalloc(&lse, n_lse * 4));
  CUDA_CHECK(cudaMalloc(&scratch, flame::cuda::attention_backward_scratch_bytes(s)));
  fill_random<<<1024, 256>>>(qkv, n_qkv, 1);
  CUDA_CHECK_LAUNCH();
  fill_random<<<1024, 256>>>(dout, n_out, 2);
  CUDA_CHECK_LAUNCH();

  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  const double fwd_flops = 2.0 * 2.0 * c.B * c.H * double(c.T) * c.T * c.D / 2.0;

  auto fwd = [&] { flame::cuda::attention_forward(out, lse, qkv, nullptr, s, 0); };
  auto fwd_bwd = [&] {
    fwd();
    flame::cuda::attention_backward(dqkv, dout, qkv, out, lse, nullptr, scratch, s, 0);
  };
  auto time_ms = [&](auto&& step) {
    for (int i = 0; i < 3; ++i) step();  // warm-up
    CUDA_CHECK(cudaEventRecord(start));
    for (int i = 0; i < iters; ++i) step();
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return double(ms) / iters;
  };
  report("attention_fwd", c, time_ms(fwd), fwd_flops, peak);
  report("attention_fwd_bwd", c, time_ms(fwd_bwd), 3.5 * fwd_flops, peak);

  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  CUDA_CHECK(cudaFree(qkv));
  CUDA_CHECK(cudaFree(dqkv));
  CUDA_CHECK(cudaFree(out));
  CUDA_CHECK(cudaFree(dout));
  CUDA_CHECK(cudaFree(lse));
  CUDA_CHECK(cudaFree(scratch));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int iters = argc > 1 ? std::atoi(argv[1]) : 20;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    const double peak = peak_tflops(prop);
    std::printf("device: %s (bf16 dense peak %.0f TFLOP/s%s)\n", prop.name, peak,
                peak > 0 ? "" : ", unknown");
    const Case cases[] = {{8, 12, 1024, 64}, {4, 16, 4096, 128}};
    for (const Case& c : cases) run_case(c, iters, peak);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
