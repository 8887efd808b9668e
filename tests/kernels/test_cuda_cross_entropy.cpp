// CUDA fused softmax cross-entropy vs the CPU reference on the same bf16 logits.
// Tolerances:
//   losses (fp32) and their masked mean: abs 1e-4 + rel 1e-4 (fp32 exp-sum over up to 50K terms
//     vs the CPU's double sum);
//   dlogits (bf16): rel 2e-2 with an absolute floor of 1e-6 * |coeff|: softmax probabilities are
//     ~1/V, so an absolute 2e-2 would test nothing; 1e-6 is far below the smallest probability
//     that matters and far above fp32 noise;
//   masked rows: loss and every gradient element exactly 0; the forward-only kernel leaves the
//     logits bit for bit unchanged.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "kernels/cross_entropy.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

struct Shape {
  int N, V;
};
// V % 8 == 0: packed path (50304 is GPT-2's padded vocabulary); 7, 771: scalar path
const Shape kShapes[] = {{1, 7}, {7, 50304}, {33, 771}, {16, 4096}, {5, 8}};

std::string name(const Shape& s) {
  return "N=" + std::to_string(s.N) + " V=" + std::to_string(s.V);
}

std::vector<float> make_mask(int N, bool all_ones) {
  std::vector<float> mask(N, 1.0f);
  if (!all_ones)
    for (int n = 0; n < N; ++n) mask[n] = n % 3 == 1 ? 0.0f : 1.0f;
  return mask;
}

TEST(CudaCrossEntropy, ForwardOnly) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (bool use_mask : {false, true}) {
      const size_t nv = size_t(s.N) * s.V;
      const auto logits = random_bf16_values(nv, -8.0f, 8.0f, 111);
      const auto targets = random_ints(s.N, 0, s.V, 112);
      const auto mask = make_mask(s.N, !use_mask);
      std::vector<float> want(s.N);
      const float want_mean = cpu::cross_entropy_forward(
          want.data(), logits.data(), targets.data(), use_mask ? mask.data() : nullptr, s.N, s.V);

      auto dlogits = upload_bf16(logits);
      const auto before = dlogits.download();
      DeviceBuffer<int32_t> dtargets(targets);
      DeviceBuffer<float> dmask(mask), losses(s.N), mean(1);
      losses.poison();
      mean.poison();
      const float* mask_ptr = use_mask ? dmask.data() : nullptr;
      cuda::cross_entropy_forward(losses.data(), dlogits.data(), dtargets.data(), mask_ptr, s.N,
                                  s.V, 0);
      cuda::cross_entropy_mean(mean.data(), losses.data(), mask_ptr, s.N, 0);
      const std::string w = name(s) + (use_mask ? " masked" : "");
      expect_close(losses.download(), want, 1e-4f, 1e-4f, "losses " + w);
      expect_close(mean.download(), {want_mean}, 1e-4f, 1e-4f, "mean loss " + w);
      expect_bitwise_equal(dlogits.download(), before, "logits untouched " + w);
    }
  }
}

TEST(CudaCrossEntropy, FusedForwardBackwardInPlace) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (bool use_mask : {false, true}) {
      const size_t nv = size_t(s.N) * s.V;
      const auto logits = random_bf16_values(nv, -8.0f, 8.0f, 113);
      const auto targets = random_ints(s.N, 0, s.V, 114);
      const auto mask = make_mask(s.N, !use_mask);
      const float* host_mask = use_mask ? mask.data() : nullptr;
      const float dloss = 1.5f, norm = 4.0f;  // coeff = mask * 0.375
      std::vector<float> want_loss(s.N), want_grad(nv);
      cpu::cross_entropy_forward(want_loss.data(), logits.data(), targets.data(), host_mask, s.N,
                                 s.V);
      cpu::cross_entropy_backward(want_grad.data(), logits.data(), targets.data(), host_mask, s.N,
                                  s.V, dloss, norm);

      auto buf = upload_bf16(logits);  // logits in, dlogits out
      DeviceBuffer<int32_t> dtargets(targets);
      DeviceBuffer<float> dmask(mask), losses(s.N);
      losses.poison();
      cuda::cross_entropy_forward_backward(losses.data(), buf.data(), dtargets.data(),
                                           use_mask ? dmask.data() : nullptr, s.N, s.V, dloss,
                                           norm, 0);
      const std::string w = name(s) + (use_mask ? " masked" : "");
      expect_close(losses.download(), want_loss, 1e-4f, 1e-4f, "losses " + w);
      const auto got = download_f32(buf);
      expect_close(got, want_grad, 1e-6f * dloss / norm, 2e-2f, "dlogits " + w);
      for (int n = 0; n < s.N; ++n) {
        if (mask[n] != 0.0f || !use_mask) continue;
        bool all_zero = true;
        for (int v = 0; v < s.V; ++v) all_zero = all_zero && got[size_t(n) * s.V + v] == 0.0f;
        EXPECT_TRUE(all_zero) << "masked row " << n << " has a nonzero gradient, " << w;
      }
    }
  }
}

TEST(CudaCrossEntropy, ZeroNormGivesZeroGradient) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int N = 3, V = 64;
  const auto logits = random_bf16_values(size_t(N) * V, -4.0f, 4.0f, 115);
  auto buf = upload_bf16(logits);
  DeviceBuffer<int32_t> targets(random_ints(N, 0, V, 116));
  DeviceBuffer<float> losses(N);
  cuda::cross_entropy_forward_backward(losses.data(), buf.data(), targets.data(), nullptr, N, V,
                                       1.0f, 0.0f, 0);
  expect_close(download_f32(buf), std::vector<float>(size_t(N) * V, 0.0f), 0.0f, 0.0f,
               "dlogits with norm 0");
}

TEST(CudaCrossEntropy, MeanWithEverythingMaskedIsZero) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int N = 5;
  DeviceBuffer<float> losses(std::vector<float>(N, 0.0f)), mask(std::vector<float>(N, 0.0f));
  DeviceBuffer<float> mean(1);
  mean.poison();
  cuda::cross_entropy_mean(mean.data(), losses.data(), mask.data(), N, 0);
  EXPECT_EQ(mean.download()[0], 0.0f);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
