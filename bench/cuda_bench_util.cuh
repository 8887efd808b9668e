// Shared helpers for the CUDA benchmarks: cudaEvent timing (warmups, then the mean over repeats),
// the device's peak DRAM bandwidth, random bf16/fp32 device buffers (filled on the device), and
// the one-line report
//   <op> <shape> <dtype>: <ms> ms, <GB/s> GB/s (<pct>% of peak)
// shared with bench/torch_ops.py so a comparison table can be built from both outputs.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <string>
#include <vector>

#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda_check.h"

namespace flame::bench {

using bf16 = __nv_bfloat16;
using flame::cuda::DeviceBuffer;

// Peak DRAM bandwidth in bytes/s: 2 (double data rate) * memory clock * bus width, from the
// device attributes (cudaDeviceProp::memoryClockRate is gone in CUDA 13); if the attributes are
// unavailable, the datasheet figure for H100 (3.35 TB/s) or H200 (4.8 TB/s) by name; 0 if unknown.
inline double peak_bandwidth(std::string* source = nullptr) {
  int dev = 0, clock_khz = 0, bus_bits = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev) == cudaSuccess &&
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev) == cudaSuccess &&
      clock_khz > 0 && bus_bits > 0) {
    if (source) *source = "memory clock x bus width";
    return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0);
  }
  cudaGetLastError();  // clear a failed attribute query
  if (source) *source = "datasheet, by device name";
  if (std::strstr(prop.name, "H200")) return 4.8e12;
  if (std::strstr(prop.name, "H100")) return 3.35e12;
  return 0.0;
}

inline void print_device_header() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::string source;
  const double peak = peak_bandwidth(&source);
  std::printf("# device: %s, %d SMs, peak DRAM bandwidth %.0f GB/s (%s)\n", prop.name,
              prop.multiProcessorCount, peak / 1e9, source.c_str());
}

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

// bytes: the minimum DRAM traffic of the op (each input read once, each output written once).
inline void report(const std::string& op, const std::string& shape, const std::string& dtype,
                   double ms, double bytes) {
  const double gbs = bytes / (ms * 1e-3) / 1e9;
  const double peak = peak_bandwidth();
  if (peak > 0)
    std::printf("%s %s %s: %.3f ms, %.1f GB/s (%.1f%% of peak)\n", op.c_str(), shape.c_str(),
                dtype.c_str(), ms, gbs, 100.0 * gbs * 1e9 / peak);
  else
    std::printf("%s %s %s: %.3f ms, %.1f GB/s (peak unknown)\n", op.c_str(), shape.c_str(),
                dtype.c_str(), ms, gbs);
  std::fflush(stdout);
}

// Device-side random fill (a hash of the index, no host generation: the buffers reach GBs).
__device__ __forceinline__ float hash_uniform(uint64_t i, uint32_t seed) {
  uint64_t z = i + 0x9E3779B97F4A7C15ull * (uint64_t(seed) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
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
