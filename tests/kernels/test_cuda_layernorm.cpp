// CUDA LayerNorm (bf16 data, fp32 statistics) vs the fp32 CPU reference on the same bf16 inputs.
// Tolerances:
//   bf16 outputs (out, dinp, dw, db): abs 2e-2 + rel 2e-2 (bf16 rounding of the result, plus
//     fp32 vs double accumulation differences);
//   fp32 statistics (mean, rstd): abs 1e-5 + rel 1e-4;
//   residual_out: exact (fp32 add of two bf16 values, one rounding on both sides);
//   determinism: two backward runs are bitwise equal.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/layernorm.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 2e-2f, kRtol = 2e-2f;
constexpr float kStatAtol = 1e-5f, kStatRtol = 1e-4f;
constexpr float kEps = 1e-5f;

struct Shape {
  int N, C;
};
// C = 768: packed path; 12, 771: scalar path; 4096: > 48 KB of shared memory in backward.
// Row kept in registers (dispatch_row_chunks): 12, 8, 768 (3 chunks a lane), 1000 (4, the last
// one partial), 1024 (4); streamed: 771 (scalar, 25 chunks), 4096.
const Shape kShapes[] = {{1, 12},    {7, 768}, {33, 771}, {64, 8},
                         {300, 1024}, {3, 1000}, {5, 4096}};

std::string name(const Shape& s) {
  return "N=" + std::to_string(s.N) + " C=" + std::to_string(s.C);
}

TEST(CudaLayerNorm, Forward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (bool with_bias : {true, false}) {
      const size_t nc = size_t(s.N) * s.C;
      const auto x = random_bf16_values(nc, 2.0f, 4.0f, 41);  // a large mean: two-pass matters
      const auto w = random_bf16_values(s.C, 0.5f, 1.5f, 42);
      const auto b = random_bf16_values(s.C, -0.5f, 0.5f, 43);
      std::vector<float> want(nc), want_mean(s.N), want_rstd(s.N);
      cpu::layernorm_forward(want.data(), want_mean.data(), want_rstd.data(), x.data(), w.data(),
                             with_bias ? b.data() : nullptr, s.N, s.C, kEps);

      auto dx = upload_bf16(x), dw = upload_bf16(w), db = upload_bf16(b);
      DeviceBuffer<bf16> out(nc);
      DeviceBuffer<float> mean(s.N), rstd(s.N);
      out.poison();
      mean.poison();
      rstd.poison();
      cuda::layernorm_forward(out.data(), mean.data(), rstd.data(), dx.data(), dw.data(),
                              with_bias ? db.data() : nullptr, s.N, s.C, kEps, 0);
      const std::string n = name(s) + (with_bias ? " bias" : " no bias");
      expect_close(download_f32(out), want, kAtol, kRtol, "out " + n);
      expect_close(mean.download(), want_mean, kStatAtol, kStatRtol, "mean " + n);
      expect_close(rstd.download(), want_rstd, kStatAtol, kStatRtol, "rstd " + n);
    }
  }
}

TEST(CudaLayerNorm, ResidualForward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (bool in_place : {false, true}) {
      const size_t nc = size_t(s.N) * s.C;
      const auto a = random_bf16_values(nc, 1.0f, 3.0f, 44);
      const auto d = random_bf16_values(nc, -1.0f, 1.0f, 45);
      const auto w = random_bf16_values(s.C, 0.5f, 1.5f, 46);
      const auto b = random_bf16_values(s.C, -0.5f, 0.5f, 47);
      std::vector<float> resid(nc);
      for (size_t i = 0; i < nc; ++i) resid[i] = round_bf16(a[i] + d[i]);
      std::vector<float> want(nc), want_mean(s.N), want_rstd(s.N);
      cpu::layernorm_forward(want.data(), want_mean.data(), want_rstd.data(), resid.data(),
                             w.data(), b.data(), s.N, s.C, kEps);

      auto da = upload_bf16(a), dd = upload_bf16(d), dw = upload_bf16(w), db = upload_bf16(b);
      DeviceBuffer<bf16> res_out(nc), out(nc);
      DeviceBuffer<float> mean(s.N), rstd(s.N);
      res_out.poison();
      out.poison();
      mean.poison();
      rstd.poison();
      bf16* res_ptr = in_place ? da.data() : res_out.data();  // in place: residual += delta
      cuda::layernorm_residual_forward(res_ptr, out.data(), mean.data(), rstd.data(), da.data(),
                                       dd.data(), dw.data(), db.data(), s.N, s.C, kEps, 0);
      const std::string n = name(s) + (in_place ? " in place" : "");
      expect_close(download_f32(in_place ? da : res_out), resid, 0.0f, 0.0f, "residual " + n);
      expect_close(download_f32(out), want, kAtol, kRtol, "out " + n);
      expect_close(mean.download(), want_mean, kStatAtol, kStatRtol, "mean " + n);
      expect_close(rstd.download(), want_rstd, kStatAtol, kStatRtol, "rstd " + n);
    }
  }
}

TEST(CudaLayerNorm, BackwardAccumulatesAndIsDeterministic) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (int offset : {0, 1}) {  // offset 1: rows lose 16-byte alignment, scalar path
      const size_t nc = size_t(s.N) * s.C;
      const auto x = random_bf16_values(nc + offset, 1.0f, 3.0f, 51);
      const auto w = random_bf16_values(s.C, 0.5f, 1.5f, 52);
      const auto g = random_bf16_values(nc + offset, -1.0f, 1.0f, 53);
      const auto dinp0 = random_bf16_values(nc + offset, -1.0f, 1.0f, 54);
      const auto dw0 = random_bf16_values(s.C, -1.0f, 1.0f, 55);
      const auto db0 = random_bf16_values(s.C, -1.0f, 1.0f, 56);
      // Statistics from the CPU forward, fed to both backwards.
      std::vector<float> y(nc), mean(s.N), rstd(s.N);
      cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data() + offset, w.data(),
                             nullptr, s.N, s.C, kEps);
      std::vector<float> want_dinp(dinp0.begin() + offset, dinp0.end());
      std::vector<float> want_dw = dw0, want_db = db0;
      cpu::layernorm_backward(want_dinp.data(), want_dw.data(), want_db.data(), g.data() + offset,
                              x.data() + offset, w.data(), mean.data(), rstd.data(), s.N, s.C);

      auto dx = upload_bf16(x), dwt = upload_bf16(w), dg = upload_bf16(g);
      DeviceBuffer<float> dmean(mean), drstd(rstd);
      DeviceBuffer<float> scratch(cuda::layernorm_backward_scratch_bytes(s.N, s.C) / 4);
      scratch.poison();  // every partial the reduction reads must be written first
      std::vector<float> runs[2][3];
      for (int run = 0; run < 2; ++run) {
        auto dinp = upload_bf16(dinp0), dw = upload_bf16(dw0), db = upload_bf16(db0);
        cuda::layernorm_backward(dinp.data() + offset, dw.data(), db.data(), scratch.data(),
                                 dg.data() + offset, dx.data() + offset, dwt.data(), dmean.data(),
                                 drstd.data(), s.N, s.C, 0);
        auto got = download_f32(dinp);
        runs[run][0].assign(got.begin() + offset, got.end());
        runs[run][1] = download_f32(dw);
        runs[run][2] = download_f32(db);
      }
      const std::string n = name(s) + " offset=" + std::to_string(offset);
      expect_close(runs[0][0], want_dinp, kAtol, kRtol, "dinp " + n);
      expect_close(runs[0][1], want_dw, kAtol, kRtol, "dw " + n);
      expect_close(runs[0][2], want_db, kAtol, kRtol, "db " + n);
      for (int k = 0; k < 3; ++k) expect_bitwise_equal(runs[0][k], runs[1][k], "rerun " + n);
    }
  }
}

TEST(CudaLayerNorm, BackwardRefusesTooWideRows) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  // 2 x C fp32 per warp must fit in shared memory: C = 30000 needs 240 KB.
  EXPECT_THROW(cuda::layernorm_backward_scratch_bytes(4, 30000), flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
