// `flame prepare` (prepare.h). Tasks are independent, so conversion, splitting and tokenizing run
// one task per OpenMP thread; only the HDF5 writes are serial (the serial HDF5 library is not
// thread-safe).
#include "data/prepare.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>

#include "data/fit.h"
#include "data/render.h"
#include "core/rng.h"
#include "data/shard.h"
#include "data/tokenizer_dir.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace flame::data {

namespace {

const config::Ctx& prepare_ctx() {
  static const config::Ctx c = [] {
    config::Ctx c{config::Wording("data config error: "), ""};
    c.w.expects = " has the wrong type: expected ";
    return c;
  }();
  return c;
}

[[noreturn]] void config_error(const std::string& msg) { prepare_ctx().fail(msg); }

// exclude entries are names, or prefixes when they end in '*'.
bool excluded(const PrepareConfig& cfg, const std::string& name) {
  for (const auto& e : cfg.exclude) {
    if (!e.empty() && e.back() == '*' ? name.starts_with(e.substr(0, e.size() - 1)) : name == e)
      return true;
  }
  return false;
}

bool both_orders_for(const PrepareConfig& cfg, const TaskCard& card) {
  return card.type == TaskType::pairwise && option_bool(card, "both_orders", cfg.both_orders);
}

// The split is by group, so examples sharing a document or prompt never straddle train and dev.
// The group is the value of the card option split_key (an input field), else the first input.
std::string group_key(const TaskCard& card, const Example& ex) {
  const std::string key = option(card, "split_key", card.input_fields.front());
  for (const auto& [f, v] : ex.inputs)
    if (f == key) return v;
  throw Error("task " + card.name + ": split_key '" + key + "' is not an input field");
}

int label_index(const TaskCard& card, const Example& ex) {
  if (card.type == TaskType::generative) return -1;
  const auto it = std::find(card.labels.begin(), card.labels.end(), ex.label());
  FLAME_CHECK(it != card.labels.end(), "task " << card.name << ": label '" << ex.label() << "'");
  return int(it - card.labels.begin());
}

struct TaskWork {
  TaskCard card;
  ConvertReport report;
  std::vector<Example> train, dev;
  TaskShard shard;
  std::string error;  // a per-task failure (reported together after the parallel loop)
};

}  // namespace

const config::Fields<TokenizerPrep>& TokenizerPrep::fields() {
  using T = TokenizerPrep;
  using config::field;
  static const config::Fields<T> f = {
      field("model", &T::model,
            "byte, word or an existing SentencePiece .model; empty: train one on the corpus"),
      field<T, int>("vocab_size", [](T& t) -> int& { return t.train.vocab_size; },
                    "SentencePiece training: pieces, specials included"),
      field<T, std::string>("model_type", [](T& t) -> std::string& { return t.train.model_type; },
                            "SentencePiece training: unigram, bpe, char or word"),
      field<T, double>("character_coverage",
                       [](T& t) -> double& { return t.train.character_coverage; },
                       "SentencePiece training: share of characters covered by pieces"),
      field<T, long>("max_sentences", [](T& t) -> long& { return t.train.max_sentences; },
                     "SentencePiece training: lines sampled from the corpus"),
      field("sample_examples", &T::sample_examples,
            "rendered train examples (spread over tasks) the tokenizer is trained on")
          .check(config::above(0)),
  };
  return f;
}

const config::Fields<PrepareConfig>& PrepareConfig::fields() {
  using P = PrepareConfig;
  using config::field;
  static const config::Fields<P> f = {
      field("name", &P::name, "name of this prepared collection"),
      field("raw_dir", &P::raw_dir, "root of the raw datasets (card files are under it)"),
      field("tasks_dir", &P::tasks_dir, "task cards, searched recursively"),
      field("tasks", &P::tasks,
            "card names; all: every card whose inputs exist (files under raw_dir, or synthetic)"),
      field("exclude", &P::exclude, "with tasks: all, names or prefixes ending in '*' left out"),
      field("out_dir", &P::out_dir, "shards, tokenizer.model, prepare_report.json (required)"),
      field("tokenizer", &P::tokenizer, "which tokenizer the shards are made with"),
      field("max_tokens", &P::max_tokens, "longest example (= training seq_len); context cut to fit")
          .check(config::at_least(16)),
      field("dev_fraction", &P::dev_fraction, "share of each task's groups held out for dev")
          .check(config::within(0, 1, true)),
      field("max_dev_examples", &P::max_dev_examples, "at most this many dev examples per task")
          .check(config::at_least(0)),
      field("max_bad_fraction", &P::max_bad_fraction,
            "a task with more malformed records than this fails")
          .check(config::within(0, 1)),
      field("both_orders", &P::both_orders,
            "pairwise train examples in both presentation orders (a card option overrides it)"),
      field("threads", &P::threads, "OpenMP threads; 0 = all cores").check(config::at_least(0)),
      field("seed", &P::seed, "split hashing"),
  };
  return f;
}

PrepareConfig parse_prepare_config(const YAML::Node& root) {
  PrepareConfig c;
  if (!root.IsMap()) config_error("the file must be a mapping");
  config::read_fields(root, c, prepare_ctx());
  validate_prepare_config(c);
  if (!fs::is_directory(c.tasks_dir)) config_error("tasks_dir not found: " + c.tasks_dir);
  return c;
}

void validate_prepare_config(const PrepareConfig& c) {
  if (c.out_dir.empty()) config_error("out_dir is required");
  if (c.tasks.empty()) config_error("tasks is empty");
  config::check_fields(c, prepare_ctx());
}

YAML::Node to_yaml(const PrepareConfig& c) { return config::to_yaml(c); }

std::vector<TaskCard> load_task_cards(const std::string& dir) {
  std::map<std::string, std::pair<TaskCard, std::string>> by_name;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".yaml") continue;
    TaskCard c = load_task_card(e.path().string());
    const auto [it, fresh] = by_name.emplace(c.name, std::make_pair(c, e.path().string()));
    if (!fresh)
      throw Error("two task cards are named " + c.name + ": " + it->second.second + " and " +
                  e.path().string());
  }
  std::vector<TaskCard> out;
  for (auto& [n, cp] : by_name) out.push_back(std::move(cp.first));
  return out;
}

namespace {

// Steps 1-2 of prepare: choose the tasks, convert and split them (one task per thread).
std::vector<TaskWork> convert_and_split(const PrepareConfig& cfg, std::ostream& log,
                                        std::vector<std::string>& unavailable) {
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  // 1. Which tasks.
  const auto cards = load_task_cards(cfg.tasks_dir);
  std::vector<TaskWork> work;
  const bool all = cfg.tasks.size() == 1 && cfg.tasks[0] == "all";
  const ConvertInput in{cfg.raw_dir};
  for (const auto& c : cards) {
    if (!all && std::find(cfg.tasks.begin(), cfg.tasks.end(), c.name) == cfg.tasks.end()) continue;
    if (all) {
      if (excluded(cfg, c.name)) continue;
      if (c.converter != "synthetic") try {
        in.files(c);
      } catch (const Error&) {
        unavailable.push_back(c.name);
        continue;
      }
    }
    work.push_back(TaskWork{c, {}, {}, {}, {}, {}});
  }
  if (!all)
    for (const auto& t : cfg.tasks)
      if (std::none_of(work.begin(), work.end(), [&](const TaskWork& w) { return w.card.name == t; }))
        throw Error("no task card named " + t + " under " + cfg.tasks_dir);
  FLAME_CHECK(!work.empty(), "no task to prepare (tasks_dir " << cfg.tasks_dir << ", raw_dir "
                                                              << cfg.raw_dir << ")");
  log << "prepare: " << work.size() << " tasks";
  if (!unavailable.empty()) log << " (" << unavailable.size() << " cards without raw files skipped)";
  log << std::endl;

  // 2. Convert and split, one task per thread.
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < work.size(); ++i) {
    TaskWork& w = work[i];
    try {
      std::vector<Example> exs;
      w.report = convert(w.card, in, exs);
      std::vector<std::pair<uint64_t, size_t>> dev_candidates;
      std::vector<bool> is_dev(exs.size(), false);
      for (size_t k = 0; k < exs.size(); ++k) {
        const uint64_t h = hash_combine(cfg.seed, hash_str(group_key(w.card, exs[k])));
        if (double(h >> 11) * 0x1.0p-53 < cfg.dev_fraction) dev_candidates.push_back({h, k});
      }
      // Keep whole groups: the dev set is the lowest-hash groups up to max_dev_examples.
      std::sort(dev_candidates.begin(), dev_candidates.end());
      size_t taken = 0;
      for (size_t j = 0; j < dev_candidates.size(); ++j) {
        const bool same_group = j > 0 && dev_candidates[j].first == dev_candidates[j - 1].first;
        if (!same_group && taken >= size_t(cfg.max_dev_examples)) break;
        is_dev[dev_candidates[j].second] = true;
        ++taken;
      }
      for (size_t k = 0; k < exs.size(); ++k) {
        if (is_dev[k]) {
          w.dev.push_back(std::move(exs[k]));
        } else {
          if (both_orders_for(cfg, w.card)) w.train.push_back(swap_pair(w.card, exs[k]));
          w.train.push_back(std::move(exs[k]));
        }
      }
    } catch (const std::exception& e) {
      w.error = e.what();
    }
  }
  std::string failures;
  for (const auto& w : work) {
    const auto& r = w.report;
    if (!w.error.empty()) failures += "\n  " + w.card.name + ": " + w.error;
    else if (r.bad_fraction() > cfg.max_bad_fraction)
      failures += "\n  " + w.card.name + ": " + std::to_string(r.bad) + " of " +
                  std::to_string(r.records) + " records malformed (max_bad_fraction " +
                  std::to_string(cfg.max_bad_fraction) + "), first: " +
                  (r.bad_samples.empty() ? "" : r.bad_samples.front());
    if (r.bad > 0) {
      log << "prepare: " << w.card.name << ": " << r.bad << " malformed records skipped";
      for (size_t k = 0; k < std::min<size_t>(3, r.bad_samples.size()); ++k)
        log << "\n    " << r.bad_samples[k];
      log << std::endl;
    }
  }
  if (!failures.empty()) throw Error("prepare failed for:" + failures);
  return work;
}

// A sample of rendered train examples (input + target), spread evenly over the tasks.
std::vector<std::string> sample_corpus(const std::vector<TaskWork>& work, long n) {
  std::vector<std::string> corpus;
  const long per_task = std::max<long>(1, n / long(work.size()));
  for (const auto& w : work) {
    const size_t stride = std::max<size_t>(1, w.train.size() / size_t(per_task));
    for (size_t k = 0; k < w.train.size(); k += stride) {
      const auto r = render(w.card, w.train[k]);
      corpus.push_back(r.input + r.target);
    }
  }
  return corpus;
}

}  // namespace

std::vector<std::string> rendered_corpus(const PrepareConfig& cfg, std::ostream& log) {
  std::vector<std::string> unavailable;
  return sample_corpus(convert_and_split(cfg, log, unavailable), cfg.tokenizer.sample_examples);
}

nlohmann::json prepare(const PrepareConfig& cfg, std::ostream& log) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  fs::create_directories(cfg.out_dir);
  std::vector<std::string> unavailable;
  std::vector<TaskWork> work = convert_and_split(cfg, log, unavailable);
  nlohmann::json phases = nlohmann::json::object();  // seconds per phase
  auto lap = [&, t = Clock::now()](const char* phase) mutable {
    const auto now = Clock::now();
    phases[phase] = std::chrono::duration<double>(now - t).count();
    t = now;
  };
  phases["convert"] = std::chrono::duration<double>(Clock::now() - t0).count();

  // 3. The tokenizer: loaded, or trained on a sample of the rendered train examples.
  std::unique_ptr<Tokenizer> tok;
  const std::string sp_path = (fs::path(cfg.out_dir) / "tokenizer.model").string();
  if (cfg.tokenizer.model.empty()) {
    const auto corpus = sample_corpus(work, cfg.tokenizer.sample_examples);
    const auto ts = Clock::now();
    train_sentencepiece(corpus, cfg.tokenizer.train, sp_path);
    log << "prepare: trained SentencePiece (" << cfg.tokenizer.train.model_type << ", vocab "
        << cfg.tokenizer.train.vocab_size << ") on " << corpus.size() << " examples in "
        << std::chrono::duration<double>(Clock::now() - ts).count() << " s" << std::endl;
    tok = make_tokenizer(sp_path);
  } else {
    tok = make_tokenizer(cfg.tokenizer.model);
  }
  write_tokenizer_files(cfg.out_dir, *tok);  // the shards' tokenizer travels with them

  lap("tokenizer");

  // 4. Tokenize with context truncation, one task per thread.
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < work.size(); ++i) try {  // (an exception must not leave the region)
    TaskWork& w = work[i];
    TaskShard& s = w.shard;
    s.card = w.card;
    s.tokenizer = tok->fingerprint();
    s.source = option(w.card, "files", w.card.source);
    s.counts.records = w.report.records;
    s.counts.bad = w.report.bad;
    s.counts.skipped = w.report.skipped;
    s.counts.bytes = w.report.bytes;
    const ExampleFitter fitter(w.card, *tok, cfg.max_tokens);
    TokenizedExample t;
    bool truncated = false;
    for (auto& ex : w.train) {
      if (!fitter.fit(ex, t, truncated)) {
        ++s.counts.dropped;
        continue;
      }
      s.counts.truncated += truncated;
      s.train.add(t, label_index(w.card, ex));
    }
    for (auto& ex : w.dev) {  // truncated in place: the scorer must see what training saw
      if (!fitter.fit(ex, t, truncated)) {
        ++s.counts.dropped;
        continue;
      }
      s.counts.truncated += truncated;
      s.dev.add(t, label_index(w.card, ex));
      s.dev_examples.push_back(ex);
    }
  } catch (const std::exception& e) {
    work[i].error = e.what();
  }

  lap("tokenize");
  for (const auto& w : work)
    if (!w.error.empty()) throw Error("task " + w.card.name + ": " + w.error);
  for (const auto& w : work)
    if (w.shard.train.size() == 0)
      throw Error("task " + w.card.name + ": no training example fits max_tokens " +
                  std::to_string(cfg.max_tokens) + " (" + std::to_string(w.shard.counts.dropped) +
                  " dropped even with their context emptied; raise max_tokens)");

  // 5. Write the shards and the report.
  nlohmann::json tasks = nlohmann::json::object();
  size_t bytes = 0;
  long n_train = 0, n_dev = 0;
  for (auto& w : work) {
    write_shard((fs::path(cfg.out_dir) / (w.card.name + ".h5")).string(), w.shard);
    const auto& c = w.shard.counts;
    bytes += c.bytes;
    n_train += long(w.shard.train.size());
    n_dev += long(w.shard.dev.size());
    tasks[w.card.name] = {{"records", c.records},     {"bad", c.bad},
                          {"skipped", c.skipped},     {"train", w.shard.train.size()},
                          {"dev", w.shard.dev.size()}, {"truncated", c.truncated},
                          {"dropped", c.dropped},     {"bytes", c.bytes}};
    if (c.truncated || c.dropped)
      log << "prepare: " << w.card.name << ": " << c.truncated << " examples truncated, "
          << c.dropped << " dropped (max_tokens " << cfg.max_tokens << ")" << std::endl;
  }
  lap("write");
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  // Bytes of distinct raw files (several cards may read one file, e.g. SummEval's 4 attributes).
  size_t unique_bytes = 0;
  {
    const ConvertInput in{cfg.raw_dir};
    std::set<std::string> files;
    for (const auto& w : work)
      if (w.card.converter != "synthetic")
        for (const auto& f : in.files(w.card)) files.insert(fs::canonical(f).string());
    for (const auto& f : files) unique_bytes += fs::file_size(f);
  }
  nlohmann::json report = {
      {"name", cfg.name},
      {"out_dir", cfg.out_dir},
      {"tokenizer", tok->fingerprint()},
      {"vocab_size", tok->vocab_size()},
      {"tasks", tasks},
      {"unavailable", unavailable},
      {"n_tasks", work.size()},
      {"train_examples", n_train},
      {"dev_examples", n_dev},
      {"raw_bytes", bytes},
      {"raw_unique_bytes", unique_bytes},
      {"wall_s", wall},
      {"phases_s", phases},
      {"threads", omp_get_max_threads()},
      {"raw_mb_per_s", double(bytes) / 1e6 / std::max(wall, 1e-9)},
      {"raw_unique_mb_per_s", double(unique_bytes) / 1e6 / std::max(wall, 1e-9)},
  };
  std::ofstream(fs::path(cfg.out_dir) / "prepare_report.json") << report.dump(2) << "\n";
  return report;
}

}  // namespace flame::data
