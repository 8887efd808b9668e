// train.device: cuda through the binary: the GPU run (CudaModel steps, CPU evaluation of the
// downloaded weights) follows the CPU run's losses from the same initial weights and data.
// Only built with the CUDA backend; skipped without a device.
#include <gtest/gtest.h>

#ifdef FLAME_WITH_CUDA
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/cuda_check.h"
#include "tests/train/run_flame.h"

using flame_test::run_flame;
using flame_test::Scratch;
using nlohmann::json;

namespace {

// head_dim 64 (the CUDA attention supports 64 and 128 only)
std::string tiny_config() {
  return R"(
name: tiny
seed: 7
model: {preset: )" + std::string(FLAME_SOURCE_DIR) + R"(/configs/models/tiny.yaml,
        n_layer: 2, d_model: 128, n_head: 2, n_kv_head: 2, d_ff: 256}
data:
  tasks: [synth_arith_claim, synth_refusal]
  train_examples: 300
  dev_examples: 16
  seq_len: 128
optim: {lr: 3.0e-3}
schedule: {warmup_steps: 5}
train: {steps: 30, batch_size: 8, micro_batch_size: 4, log_interval: 1, eval_interval: 0}
eval: {max_examples: 16}
)";
}

// The per-step training losses of metrics.jsonl.
std::vector<double> losses(const std::filesystem::path& metrics) {
  std::istringstream in(flame_test::slurp(metrics));
  std::vector<double> out;
  for (std::string l; std::getline(in, l);) {
    const json j = json::parse(l);
    if (j.contains("loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}

}  // namespace

TEST(TrainCuda, MatchesCpuLosses) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  Scratch s("train_cuda");
  const std::string cfg = s.write("run.yaml", tiny_config());
  const std::string out = " train.out_dir=" + (s.dir / "runs").string();
  const auto cpu = run_flame(s, "train " + cfg + out + " name=cpu train.device=cpu");
  ASSERT_EQ(cpu.rc, 0) << "stderr: " << cpu.err << "\nstdout: " << cpu.out;
  const auto gpu = run_flame(s, "train " + cfg + out + " name=gpu train.device=cuda");
  ASSERT_EQ(gpu.rc, 0) << "stderr: " << gpu.err << "\nstdout: " << gpu.out;

  const auto lc = losses(s.dir / "runs" / "cpu" / "metrics.jsonl");
  const auto lg = losses(s.dir / "runs" / "gpu" / "metrics.jsonl");
  ASSERT_EQ(lc.size(), 30u);
  ASSERT_EQ(lg.size(), 30u);
  for (size_t i = 0; i < lc.size(); ++i)
    EXPECT_NEAR(lg[i], lc[i], 0.05 * std::abs(lc[i]) + 0.05) << "step " << i + 1;
  double first = lg[0], last = 0;
  for (size_t i = lg.size() - 5; i < lg.size(); ++i) last += lg[i] / 5;
  EXPECT_LT(last, 0.8 * first) << "GPU loss did not fall: " << first << " -> " << last;

  // The GPU run evaluated its (downloaded) weights at the end.
  const json summary = json::parse(flame_test::slurp(s.dir / "runs" / "gpu" / "summary.json"));
  ASSERT_TRUE(summary["eval"].is_object());
  EXPECT_EQ(summary["eval"]["tasks"].size(), 2u);
}

TEST(TrainCuda, NoDeviceIsAClearError) {
  if (flame::cuda::device_available()) GTEST_SKIP() << "a CUDA device is present";
  Scratch s("train_cuda_nodev");
  const std::string cfg = s.write("run.yaml", tiny_config());
  const auto r = run_flame(s, "train " + cfg + " train.device=cuda train.out_dir=" +
                                  (s.dir / "runs").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no CUDA device available"), std::string::npos) << "stderr: " << r.err;
}

#endif  // FLAME_WITH_CUDA
