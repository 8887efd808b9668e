// The run configuration: one YAML file per run (DESIGN.md "How a user drives it"), overridable
// key by key from the command line as `section.key=value`.
//
// Every key is declared ONCE, in its section's fields() table (train/config.cpp, with
// core/config_fields.h): key, member, doc line, default (the member initialiser) and range. A bad
// config fails before any work starts with a one-line message that names the key, e.g.
//   config error: train.steps must be > 0 (got -5)
//   config error: unknown key 'optim.lrr' (did you mean 'optim.lr'?)
// The key reference docs/config_keys.md is generated from the same tables.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/config_fields.h"
#include "model/config.h"

namespace flame::train {

struct ModelSection {
  std::string preset = "tiny";  // configs/models/<preset>.yaml, or a path to a model YAML
  std::string preset_path;      // the file the preset resolved to (filled by parse_config)
  std::string init_from;        // a checkpoint whose architecture and weights the run starts
                                // from (FLAMe-RM); model keys given here must agree with it
  model::ModelConfig cfg;       // preset + the keys overridden in the run's model section
  static const config::Fields<ModelSection>& fields();
};

struct MixtureConfig {
  long cap = 65536;                       // examples-proportional cap per task (paper: 2^16)
  double temperature = 1.0;               // rates ~ weight^(1/T); > 1 flattens toward uniform
  std::map<std::string, double> weights;  // explicit weights; when non-empty every task is
                                          // sampled by weight (unlisted tasks weigh 1.0)
  static const config::Fields<MixtureConfig>& fields();
};

struct DataConfig {
  std::string source = "synthetic";  // synthetic (embedded generator) | shards (flame prepare)
  std::string shards;                // source shards: the directory flame prepare wrote
  std::string tokenizer = "byte";    // data::make_tokenizer kind; with shards, "auto" (default)
                                     // takes the shards' own tokenizer
  std::vector<std::string> tasks{"all"};  // task names; "all" = every non-flipped synthetic task,
                                          // or every shard in data.shards
  int train_examples = 4000;         // synthetic: generated training examples per task
  int dev_examples = 200;            // synthetic: generated dev examples per task
  int seq_len = 256;                 // packed row length (<= model.max_seq_len)
  double input_loss_weight = 0.0;    // loss weight of prompt tokens (0: targets only, as FLAMe)
  MixtureConfig mixture;             // how tasks are mixed
  static const config::Fields<DataConfig>& fields();
};

struct OptimConfig {
  double lr = 3e-3;            // peak learning rate (AdamW)
  double min_lr_ratio = 0.1;   // final lr = lr * min_lr_ratio (decaying schedules)
  double weight_decay = 0.1;   // decoupled decay on matrices (0 on norms/biases)
  double beta1 = 0.9;          // first-moment decay
  double beta2 = 0.95;         // second-moment decay
  double eps = 1e-8;           // AdamW denominator epsilon
  double grad_clip = 1.0;      // global grad-norm clip; 0 disables
  static const config::Fields<OptimConfig>& fields();
};

enum class Decay { cosine, linear, constant };
const config::Choices<Decay>& choices(Decay);

struct ScheduleConfig {
  int warmup_steps = 50;         // linear warmup from 0 to lr
  Decay decay = Decay::cosine;   // shape after warmup, down to lr * min_lr_ratio
  static const config::Fields<ScheduleConfig>& fields();
};

struct TrainConfig {
  int steps = 500;               // optimizer steps
  int batch_size = 16;           // packed rows per optimizer step (global)
  int micro_batch_size = 8;      // rows per forward/backward (batch_size / micro = accumulation)
  int log_interval = 10;         // steps between progress lines / metrics records
  int eval_interval = 250;       // steps between dev evaluations (0: only at the end)
  std::string device = "cpu";    // cpu | cuda (cuda needs a FLAME_WITH_CUDA build)
  std::string out_dir = "runs";  // run dir = <out_dir>/<name>/
  int threads = 0;               // OpenMP threads; 0 = all cores
  int ckpt_interval = 0;         // steps between checkpoints; 0: only at the end; -1: never
  int keep_last = 3;             // checkpoints kept: the newest keep_last ...
  int keep_every = 0;            // ... and every keep_every-th step (0: none)
  std::string resume = "auto";   // auto: continue from <run dir>/ckpt/latest when it exists;
                                 // never: start over (deletes the run's old checkpoints);
                                 // or a checkpoint path
  int grad_accum() const { return batch_size / micro_batch_size; }
  static const config::Fields<TrainConfig>& fields();
};

struct EvalConfig {
  int max_examples = 200;  // dev examples per task scored at each evaluation
  std::string suite;       // an eval suite (configs/eval/*.yaml) also run at each evaluation
  static const config::Fields<EvalConfig>& fields();
};

struct RunConfig {
  std::string name = "run";  // run name -> <train.out_dir>/<name>/
  uint64_t seed = 1234;      // seeds data generation, mixture and weight init
  ModelSection model;
  DataConfig data;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainConfig train;
  EvalConfig eval;
  static const config::Fields<RunConfig>& fields();
};

// Applies one `a.b.c=value` override to the YAML tree (creating missing maps); the value is
// parsed as YAML, so `data.tasks=[a,b]` and `optim.lr=1e-3` work. Throws flame::Error on a
// malformed override; unknown keys are caught by parse_config like any other key.
void apply_override(YAML::Node& root, const std::string& override_kv);

// Tree -> RunConfig in three steps, each run once: read the keys (unknown keys and wrong types
// rejected; no file is touched), resolve(), validate(). Throws flame::Error("config error: ...").
RunConfig parse_config(const YAML::Node& root, const std::string& base_dir);

// Everything that reads files: the model preset (relative paths are searched from base_dir
// upwards, then from the working directory upwards) or init_from checkpoint, with the keys of the
// run's model section (root["model"]) on top; data.shards and its tokenizer ("auto"); data.tasks
// "all"; the tokenizer's vocabulary (model.vocab_size 0 takes it); and that eval.suite loads.
void resolve(RunConfig& c, const YAML::Node& root, const std::string& base_dir);

// File + overrides -> RunConfig. Throws flame::Error("config file not found: <path>") when the
// file is missing.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Every key's own check (the fields() tables) and the cross-field checks of a resolved config;
// reads no file.
void validate(const RunConfig& c);

// The resolved config (model fully expanded, tasks listed), written as <run dir>/config.yaml.
YAML::Node to_yaml(const RunConfig& c);

const char* name(Decay d);

}  // namespace flame::train
