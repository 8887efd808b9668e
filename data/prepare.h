// `flame prepare <data config>`: raw datasets -> converters -> train/dev split -> tokenizer
// (trained on the rendered corpus, or loaded) -> context truncation -> one HDF5 shard per task.
//
// Data config (configs/data/*.yaml): its keys are the fields() tables of PrepareConfig and
// TokenizerPrep (data/prepare.cpp; listed in docs/config_keys.md).
// Output in out_dir: <task>.h5 per task, tokenizer.model (SentencePiece), prepare_report.json.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/config_fields.h"
#include "data/convert.h"
#include "data/fit.h"
#include "data/sp_tokenizer.h"
#include "data/tokenizer.h"

namespace flame::data {

struct TokenizerPrep {
  std::string model;           // "byte", "word" or an existing .model; empty: train SentencePiece
  SpTrainOptions train;        // used when model is empty
  long sample_examples = 4000;   // rendered train examples (spread over tasks) fed to training
  static const config::Fields<TokenizerPrep>& fields();
};

struct PrepareConfig {
  std::string name = "data";          // name of this prepared collection
  std::string raw_dir;                // root of the raw datasets (card `files` are under it)
  std::string tasks_dir = "configs/tasks";  // task cards, searched recursively
  std::vector<std::string> tasks{"all"};    // card names; "all": every card whose inputs
                                            // exist (files under raw_dir, or synthetic)
  std::vector<std::string> exclude;         // with "all": names, or prefixes ending in '*' 
  std::string out_dir;                // shards, tokenizer.model, prepare_report.json
  TokenizerPrep tokenizer;            // which tokenizer the shards are made with
  int max_tokens = 512;               // longest example (= training seq_len); context cut to fit
  double dev_fraction = 0.1;          // share of each task's groups held out for dev
  int max_dev_examples = 200;         // at most this many dev examples per task
  double max_bad_fraction = 0.05;     // a task with more malformed records than this fails
  bool both_orders = true;            // pairwise train examples in both presentation orders
                                      // (a card option both_orders overrides it)
  int threads = 0;                    // OpenMP threads; 0 = all cores
  uint64_t seed = 1234;               // split hashing
  static const config::Fields<PrepareConfig>& fields();
};

// YAML -> config (unknown keys and wrong types rejected; relative paths are taken from the
// working directory), validate, then check that tasks_dir exists. Throws
// flame::Error("data config error: ...").
PrepareConfig parse_prepare_config(const YAML::Node& root);
// Every key's own check and the required out_dir; reads no file.
void validate_prepare_config(const PrepareConfig& c);
// The config as YAML, every key (parse_prepare_config reads it back unchanged).
YAML::Node to_yaml(const PrepareConfig& c);

// Every task card under dir (recursively, *.yaml), sorted by name; a bad card or two cards with
// one name throw flame::Error naming the files.
std::vector<TaskCard> load_task_cards(const std::string& dir);

// Converts the configured tasks and renders a sample of their train examples (input + target):
// the corpus `flame tokenizer train --data` trains on.
std::vector<std::string> rendered_corpus(const PrepareConfig& cfg, std::ostream& log);

// Runs the whole preparation; logs progress to `log`; returns the report (also written to
// out_dir/prepare_report.json). Throws flame::Error when a task exceeds max_bad_fraction.
nlohmann::json prepare(const PrepareConfig& cfg, std::ostream& log);

}  // namespace flame::data
