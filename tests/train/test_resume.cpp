// Exact resume: a run killed with SIGKILL at a random moment and resumed logs, at every step,
// bit-identical losses to an uninterrupted run, and ends with bit-identical weights.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/train/run_flame.h"

using flame_test::run_flame;
using flame_test::Scratch;
namespace fs = std::filesystem;

namespace {

// step -> loss exactly as written in metrics.jsonl (the JSON text, so equality is bitwise).
std::map<int, std::string> losses(const fs::path& metrics) {
  std::map<int, std::string> out;
  std::istringstream in(flame_test::slurp(metrics));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out[j["step"].get<int>()] = j["loss"].dump();
  }
  return out;
}

std::string run_config(const Scratch& s) {
  return s.write("run.yaml", R"(
name: resume
seed: 11
model: {preset: )" + std::string(FLAME_SOURCE_DIR) + R"(/configs/models/tiny.yaml,
        n_layer: 2, d_model: 32, n_head: 2, n_kv_head: 2, d_ff: 64}
data: {tokenizer: word, tasks: [synth_arith_claim, synth_sorted_list], train_examples: 300, dev_examples: 10,
       seq_len: 128}
optim: {lr: 3.0e-3}
schedule: {warmup_steps: 5}
train: {steps: 300, batch_size: 8, micro_batch_size: 4, log_interval: 1, eval_interval: 0,
        ckpt_interval: 7, keep_last: 2, threads: 1}
eval: {max_examples: 0}
)");
}

}  // namespace

TEST(Resume, KilledAtARandomMomentThenResumedIsBitIdentical) {
  Scratch s("resume");
  const std::string cfg = run_config(s);
  // The uninterrupted reference.
  auto r = run_flame(s, "train " + cfg + " train.out_dir=" + (s.dir / "ref").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto ref = losses(s.dir / "ref" / "resume" / "metrics.jsonl");
  ASSERT_EQ(ref.size(), 300u);

  // The same run, killed somewhere after its first checkpoint (the whole run takes ~5 s here).
  const fs::path out = s.dir / "killed";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = (s.dir / "killed.log").string();
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    const std::string od = "train.out_dir=" + out.string();
    execl(FLAME_BINARY, FLAME_BINARY, "train", cfg.c_str(), od.c_str(), (char*)nullptr);
    _exit(127);
  }
  const auto latest = out / "resume" / "ckpt" / "latest";
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(latest) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(latest)) << "no checkpoint appeared";
  std::mt19937 rng(std::random_device{}());
  const int delay_ms = std::uniform_int_distribution<int>(0, 2500)(rng);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const bool was_killed = WIFSIGNALED(status);
  const auto partial = losses(out / "resume" / "metrics.jsonl");
  ASSERT_TRUE(was_killed) << "the run finished before the kill (" << delay_ms << " ms); make it longer";
  ASSERT_LT(partial.size(), 300u);

  // Resume (train.resume: auto is the default) and compare every step.
  r = run_flame(s, "train " + cfg + " train.out_dir=" + out.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("resume: "), std::string::npos) << r.out;
  const auto resumed = losses(out / "resume" / "metrics.jsonl");
  ASSERT_EQ(resumed.size(), 300u) << "killed after " << delay_ms << " ms at step " << partial.size();
  for (const auto& [step, loss] : ref) EXPECT_EQ(resumed.at(step), loss) << "step " << step;
  EXPECT_EQ(flame_test::slurp(out / "resume" / "ckpt" / "step-300" / "model.safetensors"),
            flame_test::slurp(s.dir / "ref" / "resume" / "ckpt" / "step-300" / "model.safetensors"));
  EXPECT_EQ(flame_test::slurp(out / "resume" / "ckpt" / "step-300" / "optim.safetensors"),
            flame_test::slurp(s.dir / "ref" / "resume" / "ckpt" / "step-300" / "optim.safetensors"));
  // A resumed run reports like one run: first_loss comes from step 1.
  const auto summary = nlohmann::json::parse(flame_test::slurp(out / "resume" / "summary.json"));
  EXPECT_EQ(summary["first_loss"].dump(), ref.at(1));
}

TEST(Resume, MismatchedConfigIsRefusedAndNeverStartsOver) {
  Scratch s("resume_cfg");
  const std::string cfg = run_config(s);
  const std::string od = " train.out_dir=" + (s.dir / "runs").string();
  auto r = run_flame(s, "train " + cfg + od + " train.steps=8");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_flame(s, "train " + cfg + od + " train.steps=12 model.d_ff=128");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("model section differs"), std::string::npos) << r.err;
  r = run_flame(s, "train " + cfg + od + " train.steps=12");  // extending a finished run
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("resume: "), std::string::npos);
  EXPECT_EQ(losses(s.dir / "runs" / "resume" / "metrics.jsonl").size(), 12u);
  r = run_flame(s, "train " + cfg + od + " train.steps=6 train.resume=never");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.find("resume: "), std::string::npos);
  EXPECT_FALSE(fs::exists(s.dir / "runs" / "resume" / "ckpt" / "step-12"));
  EXPECT_TRUE(fs::exists(s.dir / "runs" / "resume" / "ckpt" / "step-6"));
}
