// Batched greedy generation on the GPU (generate_greedy_batch on a CudaModel: KV cache shared by
// max_B rows, several groups, a prompt longer than the context through the sliding window)
// against generate_greedy on the CPU model with the same bf16-exact weights. bf16 may flip a
// near-tie, so the sequences are compared token by token until the first difference, where the
// GPU's token must be a near-argmax of the CPU's logits for that prefix: within
// 3e-2 * max |logit| of the maximum (the logit tolerance of test_cuda_decode.cpp). A GPU that
// reads a wrong cache entry or the wrong row picks tokens far from the CPU's maximum and fails.
// Only built with the CUDA backend; skipped without a device.
#include <gtest/gtest.h>

#ifdef FLAME_WITH_CUDA
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kernels/cuda_check.h"
#include "model/model.h"
#include "model/param_layout.h"
#include "tests/model/gpu_compare_util.h"
#include "train/generate.h"

using namespace flame;

namespace {

// The CPU's logits for the next token after `prefix`, as generate_greedy sees it: BOS + the
// newest T-1 tokens when the prefix is longer than T.
std::vector<float> cpu_next_logits(model::Model& m, std::vector<int32_t> prefix) {
  const int T = m.max_T(), V = m.config().vocab_size;
  if (int(prefix.size()) > T) prefix.erase(prefix.begin() + 1, prefix.end() - (T - 1));
  const int t = int(prefix.size());
  m.forward(prefix.data(), nullptr, nullptr, nullptr, nullptr, 1, t);
  return std::vector<float>(m.logits() + size_t(t - 1) * V, m.logits() + size_t(t) * V);
}

}  // namespace

TEST(GenerateCuda, BatchMatchesTheCpuUpToNearTies) {
  if (!cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const model::ModelConfig cfg = model::testing::gpu_llama_config();  // max_seq_len 64
  constexpr int kT = 32, kMaxNew = 10;
  model::Model cpu(cfg, 2, kT);
  model::Model gpu(cfg, 2, kT, model::Device::cuda);  // 2 rows per group: three groups below
  const auto w = model::testing::compare_weights(cpu.param_info(), cpu.num_params(), 41);
  std::copy(w.begin(), w.end(), cpu.params());
  gpu.load_params(w.data());

  model::testing::TestRng rng(43);
  std::vector<std::vector<int32_t>> prompts;
  for (int len : {3, 12, 22, 7, 1, 40}) {  // 40 + 10 > 32: the sliding window
    std::vector<int32_t> p(static_cast<size_t>(len));
    for (auto& t : p) t = int32_t(rng.below(cfg.vocab_size));
    prompts.push_back(p);
  }
  const auto got = train::generate_greedy_batch(gpu, prompts, kMaxNew, -1);
  ASSERT_EQ(got.size(), prompts.size());
  int compared = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto want = train::generate_greedy(cpu, prompts[i], kMaxNew, -1);
    ASSERT_EQ(got[i].size(), size_t(kMaxNew)) << "prompt " << i << " (no stop token)";
    std::vector<int32_t> prefix = prompts[i];
    for (int k = 0; k < kMaxNew; ++k, ++compared) {
      if (got[i][size_t(k)] == want[size_t(k)]) {
        prefix.push_back(want[size_t(k)]);
        continue;
      }
      const auto z = cpu_next_logits(cpu, prefix);
      const float top = *std::max_element(z.begin(), z.end());
      float scale = 0;
      for (float x : z) scale = std::max(scale, std::fabs(x));
      EXPECT_GE(z[size_t(got[i][size_t(k)])], top - 3e-2f * scale)
          << "prompt " << i << " token " << k << ": the GPU's pick is no near-tie on the CPU";
      break;  // the sequences differ from here on
    }
  }
  std::printf("GenerateCuda: %d of %zu tokens identical to the CPU before a near-tie split\n",
              compared, prompts.size() * kMaxNew);
}
#else
TEST(GenerateCuda, NotBuilt) { GTEST_SKIP() << "built without the CUDA backend"; }
#endif
