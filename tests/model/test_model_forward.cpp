// Model behaviour: parameter layout, init, determinism, packed-segment isolation, loss at init,
// learning, and forward over a smaller (b,t) than allocated.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "model_test_util.h"

namespace flame::model::testing {
namespace {

bool has_param(const Model& m, const std::string& name) {
  for (const ParamInfo& p : m.param_info())
    if (p.name == name) return true;
  return false;
}

TEST(ModelLayout, Gpt2StyleTensors) {
  const ModelConfig c = gpt2_tiny_config();
  Model m(c, 1, 4);
  EXPECT_TRUE(has_param(m, "wpe"));
  EXPECT_FALSE(has_param(m, "lm_head.weight"));  // tied
  EXPECT_TRUE(has_param(m, "h.1.ln1.bias"));
  EXPECT_TRUE(has_param(m, "ln_f.bias"));
  EXPECT_EQ(m.param("h.0.attn.qkv.weight").shape, (std::vector<int64_t>{48, 16}));
  EXPECT_EQ(m.param("h.0.attn.qkv.bias").shape, (std::vector<int64_t>{48}));
  EXPECT_EQ(m.param("h.1.mlp.fc.weight").shape, (std::vector<int64_t>{24, 16}));
  EXPECT_EQ(m.param("h.1.mlp.proj.weight").shape, (std::vector<int64_t>{16, 24}));
  EXPECT_EQ(m.param("wpe").shape, (std::vector<int64_t>{8, 16}));
  EXPECT_THROW(m.param("nope"), flame::Error);
}

TEST(ModelLayout, LlamaStyleTensors) {
  const ModelConfig c = llama_tiny_config();  // Hq 4, Hkv 2, D 4
  Model m(c, 1, 4);
  EXPECT_FALSE(has_param(m, "wpe"));
  EXPECT_TRUE(has_param(m, "lm_head.weight"));
  EXPECT_FALSE(has_param(m, "h.0.ln1.bias"));
  EXPECT_FALSE(has_param(m, "h.0.attn.qkv.bias"));
  EXPECT_FALSE(has_param(m, "ln_f.bias"));
  EXPECT_EQ(m.param("h.0.attn.qkv.weight").shape, (std::vector<int64_t>{(4 + 2 * 2) * 4, 16}));
  EXPECT_EQ(m.param("h.0.mlp.fc.weight").shape, (std::vector<int64_t>{48, 16}));  // [gate|up]
  EXPECT_EQ(m.param("h.0.mlp.proj.weight").shape, (std::vector<int64_t>{16, 24}));
  EXPECT_EQ(m.param("lm_head.weight").shape, (std::vector<int64_t>{11, 16}));
}

// Tensors tile the flat buffer exactly, in order; decay only on embeddings and linear weights.
TEST(ModelLayout, FlatBufferAndDecayFlags) {
  for (const ModelConfig& c : {gpt2_tiny_config(), llama_tiny_config()}) {
    Model m(c, 1, 4);
    size_t next = 0;
    for (const ParamInfo& p : m.param_info()) {
      EXPECT_EQ(p.offset, next) << p.name;
      next += p.numel();
      const bool linear_weight = p.name.size() > 7 &&
                                 p.name.compare(p.name.size() - 7, 7, ".weight") == 0 &&
                                 p.name.find("ln") == std::string::npos;
      const bool expect_decay =
          p.name == "wte" || p.name == "wpe" || p.name == "lm_head.weight" || linear_weight;
      EXPECT_EQ(p.decay, expect_decay) << p.name;
    }
    EXPECT_EQ(next, m.num_params());
  }
}

TEST(ModelInit, DeterministicAndScaled) {
  ModelConfig c = gpt2_tiny_config();
  c.d_model = 64;
  c.d_ff = 256;
  c.n_layer = 3;
  c.vocab_size = 300;
  c.max_seq_len = 64;  // >= 4096 entries per sampled tensor: the sample std is within ~1.1%
  Model a(c, 1, 4), b(c, 1, 4);
  a.init_weights(42);
  b.init_weights(42);
  ASSERT_EQ(0, std::memcmp(a.params(), b.params(), a.num_params() * sizeof(float)));
  b.init_weights(43);
  ASSERT_NE(0, std::memcmp(a.params(), b.params(), a.num_params() * sizeof(float)));

  auto stats = [&](const std::string& name, double& mean, double& sd) {
    const ParamInfo& p = a.param(name);
    const float* w = a.params() + p.offset;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < p.numel(); ++i) s += w[i], s2 += double(w[i]) * w[i];
    mean = s / p.numel();
    sd = std::sqrt(s2 / p.numel() - mean * mean);
  };
  double mean, sd;
  for (const char* n : {"wte", "wpe", "h.0.attn.qkv.weight", "h.2.mlp.fc.weight"}) {
    stats(n, mean, sd);
    EXPECT_NEAR(sd, 0.02, 0.02 * 0.05) << n;
    EXPECT_NEAR(mean, 0.0, 0.002) << n;
  }
  const double resid = 0.02 / std::sqrt(2.0 * 3);
  for (const char* n : {"h.1.attn.proj.weight", "h.1.mlp.proj.weight"}) {
    stats(n, mean, sd);
    EXPECT_NEAR(sd, resid, resid * 0.05) << n;
  }
  for (const char* n : {"h.0.ln1.weight", "ln_f.weight"}) {
    stats(n, mean, sd);
    EXPECT_EQ(mean, 1.0) << n;
    EXPECT_EQ(sd, 0.0) << n;
  }
  for (const char* n : {"h.0.ln1.bias", "h.0.attn.qkv.bias", "h.2.mlp.proj.bias"}) {
    stats(n, mean, sd);
    EXPECT_EQ(mean, 0.0) << n;
    EXPECT_EQ(sd, 0.0) << n;
  }
  // Untied head gets plain N(0, 0.02).
  ModelConfig u = llama_tiny_config();
  u.vocab_size = 500;
  u.d_model = 64;
  Model l(u, 1, 4);
  l.init_weights(1);
  const ParamInfo& h = l.param("lm_head.weight");
  double s2 = 0;
  for (size_t i = 0; i < h.numel(); ++i)
    s2 += double(l.params()[h.offset + i]) * l.params()[h.offset + i];
  EXPECT_NEAR(std::sqrt(s2 / h.numel()), 0.02, 0.001);
}

TEST(ModelForward, Deterministic) {
  for (const ModelConfig& c : {gpt2_tiny_config(), llama_tiny_config()}) {
    const PackedBatch batch = packed_batch(c.vocab_size);
    Model m(c, batch.B, batch.T);
    randomize_params(m, 3);
    const float l1 = forward_loss(m, batch);
    const size_t n = size_t(batch.B) * batch.T * c.vocab_size;
    const std::vector<float> z1(m.logits(), m.logits() + n);
    m.zero_grad();
    m.backward(batch.n_loss());
    const std::vector<float> g1(m.grads(), m.grads() + m.num_params());
    const float l2 = forward_loss(m, batch);
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(0, std::memcmp(z1.data(), m.logits(), n * sizeof(float)));
    m.zero_grad();
    m.backward(batch.n_loss());
    EXPECT_EQ(0, std::memcmp(g1.data(), m.grads(), g1.size() * sizeof(float)));
    // Logits-only forward gives the same logits.
    m.forward(batch.tokens.data(), batch.pos.data(), batch.seg.data(), nullptr, nullptr, batch.B,
              batch.T);
    EXPECT_EQ(0, std::memcmp(z1.data(), m.logits(), n * sizeof(float)));
  }
}

// Changing a token of the first example in a row leaves the logits of the second example (and
// of the other row) bit-identical: packed examples never see each other.
TEST(ModelForward, SegmentIsolation) {
  for (const ModelConfig& c : {gpt2_tiny_config(), llama_tiny_config()}) {
    PackedBatch batch = packed_batch(c.vocab_size);
    Model m(c, batch.B, batch.T);
    randomize_params(m, 4);
    const int V = c.vocab_size, T = batch.T;
    m.forward(batch.tokens.data(), batch.pos.data(), batch.seg.data(), nullptr, nullptr, batch.B,
              T);
    const std::vector<float> before(m.logits(), m.logits() + size_t(batch.B) * T * V);
    batch.tokens[1] = (batch.tokens[1] + 1) % V;  // row 0, segment 1 (positions 0..2)
    m.forward(batch.tokens.data(), batch.pos.data(), batch.seg.data(), nullptr, nullptr, batch.B,
              T);
    const float* after = m.logits();
    for (int t = 0; t < 2 * T; ++t) {
      const bool same_segment = t >= 1 && t <= 2;  // row 0, segment 1, at or after the change
      const bool equal =
          std::memcmp(before.data() + size_t(t) * V, after + size_t(t) * V, V * sizeof(float)) == 0;
      EXPECT_EQ(equal, !same_segment) << "token " << t;
    }
  }
}

// With GPT-2 init the logits are nearly uniform, so the loss starts at ~ln(V).
TEST(ModelForward, InitialLossIsLogVocab) {
  for (ModelConfig c : {gpt2_tiny_config(), llama_tiny_config()}) {
    c.d_model = 64;
    c.n_head = 4;
    c.d_ff = 128;
    c.vocab_size = 258;
    c.max_seq_len = 32;
    Model m(c, 2, 32);
    m.init_weights(7);
    TestRng rng(8);
    std::vector<int32_t> tok(64), tgt(64);
    for (int i = 0; i < 64; ++i) tok[i] = rng.below(258), tgt[i] = rng.below(258);
    const float loss = m.forward(tok.data(), nullptr, nullptr, tgt.data(), nullptr, 2, 32);
    EXPECT_NEAR(loss, std::log(258.0), 0.1) << name(c.norm);
  }
}

// Plain SGD (p -= lr g) on a short repeating sequence drives the loss down.
TEST(ModelForward, SgdLowersLossOnRepeatingSequence) {
  for (ModelConfig c : {gpt2_tiny_config(), llama_tiny_config()}) {
    c.d_model = 32;
    c.d_ff = 64;
    c.max_seq_len = 16;
    const int B = 2, T = 16, N = B * T;
    Model m(c, B, T);
    m.init_weights(1);
    std::vector<int32_t> tok(N), tgt(N);
    for (int i = 0; i < N; ++i) {
      tok[i] = (i % T) % 5;  // 0 1 2 3 4 0 1 ...
      tgt[i] = (i % T + 1) % 5;
    }
    float first = 0, last = 0;
    for (int step = 0; step < 40; ++step) {
      m.zero_grad();
      const float loss = m.forward(tok.data(), nullptr, nullptr, tgt.data(), nullptr, B, T);
      m.backward(float(N));
      for (size_t i = 0; i < m.num_params(); ++i) m.params()[i] -= 0.5f * m.grads()[i];
      if (step == 0) first = loss;
      last = loss;
    }
    std::printf("  [%s] SGD loss %.4f -> %.4f after 40 steps\n", name(c.norm), first, last);
    EXPECT_LT(last, 0.3f * first) << name(c.norm) << ": " << first << " -> " << last;
  }
}

// A forward over (b,t) smaller than allocated equals the same forward on an exactly sized
// model, and (causality) the prefix of a longer forward.
TEST(ModelForward, SmallerBatchMatchesExactAllocation) {
  for (const ModelConfig& c : {gpt2_tiny_config(), llama_tiny_config()}) {
    const PackedBatch batch = packed_batch(c.vocab_size);  // (2,7)
    const int V = c.vocab_size, b = 1, t = 5;
    Model big(c, 3, 8), exact(c, b, t);
    randomize_params(big, 5);
    std::memcpy(exact.params(), big.params(), big.num_params() * sizeof(float));
    // The first row, cut to t tokens, as its own (1,5) batch.
    const int32_t* tok = batch.tokens.data();
    const float lbig = big.forward(tok, batch.pos.data(), batch.seg.data(), batch.targets.data(),
                                   batch.mask.data(), b, t);
    const std::vector<float> zbig(big.logits(), big.logits() + size_t(b) * t * V);
    const float lexact = exact.forward(tok, batch.pos.data(), batch.seg.data(),
                                       batch.targets.data(), batch.mask.data(), b, t);
    EXPECT_NEAR(lbig, lexact, 1e-6f);
    for (int i = 0; i < b * t * V; ++i) ASSERT_NEAR(zbig[i], exact.logits()[i], 1e-5f) << i;
    // Prefix of the full 7-token row (b = 1).
    big.forward(tok, batch.pos.data(), batch.seg.data(), nullptr, nullptr, 1, batch.T);
    for (int i = 0; i < t * V; ++i) ASSERT_NEAR(zbig[i], big.logits()[i], 1e-5f) << i;
    // Gradients match too.
    big.zero_grad();
    exact.zero_grad();
    big.forward(tok, batch.pos.data(), batch.seg.data(), batch.targets.data(), batch.mask.data(), b,
                t);
    big.backward(3.0f);
    exact.forward(tok, batch.pos.data(), batch.seg.data(), batch.targets.data(), batch.mask.data(),
                  b, t);
    exact.backward(3.0f);
    for (size_t i = 0; i < big.num_params(); ++i)
      ASSERT_NEAR(big.grads()[i], exact.grads()[i], 1e-5f) << i;
  }
}

TEST(ModelForward, RejectsBadCalls) {
  const ModelConfig c = gpt2_tiny_config();
  const PackedBatch batch = packed_batch(c.vocab_size);
  Model m(c, batch.B, batch.T);
  m.init_weights(1);
  EXPECT_THROW(m.logits(), flame::Error);  // no forward yet
  EXPECT_THROW(m.forward(batch.tokens.data(), nullptr, nullptr, nullptr, nullptr, 3, 7),
               flame::Error);  // b > max_B
  EXPECT_THROW(m.forward(batch.tokens.data(), nullptr, nullptr, nullptr, nullptr, 2, 8),
               flame::Error);  // t > max_T
  std::vector<int32_t> bad = batch.tokens;
  bad[3] = c.vocab_size;
  EXPECT_THROW(m.forward(bad.data(), nullptr, nullptr, nullptr, nullptr, 2, 7), flame::Error);
  std::vector<int32_t> bad_pos = batch.pos;
  bad_pos[0] = c.max_seq_len;  // outside the learned table
  EXPECT_THROW(m.forward(batch.tokens.data(), bad_pos.data(), nullptr, nullptr, nullptr, 2, 7),
               flame::Error);
  m.forward(batch.tokens.data(), nullptr, nullptr, nullptr, nullptr, 2, 7);
  EXPECT_THROW(m.backward(1.0f), flame::Error);  // forward had no targets
  forward_loss(m, batch);
  EXPECT_THROW(m.backward(0.0f), flame::Error);
  m.backward(batch.n_loss());
  EXPECT_THROW(m.logits(), flame::Error);        // overwritten by dlogits
  EXPECT_THROW(m.backward(1.0f), flame::Error);  // twice for one forward
  // A forward that fails half-way leaves nothing for backward() or logits() to misuse.
  forward_loss(m, batch);
  EXPECT_THROW(m.forward(bad.data(), nullptr, nullptr, batch.targets.data(), nullptr, 2, 7),
               flame::Error);
  EXPECT_THROW(m.backward(1.0f), flame::Error);
  EXPECT_THROW(m.logits(), flame::Error);
  EXPECT_THROW(Model(c, 1, c.max_seq_len + 1), flame::Error);
  ModelConfig bad_cfg = c;
  bad_cfg.n_head = 3;
  EXPECT_THROW(Model(bad_cfg, 1, 4), flame::Error);
}

}  // namespace
}  // namespace flame::model::testing
