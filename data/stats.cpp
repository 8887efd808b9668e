// Shard statistics (stats.h).
#include "data/stats.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "data/mixture.h"
#include "data/shard.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace flame::data {

std::vector<std::string> find_shards(const std::string& p) {
  std::vector<std::string> out;
  if (fs::is_regular_file(p)) return {p};
  if (!fs::is_directory(p)) throw Error("no shard file or directory at " + p);
  for (const auto& e : fs::directory_iterator(p))
    if (e.is_regular_file() && e.path().extension() == ".h5") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  if (out.empty()) throw Error("no *.h5 shards in " + p + " (run flame prepare first)");
  return out;
}

namespace {

long percentile(std::vector<long> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

}  // namespace

nlohmann::json shard_stats(const std::vector<std::string>& shards, long cap, double temperature) {
  nlohmann::json tasks = nlohmann::json::array();
  std::vector<long> sizes;
  std::string tokenizer;
  long total_train = 0, total_dev = 0, total_tokens = 0;
  for (const auto& path : shards) {
    const TaskShard s = read_shard(path, tokenizer);
    tokenizer = s.tokenizer;  // every later shard must match the first
    std::vector<long> lens(s.train.size());
    for (size_t i = 0; i < lens.size(); ++i) lens[i] = s.train.length(i);
    auto label_shares = [&](const ShardSplit& sp) {
      nlohmann::json shares = nlohmann::json::object();
      if (s.card.type == TaskType::generative) return shares;
      std::vector<long> counts(s.card.labels.size(), 0);
      for (int32_t l : sp.labels) ++counts[size_t(l)];
      for (size_t k = 0; k < counts.size(); ++k)
        shares[s.card.labels[k]] = sp.size() ? double(counts[k]) / double(sp.size()) : 0.0;
      return shares;
    };
    const nlohmann::json labels = label_shares(s.train);
    sizes.push_back(long(s.train.size()));
    total_train += long(s.train.size());
    total_dev += long(s.dev.size());
    total_tokens += long(s.train.tokens.size());
    tasks.push_back({{"task", s.card.name},
                     {"type", task_type_name(s.card.type)},
                     {"category", s.card.category},
                     {"train", s.train.size()},
                     {"dev", s.dev.size()},
                     {"tokens", s.train.tokens.size()},
                     {"len_p50", percentile(lens, 0.5)},
                     {"len_p95", percentile(lens, 0.95)},
                     {"len_max", lens.empty() ? 0 : *std::max_element(lens.begin(), lens.end())},
                     {"labels", labels},
                     {"dev_labels", label_shares(s.dev)},
                     {"records", s.counts.records},
                     {"bad", s.counts.bad},
                     {"skipped", s.counts.skipped},
                     {"truncated", s.counts.truncated},
                     {"dropped", s.counts.dropped},
                     {"raw_bytes", s.counts.bytes}});
  }
  const MixtureSampler mix(sizes, {}, cap, 0, temperature);
  for (size_t i = 0; i < tasks.size(); ++i) tasks[i]["mixture_rate"] = mix.rates()[i];
  return {{"tokenizer", tokenizer}, {"tasks", tasks},         {"train_examples", total_train},
          {"dev_examples", total_dev}, {"train_tokens", total_tokens},
          {"mixture", {{"cap", cap}, {"temperature", temperature}}}};
}

std::string stats_table(const nlohmann::json& st) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-14s %-11s %7s %5s %6s %6s %6s %6s %5s %5s  %s\n",
                "task", "type", "category", "train", "dev", "p50", "p95", "max", "rate", "bad",
                "trunc", "labels (train share)");
  out += line;
  for (const auto& t : st["tasks"]) {
    std::string labels;
    for (const auto& [k, v] : t["labels"].items()) {
      char b[64];
      std::snprintf(b, sizeof b, "%s%s %.2f", labels.empty() ? "" : ", ", k.c_str(), v.get<double>());
      labels += b;
    }
    std::snprintf(line, sizeof line, "%-28s %-14s %-11s %7ld %5ld %6ld %6ld %6ld %6.3f %5ld %5ld  %s\n",
                  t["task"].get<std::string>().c_str(), t["type"].get<std::string>().c_str(),
                  t["category"].get<std::string>().c_str(), t["train"].get<long>(),
                  t["dev"].get<long>(), t["len_p50"].get<long>(), t["len_p95"].get<long>(),
                  t["len_max"].get<long>(), t["mixture_rate"].get<double>(), t["bad"].get<long>(),
                  t["truncated"].get<long>(), labels.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "%zu tasks, %ld train / %ld dev examples, %ld train tokens; tokenizer %s\n",
                st["tasks"].size(), st["train_examples"].get<long>(), st["dev_examples"].get<long>(),
                st["train_tokens"].get<long>(), st["tokenizer"].get<std::string>().c_str());
  out += line;
  return out;
}

}  // namespace flame::data
