// Run-config parsing, validation and overrides: every bad case must throw flame::Error whose
// one-line message names the offending key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/synthetic.h"
#include "core/error.h"
#include "train/config.h"

namespace fs = std::filesystem;
using flame::train::RunConfig;

namespace {

RunConfig parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  YAML::Node root = YAML::Load(yaml);
  for (const auto& o : overrides) flame::train::apply_override(root, o);
  return flame::train::parse_config(root, FLAME_SOURCE_DIR);
}

// The config must be rejected with a message containing `expected` (and only one line).
void expect_error(const std::string& yaml, const std::string& expected,
                  const std::vector<std::string>& overrides = {}) {
  try {
    parse(yaml, overrides);
    ADD_FAILURE() << "accepted a bad config, expected error containing: " << expected
                  << "\n--- yaml ---\n" << yaml;
  } catch (const flame::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(expected), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

}  // namespace

TEST(Config, DefaultsAndAllTasks) {
  const RunConfig c = parse("{}");
  EXPECT_EQ(c.name, "run");
  EXPECT_EQ(c.model.preset, "tiny");
  EXPECT_EQ(c.model.cfg.vocab_size, 258);  // tiny says 0: taken from the byte tokenizer
  EXPECT_EQ(c.train.grad_accum(), 2);
  EXPECT_EQ(c.schedule.decay, flame::train::Decay::cosine);
  // "all" = every synthetic task except the flipped-label ones
  size_t n = 0;
  for (const auto& card : flame::data::synthetic_cards()) n += !card.flipped_labels;
  EXPECT_EQ(c.data.tasks.size(), n);
  for (const auto& t : c.data.tasks) EXPECT_FALSE(flame::data::synthetic_card(t).flipped_labels);
}

TEST(Config, QuickstartLoads) {
  const RunConfig c =
      flame::train::load_config(std::string(FLAME_SOURCE_DIR) + "/configs/runs/quickstart.yaml");
  EXPECT_EQ(c.name, "quickstart");
  EXPECT_GT(c.train.steps, 0);
  EXPECT_LE(c.data.seq_len, c.model.cfg.max_seq_len);
}

TEST(Config, FullSchemaParses) {
  const RunConfig c = parse(R"(
name: t1
seed: 7
model: {preset: tiny, n_layer: 2, d_model: 64, n_head: 2, n_kv_head: 2}
data:
  source: synthetic
  tokenizer: byte
  tasks: [synth_arith_claim, synth_refusal]
  train_examples: 100
  dev_examples: 20
  seq_len: 128
  mixture: {cap: 50, weights: {synth_refusal: 2.0}}
optim: {lr: 1.0e-3, min_lr_ratio: 0.2, weight_decay: 0.0, beta1: 0.8, beta2: 0.99, eps: 1.0e-6, grad_clip: 0.5}
schedule: {warmup_steps: 5, decay: linear}
train: {steps: 20, batch_size: 12, micro_batch_size: 4, log_interval: 5, eval_interval: 10, device: cpu, out_dir: /tmp/x, threads: 1}
eval: {max_examples: 10}
)");
  EXPECT_EQ(c.name, "t1");
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.model.cfg.n_layer, 2);
  EXPECT_EQ(c.model.cfg.d_model, 64);
  EXPECT_EQ(c.model.cfg.d_ff, 512);  // from the preset
  EXPECT_EQ(c.data.tasks.size(), 2u);
  EXPECT_EQ(c.data.mixture.cap, 50);
  EXPECT_DOUBLE_EQ(c.data.mixture.weights.at("synth_refusal"), 2.0);
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-3);
  EXPECT_DOUBLE_EQ(c.optim.grad_clip, 0.5);
  EXPECT_EQ(c.schedule.decay, flame::train::Decay::linear);
  EXPECT_EQ(c.train.grad_accum(), 3);
  EXPECT_EQ(c.train.threads, 1);
  EXPECT_EQ(c.eval.max_examples, 10);
}

TEST(Config, UnknownKeysAnywhere) {
  expect_error("foo: 1", "unknown key 'foo'");
  expect_error("optim: {lrr: 0.1}", "unknown key 'optim.lrr'");
  expect_error("data: {mixture: {capp: 3}}", "unknown key 'data.mixture.capp'");
  expect_error("model: {d_modell: 3}", "unknown key 'model.d_modell'");
  expect_error("train: {stepz: 3}", "unknown key 'train.stepz'");
  expect_error("eval: {max: 3}", "unknown key 'eval.max'");
}

TEST(Config, WrongTypes) {
  expect_error("optim: {lr: abc}", "optim.lr expects a number (got 'abc')");
  expect_error("train: {steps: 5.5}", "train.steps expects an integer (got '5.5')");
  expect_error("train: {steps: [1, 2]}", "train.steps expects an integer (got a list)");
  expect_error("name: {a: 1}", "name expects a string (got a map)");
  expect_error("data: {tasks: {a: 1}}", "data.tasks expects a list of strings");
  expect_error("optim: 3", "optim must be a map");
  expect_error("model: {d_model: abc}", "model.d_model");
  expect_error("schedule: {decay: cosin}", "schedule.decay expects cosine|linear|constant");
}

TEST(Config, MissingPreset) {
  expect_error("model: {preset: nope}", "model.preset file not found: configs/models/nope.yaml");
  expect_error("model: {preset: /no/such/model.yaml}", "model.preset file not found");
}

TEST(Config, PresetAsPath) {
  const fs::path dir = fs::temp_directory_path() / "flame_test_config_preset";
  fs::create_directories(dir);
  std::ofstream(dir / "m.yaml") << "n_layer: 1\nd_model: 32\nn_head: 2\nn_kv_head: 2\nd_ff: 64\n"
                                   "vocab_size: 0\nmax_seq_len: 64\n";
  const RunConfig c = parse("model: {preset: " + (dir / "m.yaml").string() + "}\ndata: {seq_len: 64}");
  EXPECT_EQ(c.model.cfg.n_layer, 1);
  EXPECT_EQ(c.model.cfg.max_seq_len, 64);
  fs::remove_all(dir);
}

TEST(Config, RangeAndCrossFieldChecks) {
  expect_error("train: {steps: -5}", "train.steps must be > 0 (got -5)");
  expect_error("train: {batch_size: 16, micro_batch_size: 5}",
               "train.batch_size (16) must be a multiple of train.micro_batch_size (5)");
  expect_error("optim: {lr: 0}", "optim.lr must be > 0");
  expect_error("optim: {beta2: 1.0}", "optim.beta2 must be in [0, 1)");
  expect_error("optim: {min_lr_ratio: 2}", "optim.min_lr_ratio must be in [0, 1]");
  expect_error("data: {seq_len: 1024}", "data.seq_len (1024) must be <= model.max_seq_len (256)");
  expect_error("data: {tasks: [synth_nope]}", "data.tasks: unknown task 'synth_nope'");
  expect_error("data: {tasks: [synth_echo, synth_echo]}", "listed twice");
  expect_error("data: {tasks: []}", "data.tasks must name at least one task");
  expect_error("data: {input_loss_weight: 1.5}", "data.input_loss_weight must be in [0, 1]");
  expect_error("data: {source: hdf5}", "data.source");
  expect_error("data: {tokenizer: sentencepiece-nope}", "data.tokenizer");
  expect_error("data: {tasks: [synth_echo], mixture: {weights: {synth_refusal: 1}}}",
               "data.mixture.weights: task 'synth_refusal' is not in data.tasks");
  expect_error("data: {mixture: {weights: {synth_echo: -1}}}", "data.mixture.weights.synth_echo");
  expect_error("train: {steps: 10}\nschedule: {warmup_steps: 20}", "schedule.warmup_steps (20)");
#ifndef FLAME_WITH_CUDA
  expect_error("train: {device: cuda}", "built without the CUDA backend");
#else
  EXPECT_EQ(parse("train: {device: cuda}").train.device, "cuda");
#endif
  expect_error("train: {device: tpu}", "train.device expects cpu|cuda (got 'tpu')");
  expect_error("train: {threads: -1}", "train.threads");
  expect_error("name: a/b", "name must be a plain directory name");
  expect_error("model: {n_head: 3}", "model.n_head");
  expect_error("model: {vocab_size: 100}", "model.vocab_size (100)");
}

TEST(Config, Overrides) {
  const RunConfig c = parse("train: {steps: 10}\nschedule: {warmup_steps: 2}",
                            {"train.steps=30", "data.mixture.cap=10", "model.d_model=64",
                             "model.n_head=2", "model.n_kv_head=2", "data.tasks=[synth_echo, synth_refusal]",
                             "optim.lr=1e-3", "name=over", "data.mixture.weights.synth_echo=3"});
  EXPECT_EQ(c.train.steps, 30);
  EXPECT_EQ(c.data.mixture.cap, 10);
  EXPECT_EQ(c.model.cfg.d_model, 64);
  EXPECT_EQ(c.model.cfg.n_head, 2);
  ASSERT_EQ(c.data.tasks.size(), 2u);
  EXPECT_EQ(c.data.tasks[1], "synth_refusal");
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-3);
  EXPECT_EQ(c.name, "over");
  EXPECT_DOUBLE_EQ(c.data.mixture.weights.at("synth_echo"), 3.0);

  expect_error("{}", "unknown key 'optim.lrr'", {"optim.lrr=0.1"});
  expect_error("{}", "unknown key 'model.nope'", {"model.nope=1"});
  expect_error("{}", "unknown key 'bogus'", {"bogus.x=1"});
  expect_error("{}", "optim.lr expects a number (got 'abc')", {"optim.lr=abc"});
  expect_error("{}", "train.steps must be > 0 (got -5)", {"train.steps=-5"});
  expect_error("{}", "expected section.key=value", {"train.steps"});
  expect_error("{}", "empty key", {"train..steps=3"});
  expect_error("name: x", "'name' is not a section", {"name.x=1"});
  expect_error("{}", "name expects a string (got a map)", {"name.x=1"});
}

TEST(Config, ResolvedYamlRoundTrips) {
  const RunConfig a = parse("name: rt\nmodel: {n_layer: 3}\noptim: {lr: 0.003}",
                            {"data.mixture.weights.synth_echo=2.5"});
  const YAML::Node y = flame::train::to_yaml(a);
  const RunConfig b = flame::train::parse_config(YAML::Load(YAML::Dump(y)), FLAME_SOURCE_DIR);
  EXPECT_EQ(b.name, "rt");
  EXPECT_EQ(b.model.cfg.n_layer, 3);
  EXPECT_EQ(b.model.cfg.vocab_size, 258);
  EXPECT_EQ(b.data.tasks, a.data.tasks);
  EXPECT_DOUBLE_EQ(b.optim.lr, 0.003);
  EXPECT_DOUBLE_EQ(b.optim.eps, a.optim.eps);
  EXPECT_EQ(b.data.mixture.weights, a.data.mixture.weights);
  EXPECT_EQ(b.train.steps, a.train.steps);
}

TEST(Config, MissingFileAndBadYaml) {
  try {
    flame::train::load_config("/no/such/run.yaml");
    ADD_FAILURE();
  } catch (const flame::Error& e) {
    EXPECT_STREQ(e.what(), "config file not found: /no/such/run.yaml");
  }
  const fs::path p = fs::temp_directory_path() / "flame_test_bad.yaml";
  std::ofstream(p) << "train: {steps: [1, \n";
  try {
    flame::train::load_config(p.string());
    ADD_FAILURE();
  } catch (const flame::Error& e) {
    EXPECT_NE(std::string(e.what()).find("config error: " + p.string() + ":"), std::string::npos)
        << e.what();
  }
  fs::remove(p);
}
