// Tensor views: a non-owning pointer with shape, dtype and device. Storage is always owned by
// a flat buffer (parameters, gradients, activation arena); views only describe slices of it.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/check.h"

namespace flame {

enum class DType : uint8_t { f32, bf16, i32 };
enum class Device : uint8_t { cpu, cuda };

inline size_t dtype_size(DType t) { return t == DType::bf16 ? 2 : 4; }
inline const char* dtype_name(DType t) {
  return t == DType::f32 ? "f32" : t == DType::bf16 ? "bf16" : "i32";
}

struct Tensor {
  static constexpr int kMaxDims = 4;
  void* data = nullptr;
  std::array<int64_t, kMaxDims> shape{};  // unused trailing dims are 1
  int ndim = 0;
  DType dtype = DType::f32;
  Device device = Device::cpu;

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape[i]; }
  float* f32() const {
    FLAME_CHECK(dtype == DType::f32, "tensor is " << dtype_name(dtype));
    return static_cast<float*>(data);
  }
  int32_t* i32() const {
    FLAME_CHECK(dtype == DType::i32, "tensor is " << dtype_name(dtype));
    return static_cast<int32_t*>(data);
  }
  std::string shape_str() const {
    std::string s = "(";
    for (int i = 0; i < ndim; ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + ")";
  }
};

inline Tensor make_view(void* data, std::initializer_list<int64_t> dims, DType dt = DType::f32,
                        Device dev = Device::cpu) {
  Tensor t;
  t.data = data;
  t.dtype = dt;
  t.device = dev;
  FLAME_CHECK(dims.size() <= Tensor::kMaxDims, "too many dims");
  for (int64_t d : dims) t.shape[t.ndim++] = d;
  return t;
}

}  // namespace flame
