// Whole-model gradient check: backward() against central finite differences of the loss, for
// every model style (GPT-2, Llama, Qwen2), on a packed batch (two segments per row) with a
// partial loss mask.
//
// Precision: everything is fp32, so the loss is only good to a few 1e-7 of ~2.5. The random
// weights (far larger than the real init, so that every path carries gradient) make the loss
// curved enough that the plain central difference at eps = 1e-2 is off by up to ~2e-4 (its
// eps^2/6 * L''' term), while a smaller eps amplifies the fp32 rounding. So the check uses the
// fourth-order five-point stencil
//   fd = (8 (L(p+h) - L(p-h)) - (L(p+2h) - L(p-2h))) / 12h,  h = 1e-2,
// whose truncation error is O(h^4) and whose rounding error is ~1e-5. Tolerance per entry:
// |fd - an| <= 1e-4 + 2e-2 * max(|fd|,|an|); the worst ratio error/tolerance is printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "model_test_util.h"

namespace flame::model::testing {
namespace {

constexpr float kEps = 1e-2f;
constexpr double kAtol = 1e-4, kRtol = 2e-2;

void gradient_check(const ModelConfig& cfg, uint64_t seed) {
  const PackedBatch batch = packed_batch(cfg.vocab_size, seed);
  Model model(cfg, batch.B, batch.T);
  randomize_params(model, seed + 1);
  model.zero_grad();
  forward_loss(model, batch);
  model.backward(batch.n_loss());
  const std::vector<float> analytic(model.grads(), model.grads() + model.num_params());

  TestRng rng(seed + 2);
  double worst = 0.0;  // max over entries of |fd - an| / tolerance
  std::string worst_at;
  int checked = 0;
  for (const ParamInfo& p : model.param_info()) {
    const int n = int(p.numel());
    std::set<int> idx;  // ~30 random entries plus both ends of every tensor
    idx.insert(0);
    idx.insert(n - 1);
    if (n <= 32) {
      for (int i = 0; i < n; ++i) idx.insert(i);
    } else {
      while (int(idx.size()) < 32) idx.insert(rng.below(n));
    }
    double grad_norm = 0.0;
    for (int i : idx) {
      float* w = model.params() + p.offset + i;
      const float saved = *w;
      auto loss_at = [&](float delta) {
        *w = saved + delta;
        return double(forward_loss(model, batch));
      };
      const double d1 = loss_at(kEps) - loss_at(-kEps);
      const double d2 = loss_at(2 * kEps) - loss_at(-2 * kEps);
      *w = saved;
      const double fd = (8.0 * d1 - d2) / (12.0 * double(kEps));
      const double an = analytic[p.offset + i];
      const double tol = kAtol + kRtol * std::max(std::fabs(fd), std::fabs(an));
      const double ratio = std::fabs(fd - an) / tol;
      if (ratio > worst) {
        worst = ratio;
        worst_at = p.name + "[" + std::to_string(i) + "]";
      }
      EXPECT_LE(std::fabs(fd - an), tol) << p.name << "[" << i << "] fd=" << fd << " an=" << an;
      grad_norm += an * an;
      ++checked;
    }
    // Every tensor must actually receive gradient (a dropped branch would pass the check above
    // trivially with zeros on both sides).
    EXPECT_GT(grad_norm, 0.0) << p.name << " got no gradient at the sampled entries";
  }
  std::printf("  [%s/%s/%s%s] %d entries checked, worst |fd-an|/tol = %.3f at %s\n", name(cfg.norm),
              name(cfg.pos), name(cfg.mlp), cfg.bias ? "/bias" : (cfg.qkv_bias ? "/qkv_bias" : ""),
              checked, worst, worst_at.c_str());
}

TEST(ModelGrad, Gpt2StyleMatchesFiniteDifferences) { gradient_check(gpt2_tiny_config(), 11); }

TEST(ModelGrad, LlamaStyleMatchesFiniteDifferences) { gradient_check(llama_tiny_config(), 23); }

// Qwen2 style: the Llama style (GQA 4/2) with biases on the q/k/v projection only. The bias
// enters before RoPE rotates q and k, so its gradient goes through the inverse rotation.
TEST(ModelGrad, QwenStyleMatchesFiniteDifferences) {
  ModelConfig c = llama_tiny_config();
  c.qkv_bias = true;
  ASSERT_FALSE(c.bias);
  gradient_check(c, 29);
  // The only bias tensors are the qkv ones, so the check above covered them (and only them).
  const Model m(c, 1, 1);
  int n_bias = 0;
  for (const ParamInfo& p : m.param_info())
    if (p.name.ends_with(".bias")) {
      EXPECT_TRUE(p.name.ends_with("attn.qkv.bias")) << p.name;
      EXPECT_FALSE(p.decay) << p.name;
      ++n_bias;
    }
  EXPECT_EQ(n_bias, c.n_layer);
}

// Both styles' mixed variants: the code paths are independent switches, so cross them once.
TEST(ModelGrad, MixedStylesMatchFiniteDifferences) {
  ModelConfig a = gpt2_tiny_config();  // rope + swiglu + untied with layernorm and biases
  a.pos = PosEmb::rope;
  a.mlp = Mlp::swiglu;
  a.tie_embeddings = false;
  a.n_kv_head = 1;  // multi-query
  gradient_check(a, 31);
  ModelConfig b = llama_tiny_config();  // rmsnorm + learned + gelu + tied with biases
  b.pos = PosEmb::learned;
  b.mlp = Mlp::gelu;
  b.tie_embeddings = true;
  b.bias = true;
  gradient_check(b, 37);
}

// Parameter gradients accumulate across micro-batches: two backward passes give twice one.
TEST(ModelGrad, GradientsAccumulateAcrossMicroBatches) {
  for (const ModelConfig& cfg : {gpt2_tiny_config(), llama_tiny_config()}) {
    const PackedBatch batch = packed_batch(cfg.vocab_size, 5);
    Model model(cfg, batch.B, batch.T);
    randomize_params(model, 6);
    model.zero_grad();
    forward_loss(model, batch);
    model.backward(batch.n_loss());
    const std::vector<float> once(model.grads(), model.grads() + model.num_params());
    forward_loss(model, batch);
    model.backward(batch.n_loss());
    for (size_t i = 0; i < model.num_params(); ++i)
      ASSERT_NEAR(model.grads()[i], 2.0f * once[i], 1e-5f + 1e-5f * std::fabs(once[i])) << i;
    model.zero_grad();
    for (size_t i = 0; i < model.num_params(); ++i) ASSERT_EQ(model.grads()[i], 0.0f);
  }
}

// loss_norm scales the gradient: backward(2n) is half of backward(n).
TEST(ModelGrad, LossNormScalesGradient) {
  const ModelConfig cfg = llama_tiny_config();
  const PackedBatch batch = packed_batch(cfg.vocab_size, 9);
  Model model(cfg, batch.B, batch.T);
  randomize_params(model, 10);
  model.zero_grad();
  forward_loss(model, batch);
  model.backward(batch.n_loss());
  const std::vector<float> g1(model.grads(), model.grads() + model.num_params());
  model.zero_grad();
  forward_loss(model, batch);
  model.backward(2.0f * batch.n_loss());
  for (size_t i = 0; i < model.num_params(); ++i)
    ASSERT_NEAR(model.grads()[i], 0.5f * g1[i], 1e-6f + 1e-5f * std::fabs(g1[i])) << i;
}

}  // namespace
}  // namespace flame::model::testing
