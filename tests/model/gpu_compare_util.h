// Fixtures shared by the CPU-vs-GPU model tests and the PyTorch reference export (host code only,
// no CUDA needed): two small configs the CUDA path supports (head_dim 64), a packed (B=2, T=64)
// batch with several segments per row, padding and a partial loss mask, weights drawn so that
// every path carries gradient and already rounded to bf16 (so the CPU, the GPU and PyTorch start
// from identical values), a learnable synthetic token stream for training comparisons, and the
// relative error used throughout.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/half.h"
#include "model/config.h"
#include "model/model.h"
#include "model_test_util.h"

namespace flame::model::testing {

// GPT-2 style (layernorm, learned positions, gelu, tied, biases); head_dim 256/4 = 64. The
// vocabulary is not a multiple of 8, so the unvectorised paths of the kernels run too.
inline ModelConfig gpu_gpt2_config() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 4;
  c.d_model = 256;
  c.d_ff = 1024;
  c.vocab_size = 300;
  c.max_seq_len = 64;
  c.norm = Norm::layernorm;
  c.pos = PosEmb::learned;
  c.mlp = Mlp::gelu;
  c.tie_embeddings = true;
  c.bias = true;
  return c;
}

// Llama style (rmsnorm, rope, swiglu, GQA 4 query / 2 kv heads, untied, no biases).
inline ModelConfig gpu_llama_config() {
  ModelConfig c = gpu_gpt2_config();
  c.n_kv_head = 2;
  c.d_ff = 768;
  c.vocab_size = 320;
  c.norm = Norm::rmsnorm;
  c.pos = PosEmb::rope;
  c.mlp = Mlp::swiglu;
  c.tie_embeddings = false;
  c.bias = false;
  return c;
}

inline void round_all_to_bf16(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = round_to_bf16(x[i]);
}

inline double normal(TestRng& rng) {  // Box-Muller
  const double u1 = (double(rng.next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  const double u2 = rng.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Weights for the one-step comparison: matrices and embeddings N(0, 0.05) (2.5x the GPT-2 init:
// attention clearly non-uniform, logits spread over ~1), norm gains 1 + U(-0.2,0.2), biases
// U(-0.05,0.05); all rounded to bf16.
inline std::vector<float> compare_weights(const std::vector<ParamInfo>& info, size_t n,
                                          uint64_t seed) {
  std::vector<float> w(n);
  TestRng rng(seed);
  for (const ParamInfo& p : info) {
    const bool is_bias = p.name.size() >= 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    for (size_t i = 0; i < p.numel(); ++i) {
      float x;
      if (is_bias)
        x = rng.uniform(-0.05f, 0.05f);
      else if (!p.decay)
        x = 1.0f + rng.uniform(-0.2f, 0.2f);
      else
        x = float(0.05 * normal(rng));
      w[p.offset + i] = round_to_bf16(x);
    }
  }
  return w;
}

struct GpuBatch {
  int B = 0, T = 0;
  std::vector<int32_t> tokens, targets, pos, seg;  // (B,T)
  std::vector<float> mask;                         // (B,T)
  float n_loss() const { return std::accumulate(mask.begin(), mask.end(), 0.0f); }
};

// Packs each row with examples of random length (positions restart at 0, segment ids 1, 2, ...),
// padding (segment 0, masked) after the last example of odd rows. Within an example the first
// ~third is "prompt" (masked), the rest "target" (unmasked) except the last token, whose next
// token would belong to another example. next(prev) gives the token after prev (a stream the
// model can learn, or random), next_first the first token of an example.
template <class First, class Next>
GpuBatch pack_batch(int B, int T, TestRng& rng, First&& next_first, Next&& next) {
  GpuBatch b;
  b.B = B;
  b.T = T;
  b.tokens.assign(size_t(B) * T, 0);
  b.targets.assign(size_t(B) * T, 0);
  b.pos.assign(size_t(B) * T, 0);
  b.seg.assign(size_t(B) * T, 0);
  b.mask.assign(size_t(B) * T, 0.0f);
  for (int r = 0; r < B; ++r) {
    const int pad = r % 2 == 1 ? 5 : 0;  // padding at the end of odd rows
    int t0 = 0, seg_id = 1;
    while (t0 < T - pad) {
      int len = 8 + rng.below(33);  // 8..40
      len = std::min(len, T - pad - t0);
      // (len+1) tokens of the example: len inputs, the last one's target is the extra token
      std::vector<int32_t> ex(len + 1);
      ex[0] = next_first();
      for (int i = 1; i <= len; ++i) ex[i] = next(ex[i - 1]);
      for (int i = 0; i < len; ++i) {
        const size_t k = size_t(r) * T + t0 + i;
        b.tokens[k] = ex[i];
        b.targets[k] = ex[i + 1];
        b.pos[k] = i;
        b.seg[k] = seg_id;
        b.mask[k] = (i >= len / 3 && i < len - 1) ? 1.0f : 0.0f;
      }
      t0 += len;
      ++seg_id;
    }
    for (int t = T - pad; t < T; ++t) {  // padding: token 0, segment 0, no loss
      const size_t k = size_t(r) * T + t;
      b.pos[k] = t - (T - pad);
    }
  }
  return b;
}

// Random tokens (for one-step comparisons).
inline GpuBatch random_batch(int V, int B, int T, uint64_t seed) {
  TestRng rng(seed);
  return pack_batch(
      B, T, rng, [&] { return int32_t(rng.below(V)); },
      [&](int32_t) { return int32_t(rng.below(V)); });
}

// A learnable stream: a fixed random permutation perm of [0,V); the token after x is perm[x]
// with probability 0.8, else uniform. A model that learns perm reaches ~1.9 nats/token
// (-(0.8+0.2/V) ln(0.8+0.2/V) - 0.2 (V-1)/V ln(0.2/V)), from ln V ~ 5.7 at the start.
struct ChainStream {
  int V;
  TestRng rng;
  std::vector<int32_t> perm;
  ChainStream(int V_, uint64_t seed) : V(V_), rng(seed), perm(V_) {
    std::iota(perm.begin(), perm.end(), 0);
    for (int i = V - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  }
  GpuBatch next_batch(int B, int T) {
    return pack_batch(
        B, T, rng, [&] { return int32_t(rng.below(V)); },
        [&](int32_t x) { return rng.uniform() < 0.8 ? perm[x] : int32_t(rng.below(V)); });
  }
};

// ||a - b|| / ||b|| over n elements (0 when both are zero), in double.
inline double rel_error(const float* a, const float* b, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

inline double l2_norm(const float* a, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += double(a[i]) * double(a[i]);
  return std::sqrt(s);
}

}  // namespace flame::model::testing
