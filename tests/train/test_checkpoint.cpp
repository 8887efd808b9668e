// Checkpoints as files: exact round trip, retention, the latest pointer, atomic replacement, and
// damaged checkpoints refused with a message naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <yaml-cpp/yaml.h>

#include "data/tokenizer.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "train/checkpoint.h"
#include "tests/train/run_flame.h"
#include "tests/train/small_model.h"

using namespace flame;
namespace fs = std::filesystem;

namespace {

model::ModelConfig small_config() { return flame_test::small_model_config(16, 32); }

std::string config_yaml(const model::ModelConfig& c) {
  YAML::Node root;
  YAML::Node m = model::to_yaml(c);
  m["preset"] = "tiny";
  root["model"] = m;
  YAML::Emitter e;
  e << root;
  return std::string(e.c_str()) + "\n";
}

struct Saved {
  std::vector<float> params, m, v;
};

Saved save_step(const std::string& run_dir, model::Model& model, int step,
                const train::CheckpointPolicy& policy = {}) {
  Saved s;
  s.params.assign(model.params(), model.params() + model.num_params());
  s.m.resize(s.params.size());
  s.v.resize(s.params.size());
  for (size_t i = 0; i < s.params.size(); ++i) {
    s.m[i] = 0.001f * float(i % 97) + float(step);
    s.v[i] = 1e-6f * float(i % 13);
  }
  train::CheckpointState st;
  st.step = step;
  st.sampler = {42, 1000ull + uint64_t(step), 3};
  st.seed = 7;
  st.extra = {{"first_loss", 5.5}};
  const data::ByteTokenizer tok;
  train::write_checkpoint(run_dir, model.param_info(), s.params.data(), s.m.data(), s.v.data(), st,
                          config_yaml(model.config()), tok, policy);
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Checkpoint, RoundTripsExactly) {
  flame_test::Scratch s("ckpt_rt");
  model::Model model(small_config(), 2, 16);
  model.init_weights(3);
  const Saved saved = save_step(s.dir.string(), model, 12);
  const auto dir = train::resolve_checkpoint(s.dir.string());
  EXPECT_EQ(fs::path(dir).filename(), "step-12");
  EXPECT_FALSE(fs::exists(s.dir / "ckpt" / ".tmp-step-12"));

  const auto st = train::read_checkpoint_state(dir);
  EXPECT_EQ(st.step, 12);
  EXPECT_EQ(st.sampler.seed, 42u);
  EXPECT_EQ(st.sampler.draws, 1012u);
  EXPECT_EQ(st.sampler.pending, 3u);
  EXPECT_EQ(st.seed, 7u);
  EXPECT_EQ(st.tokenizer, "byte");
  EXPECT_EQ(st.extra["first_loss"], 5.5);

  model::Model other(small_config(), 2, 16);
  other.init_weights(99);
  train::read_checkpoint_weights(dir, other.param_info(), other.params());
  EXPECT_TRUE(std::equal(saved.params.begin(), saved.params.end(), other.params()));
  std::vector<float> m(saved.m.size()), v(saved.v.size());
  train::read_checkpoint_moments(dir, other.param_info(), m.data(), v.data());
  EXPECT_EQ(m, saved.m);
  EXPECT_EQ(v, saved.v);

  auto loaded = train::load_model_for_inference(s.dir.string(), 1, 16);
  EXPECT_EQ(loaded.cfg.d_model, 16);
  EXPECT_EQ(loaded.tokenizer->name(), "byte");
  EXPECT_TRUE(std::equal(saved.params.begin(), saved.params.end(), loaded.model->params()));
}

TEST(Checkpoint, KeepsTheLastKAndEveryMth) {
  flame_test::Scratch s("ckpt_keep");
  model::Model model(small_config(), 1, 8);
  model.init_weights(1);
  for (int step = 1; step <= 10; ++step) save_step(s.dir.string(), model, step, {2, 4});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(s.dir / "ckpt"))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step-10", "step-4", "step-8", "step-9"}));
  EXPECT_EQ(flame_test::slurp(s.dir / "ckpt" / "latest"), "step-10\n");
  // Rewriting a step (a rerun) replaces it whole.
  save_step(s.dir.string(), model, 10, {2, 4});
  EXPECT_EQ(train::read_checkpoint_state((s.dir / "ckpt" / "step-10").string()).step, 10);
}

TEST(Checkpoint, DamagedCheckpointsAreRefused) {
  flame_test::Scratch s("ckpt_bad");
  model::Model model(small_config(), 1, 8);
  model.init_weights(1);
  save_step(s.dir.string(), model, 5);
  const auto dir = s.dir / "ckpt" / "step-5";
  // Truncated weights.
  const auto w = dir / "model.safetensors";
  const auto full = fs::file_size(w);
  fs::resize_file(w, full - 100);
  auto msg = error_of([&] { train::load_model_for_inference(s.dir.string(), 1, 8); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  // Weights of another model.
  save_step(s.dir.string(), model, 5);
  auto bigger = small_config();
  bigger.d_model = 32;
  model::Model other(bigger, 1, 8);
  msg = error_of([&] { train::read_checkpoint_weights(dir.string(), other.param_info(), other.params()); });
  EXPECT_FALSE(msg.empty());
  // Bad state.json, missing tokenizer, a dangling latest pointer.
  std::ofstream(dir / "state.json") << "{\"step\": ";
  msg = error_of([&] { train::read_checkpoint_state(dir.string()); });
  EXPECT_NE(msg.find("state.json"), std::string::npos) << msg;
  std::ofstream(dir / "state.json") << "{\"format_version\": 99, \"step\": 5}";
  msg = error_of([&] { train::read_checkpoint_state(dir.string()); });
  EXPECT_NE(msg.find("format version 99"), std::string::npos) << msg;
  std::ofstream(s.dir / "ckpt" / "latest") << "step-77\n";
  msg = error_of([&] { train::resolve_checkpoint(s.dir.string()); });
  EXPECT_NE(msg.find("step-77"), std::string::npos) << msg;
  msg = error_of([&] { train::resolve_checkpoint((s.dir / "nothing").string()); });
  EXPECT_NE(msg.find("no checkpoint at"), std::string::npos) << msg;
}
