// HDF5 token shards: one file per task, written by `flame prepare`, read by the trainer and
// `flame data stats`.
//
// Layout of <task>.h5 (format version 1):
//   attributes  format_version (int), tokenizer (fingerprint), task, card (the task card as
//               YAML), source, report (JSON: records, bad, skipped, truncated, dropped, bytes)
//   /train, /dev   tokens          int32 (N_tok)   every example: BOS + input + target + EOS
//                  example_offsets int64 (n+1)     example i = tokens[off[i], off[i+1])
//                  target_offsets  int64 (n)       absolute index where example i's target starts
//                  labels          int32 (n)       index into card.labels (-1: generative)
//   /dev/examples_json  uint8           the dev examples as JSON (the scorer needs their fields)
// read_shard checks everything it relies on and refuses a truncated, corrupt, wrong-version or
// other-tokenizer shard with a message saying which and why.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/packer.h"
#include "data/task.h"

namespace flame::data {

constexpr int kShardFormatVersion = 1;

struct ShardSplit {
  std::vector<int32_t> tokens;           // (N_tok) concatenated examples
  std::vector<int64_t> example_offsets{0};  // (n+1)
  std::vector<int64_t> target_offsets;   // (n)
  std::vector<int32_t> labels;           // (n)
  size_t size() const { return target_offsets.size(); }
  void add(const TokenizedExample& ex, int label);
  TokenizedExample example(size_t i, int task = 0) const;
  long length(size_t i) const { return long(example_offsets[i + 1] - example_offsets[i]); }
};

struct PrepareCounts {
  long records = 0;                     // source records read
  long bad = 0;                         // malformed records skipped
  std::map<std::string, long> skipped;  // dropped on purpose, by reason
  long truncated = 0;                   // examples whose context was cut to fit max_tokens
  long dropped = 0;                     // examples that could not fit even with an empty context
  size_t bytes = 0;                     // raw bytes read
};

struct TaskShard {
  TaskCard card;
  std::string tokenizer;               // Tokenizer::fingerprint()
  std::string source;                  // raw files it came from
  PrepareCounts counts;
  ShardSplit train, dev;
  std::vector<Example> dev_examples;   // (n_dev), same order as dev
};

// Writes atomically (a temporary file renamed into place): a killed run never leaves a
// half-written shard under the final name.
void write_shard(const std::string& path, const TaskShard& shard);

// Reads and validates a shard. expect_tokenizer: when non-empty, the shard must have been made
// with that tokenizer fingerprint. Throws flame::Error("shard <path>: <what and why>").
TaskShard read_shard(const std::string& path, const std::string& expect_tokenizer = "");

// Example <-> JSON (used for the dev examples and by `flame judge`-style inputs).
std::string examples_to_json(const std::vector<Example>& exs);
std::vector<Example> examples_from_json(const std::string& json);

}  // namespace flame::data
