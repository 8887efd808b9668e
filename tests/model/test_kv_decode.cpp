// Incremental decoding with a KV cache gives the logits of a full forward over the same
// sequence, at every step, for GPT-2 style, Llama style (GQA, RoPE) and Qwen style (qkv bias);
// and the cache refuses to overflow.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/model.h"
#include "tests/model/model_test_util.h"

using namespace flame::model;
using namespace flame::model::testing;

namespace {

void expect_decode_matches_forward(ModelConfig c, uint64_t seed) {
  c.max_seq_len = 24;
  c.vocab_size = 37;
  Model m(c, 1, 24);
  m.init_weights(seed);
  TestRng rng(seed);
  std::vector<int32_t> seq(20);
  for (auto& t : seq) t = rng.below(c.vocab_size);
  m.forward(seq.data(), nullptr, nullptr, nullptr, nullptr, 1, int(seq.size()));
  const std::vector<float> full(m.logits(), m.logits() + seq.size() * size_t(c.vocab_size));

  KvCache cache = m.new_kv_cache(1, 24);
  // A 7-token prompt in one call, then one token at a time.
  std::vector<float> got = m.decode(cache, seq.data(), 7);
  for (size_t i = 6; i < seq.size(); ++i) {
    if (i > 6) got = m.decode(cache, &seq[i], 1);
    ASSERT_EQ(cache.len[0], int(i) + 1);
    double worst = 0, scale = 0;
    for (int v = 0; v < c.vocab_size; ++v) {
      const float want = full[i * size_t(c.vocab_size) + size_t(v)];
      worst = std::max(worst, double(std::abs(got[size_t(v)] - want)));
      scale = std::max(scale, double(std::abs(want)));
    }
    EXPECT_LT(worst, 1e-5 * std::max(1.0, scale)) << "position " << i;
  }
  // Decoding uses the activation arena as scratch: the forward's logits are gone, and say so.
  EXPECT_THROW(m.logits(), flame::Error);
}

}  // namespace

TEST(KvDecode, Gpt2StyleMatchesTheFullForward) { expect_decode_matches_forward(gpt2_tiny_config(), 3); }

TEST(KvDecode, LlamaStyleMatchesTheFullForward) { expect_decode_matches_forward(llama_tiny_config(), 5); }

TEST(KvDecode, QwenStyleMatchesTheFullForward) {
  ModelConfig c = llama_tiny_config();
  c.qkv_bias = true;
  expect_decode_matches_forward(c, 9);
}

TEST(KvDecode, TheCacheRefusesToOverflow) {
  ModelConfig c = llama_tiny_config();
  Model m(c, 1, 8);
  m.init_weights(1);
  KvCache cache = m.new_kv_cache(1, 4);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_THROW(m.decode(cache, five.data(), 5), flame::Error);
  EXPECT_EQ(cache.len[0], 0);
  m.decode(cache, five.data(), 4);
  EXPECT_THROW(m.decode(cache, five.data(), 1), flame::Error);
  EXPECT_THROW(m.new_kv_cache(1, c.max_seq_len + 1), flame::Error);
  EXPECT_THROW(m.new_kv_cache(2, 4), flame::Error);  // more rows than max_B
  const std::vector<int32_t> bad = {int32_t(c.vocab_size)};
  KvCache fresh = m.new_kv_cache(1, 4);
  EXPECT_THROW(m.decode(fresh, bad.data(), 1), flame::Error);
}
