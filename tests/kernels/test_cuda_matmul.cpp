// CUDA linear layer (cuBLASLt, bf16 with fp32 accumulation) vs the fp32 CPU reference (CBLAS) on
// the same bf16 inputs.
// Tolerances, bf16 outputs (out, pre_gelu, dinp, dweight, dbias): abs 2e-2 + rel 2e-2 (both
// accumulate in fp32 in different orders; the GPU rounds the result to bf16, and with a fused
// epilogue it may round the pre-activation first). Magnitudes are kept near 1 so the absolute
// part is meaningful. dbias is deterministic: two runs bitwise equal.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "kernels/activations.h"
#include "core/error.h"
#include "kernels/matmul.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 2e-2f, kRtol = 2e-2f;

struct Shape {
  int N, C, OC;
};
// odd sizes (7x12x20, 33x771x100) and GPT-2-like ones; the GELU variants need C, OC % 8 == 0
const Shape kShapes[] = {{1, 8, 16}, {7, 12, 20}, {33, 771, 100}, {64, 768, 2304},
                         {128, 256, 1024}};

std::string name(const Shape& s) {
  return std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.OC);
}

// Inputs scaled so every product sum has magnitude ~1: weights ~ U(-1,1) / sqrt(C).
struct Data {
  std::vector<float> inp, weight, bias;
  Data(const Shape& s, uint32_t seed) {
    const float ws = 1.7f / std::sqrt(float(s.C));
    inp = random_bf16_values(size_t(s.N) * s.C, -1.0f, 1.0f, seed);
    weight = random_bf16_values(size_t(s.OC) * s.C, -ws, ws, seed + 1);
    bias = random_bf16_values(s.OC, -0.5f, 0.5f, seed + 2);
  }
};

TEST(CudaMatmul, ForwardWithAndWithoutBias) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  cuda::GemmContext ctx;
  for (const Shape& s : kShapes) {
    const Data d(s, 141);
    auto dinp = upload_bf16(d.inp), dw = upload_bf16(d.weight), db = upload_bf16(d.bias);
    for (bool with_bias : {true, false}) {
      std::vector<float> want(size_t(s.N) * s.OC);
      cpu::matmul_forward(want.data(), d.inp.data(), d.weight.data(),
                          with_bias ? d.bias.data() : nullptr, s.N, s.C, s.OC);
      DeviceBuffer<bf16> out(size_t(s.N) * s.OC);
      out.poison();
      cuda::matmul_forward(ctx, out.data(), nullptr, dinp.data(), dw.data(),
                           with_bias ? db.data() : nullptr, s.N, s.C, s.OC, 0);
      expect_close(download_f32(out), want, kAtol, kRtol,
                   "matmul_forward " + name(s) + (with_bias ? " bias" : ""));
    }
  }
  // Not a failure (the unfused path is correct), but the device run should know.
  if (ctx.epilogue_fallbacks)
    std::printf("note: %d BIAS epilogue fallbacks\n", ctx.epilogue_fallbacks);
}

TEST(CudaMatmul, ForwardGeluEpilogue) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  cuda::GemmContext ctx;
  for (const Shape& s : kShapes) {
    if (s.OC % 8) continue;
    const Data d(s, 151);
    for (bool with_bias : {true, false}) {
      const size_t no = size_t(s.N) * s.OC;
      std::vector<float> want_pre(no), want_out(no);
      cpu::matmul_forward(want_pre.data(), d.inp.data(), d.weight.data(),
                          with_bias ? d.bias.data() : nullptr, s.N, s.C, s.OC);
      cpu::gelu_forward(want_out.data(), want_pre.data(), long(no));
      auto dinp = upload_bf16(d.inp), dw = upload_bf16(d.weight), db = upload_bf16(d.bias);
      DeviceBuffer<bf16> out(no), pre(no);
      out.poison();
      pre.poison();
      cuda::matmul_forward(ctx, out.data(), pre.data(), dinp.data(), dw.data(),
                           with_bias ? db.data() : nullptr, s.N, s.C, s.OC, 0);
      const std::string w = name(s) + (with_bias ? " bias" : "");
      expect_close(download_f32(pre), want_pre, kAtol, kRtol, "pre_gelu " + w);
      expect_close(download_f32(out), want_out, kAtol, kRtol, "gelu out " + w);
    }
  }
  // Not a failure (the unfused path is correct), but the device run should know.
  if (ctx.epilogue_fallbacks)
    std::printf("note: %d GELU epilogue fallbacks\n", ctx.epilogue_fallbacks);
}

TEST(CudaMatmul, BackwardAccumulatesAndBiasGradIsDeterministic) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  cuda::GemmContext ctx;
  for (const Shape& s : kShapes) {
    const Data d(s, 161);
    const auto dout = random_bf16_values(size_t(s.N) * s.OC, -1.0f, 1.0f, 164);
    const auto dw0 = random_bf16_values(size_t(s.OC) * s.C, -1.0f, 1.0f, 165);
    const auto db0 = random_bf16_values(s.OC, -1.0f, 1.0f, 166);
    std::vector<float> want_dinp(size_t(s.N) * s.C), want_dw = dw0, want_db = db0;
    cpu::matmul_backward(want_dinp.data(), want_dw.data(), want_db.data(), dout.data(),
                         d.inp.data(), d.weight.data(), s.N, s.C, s.OC);

    auto dinp_in = upload_bf16(d.inp), dwt = upload_bf16(d.weight), ddout = upload_bf16(dout);
    DeviceBuffer<float> scratch(cuda::matmul_backward_scratch_bytes(s.N, s.OC) / 4);
    scratch.poison();
    std::vector<float> dbias_runs[2];
    for (int run = 0; run < 2; ++run) {
      DeviceBuffer<bf16> dinp(size_t(s.N) * s.C);
      dinp.poison();
      auto dw = upload_bf16(dw0), db = upload_bf16(db0);
      cuda::matmul_backward(ctx, dinp.data(), dw.data(), db.data(), scratch.data(), ddout.data(),
                            dinp_in.data(), dwt.data(), nullptr, s.N, s.C, s.OC, 0);
      if (run == 0) {
        expect_close(download_f32(dinp), want_dinp, kAtol, kRtol, "dinp " + name(s));
        expect_close(download_f32(dw), want_dw, kAtol, kRtol, "dweight " + name(s));
      }
      dbias_runs[run] = download_f32(db);
    }
    expect_close(dbias_runs[0], want_db, kAtol, kRtol, "dbias " + name(s));
    expect_bitwise_equal(dbias_runs[0], dbias_runs[1], "dbias rerun " + name(s));
  }
}

TEST(CudaMatmul, BackwardDgeluEpilogue) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  cuda::GemmContext ctx;
  for (const Shape& s : kShapes) {
    if (s.C % 8) continue;
    const Data d(s, 171);
    // the layer's input is gelu(pre): pre ~ U(-3, 3)
    const auto pre = random_bf16_values(size_t(s.N) * s.C, -3.0f, 3.0f, 172);
    const auto dout = random_bf16_values(size_t(s.N) * s.OC, -1.0f, 1.0f, 173);
    std::vector<float> dact(size_t(s.N) * s.C), want(size_t(s.N) * s.C);
    cpu::matmul_backward(dact.data(), nullptr, nullptr, dout.data(), d.inp.data(),
                         d.weight.data(), s.N, s.C, s.OC);
    cpu::gelu_backward(want.data(), pre.data(), dact.data(), long(want.size()));

    auto dpre = upload_bf16(pre), dwt = upload_bf16(d.weight), ddout = upload_bf16(dout);
    DeviceBuffer<bf16> dinp(want.size());
    dinp.poison();
    cuda::matmul_backward(ctx, dinp.data(), nullptr, nullptr, nullptr, ddout.data(), nullptr,
                          dwt.data(), dpre.data(), s.N, s.C, s.OC, 0);
    expect_close(download_f32(dinp), want, kAtol, kRtol, "dgelu dinp " + name(s));
  }
  if (ctx.epilogue_fallbacks)
    std::printf("note: %d DGELU epilogue fallbacks\n", ctx.epilogue_fallbacks);
}

TEST(CudaMatmul, GeluEpilogueRefusesUnalignedWidth) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  cuda::GemmContext ctx;
  DeviceBuffer<bf16> out(7 * 20), pre(7 * 20), inp(7 * 12), w(20 * 12);
  EXPECT_THROW(cuda::matmul_forward(ctx, out.data(), pre.data(), inp.data(), w.data(), nullptr, 7,
                                    12, 20, 0),
               flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
