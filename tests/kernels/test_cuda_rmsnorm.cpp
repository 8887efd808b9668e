// CUDA RMSNorm (bf16 data, fp32 rstd) vs the fp32 CPU reference on the same bf16 inputs.
// Tolerances:
//   bf16 outputs (out, dinp, dw): abs 2e-2 + rel 2e-2;
//   fp32 rstd: abs 1e-5 + rel 1e-4;
//   residual_out: exact (one fp32 add and one rounding on both sides);
//   determinism: two backward runs are bitwise equal.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/rmsnorm.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 2e-2f, kRtol = 2e-2f;
constexpr float kStatAtol = 1e-5f, kStatRtol = 1e-4f;
constexpr float kEps = 1e-5f;

struct Shape {
  int N, C;
};
// C = 768: packed path; 12, 771: scalar path; 8192: > 48 KB of shared memory in backward
const Shape kShapes[] = {{1, 12}, {7, 768}, {33, 771}, {64, 8}, {300, 1024}, {3, 8192}};

std::string name(const Shape& s) {
  return "N=" + std::to_string(s.N) + " C=" + std::to_string(s.C);
}

TEST(CudaRMSNorm, ForwardAndResidualForward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    const size_t nc = size_t(s.N) * s.C;
    const auto a = random_bf16_values(nc, -2.0f, 2.0f, 61);
    const auto d = random_bf16_values(nc, -1.0f, 1.0f, 62);
    const auto w = random_bf16_values(s.C, 0.5f, 1.5f, 63);
    auto da = upload_bf16(a), dd = upload_bf16(d), dw = upload_bf16(w);

    // plain forward on a
    std::vector<float> want(nc), want_rstd(s.N);
    cpu::rmsnorm_forward(want.data(), want_rstd.data(), a.data(), w.data(), s.N, s.C, kEps);
    DeviceBuffer<bf16> out(nc);
    DeviceBuffer<float> rstd(s.N);
    out.poison();
    rstd.poison();
    cuda::rmsnorm_forward(out.data(), rstd.data(), da.data(), dw.data(), s.N, s.C, kEps, 0);
    expect_close(download_f32(out), want, kAtol, kRtol, "out " + name(s));
    expect_close(rstd.download(), want_rstd, kStatAtol, kStatRtol, "rstd " + name(s));

    // fused: residual_out = a + d, then the norm of it
    std::vector<float> resid(nc);
    for (size_t i = 0; i < nc; ++i) resid[i] = round_bf16(a[i] + d[i]);
    cpu::rmsnorm_forward(want.data(), want_rstd.data(), resid.data(), w.data(), s.N, s.C, kEps);
    DeviceBuffer<bf16> res_out(nc);
    res_out.poison();
    out.poison();
    rstd.poison();
    cuda::rmsnorm_residual_forward(res_out.data(), out.data(), rstd.data(), da.data(), dd.data(),
                                   dw.data(), s.N, s.C, kEps, 0);
    expect_close(download_f32(res_out), resid, 0.0f, 0.0f, "residual " + name(s));
    expect_close(download_f32(out), want, kAtol, kRtol, "fused out " + name(s));
    expect_close(rstd.download(), want_rstd, kStatAtol, kStatRtol, "fused rstd " + name(s));

    // fused in place: residual_out aliases resid
    out.poison();
    cuda::rmsnorm_residual_forward(da.data(), out.data(), nullptr, da.data(), dd.data(),
                                   dw.data(), s.N, s.C, kEps, 0);
    expect_close(download_f32(da), resid, 0.0f, 0.0f, "residual in place " + name(s));
    expect_close(download_f32(out), want, kAtol, kRtol, "fused out in place " + name(s));
  }
}

TEST(CudaRMSNorm, BackwardAccumulatesAndIsDeterministic) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (int offset : {0, 1}) {  // offset 1: rows lose 16-byte alignment, scalar path
      const size_t nc = size_t(s.N) * s.C;
      const auto x = random_bf16_values(nc + offset, -2.0f, 2.0f, 71);
      const auto w = random_bf16_values(s.C, 0.5f, 1.5f, 72);
      const auto g = random_bf16_values(nc + offset, -1.0f, 1.0f, 73);
      const auto dinp0 = random_bf16_values(nc + offset, -1.0f, 1.0f, 74);
      const auto dw0 = random_bf16_values(s.C, -1.0f, 1.0f, 75);
      std::vector<float> y(nc), rstd(s.N);
      cpu::rmsnorm_forward(y.data(), rstd.data(), x.data() + offset, w.data(), s.N, s.C, kEps);
      std::vector<float> want_dinp(dinp0.begin() + offset, dinp0.end());
      std::vector<float> want_dw = dw0;
      cpu::rmsnorm_backward(want_dinp.data(), want_dw.data(), g.data() + offset,
                            x.data() + offset, w.data(), rstd.data(), s.N, s.C);

      auto dx = upload_bf16(x), dwt = upload_bf16(w), dg = upload_bf16(g);
      DeviceBuffer<float> drstd(rstd);
      DeviceBuffer<float> scratch(cuda::rmsnorm_backward_scratch_bytes(s.N, s.C) / 4);
      scratch.poison();
      std::vector<float> runs[2][2];
      for (int run = 0; run < 2; ++run) {
        auto dinp = upload_bf16(dinp0), dw = upload_bf16(dw0);
        cuda::rmsnorm_backward(dinp.data() + offset, dw.data(), scratch.data(),
                               dg.data() + offset, dx.data() + offset, dwt.data(), drstd.data(),
                               s.N, s.C, 0);
        auto got = download_f32(dinp);
        runs[run][0].assign(got.begin() + offset, got.end());
        runs[run][1] = download_f32(dw);
      }
      const std::string n = name(s) + " offset=" + std::to_string(offset);
      expect_close(runs[0][0], want_dinp, kAtol, kRtol, "dinp " + n);
      expect_close(runs[0][1], want_dw, kAtol, kRtol, "dw " + n);
      for (int k = 0; k < 2; ++k) expect_bitwise_equal(runs[0][k], runs[1][k], "rerun " + n);
    }
  }
}

TEST(CudaRMSNorm, BackwardRefusesTooWideRows) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_THROW(cuda::rmsnorm_backward_scratch_bytes(4, 60000), flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
