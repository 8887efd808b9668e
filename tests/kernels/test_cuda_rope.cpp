// CUDA RoPE (in place on bf16) vs the fp32 CPU reference on the same bf16 inputs.
// Tolerances: rotated bf16 values abs 1e-2 + rel 1e-2 (same double-precision angles on both
// sides; fp32 rotation, one bf16 rounding); heads beyond H (the v part of qkv) must be untouched
// bit for bit; forward then backward returns the input within abs 2e-2 + rel 2e-2 (two
// roundings).
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/rope.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kTheta = 10000.0f;

struct Shape {
  int N, H, extra_heads, D;
};
const Shape kShapes[] = {{1, 1, 0, 2}, {7, 3, 1, 64}, {33, 6, 2, 128}, {5, 2, 1, 6},
                         {300, 4, 2, 64}};

TEST(CudaRope, ForwardBackwardMatchCpu) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    const long stride = long(s.H + s.extra_heads) * s.D;
    const size_t n = size_t(s.N) * stride;
    const std::string what = "N=" + std::to_string(s.N) + " H=" + std::to_string(s.H) +
                             " D=" + std::to_string(s.D);
    const auto x = random_bf16_values(n, -1.0f, 1.0f, 101);
    const auto pos = random_ints(s.N, 0, 8192, 102);  // large positions: angle precision
    DeviceBuffer<int32_t> dpos(pos);
    for (bool backward : {false, true}) {
      std::vector<float> want = x;
      if (backward)
        cpu::rope_backward(want.data(), pos.data(), s.N, s.H, s.D, stride, kTheta);
      else
        cpu::rope_forward(want.data(), pos.data(), s.N, s.H, s.D, stride, kTheta);
      auto dx = upload_bf16(x);
      if (backward)
        cuda::rope_backward(dx.data(), dpos.data(), s.N, s.H, s.D, stride, kTheta, 0);
      else
        cuda::rope_forward(dx.data(), dpos.data(), s.N, s.H, s.D, stride, kTheta, 0);
      const auto got = download_f32(dx);
      std::vector<float> got_rot, want_rot, got_rest, want_rest;
      for (size_t i = 0; i < n; ++i) {
        const bool rotated = long(i % stride) < long(s.H) * s.D;
        (rotated ? got_rot : got_rest).push_back(got[i]);
        (rotated ? want_rot : want_rest).push_back(rotated ? want[i] : x[i]);
      }
      const std::string w = (backward ? "rope_backward " : "rope_forward ") + what;
      expect_close(got_rot, want_rot, 1e-2f, 1e-2f, w);
      expect_close(got_rest, want_rest, 0.0f, 0.0f, w + " untouched heads");
    }
  }
}

TEST(CudaRope, BackwardInvertsForward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int N = 64, H = 4, D = 128;
  const long stride = long(H) * D;
  const auto x = random_bf16_values(size_t(N) * stride, -1.0f, 1.0f, 103);
  DeviceBuffer<int32_t> dpos(random_ints(N, 0, 2048, 104));
  auto dx = upload_bf16(x);
  cuda::rope_forward(dx.data(), dpos.data(), N, H, D, stride, kTheta, 0);
  cuda::rope_backward(dx.data(), dpos.data(), N, H, D, stride, kTheta, 0);
  expect_close(download_f32(dx), x, 2e-2f, 2e-2f, "rope backward(forward(x))");
}

TEST(CudaRope, RefusesOddHeadDim) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_THROW(cuda::rope_forward(nullptr, nullptr, 1, 1, 7, 7, kTheta, 0), flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
