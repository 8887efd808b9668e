// Shared helpers for the CUDA kernel tests (host code only): bf16 rounding done on the host bit
// for bit (round to nearest even, as __float2bfloat16_rn), seeded random inputs already rounded to
// bf16 (so the CPU reference and the GPU see the same values), device upload/download, and a
// comparison that reports the number of mismatches, the worst one and the first NaN.
#pragma once
#ifdef FLAME_WITH_CUDA

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/half.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda_check.h"

namespace flame::test {

using bf16 = __nv_bfloat16;
using flame::cuda::DeviceBuffer;

// Host bf16 conversions (core/half.h), under the names the tests use.
inline uint16_t f32_to_bf16_bits(float f) { return flame::f32_to_bf16(f); }
inline float bf16_bits_to_f32(uint16_t b) { return flame::bf16_to_f32(b); }

inline float round_bf16(float f) { return bf16_bits_to_f32(f32_to_bf16_bits(f)); }

inline bf16 to_bf16(float f) {
  __nv_bfloat16_raw raw;
  raw.x = f32_to_bf16_bits(f);
  return bf16(raw);
}

inline float to_f32(bf16 h) { return bf16_bits_to_f32(static_cast<__nv_bfloat16_raw>(h).x); }

inline std::vector<bf16> to_bf16(const std::vector<float>& x) {
  std::vector<bf16> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = to_bf16(x[i]);
  return out;
}

inline std::vector<float> to_f32(const std::vector<bf16>& x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = to_f32(x[i]);
  return out;
}

// n values uniform in [lo, hi), rounded to bf16 (exactly representable: host and device agree).
inline std::vector<float> random_bf16_values(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(n);
  for (auto& v : x) v = round_bf16(dist(rng));
  return x;
}

// n values uniform in [lo, hi) in full fp32.
inline std::vector<float> random_f32_values(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

inline std::vector<int32_t> random_ints(size_t n, int lo, int hi_exclusive, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi_exclusive - 1);
  std::vector<int32_t> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

inline DeviceBuffer<bf16> upload_bf16(const std::vector<float>& x) {
  return DeviceBuffer<bf16>(to_bf16(x));
}

inline std::vector<float> download_f32(const DeviceBuffer<bf16>& buf) {
  return to_f32(buf.download());
}

inline std::vector<float> download_f32(const DeviceBuffer<float>& buf) { return buf.download(); }

// Every element must satisfy |got - want| <= atol + rtol * |want| (a NaN anywhere fails: a
// poisoned element that was never written shows up here). One failure message per call, with the
// mismatch count, the worst element and the first NaN.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, float atol,
                         float rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, worst = 0, first_nan = got.size();
  double worst_excess = -1.0, max_abs = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const double err = std::fabs(g - w);
    const double tol = atol + rtol * std::fabs(w);
    if (std::isnan(g) || std::isnan(w)) {
      if (first_nan == got.size()) first_nan = i;
      ++bad;
      continue;
    }
    if (err > max_abs) max_abs = err;
    if (err > tol) ++bad;
    if (err - tol > worst_excess) {
      worst_excess = err - tol;
      worst = i;
    }
  }
  if (bad) {
    std::ostringstream os;
    os << what << ": " << bad << " of " << got.size() << " elements out of tolerance (atol "
       << atol << ", rtol " << rtol << "); max abs error " << max_abs;
    if (worst_excess >= 0.0)
      os << "; worst at " << worst << ": got " << got[worst] << " want " << want[worst];
    if (first_nan < got.size())
      os << "; first NaN at " << first_nan << ": got " << got[first_nan] << " want "
         << want[first_nan];
    ADD_FAILURE() << os.str();
  }
}

template <class T>
inline void expect_bitwise_equal(const std::vector<T>& a, const std::vector<T>& b,
                                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(T))) << what
                                                                       << ": runs differ";
}

inline std::string shape_name(std::initializer_list<long> dims) {
  std::string s;
  for (long d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

}  // namespace flame::test

#endif  // FLAME_WITH_CUDA
