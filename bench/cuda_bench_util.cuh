// Shared helpers for the CUDA benchmarks (bench/bench_ops.cu): cudaEvent timing (warmups, then
// the mean over repeats) and random bf16/fp32 device buffers filled on the device.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <type_traits>

#include "core/rng.h"

#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda_check.h"

namespace flame::bench {

using bf16 = __nv_bfloat16;
using flame::cuda::DeviceBuffer;

// Mean milliseconds per call of fn() over `repeats` calls, after `warmups` untimed calls.
template <class F>
inline double time_ms(F&& fn, int warmups, int repeats) {
  for (int i = 0; i < warmups; ++i) fn();
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  CUDA_CHECK(cudaEventRecord(start, 0));
  for (int i = 0; i < repeats; ++i) fn();
  CUDA_CHECK(cudaEventRecord(stop, 0));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  CUDA_CHECK(cudaGetLastError());
  return double(ms) / repeats;
}

// Device-side random fill (a hash of the index, no host generation: the buffers reach GBs).
__device__ __forceinline__ float hash_uniform(uint64_t i, uint32_t seed) {
  const uint64_t z = flame::splitmix_at(i, seed);
  return float(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
}

template <class T>
__global__ void fill_uniform_kernel(T* x, size_t n, float lo, float hi, uint32_t seed) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    const float u = lo + (hi - lo) * hash_uniform(i, seed);
    if constexpr (std::is_same_v<T, float>)
      x[i] = u;
    else
      x[i] = __float2bfloat16_rn(u);
  }
}

template <class T>
inline DeviceBuffer<T> random_buffer(size_t n, float lo, float hi, uint32_t seed) {
  DeviceBuffer<T> buf(n);
  if (n) {
    fill_uniform_kernel<T><<<1024, 256>>>(buf.data(), n, lo, hi, seed);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  return buf;
}

inline DeviceBuffer<bf16> random_bf16(size_t n, float lo, float hi, uint32_t seed) {
  return random_buffer<bf16>(n, lo, hi, seed);
}

inline DeviceBuffer<float> random_f32(size_t n, float lo, float hi, uint32_t seed) {
  return random_buffer<float>(n, lo, hi, seed);
}

}  // namespace flame::bench
