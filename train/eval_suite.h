// Evaluation suites: a named list of item sources (tasks' dev splits, JSONL files) scored by one
// model and grouped RewardBench-style: accuracy per subset, a category is the example-weighted
// mean of its subsets, overall is the mean of the categories. Pairwise subsets also report
// position and length bias (train/metrics.h). `flame eval` and the trainer call run_suite;
// `flame judge` uses the JSONL item reader and score_examples. Suite YAML, JSONL schemas and
// the report are documented in docs/evaluation.md.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/config_fields.h"
#include "data/task.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "train/scoring_model.h"

namespace flame::train {

enum class SourceKind {
  synthetic,  // a synthetic task: its generated dev split
  shards,     // a prepared task: the dev split of <dir>/<task>.h5 (flame prepare)
  jsonl,      // a JSONL file rendered with a named card
};

struct SuiteSource {
  SourceKind kind = SourceKind::synthetic;
  std::string where;     // "sources[2]": how messages name it
  std::string task;      // synthetic, shards: the task's name
  std::string path;      // shards: the directory; jsonl: the file (both resolved)
  data::TaskCard card;   // synthetic, jsonl: resolved when the suite loads; shards: read from
                         // the shard when the suite runs
  int examples = 200;    // synthetic: dev examples generated
  uint64_t seed = 1;     // synthetic: generator seed (any seed gives dev-split examples)
  std::string subset;    // task sources: the subset (default: the task name); jsonl: the
                         // subset of lines that name none (default: the file's stem)
  std::string category;  // the category of items that name none (default: the card's)
};

// One entry of a suite file's sources, as written; absent keys stay unset so the loader can tell
// "not given" from a value, and resolves the entry into a SuiteSource.
struct SourceKeys {
  std::optional<std::string> task;      // a task: synthetic, or prepared when shards is given
  std::optional<std::string> jsonl;     // a JSONL file, rendered with `card`
  std::optional<std::string> card;      // jsonl: a card name or a path to a card YAML
  std::optional<std::string> shards;    // task: the directory flame prepare wrote
  std::optional<int> examples;          // synthetic: dev examples generated (SuiteSource default)
  std::optional<uint64_t> seed;         // synthetic: generator seed (SuiteSource default)
  std::optional<std::string> subset;    // the subset its items count in
  std::optional<std::string> category;  // the category of items that name none
  static const config::Fields<SourceKeys>& fields();
};

// A suite file as written (configs/eval/*.yaml).
struct SuiteKeys {
  std::string name;                         // the suite's name (required)
  std::string description;                  // one line for people
  std::string tasks_dir = "configs/tasks";  // where card names of jsonl sources are looked up
  std::vector<SourceKeys> sources;          // what is scored (required, non-empty)
  static const config::Fields<SuiteKeys>& fields();
};

struct EvalSuite {
  std::string name;
  std::string description;
  std::string path;  // the YAML it came from ("" when parsed from a node)
  std::vector<SuiteSource> sources;
};

// Reads and validates a suite. Relative paths (jsonl, shards, card paths, tasks_dir) are looked
// up from the suite file's directory and its parents, then from the working directory and its
// parents. Throws flame::Error("eval suite <path>: <key>: <why>").
EvalSuite load_eval_suite(const std::string& path);
EvalSuite parse_eval_suite(const YAML::Node& root, const std::string& origin,
                           const std::string& base_dir);

// A task card by reference: a path to a YAML card (it contains '/' or ends in .yaml/.yml), else
// a synthetic card's name, else the name of a card under tasks_dir (searched recursively; a
// relative tasks_dir is looked up from each of search_from and its parents). Throws
// flame::Error naming what was searched.
data::TaskCard find_task_card(const std::string& ref, const std::string& tasks_dir,
                              const std::vector<std::string>& search_from);

// One JSONL line turned into an example of `card` (schema in docs/evaluation.md).
struct JsonlItem {
  data::Example ex;       // inputs in the card's order; outputs: the label (card.labels[0]
                          // when the line has none)
  bool labelled = false;  // the line gave a label (chosen/rejected, label or score)
  std::string subset;     // "" when the line names none
  std::string category;   // "" when the line names none
  nlohmann::json id;      // the line's "id", null when absent
  long line = 0;          // 1-based line in its file (0: not from a file)
};

// Parses one record. chosen/rejected go to the card's first and second pair fields, or, with
// balance_pairs, to either by a hash of the two texts (so A and B are each correct about half the
// time). Throws flame::Error saying what is wrong with the record.
JsonlItem parse_jsonl_item(const nlohmann::json& rec, const data::TaskCard& card,
                           bool require_label, bool balance_pairs);

// The same for one line of text; invalid JSON throws flame::Error("invalid JSON: ...").
JsonlItem parse_jsonl_line(const std::string& line, const data::TaskCard& card, bool require_label,
                           bool balance_pairs);

struct JsonlRead {
  std::vector<JsonlItem> items;
  long lines = 0;                        // non-blank lines read
  long bad = 0;                          // lines skipped as malformed
  std::vector<std::string> bad_samples;  // "path:LINE: why", the first kMaxBadSamples
  static constexpr size_t kMaxBadSamples = 20;
};

// Every line of a JSONL file: malformed lines (bad JSON, missing or non-string field, unknown
// label) are counted and skipped; throws flame::Error when the file cannot be read, is empty, or
// no line is usable (quoting the first bad line).
JsonlRead read_jsonl_items(const std::string& path, const data::TaskCard& card, bool require_label,
                           bool balance_pairs);

// One scored example. Label-typed cards: probs over card.labels; pairwise: averaged over both
// presentation orders, with p_ab / p_ba the single-order probabilities (p_ba as presented, i.e.
// its A is the example's B). Generative cards are not scored here.
struct ExampleScore {
  std::vector<double> probs;
  std::vector<double> p_ab, p_ba;
};
std::vector<ExampleScore> score_examples(ScoringModel model, const data::Tokenizer& tok,
                                         const data::TaskCard& card,
                                         const std::vector<data::Example>& exs);

// Scores every source of the suite (at most max_examples items per subset; <= 0: all) and
// returns the report: {"suite", "n_items", "subsets", "categories", "overall", "pairwise",
// "sources", "wall_s"} (docs/evaluation.md).
nlohmann::json run_suite(ScoringModel model, const data::Tokenizer& tok, const EvalSuite& suite,
                         int max_examples);

// The report as a fixed-width table (per subset, per category, overall, pairwise biases).
std::string suite_table(const nlohmann::json& report);

}  // namespace flame::train
