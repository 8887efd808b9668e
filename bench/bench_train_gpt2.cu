// End-to-end training step of GPT-2 small (124M, configs/models/gpt2-124m.yaml) on one GPU with
// CudaModel: zero_grad, forward (loss back on the host), backward, global grad norm, AdamW with
// clipping at 1.0 — what a trainer step does — on random tokens at T = 1024 and micro-batch B.
// Warmup steps, then timed steps (wall clock between two device synchronisations). Prints
//   e2e_gpt2_124m B=16 T=1024: 123456 tok/s, peak 23.4 GiB
// where peak is the device memory the model allocated (parameters, gradients, master weights,
// AdamW moments, activation arena, scratch, cuBLASLt workspace: nothing is allocated during a
// step), comparable to torch.cuda.max_memory_allocated() in bench/torch_train_gpt2.py; then a
// detail line with ms/step, model TFLOP/s, the device memory in use (cudaMemGetInfo, CUDA context
// included), and the first/last losses.
//
// Usage: bench_train_gpt2 [B=16] [timed_steps=20] [preset=configs/models/gpt2-124m.yaml]
// (run from the repository root; without the preset file the built-in GPT-2 small config is used)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda_check.h"
#include "model/config_yaml.h"
#include "model/model.h"
#include "model/param_layout.h"
#include "model/model.h"

using namespace flame;
using namespace flame::model;

namespace {

ModelConfig gpt2_small() {  // configs/models/gpt2-124m.yaml
  ModelConfig c;
  c.n_layer = 12;
  c.n_head = 12;
  c.n_kv_head = 12;
  c.d_model = 768;
  c.d_ff = 3072;
  c.vocab_size = 50304;
  c.max_seq_len = 1024;
  c.norm = Norm::layernorm;
  c.pos = PosEmb::learned;
  c.mlp = Mlp::gelu;
  c.tie_embeddings = true;
  c.bias = true;
  c.norm_eps = 1e-5f;
  return c;
}

int run(int argc, char** argv) {
  const int B = argc > 1 ? std::atoi(argv[1]) : 16;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::string preset = argc > 3 ? argv[3] : "configs/models/gpt2-124m.yaml";
  constexpr int kT = 1024, kWarmup = 3;
  FLAME_CHECK(B > 0 && steps > 0, "usage: bench_train_gpt2 [B>0] [steps>0] [preset]");
  FLAME_CHECK(flame::cuda::device_available(), "no CUDA device");

  ModelConfig cfg = gpt2_small();
  std::string name = "gpt2_124m", source = "built-in GPT-2 small";
  if (std::filesystem::exists(preset)) {
    cfg = load_model_preset(preset);
    name = std::filesystem::path(preset).stem().string();
    for (char& ch : name)
      if (ch == '-' || ch == '.') ch = '_';
    source = preset;
  }
  FLAME_CHECK(kT <= cfg.max_seq_len, "T=" << kT << " > max_seq_len " << cfg.max_seq_len);

  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));

  Model model(cfg, B, kT, Device::cuda);
  {
    // GPT-2 init from the CPU model (same values a CPU run would start from); only its parameter
    // buffers matter here, the (1,1) arena is tiny.
    Model host(cfg, 1, 1);
    host.init_weights(1234);
    model.load_params(host.params());
  }
  std::printf("# device: %s, %d SMs; model %s (%s), %.1fM parameters\n", prop.name,
              prop.multiProcessorCount, name.c_str(), source.c_str(),
              double(model.num_params()) / 1e6);

  // Random tokens below 50257 (GPT-2's real vocabulary; the padded rows are never targets).
  const int n = B * kT;
  const int v_real = std::min(cfg.vocab_size, 50257);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, v_real - 1);
  std::vector<int32_t> tokens(n), targets(n);
  for (int i = 0; i < n; ++i) tokens[i] = pick(rng);
  for (int i = 0; i < n; ++i) targets[i] = pick(rng);

  int step = 0;
  auto train_step = [&] {
    ++step;
    model.zero_grad();
    const float loss =
        model.forward(tokens.data(), nullptr, nullptr, targets.data(), nullptr, B, kT);
    model.backward(float(n));
    model.optimizer_step({6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, step, 1.0f});  // clip on the device
    return loss;
  };

  const float first_loss = train_step();
  for (int i = 1; i < kWarmup; ++i) train_step();
  model.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  float last_loss = 0.0f;
  for (int i = 0; i < steps; ++i) last_loss = train_step();
  model.synchronize();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const double gib = double(1ull << 30);
  const double tok_s = double(n) * steps / dt;
  // Model FLOPs per token (PaLM appendix B): 6 * parameters + 12 * L * C * T (attention scores
  // and values, forward + backward, no causal discount).
  const double flops_per_token =
      6.0 * double(model.num_params()) + 12.0 * cfg.n_layer * cfg.d_model * double(kT);
  std::printf("e2e_%s B=%d T=%d: %.0f tok/s, peak %.1f GiB\n", name.c_str(), B, kT, tok_s,
              double(model.device_bytes()) / gib);
  std::printf(
      "# %.2f ms/step over %d steps (%d warmup), %.0f model TFLOP/s; device memory in "
      "use %.1f GiB of %.1f; loss %.4f (step 1) -> %.4f (step %d); %d epilogue "
      "fallbacks\n",
      dt * 1e3 / steps, steps, kWarmup, tok_s * flops_per_token / 1e12,
      double(total_b - free_b) / gib, double(total_b) / gib, first_loss, last_loss, step,
      model.epilogue_fallbacks());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_gpt2: %s\n", e.what());
    return 1;
  }
}
