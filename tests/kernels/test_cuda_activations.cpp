// CUDA GELU / SwiGLU (bf16 in and out, fp32 math) vs the fp32 CPU reference run on the same
// bf16-rounded inputs.
// Tolerance, bf16 outputs: abs 1e-2 + rel 1e-2 (one bf16 ulp is at most 0.4% relative; the fp32
// math differs from the CPU's only by a few fp32 ulps).
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "kernels/activations.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 1e-2f, kRtol = 1e-2f;

TEST(CudaActivations, GeluForwardBackward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (long n : {1L, 7L, 33L * 771, (1L << 20) + 5}) {
    for (int offset : {0, 1}) {  // offset 1: unaligned pointers, scalar path
      const std::string name = "n=" + std::to_string(n) + " offset=" + std::to_string(offset);
      const auto x = random_bf16_values(n + offset, -5.0f, 5.0f, 21);
      const auto g = random_bf16_values(n + offset, -2.0f, 2.0f, 22);
      std::vector<float> want_y(n), want_dx(n);
      cpu::gelu_forward(want_y.data(), x.data() + offset, n);
      cpu::gelu_backward(want_dx.data(), x.data() + offset, g.data() + offset, n);

      auto dx_in = upload_bf16(x), dg = upload_bf16(g);
      DeviceBuffer<bf16> y(n + offset), dx(n + offset);
      y.poison();
      dx.poison();
      cuda::gelu_forward(y.data() + offset, dx_in.data() + offset, n, 0);
      cuda::gelu_backward(dx.data() + offset, dx_in.data() + offset, dg.data() + offset, n, 0);
      auto got_y = download_f32(y), got_dx = download_f32(dx);
      expect_close(std::vector<float>(got_y.begin() + offset, got_y.end()), want_y, kAtol, kRtol,
                   "gelu_forward " + name);
      expect_close(std::vector<float>(got_dx.begin() + offset, got_dx.end()), want_dx, kAtol,
                   kRtol, "gelu_backward " + name);
    }
  }
}

TEST(CudaActivations, GeluInPlace) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const long n = 1001;
  const auto x = random_bf16_values(n, -5.0f, 5.0f, 23);
  const auto g = random_bf16_values(n, -2.0f, 2.0f, 24);
  std::vector<float> want_y(n), want_dx(n);
  cpu::gelu_forward(want_y.data(), x.data(), n);
  cpu::gelu_backward(want_dx.data(), x.data(), g.data(), n);
  auto y = upload_bf16(x);
  cuda::gelu_forward(y.data(), y.data(), n, 0);  // out aliases inp
  expect_close(download_f32(y), want_y, kAtol, kRtol, "gelu_forward in place");
  auto dx_in = upload_bf16(x), dg = upload_bf16(g);
  cuda::gelu_backward(dg.data(), dx_in.data(), dg.data(), n, 0);  // dinp aliases dout
  expect_close(download_f32(dg), want_dx, kAtol, kRtol, "gelu_backward in place");
}

TEST(CudaActivations, SwigluForwardBackward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (int N : {1, 7, 33}) {
    for (int F : {8, 12, 768, 771}) {  // F % 8 == 0: packed path; 12, 771: scalar path
      const std::string name = "N=" + std::to_string(N) + " F=" + std::to_string(F);
      const size_t n_in = size_t(N) * 2 * F, n_out = size_t(N) * F;
      const auto x = random_bf16_values(n_in, -5.0f, 5.0f, 31);
      const auto g = random_bf16_values(n_out, -2.0f, 2.0f, 32);
      std::vector<float> want_y(n_out), want_dx(n_in);
      cpu::swiglu_forward(want_y.data(), x.data(), N, F);
      cpu::swiglu_backward(want_dx.data(), x.data(), g.data(), N, F);

      auto dx_in = upload_bf16(x), dg = upload_bf16(g);
      DeviceBuffer<bf16> y(n_out), dx(n_in);
      y.poison();
      dx.poison();
      cuda::swiglu_forward(y.data(), dx_in.data(), N, F, 0);
      cuda::swiglu_backward(dx.data(), dx_in.data(), dg.data(), N, F, 0);
      expect_close(download_f32(y), want_y, kAtol, kRtol, "swiglu_forward " + name);
      expect_close(download_f32(dx), want_dx, kAtol, kRtol, "swiglu_backward " + name);
    }
  }
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
