// CudaModel::decode (batched KV-cache decoding, bf16) against the CPU Model::decode (fp32, one
// cache per sequence) and against CudaModel::forward over each whole sequence, for the GPT-2
// style (layernorm, gelu, learned positions, tied) and the Llama style (rmsnorm, swiglu, RoPE,
// GQA 4/2) on the same bf16-exact weights: three rows prefilled with prompts of 5, 17 and 1
// tokens in one call, then single-token steps in which some row is not advanced.
// Tolerance: max |z_gpu - z_ref| <= 3e-2 * max |z_ref| per row and step (bf16 activations, as
// the forward comparison in test_cuda_model.cpp); rows not advanced return zeros.
// Also: the host-side checks (rows, lengths, ids, arena capacity) and that the last forward's
// logits are invalidated by a decode. Skipped without a device.
#ifdef FLAME_WITH_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu_compare_util.h"
#include "core/error.h"
#include "kernels/cuda_check.h"
#include "model/model.h"
#include "model/param_layout.h"
#include "model/model.h"

namespace flame::model::testing {
namespace {

#define SKIP_WITHOUT_DEVICE() \
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device"

constexpr int kRows = 3, kT = 32, kMaxLen = 40;
constexpr double kTol = 3e-2;

// max |got - want| / max |want| (want not all zero).
double rel_to_max(const float* got, const float* want, int V) {
  double err = 0, scale = 0;
  for (int v = 0; v < V; ++v) {
    err = std::max(err, double(std::fabs(got[v] - want[v])));
    scale = std::max(scale, double(std::fabs(want[v])));
  }
  return err / std::max(scale, 1e-30);
}

void check_against_cpu_and_forward(const ModelConfig& cfg, uint64_t seed) {
  const int V = cfg.vocab_size;
  Model cpu(cfg, 1, kT);
  Model gpu(cfg, kRows, kT, Device::cuda);
  const std::vector<float> w = compare_weights(cpu.param_info(), cpu.num_params(), seed);
  std::copy(w.begin(), w.end(), cpu.params());
  gpu.load_params(w.data());

  TestRng rng(seed + 1);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = int32_t(rng.below(V));
    return t;
  };
  std::vector<KvCache> cpu_caches;
  for (int r = 0; r < kRows; ++r) cpu_caches.push_back(cpu.new_kv_cache(1, kMaxLen));
  KvCache cache = gpu.new_kv_cache(kRows, kMaxLen);
  std::vector<std::vector<int32_t>> seqs(kRows);  // every token each row has seen

  // Step 0 prefills the three prompts in one call; each later step feeds one random token per
  // row except the row skipped at that step (-1: none).
  const int skip[] = {-1, -1, 1, -1, 0, 2, -1};
  for (int step = 0; step < int(std::size(skip)); ++step) {
    std::vector<std::vector<int32_t>> feed(kRows);
    for (int r = 0; r < kRows; ++r) {
      if (step == 0)
        feed[size_t(r)] = random_tokens(r == 0 ? 5 : r == 1 ? 17 : 1);
      else if (r != skip[step])
        feed[size_t(r)] = random_tokens(1);
    }
    const std::vector<float> got = gpu.decode(cache, feed);
    ASSERT_EQ(got.size(), size_t(kRows) * V);
    for (int r = 0; r < kRows; ++r) {
      const std::string what = "step " + std::to_string(step) + " row " + std::to_string(r);
      const float* g = got.data() + size_t(r) * V;
      const auto& f = feed[size_t(r)];
      if (f.empty()) {
        EXPECT_TRUE(std::all_of(g, g + V, [](float x) { return x == 0.0f; })) << what;
        continue;
      }
      seqs[size_t(r)].insert(seqs[size_t(r)].end(), f.begin(), f.end());
      ASSERT_EQ(cache.len[size_t(r)], int(seqs[size_t(r)].size())) << what;
      const std::vector<float> want =
          cpu.decode(cpu_caches[size_t(r)], f.data(), int(f.size()));
      EXPECT_LE(rel_to_max(g, want.data(), V), kTol) << what << " vs the CPU decode";
      // The GPU forward over the whole sequence (it reuses the arena decode used as scratch).
      const auto& seq = seqs[size_t(r)];
      gpu.forward(seq.data(), nullptr, nullptr, nullptr, nullptr, 1, int(seq.size()));
      std::vector<float> full(static_cast<size_t>(V));
      gpu.logits_row(int(seq.size()) - 1, full.data());
      EXPECT_LE(rel_to_max(g, full.data(), V), kTol) << what << " vs the GPU forward";
    }
  }
}

TEST(CudaModelDecode, Gpt2StyleMatchesCpuDecodeAndForward) {
  SKIP_WITHOUT_DEVICE();
  check_against_cpu_and_forward(gpu_gpt2_config(), 31);
}

TEST(CudaModelDecode, LlamaStyleMatchesCpuDecodeAndForward) {
  SKIP_WITHOUT_DEVICE();
  check_against_cpu_and_forward(gpu_llama_config(), 37);
}

TEST(CudaModelDecode, ChecksOnTheHostAndInvalidatesTheForward) {
  SKIP_WITHOUT_DEVICE();
  const ModelConfig cfg = gpu_llama_config();  // max_seq_len 64
  Model gpu(cfg, kRows, kT, Device::cuda);               // arena: 3 * 32 = 96 tokens per call
  EXPECT_THROW(gpu.new_kv_cache(kRows + 1, 8), Error);
  EXPECT_THROW(gpu.new_kv_cache(1, cfg.max_seq_len + 1), Error);
  KvCache cache = gpu.new_kv_cache(kRows, cfg.max_seq_len);
  using Feed = std::vector<std::vector<int32_t>>;
  EXPECT_THROW(gpu.decode(cache, Feed{{1}, {2}}), Error);               // one list per row
  EXPECT_THROW(gpu.decode(cache, Feed{{1}, {cfg.vocab_size}, {}}), Error);  // bad id
  EXPECT_THROW(gpu.decode(cache, Feed{std::vector<int32_t>(65, 1), {}, {}}), Error);  // row full
  EXPECT_THROW(gpu.decode(cache, Feed{std::vector<int32_t>(40, 1), std::vector<int32_t>(40, 2),
                                      std::vector<int32_t>(20, 3)}),
               Error);  // 100 tokens > the arena's 96
  EXPECT_EQ(cache.len, std::vector<int>(kRows, 0)) << "a refused call must not advance a row";

  const std::vector<int32_t> tokens{1, 2, 3, 4};
  gpu.forward(tokens.data(), nullptr, nullptr, nullptr, nullptr, 1, 4);
  std::vector<float> row(static_cast<size_t>(cfg.vocab_size));
  gpu.logits_row(3, row.data());
  gpu.decode(cache, Feed{{1, 2}, {}, {3}});
  EXPECT_EQ(cache.len, (std::vector<int>{2, 0, 1}));
  EXPECT_THROW(gpu.logits_row(3, row.data()), Error) << "decode used the arena as scratch";
  EXPECT_THROW(gpu.backward(1.0f), Error);
}

}  // namespace
}  // namespace flame::model::testing

#endif  // FLAME_WITH_CUDA
