// Export for the independent PyTorch reference (tools/torch_reference.py). Runs only when the
// environment variable FLAME_REF_DIR names a directory (skipped otherwise). For each of a small
// GPT-2-style and Llama-style config (the GPU test configs, head_dim 64) it writes
// $FLAME_REF_DIR/<gpt2|llama>/:
//   config.json    the ModelConfig fields, plus the micro-batch B, T
//   params.json    [{name, offset, shape, decay}] in flat-buffer order, and num_params
//   weights.bin    the flat fp32 parameters, little-endian (bf16-exact values, see below)
//   batch.json     tokens, targets, pos, seg (int) and mask (float), each (B,T) row-major
//   cpu.json       {loss, loss_norm}; cpu_grads.bin (flat fp32, params.json layout) and
//                  cpu_logits.bin ((B,T,V) fp32) from the CPU Model
//   gpu.json, gpu_grads.bin, gpu_logits.bin   the same from CudaModel, when a CUDA device is
//                  present (the CPU part needs none)
// Gradients are those of the mean masked loss (backward(loss_norm = number of unmasked tokens)).
// The weights are rounded to bf16 before use, so the GPU's bf16 working copy equals them.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpu_compare_util.h"
#include "model/model.h"
#ifdef FLAME_WITH_CUDA
#include "kernels/cuda_check.h"
#include "model/model.h"
#include "model/param_layout.h"
#endif

namespace flame::model::testing {
namespace {

namespace fs = std::filesystem;

void write_bin(const fs::path& path, const float* data, size_t n) {
  std::ofstream f(path, std::ios::binary);
  ASSERT_TRUE(f) << "cannot write " << path;
  f.write(reinterpret_cast<const char*>(data), std::streamsize(n * sizeof(float)));
  ASSERT_TRUE(f.good()) << "short write to " << path;
}

void write_json(const fs::path& path, const nlohmann::json& j) {
  std::ofstream f(path);
  ASSERT_TRUE(f) << "cannot write " << path;
  f << j.dump(1) << "\n";
}

template <class T>
nlohmann::json rows(const std::vector<T>& x, int B, int T_) {
  nlohmann::json out = nlohmann::json::array();
  for (int b = 0; b < B; ++b)
    out.push_back(std::vector<T>(x.begin() + size_t(b) * T_, x.begin() + size_t(b + 1) * T_));
  return out;
}

void export_case(const fs::path& dir, const ModelConfig& cfg, uint64_t seed) {
  constexpr int B = 2, T = 64;
  fs::create_directories(dir);
  const GpuBatch batch = random_batch(cfg.vocab_size, B, T, seed);
  Model cpu(cfg, B, T);
  const size_t P = cpu.num_params();
  const std::vector<float> w = compare_weights(cpu.param_info(), P, seed + 1);
  std::copy(w.begin(), w.end(), cpu.params());

  write_json(dir / "config.json", {{"n_layer", cfg.n_layer},
                                   {"n_head", cfg.n_head},
                                   {"n_kv_head", cfg.n_kv_head},
                                   {"d_model", cfg.d_model},
                                   {"d_ff", cfg.d_ff},
                                   {"vocab_size", cfg.vocab_size},
                                   {"max_seq_len", cfg.max_seq_len},
                                   {"norm", name(cfg.norm)},
                                   {"pos", name(cfg.pos)},
                                   {"rope_theta", cfg.rope_theta},
                                   {"mlp", name(cfg.mlp)},
                                   {"tie_embeddings", cfg.tie_embeddings},
                                   {"bias", cfg.bias},
                                   {"norm_eps", cfg.norm_eps},
                                   {"B", B},
                                   {"T", T}});
  nlohmann::json params = nlohmann::json::array();
  for (const ParamInfo& p : cpu.param_info())
    params.push_back(
        {{"name", p.name}, {"offset", p.offset}, {"shape", p.shape}, {"decay", p.decay}});
  write_json(dir / "params.json", {{"num_params", P}, {"params", params}});
  write_bin(dir / "weights.bin", w.data(), P);
  write_json(dir / "batch.json", {{"B", B},
                                  {"T", T},
                                  {"tokens", rows(batch.tokens, B, T)},
                                  {"targets", rows(batch.targets, B, T)},
                                  {"pos", rows(batch.pos, B, T)},
                                  {"seg", rows(batch.seg, B, T)},
                                  {"mask", rows(batch.mask, B, T)}});

  const size_t n_logits = size_t(B) * T * cfg.vocab_size;
  cpu.zero_grad();
  const float loss_cpu = cpu.forward(batch.tokens.data(), batch.pos.data(), batch.seg.data(),
                                     batch.targets.data(), batch.mask.data(), B, T);
  write_bin(dir / "cpu_logits.bin", cpu.logits(), n_logits);
  cpu.backward(batch.n_loss());
  write_bin(dir / "cpu_grads.bin", cpu.grads(), P);
  write_json(dir / "cpu.json", {{"loss", loss_cpu}, {"loss_norm", batch.n_loss()}});
  std::printf("  wrote %s (cpu loss %.6f)\n", dir.c_str(), loss_cpu);

#ifdef FLAME_WITH_CUDA
  if (!flame::cuda::device_available()) return;
  Model gpu(cfg, B, T, Device::cuda);
  gpu.load_params(w.data());
  gpu.zero_grad();
  const float loss_gpu = gpu.forward(batch.tokens.data(), batch.pos.data(), batch.seg.data(),
                                     batch.targets.data(), batch.mask.data(), B, T);
  const std::vector<float> logits = gpu.logits_host();
  write_bin(dir / "gpu_logits.bin", logits.data(), logits.size());
  gpu.backward(batch.n_loss());
  std::vector<float> grads(P);
  gpu.download_grads(grads.data());
  write_bin(dir / "gpu_grads.bin", grads.data(), P);
  write_json(dir / "gpu.json", {{"loss", loss_gpu}, {"loss_norm", batch.n_loss()}});
  std::printf("  wrote %s gpu results (gpu loss %.6f)\n", dir.c_str(), loss_gpu);
#endif
}

TEST(ReferenceExport, WritesConfigsWeightsBatchAndResults) {
  const char* out = std::getenv("FLAME_REF_DIR");
  if (!out || !*out) GTEST_SKIP() << "set FLAME_REF_DIR to export for tools/torch_reference.py";
  export_case(fs::path(out) / "gpt2", gpu_gpt2_config(), 51);
  export_case(fs::path(out) / "llama", gpu_llama_config(), 52);
}

}  // namespace
}  // namespace flame::model::testing
