// Shared fixtures for the model tests: two tiny configs (one per style), a packed batch with two
// segments per row and a partial loss mask, and a platform-independent PRNG.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "model/config.h"
#include "model/model.h"

namespace flame::model::testing {

// splitmix64: same sequence everywhere (unlike std:: distributions).
struct TestRng {
  uint64_t s;
  explicit TestRng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    return flame::splitmix_finalize(s += flame::kGolden64);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0,1)
  float uniform(float lo, float hi) { return lo + float(uniform()) * (hi - lo); }
  int below(int n) { return int(next() % uint64_t(n)); }
};

// GPT-2 style: layernorm, learned positions, gelu, tied, biases.
inline ModelConfig gpt2_tiny_config() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 4;
  c.d_model = 16;
  c.d_ff = 24;
  c.vocab_size = 11;
  c.max_seq_len = 8;
  c.norm = Norm::layernorm;
  c.pos = PosEmb::learned;
  c.mlp = Mlp::gelu;
  c.tie_embeddings = true;
  c.bias = true;
  return c;
}

// Llama style: rmsnorm, rope, swiglu, GQA 4/2, untied, no biases.
inline ModelConfig llama_tiny_config() {
  ModelConfig c = gpt2_tiny_config();
  c.n_kv_head = 2;
  c.norm = Norm::rmsnorm;
  c.pos = PosEmb::rope;
  c.mlp = Mlp::swiglu;
  c.tie_embeddings = false;
  c.bias = false;
  return c;
}

// A (B=2, T=7) micro-batch: each row packs two examples (segment ids 1 and 2, positions
// restarting at 0), and the loss mask covers only part of each example (as on target tokens).
struct PackedBatch {
  int B = 2, T = 7;
  std::vector<int32_t> tokens, targets, pos, seg;
  std::vector<float> mask;
  float n_loss() const {
    float n = 0;
    for (float m : mask) n += m;
    return n;
  }
};

inline PackedBatch packed_batch(int V, uint64_t seed = 7) {
  PackedBatch b;
  TestRng rng(seed);
  b.seg = {1, 1, 1, 2, 2, 2, 2, /**/ 1, 1, 1, 1, 1, 2, 2};
  b.pos = {0, 1, 2, 0, 1, 2, 3, /**/ 0, 1, 2, 3, 4, 0, 1};
  b.mask = {0, 1, 1, 0, 0, 1, 1, /**/ 0, 0, 1, 1, 1, 0, 1};
  for (int i = 0; i < b.B * b.T; ++i) {
    b.tokens.push_back(rng.below(V));
    b.targets.push_back(rng.below(V));
  }
  return b;
}

// Parameters far from the tiny GPT-2 init so every path carries a sizeable gradient: matrices
// and embeddings U(-0.5,0.5), norm gains 1 + U(-0.3,0.3), biases U(-0.1,0.1).
inline void randomize_params(Model& m, uint64_t seed) {
  TestRng rng(seed);
  for (const ParamInfo& p : m.param_info()) {
    float* w = m.params() + p.offset;
    const bool is_bias = p.name.size() >= 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    for (size_t i = 0; i < p.numel(); ++i) {
      if (is_bias)
        w[i] = rng.uniform(-0.1f, 0.1f);
      else if (!p.decay)
        w[i] = 1.0f + rng.uniform(-0.3f, 0.3f);
      else
        w[i] = rng.uniform(-0.5f, 0.5f);
    }
  }
}

inline float forward_loss(Model& m, const PackedBatch& b) {
  return m.forward(b.tokens.data(), b.pos.data(), b.seg.data(), b.targets.data(), b.mask.data(),
                   b.B, b.T);
}

}  // namespace flame::model::testing
