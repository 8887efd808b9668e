// Whole-model checks of CudaModel (bf16 on the GPU) against the CPU Model (fp32, the reference),
// for every model style at head_dim 64 (the CUDA attention supports 64 and 128):
//  - the parameter table is identical (runs without a device);
//  - one forward + backward on the same bf16-exact weights and a packed batch (several segments
//    per row, padding, partial loss mask): loss, logits and every gradient tensor;
//  - determinism and gradient accumulation (two backward passes add up);
//  - 200 AdamW training steps on both sides on the same learnable token stream: loss curves.
//
// Tolerances (bf16 activations and gradients carry ~3 significant digits; errors grow through
// the layers and with the reductions):
//  - loss: |l_gpu - l_cpu| <= 1e-2 |l_cpu|;
//  - logits: ||z_gpu - z_cpu|| / ||z_cpu|| <= 2e-2;
//  - every gradient tensor: ||g_gpu - g_cpu|| / ||g_cpu|| <= 3e-2 (the per-tensor errors are
//    printed).
// For scale: PyTorch running these models entirely in bf16 (a harsher recipe than ours, which
// keeps fp32 inside every kernel) lands at 0.4% (loss), 0.8-1.2% (logits) and up to 1.9%
// (gradients) from float64, and its 200-step loss curve stays within 0.01 of fp32's.
//  - training: |l_gpu - l_cpu| <= 0.05 + 0.05 l_cpu at step 1 and every 20th step, and the mean
//    of the last 20 losses within 5%.
#ifdef FLAME_WITH_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gpu_compare_util.h"
#include "kernels/adamw.h"
#include "core/error.h"
#include "kernels/cuda_check.h"
#include "model/model.h"
#include "model/param_layout.h"
#include "model/model.h"

namespace flame::model::testing {
namespace {

#define SKIP_WITHOUT_DEVICE() \
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device"

constexpr int kB = 2, kT = 64;

float forward_batch(Model& m, const GpuBatch& b, bool with_targets = true) {
  return m.forward(b.tokens.data(), b.pos.data(), b.seg.data(),
                   with_targets ? b.targets.data() : nullptr, b.mask.data(), b.B, b.T);
}

const char* style(const ModelConfig& c) {
  if (c.norm == Norm::layernorm) return "gpt2";
  return c.qkv_bias && !c.bias ? "qwen" : "llama";
}

// Qwen2 style: the Llama style with biases on the q/k/v projection only.
ModelConfig gpu_qwen_config() {
  ModelConfig c = gpu_llama_config();
  c.qkv_bias = true;
  return c;
}

// ---- no device needed ------------------------------------------------------------------------

TEST(CudaModel, LayoutMatchesCpuModel) {
  ModelConfig gpt2_qkv_only = gpt2_tiny_config();
  gpt2_qkv_only.bias = false;
  gpt2_qkv_only.qkv_bias = true;
  for (const ModelConfig& cfg : {gpu_gpt2_config(), gpu_llama_config(), gpu_qwen_config(),
                                 gpt2_tiny_config(), llama_tiny_config(), gpt2_qkv_only}) {
    const Model cpu(cfg, 1, 1);
    const std::vector<ParamInfo> gpu = make_param_layout(cfg).info;
    ASSERT_EQ(gpu.size(), cpu.param_info().size()) << style(cfg);
    for (size_t i = 0; i < gpu.size(); ++i) {
      const ParamInfo& a = gpu[i];
      const ParamInfo& b = cpu.param_info()[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.offset, b.offset) << a.name;
      EXPECT_EQ(a.shape, b.shape) << a.name;
      EXPECT_EQ(a.decay, b.decay) << a.name;
    }
  }
}

TEST(CudaModel, RejectsUnsupportedHeadDimBeforeTouchingTheDevice) {
  ModelConfig cfg = gpu_gpt2_config();
  cfg.n_head = 8;  // head_dim 32
  cfg.n_kv_head = 8;
  try {
    Model m(cfg, 1, 8, Device::cuda);
    FAIL() << "expected flame::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos) << e.what();
  }
}

// ---- one forward + backward against the CPU --------------------------------------------------

void compare_one_step(const ModelConfig& cfg, uint64_t seed) {
  const GpuBatch batch = random_batch(cfg.vocab_size, kB, kT, seed);
  Model cpu(cfg, kB, kT);
  Model gpu(cfg, kB, kT, Device::cuda);
  const size_t P = cpu.num_params();
  ASSERT_EQ(gpu.num_params(), P);
  const std::vector<float> w = compare_weights(cpu.param_info(), P, seed + 1);
  std::copy(w.begin(), w.end(), cpu.params());
  gpu.load_params(w.data());

  cpu.zero_grad();
  const float loss_cpu = forward_batch(cpu, batch);
  const std::vector<float> logits_cpu(cpu.logits(),
                                      cpu.logits() + size_t(kB) * kT * cfg.vocab_size);
  cpu.backward(batch.n_loss());
  gpu.zero_grad();
  const float loss_gpu = forward_batch(gpu, batch);
  const std::vector<float> logits_gpu = gpu.logits_host();
  gpu.backward(batch.n_loss());
  std::vector<float> grads_gpu(P);
  gpu.download_grads(grads_gpu.data());

  // The master weights are exactly what was loaded (no rounding on the fp32 side).
  std::vector<float> back(P);
  gpu.download_params(back.data());
  EXPECT_EQ(0, std::memcmp(back.data(), w.data(), P * sizeof(float)));

  std::printf("  [%s] loss cpu %.6f gpu %.6f (rel %.2e); %d epilogue fallbacks\n", style(cfg),
              loss_cpu, loss_gpu, std::fabs(loss_gpu - loss_cpu) / std::fabs(loss_cpu),
              gpu.epilogue_fallbacks());
  EXPECT_TRUE(std::isfinite(loss_gpu));
  EXPECT_LE(std::fabs(loss_gpu - loss_cpu), 1e-2 * std::fabs(loss_cpu));

  ASSERT_EQ(logits_gpu.size(), logits_cpu.size());
  double max_abs = 0.0;
  for (size_t i = 0; i < logits_cpu.size(); ++i)
    max_abs = std::max(max_abs, std::fabs(double(logits_gpu[i]) - logits_cpu[i]));
  const double logits_rel = rel_error(logits_gpu.data(), logits_cpu.data(), logits_cpu.size());
  std::printf("  [%s] logits rel %.2e, max abs %.3e (|z| rms %.3f)\n", style(cfg), logits_rel,
              max_abs,
              l2_norm(logits_cpu.data(), logits_cpu.size()) / std::sqrt(double(logits_cpu.size())));
  EXPECT_LE(logits_rel, 2e-2);

  double worst = 0.0;
  for (const ParamInfo& p : cpu.param_info()) {
    const float* gc = cpu.grads() + p.offset;
    const float* gg = grads_gpu.data() + p.offset;
    const double rel = rel_error(gg, gc, p.numel());
    worst = std::max(worst, rel);
    std::printf("  [%s] %-22s |g| %.3e  rel err %.2e\n", style(cfg), p.name.c_str(),
                l2_norm(gc, p.numel()), rel);
    EXPECT_GT(l2_norm(gc, p.numel()), 0.0) << p.name << ": no gradient on the CPU";
    EXPECT_LE(rel, 3e-2) << p.name;
  }
  std::printf("  [%s] worst gradient rel err %.2e (tolerance 3e-2)\n", style(cfg), worst);
}

TEST(CudaModel, MatchesCpuGpt2Style) {
  SKIP_WITHOUT_DEVICE();
  compare_one_step(gpu_gpt2_config(), 11);
}

TEST(CudaModel, MatchesCpuLlamaStyle) {
  SKIP_WITHOUT_DEVICE();
  compare_one_step(gpu_llama_config(), 12);
}

// Exercises the qkv-only bias gradient (and its scratch sizing) on the device.
TEST(CudaModel, MatchesCpuQwenStyle) {
  SKIP_WITHOUT_DEVICE();
  compare_one_step(gpu_qwen_config(), 13);
}

// ---- determinism, accumulation, API contract -------------------------------------------------

TEST(CudaModel, DeterministicAndAccumulatesGradients) {
  SKIP_WITHOUT_DEVICE();
  for (const ModelConfig& cfg : {gpu_gpt2_config(), gpu_llama_config()}) {
    const GpuBatch batch = random_batch(cfg.vocab_size, kB, kT, 21);
    Model gpu(cfg, kB, kT, Device::cuda);
    const size_t P = gpu.num_params();
    const std::vector<float> w = compare_weights(gpu.param_info(), P, 22);
    gpu.load_params(w.data());
    std::vector<float> g1(P), g2(P), g12(P);

    gpu.zero_grad();
    const float l1 = forward_batch(gpu, batch);
    gpu.backward(batch.n_loss());
    gpu.download_grads(g1.data());
    gpu.zero_grad();
    const float l2 = forward_batch(gpu, batch);
    gpu.backward(batch.n_loss());
    gpu.download_grads(g2.data());
    EXPECT_EQ(l1, l2) << style(cfg);
    EXPECT_EQ(0, std::memcmp(g1.data(), g2.data(), P * sizeof(float)))
        << style(cfg) << ": two identical steps gave different gradients";

    // A second backward without zero_grad accumulates: g12 = 2 g1 up to bf16 rounding of sums.
    forward_batch(gpu, batch);
    gpu.backward(batch.n_loss());
    gpu.download_grads(g12.data());
    for (float& x : g1) x *= 2.0f;
    const double rel = rel_error(g12.data(), g1.data(), P);
    std::printf("  [%s] accumulated vs 2x single: rel %.2e\n", style(cfg), rel);
    EXPECT_LE(rel, 1e-2) << style(cfg);
  }
}

TEST(CudaModel, ForwardWithoutTargetsAndContractChecks) {
  SKIP_WITHOUT_DEVICE();
  const ModelConfig cfg = gpu_llama_config();
  const int V = cfg.vocab_size;
  const GpuBatch batch = random_batch(V, kB, kT, 31);
  Model gpu(cfg, kB, kT, Device::cuda);
  const std::vector<float> w = compare_weights(gpu.param_info(), gpu.num_params(), 32);
  gpu.load_params(w.data());

  // backward before any forward with targets
  EXPECT_THROW(gpu.backward(1.0f), Error);
  // logits-only forward on a shorter micro-batch (b,t) = (1,40)
  EXPECT_EQ(0.0f, gpu.forward(batch.tokens.data(), nullptr, nullptr, nullptr, nullptr, 1, 40));
  EXPECT_THROW(gpu.backward(1.0f), Error);  // no targets: nothing to differentiate
  const std::vector<float> all = gpu.logits_host();
  ASSERT_EQ(all.size(), size_t(40) * V);
  std::vector<float> row(V);
  gpu.logits_row(39, row.data());
  EXPECT_EQ(0, std::memcmp(row.data(), all.data() + size_t(39) * V, V * sizeof(float)));
  EXPECT_THROW(gpu.logits_row(40, row.data()), Error);
  // the same tokens through the CPU model
  Model cpu(cfg, kB, kT);
  std::copy(w.begin(), w.end(), cpu.params());
  cpu.forward(batch.tokens.data(), nullptr, nullptr, nullptr, nullptr, 1, 40);
  const double rel = rel_error(all.data(), cpu.logits(), all.size());
  std::printf("  [llama] logits (1,40) without targets: rel %.2e\n", rel);
  EXPECT_LE(rel, 2e-2);

  // bad ids are caught on the host, before anything is queued
  std::vector<int32_t> bad = batch.tokens;
  bad[5] = V;
  EXPECT_THROW(gpu.forward(bad.data(), nullptr, nullptr, nullptr, nullptr, 1, 8), Error);
  std::vector<int32_t> bad_targets = batch.targets;
  bad_targets[3] = -1;
  EXPECT_THROW(
      gpu.forward(batch.tokens.data(), nullptr, nullptr, bad_targets.data(), nullptr, 1, 8), Error);
  EXPECT_THROW(gpu.forward(batch.tokens.data(), nullptr, nullptr, nullptr, nullptr, kB + 1, 8),
               Error);
  EXPECT_THROW(gpu.logits_host(), Error);  // the failed forwards invalidated the logits
  // the model still works after the rejected calls
  const float loss = forward_batch(gpu, batch);
  EXPECT_TRUE(std::isfinite(loss));
  gpu.backward(batch.n_loss());
  EXPECT_THROW(gpu.logits_host(), Error);  // backward overwrote them with dlogits
  std::vector<float> g(gpu.num_params());
  gpu.download_grads(g.data());
  EXPECT_GT(*std::max_element(g.begin(), g.end(), [](float a, float b) {
    return std::fabs(a) < std::fabs(b);
  }), 0.0f);
}

// ---- training curves --------------------------------------------------------------------------

void train_compare(const ModelConfig& cfg, uint64_t seed) {
  constexpr int kSteps = 200;
  constexpr float kPeakLr = 1e-3f, kBeta1 = 0.9f, kBeta2 = 0.95f, kEps = 1e-8f, kWd = 0.1f,
                  kClip = 1.0f;
  Model cpu(cfg, kB, kT);
  cpu.init_weights(seed);
  const size_t P = cpu.num_params();
  round_all_to_bf16(cpu.params(), P);  // both sides start from identical weights
  Model gpu(cfg, kB, kT, Device::cuda);
  gpu.load_params(cpu.params());
  std::vector<float> m(P, 0.0f), v(P, 0.0f);
  ChainStream stream(cfg.vocab_size, seed + 1);

  std::vector<double> lc(kSteps + 1), lg(kSteps + 1);
  std::printf("  [%s] step   cpu loss  gpu loss   |diff|  gnorm cpu  gnorm gpu\n", style(cfg));
  for (int step = 1; step <= kSteps; ++step) {
    const GpuBatch batch = stream.next_batch(kB, kT);
    const float n = batch.n_loss();
    const float lr = kPeakLr * std::min(1.0f, float(step) / 10.0f);  // 10 warmup steps

    // CPU, as train/trainer.cpp does it: global clip, then AdamW per tensor
    cpu.zero_grad();
    lc[step] = forward_batch(cpu, batch);
    cpu.backward(n);
    const double gn_cpu = std::sqrt(cpu::sum_squares(cpu.grads(), long(P)));
    if (gn_cpu > kClip) cpu::scale_inplace(cpu.grads(), long(P), float(kClip / gn_cpu));
    for (const ParamInfo& p : cpu.param_info()) {
      const cpu::AdamWParams ap{lr, kBeta1, kBeta2, kEps, p.decay ? kWd : 0.0f, step};
      cpu::adamw_update(cpu.params() + p.offset, cpu.grads() + p.offset, m.data() + p.offset,
                        v.data() + p.offset, long(p.numel()), ap);
    }

    // GPU: the same step on the device
    gpu.zero_grad();
    lg[step] = forward_batch(gpu, batch);
    gpu.backward(n);
    gpu.optimizer_step({lr, kBeta1, kBeta2, kEps, kWd, step, kClip});  // clip on the device
    const double gn_gpu = gpu.last_grad_norm();

    ASSERT_TRUE(std::isfinite(lg[step])) << "GPU loss at step " << step;
    if (step == 1 || step % 20 == 0) {
      const double diff = std::fabs(lg[step] - lc[step]);
      std::printf("  [%s] %4d   %8.4f  %8.4f  %7.4f  %9.4f  %9.4f\n", style(cfg), step, lc[step],
                  lg[step], diff, gn_cpu, gn_gpu);
      EXPECT_LE(diff, 0.05 + 0.05 * lc[step]) << "step " << step;
    }
  }
  double tail_cpu = 0.0, tail_gpu = 0.0;
  for (int s = kSteps - 19; s <= kSteps; ++s) {
    tail_cpu += lc[s] / 20.0;
    tail_gpu += lg[s] / 20.0;
  }
  std::printf("  [%s] mean loss of the last 20 steps: cpu %.4f gpu %.4f (first step %.4f)\n",
              style(cfg), tail_cpu, tail_gpu, lc[1]);
  EXPECT_LE(std::fabs(tail_gpu - tail_cpu), 0.05 * tail_cpu);
  // Both must have learned something, or the comparison says little.
  EXPECT_LT(tail_cpu, lc[1] - 1.0);
  EXPECT_LT(tail_gpu, lg[1] - 1.0);

  // The GPU master weights stayed close to the CPU weights (same updates up to bf16 noise).
  std::vector<float> wg(P);
  gpu.download_params(wg.data());
  std::printf("  [%s] weights after %d steps: rel diff %.2e\n", style(cfg), kSteps,
              rel_error(wg.data(), cpu.params(), P));
}

TEST(CudaModel, TrainingCurveMatchesCpuGpt2Style) {
  SKIP_WITHOUT_DEVICE();
  train_compare(gpu_gpt2_config(), 41);
}

TEST(CudaModel, TrainingCurveMatchesCpuLlamaStyle) {
  SKIP_WITHOUT_DEVICE();
  train_compare(gpu_llama_config(), 42);
}

}  // namespace
}  // namespace flame::model::testing

#endif  // FLAME_WITH_CUDA
