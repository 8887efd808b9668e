// The FLAMe -> FLAMe-RM recipes end to end at tiny scale on the CPU: prepare shards, train the
// multitask model (configs/runs/flame.yaml), fine-tune the RM from its checkpoint
// (configs/runs/flame_rm.yaml), and evaluate both.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/train/run_flame.h"

using flame_test::run_flame;
using flame_test::Scratch;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json last_json_line(std::string out) {
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return json::parse(out.substr(out.rfind('\n') + 1));
}

}  // namespace

TEST(Recipes, FlameThenFlameRmFromItsCheckpoint) {
  Scratch s("recipes");
  const auto shards = (s.dir / "shards").string(), runs = (s.dir / "runs").string();
  const std::string data = s.write("data.yaml",
      "name: t\ntasks_dir: " FLAME_SOURCE_DIR "/configs/tasks/synthetic\ntasks: all\n"
      "exclude: [synth_supported_claim_flipped]\nout_dir: " + shards +
      "\ntokenizer: {model: word}\nmax_tokens: 160\n");
  auto r = run_flame(s, "prepare " + data);
  ASSERT_EQ(r.rc, 0) << r.err;

  const std::string tiny = " model.n_layer=2 model.d_model=32 model.n_head=2 model.n_kv_head=2 "
                           "model.d_ff=64 model.max_seq_len=256";
  r = run_flame(s, "train " FLAME_SOURCE_DIR "/configs/runs/flame.yaml model.preset=tiny" + tiny +
                       " data.shards=" + shards + " data.seq_len=256 train.steps=30 "
                       "train.batch_size=8 train.micro_batch_size=8 train.log_interval=10 "
                       "train.eval_interval=0 train.ckpt_interval=10 schedule.warmup_steps=5 "
                       "optim.lr=3e-3 eval.max_examples=10 train.out_dir=" + runs);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  const json flame = last_json_line(r.out);
  EXPECT_EQ(flame["steps"], 30);
  EXPECT_LT(flame["last_loss"].get<double>(), flame["first_loss"].get<double>());
  EXPECT_TRUE(fs::exists(s.dir / "runs" / "flame" / "ckpt" / "step-30" / "model.safetensors"));

  // The RM starts from the FLAMe checkpoint: architecture and weights.
  r = run_flame(s, "train " FLAME_SOURCE_DIR "/configs/runs/flame_rm.yaml model.init_from=" + runs +
                       "/flame data.shards=" + shards + " data.seq_len=256 "
                       "data.tasks=[synth_balanced_parens,synth_refusal,synth_sorted_list] "
                       "'data.mixture.weights={synth_balanced_parens: 1, synth_refusal: 1, "
                       "synth_sorted_list: 1}' train.steps=10 eval.max_examples=10 "
                       "train.out_dir=" + runs);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("init: weights from " + runs + "/flame/ckpt/step-30"), std::string::npos) << r.out;
  const json rm = last_json_line(r.out);
  EXPECT_EQ(rm["params"], flame["params"]);
  // Started from trained weights, its first loss is far below a fresh model's (~ln V).
  EXPECT_LT(rm["first_loss"].get<double>(), 0.6 * flame["first_loss"].get<double>());
  ASSERT_TRUE(rm["eval"].is_object());
  EXPECT_EQ(rm["eval"]["tasks"].size(), 3u);
  // An architecture key that contradicts the checkpoint is refused.
  r = run_flame(s, "train " FLAME_SOURCE_DIR "/configs/runs/flame_rm.yaml model.init_from=" + runs +
                       "/flame model.n_layer=3 data.shards=" + shards + " train.out_dir=" + runs);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("model.n_layer"), std::string::npos) << r.err;
}
