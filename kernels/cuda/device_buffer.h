// DeviceBuffer<T>: an owning, move-only device allocation of n elements of T, for tests,
// benchmarks and scratch space. Host-only code (plain C++, no nvcc needed), so GoogleTest files
// compiled by the host compiler can use it. Every CUDA call is checked (throws flame::Error).
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

#include "core/error.h"
#include "kernels/cuda_check.h"

namespace flame::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) { allocate(n); }
  explicit DeviceBuffer(const std::vector<T>& host) {
    allocate(host.size());
    upload(host);
  }
  ~DeviceBuffer() { release(); }

  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

  void upload(const T* src, size_t n) {
    FLAME_CHECK(n <= n_, "upload of " << n << " elements into a buffer of " << n_);
    if (n) CUDA_CHECK(cudaMemcpy(ptr_, src, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void upload(const std::vector<T>& host) { upload(host.data(), host.size()); }

  // Synchronous copy back (cudaMemcpy waits for the legacy default stream, so kernels launched
  // on stream 0 have finished and any asynchronous error surfaces here).
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (n_) CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }

  void fill_bytes(int value) {
    if (n_) CUDA_CHECK(cudaMemset(ptr_, value, bytes()));
  }
  void zero() { fill_bytes(0); }
  // All bits set: NaN for f32 and bf16 (and -1 for i32), so any element a kernel should have
  // written but did not shows up in a comparison.
  void poison() { fill_bytes(0xFF); }

 private:
  void allocate(size_t n) {
    n_ = n;
    if (n) CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), n * sizeof(T)));
  }
  void release() {
    if (ptr_) cudaFree(ptr_);  // no check: destructors must not throw
    ptr_ = nullptr;
    n_ = 0;
  }

  T* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace flame::cuda
