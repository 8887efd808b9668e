// `flame data stats <shards>`: what a prepared collection holds, per task: examples (train/dev),
// token length p50/p95/max, label distribution, the mixture rate the trainer would use, and the
// preparation counts (malformed, skipped, truncated, dropped).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flame::data {

// A shard file, or every *.h5 in a directory (sorted). Throws flame::Error when there is none.
std::vector<std::string> find_shards(const std::string& dir_or_file);

// Reads and validates every shard (they must share one tokenizer) and summarises them. The
// mixture rate is examples-proportional over train sizes with `cap` and `temperature`.
nlohmann::json shard_stats(const std::vector<std::string>& shards, long cap, double temperature);

// The same as a fixed-width text table.
std::string stats_table(const nlohmann::json& stats);

}  // namespace flame::data
