// core/config_fields.h through the five readers: nearest-key suggestions, wrong types naming
// their key, to_yaml -> parse == original for each config struct, and the generated key
// reference docs/config_keys.md kept in step with the tables.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/error_of.h"
#include "core/config_fields.h"
#include "data/prepare.h"
#include "data/synthetic.h"
#include "data/task.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "train/config.h"
#include "train/config_docs.h"
#include "train/eval_suite.h"

namespace {

const std::string kRepo = FLAME_SOURCE_DIR;

using flame_test::error_of;

std::string run_error(const std::string& yaml) {
  return error_of([&] { flame::train::parse_config(YAML::Load(yaml), kRepo); });
}
std::string prepare_error(const std::string& yaml) {
  return error_of([&] { flame::data::parse_prepare_config(YAML::Load(yaml)); });
}
std::string suite_error(const std::string& yaml) {
  return error_of([&] { flame::train::parse_eval_suite(YAML::Load(yaml), "s.yaml", kRepo); });
}

const char* kCard = R"(name: my_task
source: https://example.org/data
license: MIT
category: quality
type: pairwise
title: "Which response is better?"
description: "Pick A or B."
input_fields: [prompt, reply_a, reply_b]
output_fields: [verdict]
labels: [A, B]
pair_fields: [reply_a, reply_b]
)";

}  // namespace

TEST(ConfigFields, EditDistanceAndNearest) {
  using flame::config::edit_distance;
  using flame::config::nearest;
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("lr", "lr"), 0u);
  EXPECT_EQ(nearest("lrr", {"lr", "eps", "beta1"}), "lr");
  EXPECT_EQ(nearest("stpes", {"steps", "batch_size"}), "steps");
  EXPECT_EQ(nearest("bogus", {"lr", "eps"}), "");  // nothing close: no guess
}

TEST(ConfigFields, UnknownKeysNameTheNearestKey) {
  EXPECT_NE(run_error("optim: {lrr: 0.1}").find("unknown key 'optim.lrr' (did you mean 'optim.lr'?)"),
            std::string::npos);
  EXPECT_NE(run_error("data: {mixture: {temprature: 2}}")
                .find("did you mean 'data.mixture.temperature'?"),
            std::string::npos);
  EXPECT_NE(run_error("model: {n_layers: 2}").find("did you mean 'model.n_layer'?"),
            std::string::npos);
  EXPECT_NE(run_error("model: {presett: tiny}").find("did you mean 'model.preset'?"),
            std::string::npos);
  EXPECT_NE(run_error("trian: {steps: 3}").find("did you mean 'train'?"), std::string::npos);
  EXPECT_EQ(run_error("bogus: 1"), "config error: unknown key 'bogus'");
  EXPECT_NE(error_of([] { flame::model::load_model_config(YAML::Load("qkvbias: true")); })
                .find("did you mean 'model.qkv_bias'?"),
            std::string::npos);
  EXPECT_NE(prepare_error("out_dir: x\ntokenizer: {vocab_sise: 5}")
                .find("unknown key 'tokenizer.vocab_sise' (did you mean 'tokenizer.vocab_size'?)"),
            std::string::npos);
  EXPECT_NE(error_of([] { flame::data::parse_task_card(std::string(kCard) + "titel: x\n"); })
                .find("unknown field 'titel' (did you mean 'title'?)"),
            std::string::npos);
  EXPECT_NE(suite_error("name: x\nsorces: []").find("sorces: unknown key (did you mean 'sources'?)"),
            std::string::npos);
  EXPECT_NE(suite_error("name: x\nsources: [{task: synth_echo, exampels: 3}]")
                .find("sources[0].exampels: unknown key (did you mean 'sources[0].examples'?)"),
            std::string::npos);
}

TEST(ConfigFields, WrongTypesNameTheirKey) {
  EXPECT_NE(run_error("data: {mixture: {temperature: hot}}")
                .find("data.mixture.temperature expects a number (got 'hot')"),
            std::string::npos);
  EXPECT_NE(run_error("data: {mixture: {weights: {synth_echo: lots}}}")
                .find("data.mixture.weights.synth_echo expects a number (got 'lots')"),
            std::string::npos);
  EXPECT_NE(run_error("seed: -1").find("seed expects a non-negative integer (got '-1')"),
            std::string::npos);
  EXPECT_NE(run_error("model: {tie_embeddings: sometimes}")
                .find("model.tie_embeddings expects a boolean (got 'sometimes')"),
            std::string::npos);
  EXPECT_NE(prepare_error("out_dir: x\ntokenizer: {vocab_size: many}")
                .find("tokenizer.vocab_size has the wrong type"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              flame::data::parse_task_card(std::string(kCard) + "flipped_labels: maybe\n");
            }).find("flipped_labels must be a boolean (got 'maybe')"),
            std::string::npos);
  EXPECT_NE(suite_error("name: x\nsources: [{task: synth_echo, seed: [1]}]")
                .find("sources[0].seed: must be a non-negative integer (got a list)"),
            std::string::npos);
}

TEST(ConfigFields, RunConfigRoundTrips) {
  YAML::Node root = YAML::Load(
      "name: rt\nseed: 9\nmodel: {n_layer: 3, norm: rmsnorm}\n"
      "data: {tasks: [synth_echo, synth_refusal], mixture: {temperature: 2.5, weights: {synth_echo: 0.5}}}\n"
      "optim: {lr: 0.003, grad_clip: 0.25}\nschedule: {decay: linear}\n"
      "train: {steps: 80, keep_every: 5, resume: never}\neval: {max_examples: 7}");
  const auto a = flame::train::parse_config(root, kRepo);
  const YAML::Node y = flame::train::to_yaml(a);
  const auto b = flame::train::parse_config(YAML::Load(YAML::Dump(y)), kRepo);
  EXPECT_EQ(YAML::Dump(flame::train::to_yaml(b)), YAML::Dump(y));
  EXPECT_EQ(b.model.cfg.norm, flame::model::Norm::rmsnorm);
  EXPECT_EQ(b.schedule.decay, flame::train::Decay::linear);
  EXPECT_DOUBLE_EQ(b.data.mixture.temperature, 2.5);
  EXPECT_EQ(b.train.resume, "never");
  EXPECT_EQ(b.seed, 9u);
}

TEST(ConfigFields, ModelConfigRoundTrips) {
  flame::model::ModelConfig c;
  c.n_layer = 2, c.n_kv_head = 2, c.pos = flame::model::PosEmb::rope;
  c.mlp = flame::model::Mlp::swiglu, c.rope_theta = 500000.f, c.norm_eps = 1e-6f, c.bias = false;
  const auto r = flame::model::load_model_config(YAML::Load(YAML::Dump(flame::model::to_yaml(c))));
  EXPECT_EQ(YAML::Dump(flame::model::to_yaml(r)), YAML::Dump(flame::model::to_yaml(c)));
  EXPECT_EQ(r.pos, c.pos);
  EXPECT_EQ(r.norm_eps, c.norm_eps);
}

TEST(ConfigFields, PrepareConfigRoundTrips) {
  flame::data::PrepareConfig c;
  c.name = "mine", c.out_dir = "/tmp/x", c.tasks_dir = kRepo + "/configs/tasks";
  c.tasks = {"a", "b"}, c.exclude = {"c*"}, c.max_tokens = 300, c.dev_fraction = 0.25;
  c.both_orders = false, c.seed = 77, c.tokenizer.model = "byte";
  c.tokenizer.train.vocab_size = 1000, c.tokenizer.train.character_coverage = 0.99;
  const YAML::Node y = flame::data::to_yaml(c);
  const auto r = flame::data::parse_prepare_config(YAML::Load(YAML::Dump(y)));
  EXPECT_EQ(YAML::Dump(flame::data::to_yaml(r)), YAML::Dump(y));
  EXPECT_EQ(r.tokenizer.train.vocab_size, 1000);
  EXPECT_EQ(r.exclude, c.exclude);
  EXPECT_FALSE(r.both_orders);
}

TEST(ConfigFields, TaskCardsRoundTrip) {
  for (const auto& card : flame::data::synthetic_cards())
    EXPECT_EQ(flame::data::parse_task_card(flame::data::task_card_yaml(card)), card) << card.name;
  flame::data::TaskCard c = flame::data::parse_task_card(kCard);
  c.options = {{"split_key", "prompt"}}, c.flipped_labels = true, c.converter = "jsonl";
  c.labels = {"A", "B", "Tie"};
  EXPECT_EQ(flame::data::parse_task_card(flame::data::task_card_yaml(c)), c);
}

TEST(ConfigFields, EvalSuiteKeysRoundTrip) {
  const YAML::Node root = flame::load_yaml_file(kRepo + "/configs/eval/example.yaml", "");
  flame::train::SuiteKeys a;
  flame::config::read_fields(root, a, {});
  ASSERT_FALSE(a.sources.empty());
  const YAML::Node y = flame::config::to_yaml(a);
  flame::train::SuiteKeys b;
  flame::config::read_fields(YAML::Load(YAML::Dump(y)), b, {});
  EXPECT_EQ(YAML::Dump(flame::config::to_yaml(b)), YAML::Dump(y));
  EXPECT_EQ(b.sources.size(), a.sources.size());
  EXPECT_EQ(b.sources[0].examples, a.sources[0].examples);
}

// Fails when docs/config_keys.md is not what the tables generate; FLAME_UPDATE_DOCS=1 rewrites it.
TEST(ConfigDocs, KeyReferenceIsUpToDate) {
  const std::string want = flame::train::config_keys_markdown();
  const std::string path = kRepo + "/docs/config_keys.md";
  if (std::getenv("FLAME_UPDATE_DOCS")) std::ofstream(path) << want;
  std::ifstream f(path);
  std::stringstream have;
  have << f.rdbuf();
  EXPECT_TRUE(have.str() == want)
      << path << " is stale: regenerate it with FLAME_UPDATE_DOCS=1 build/test_train "
                 "--gtest_filter=ConfigDocs.*";
  // Every reader's keys are in it.
  for (const char* key : {"`optim.grad_clip`", "`data.mixture.weights`", "`model.n_kv_head`",
                          "`schedule.decay`", "`tokenizer.vocab_size`", "`pair_fields`",
                          "`sources[i].jsonl`"})
    EXPECT_NE(want.find(key), std::string::npos) << key;
}
