// End to end through the binary: a tiny model trains on three synthetic tasks, its loss falls
// clearly, and the run directory holds a parseable summary, metrics and re-loadable config.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/train/run_flame.h"
#include "train/config.h"

using flame_test::run_flame;
using flame_test::Scratch;
using nlohmann::json;

TEST(EndToEnd, TinyModelLearns) {
  Scratch s("e2e");
  const std::string cfg = s.write("run.yaml", R"(
name: e2e
seed: 5
model: {preset: )" + std::string(FLAME_SOURCE_DIR) + R"(/configs/models/tiny.yaml,
        n_layer: 2, d_model: 32, n_head: 2, n_kv_head: 2, d_ff: 128}
data:
  tasks: [synth_arith_claim, synth_refusal, synth_keyword_count]
  train_examples: 500
  dev_examples: 40
  seq_len: 256
optim: {lr: 1.0e-2}
schedule: {warmup_steps: 5}
train: {steps: 40, batch_size: 8, micro_batch_size: 4, log_interval: 10, eval_interval: 20}
eval: {max_examples: 40}
)");
  const auto r = run_flame(s, "train " + cfg + " train.out_dir=" + (s.dir / "runs").string());
  ASSERT_EQ(r.rc, 0) << "stderr: " << r.err << "\nstdout: " << r.out;

  // The last stdout line is the JSON summary; it matches summary.json.
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const json line = json::parse(out.substr(out.rfind('\n') + 1));
  const auto run_dir = s.dir / "runs" / "e2e";
  const json summary = json::parse(flame_test::slurp(run_dir / "summary.json"));
  EXPECT_EQ(line, summary);
  EXPECT_EQ(summary["name"], "e2e");
  EXPECT_EQ(summary["steps"], 40);
  EXPECT_GT(summary["params"].get<long>(), 0);
  EXPECT_GT(summary["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(summary["wall_s"].get<double>(), 0);
  const double first = summary["first_loss"], last = summary["last_loss"];
  EXPECT_GT(first, 4.0);  // ~ln(258) at init
  EXPECT_LT(last, 0.5 * first) << "loss did not fall clearly: " << first << " -> " << last;

  const json& ev = summary["eval"];
  ASSERT_TRUE(ev.is_object());
  ASSERT_EQ(ev["tasks"].size(), 3u);
  for (const auto& [name, t] : ev["tasks"].items()) {
    EXPECT_TRUE(t.contains("type") && t.contains("category") && t.contains("metric")) << name;
    const double v = t["value"];
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_TRUE(ev["tasks"]["synth_refusal"].contains("accuracy_single_order"));
  EXPECT_TRUE(ev["tasks"]["synth_keyword_count"].contains("pearson"));
  EXPECT_TRUE(ev["categories"].contains("math"));
  EXPECT_TRUE(ev["mean_pairwise_classification"].is_number());

  // metrics.jsonl: one object per logged step (1, 10, .., 40) plus two evals (20, 40)
  std::istringstream metrics(flame_test::slurp(run_dir / "metrics.jsonl"));
  int n_steps = 0, n_evals = 0, prev_step = 0;
  for (std::string l; std::getline(metrics, l);) {
    const json j = json::parse(l);
    ASSERT_TRUE(j.contains("step"));
    EXPECT_GE(j["step"].get<int>(), prev_step);
    prev_step = j["step"];
    if (j.contains("eval")) {
      ++n_evals;
    } else {
      ++n_steps;
      for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"})
        EXPECT_TRUE(j.contains(k)) << k << " missing in " << l;
    }
  }
  EXPECT_EQ(n_steps, 5);
  EXPECT_EQ(n_evals, 2);

  // The resolved config loads again and describes the same run.
  const auto again = flame::train::load_config((run_dir / "config.yaml").string());
  EXPECT_EQ(again.model.cfg.d_model, 32);
  EXPECT_EQ(again.data.tasks.size(), 3u);
  EXPECT_EQ(again.train.steps, 40);
}
