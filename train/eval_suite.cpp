// Evaluation suites (eval_suite.h): the suite YAML, the JSONL item schema, scoring every subset
// through the dev scorer's label probabilities, and the RewardBench-style report and table.
#include "core/strings.h"
#include "train/eval_suite.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "data/prepare.h"
#include "core/rng.h"
#include "data/shard.h"
#include "data/synthetic.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "train/evaluate.h"
#include "train/metrics.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace flame::train {

namespace {

// The first existing file (or directory) at `p`: as given when absolute, else under each start
// directory or one of its parents, so a suite works from the repo root, from configs/eval/ and
// from a run directory alike. "" when there is none.
std::string find_path(const std::string& p, const std::vector<std::string>& starts, bool dir) {
  std::error_code ec;
  auto ok = [&](const fs::path& c) {
    return dir ? fs::is_directory(c, ec) : fs::is_regular_file(c, ec);
  };
  const fs::path rel(p);
  if (rel.is_absolute()) return ok(rel) ? rel.string() : "";
  for (const auto& s : starts)
    for (fs::path d = fs::absolute(s.empty() ? "." : s, ec);; d = d.parent_path()) {
      if (ok(d / rel)) return (d / rel).lexically_normal().string();
      if (d == d.parent_path()) break;
    }
  return "";
}

// --- The suite YAML ---------------------------------------------------------------------------

}  // namespace

const config::Fields<SourceKeys>& SourceKeys::fields() {
  using K = SourceKeys;
  using config::field;
  static const config::Fields<K> f = {
      field("task", &K::task, "a task: synthetic (its generated dev split), or prepared (give shards)"),
      field("jsonl", &K::jsonl, "a JSONL file of items (docs/evaluation.md), rendered with card"),
      field("card", &K::card, "jsonl: a card name (synthetic, or under tasks_dir) or a path"),
      field("shards", &K::shards, "task: the directory flame prepare wrote; its dev split is used"),
      field("examples", &K::examples, "synthetic task: dev examples generated (default 200)"),
      field("seed", &K::seed, "synthetic task: generator seed (default 1)"),
      field("subset", &K::subset, "the subset (default: the task name, or the JSONL file's stem)"),
      field("category", &K::category, "the category of items that name none (default: the card's)"),
  };
  return f;
}

const config::Fields<SuiteKeys>& SuiteKeys::fields() {
  using K = SuiteKeys;
  using config::field;
  static const config::Fields<K> f = {
      field("name", &K::name, "the suite's name").required(),
      field("description", &K::description, "one line for people"),
      field("tasks_dir", &K::tasks_dir, "where card names of jsonl sources are looked up"),
      field("sources", &K::sources, "what is scored: a non-empty list of sources[i] entries")
          .required(),
  };
  return f;
}

namespace {

class SuiteParser {
 public:
  SuiteParser(std::string origin, std::string base_dir)
      : origin_(std::move(origin)), starts_{std::move(base_dir), fs::current_path().string()} {}

  EvalSuite parse(const YAML::Node& root) {
    if (!root.IsMap()) fail("", "expected a mapping at the top level");
    config::Ctx ctx{config::Wording("eval suite " + origin_ + ": "), ""};
    ctx.w.key_colon = true;
    SuiteKeys f;
    config::read_fields(root, f, ctx);
    EvalSuite s;
    s.name = f.name;
    if (s.name.empty()) fail("name", "required (a non-empty string)");
    s.description = f.description;
    tasks_dir_ = f.tasks_dir;
    if (f.sources.empty()) fail("sources", "must be a non-empty list");
    for (size_t i = 0; i < f.sources.size(); ++i)
      s.sources.push_back(source(f.sources[i], "sources[" + std::to_string(i) + "]"));
    return s;
  }

 private:
  std::string origin_;
  std::vector<std::string> starts_;
  std::string tasks_dir_;

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw Error("eval suite " + origin_ + ": " + (key.empty() ? "" : key + ": ") + why);
  }

  SuiteSource source(const SourceKeys& n, const std::string& where) {
    const std::string k = where + ".";
    SuiteSource s;
    s.where = where;
    const auto &task = n.task, &jsonl = n.jsonl, &shards = n.shards, &card = n.card;
    const auto& examples = n.examples;
    const auto& seed = n.seed;
    if (task.has_value() == jsonl.has_value())
      fail(where, "give exactly one of 'task' and 'jsonl'");
    if (task) {
      s.task = *task;
      if (s.task.empty()) fail(k + "task", "is empty");
      if (card) fail(k + "card", "only for jsonl sources (a task is rendered with its own card)");
      if (shards) {
        s.kind = SourceKind::shards;
        if (examples)
          fail(k + "examples", "only for synthetic tasks (shards hold their dev split)");
        if (seed) fail(k + "seed", "only for synthetic tasks");
        s.path = find_path(*shards, starts_, true);
        if (s.path.empty()) fail(k + "shards", "directory not found: " + *shards);
        if (!fs::is_regular_file(fs::path(s.path) / (s.task + ".h5")))
          fail(k + "shards", "no " + s.task + ".h5 in " + s.path);
      } else {
        s.kind = SourceKind::synthetic;
        const auto& cards = data::synthetic_cards();
        const auto it = std::find_if(cards.begin(), cards.end(),
                                     [&](const data::TaskCard& c) { return c.name == s.task; });
        if (it == cards.end())
          fail(k + "task", "'" + s.task +
                               "' is not a synthetic task (for a prepared task give "
                               "shards: <the directory flame prepare wrote>)");
        s.card = *it;
        if (examples) s.examples = *examples;
        if (s.examples <= 0) fail(k + "examples", "must be > 0");
        if (seed) s.seed = *seed;
      }
      s.subset = s.task;
    } else {
      s.kind = SourceKind::jsonl;
      if (shards) fail(k + "shards", "only for task sources");
      if (examples)
        fail(k + "examples", "only for synthetic tasks (a jsonl source uses every line)");
      if (seed) fail(k + "seed", "only for synthetic tasks");
      s.path = find_path(*jsonl, starts_, false);
      if (s.path.empty()) fail(k + "jsonl", "file not found: " + *jsonl);
      if (!card) fail(k + "card", "required for a jsonl source (e.g. eval_pairwise)");
      try {
        s.card = find_task_card(*card, tasks_dir_, starts_);
      } catch (const Error& e) {
        fail(k + "card", e.what());
      }
      if (s.card.type == data::TaskType::generative)
        fail(k + "card", s.card.name +
                             " is generative; jsonl sources need a pairwise, pointwise "
                             "or classification card");
      s.subset = fs::path(s.path).stem().string();
    }
    if (s.card.flipped_labels)
      fail(k + "task", s.card.name +
                           " has deliberately wrong labels; it measures what was learnt "
                           "from them, not the judge, and does not belong in a suite");
    if (const auto& sub = n.subset) {
      if (sub->empty()) fail(k + "subset", "is empty");
      s.subset = *sub;
    }
    if (const auto& cat = n.category) {
      if (cat->empty()) fail(k + "category", "is empty");
      s.category = *cat;
    }
    return s;
  }
};

// --- JSONL items ------------------------------------------------------------------------------

// The card's labels as numbers when every one is a number (a pointwise scale).
std::optional<std::vector<double>> numeric_labels(const data::TaskCard& card) {
  std::vector<double> v;
  for (const auto& l : card.labels) {
    try {
      size_t used = 0;
      v.push_back(std::stod(l, &used));
      if (used != l.size()) return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return v;
}

std::string label_for_number(const data::TaskCard& card, const char* key, double x) {
  const auto values = numeric_labels(card);
  if (!values)
    throw Error("'" + std::string(key) + "' is a number but the card's labels (" +
                join(card.labels) + ") are not a numeric scale");
  for (size_t i = 0; i < values->size(); ++i)
    if (std::fabs((*values)[i] - x) < 1e-9) return card.labels[i];
  std::ostringstream os;
  os << "'" << key << "' " << x << " is not on the card's scale (" << join(card.labels) << ")";
  throw Error(os.str());
}

std::string record_label(const json& rec, const data::TaskCard& card) {
  const bool has_label = rec.contains("label"), has_score = rec.contains("score");
  if (has_label && has_score) throw Error("give 'label' or 'score', not both");
  if (has_score) {
    if (!rec["score"].is_number()) throw Error("'score' must be a number");
    return label_for_number(card, "score", rec["score"].get<double>());
  }
  const json& l = rec["label"];
  if (l.is_number()) return label_for_number(card, "label", l.get<double>());
  if (!l.is_string()) throw Error("'label' must be a string (one of " + join(card.labels) + ")");
  const std::string s = l.get<std::string>();
  if (std::find(card.labels.begin(), card.labels.end(), s) == card.labels.end())
    throw Error("label '" + s + "' is not one of the card's labels (" + join(card.labels) + ")");
  return s;
}

std::string short_json_error(const std::string& what) {
  // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> from "parse error"
  const auto p = what.find("] ");
  return "invalid JSON: " + (p == std::string::npos ? what : what.substr(p + 2));
}

}  // namespace

EvalSuite parse_eval_suite(const YAML::Node& root, const std::string& origin,
                           const std::string& base_dir) {
  EvalSuite s = SuiteParser(origin, base_dir).parse(root);
  return s;
}

EvalSuite load_eval_suite(const std::string& path) {
  if (!fs::is_regular_file(path)) throw Error("eval suite file not found: " + path);
  const YAML::Node root = load_yaml_file(path, "eval suite ");
  EvalSuite s = parse_eval_suite(root, path, fs::path(path).parent_path().string());
  s.path = path;
  return s;
}

data::TaskCard find_task_card(const std::string& ref, const std::string& tasks_dir,
                              const std::vector<std::string>& search_from) {
  if (ref.empty()) throw Error("empty task card name");
  if (ref.find('/') != std::string::npos || ref.ends_with(".yaml") || ref.ends_with(".yml")) {
    const std::string p = find_path(ref, search_from, false);
    if (p.empty()) throw Error("task card file not found: " + ref);
    return data::load_task_card(p);
  }
  for (const auto& c : data::synthetic_cards())
    if (c.name == ref) return c;
  const std::string dir = find_path(tasks_dir, search_from, true);
  if (dir.empty())
    throw Error("no task card named '" + ref + "': not a synthetic task, and the tasks directory " +
                tasks_dir + " was not found (give a path to the card instead)");
  for (auto& c : data::load_task_cards(dir))
    if (c.name == ref) return c;
  throw Error("no task card named '" + ref + "' (not a synthetic task, not under " + dir + ")");
}

JsonlItem parse_jsonl_item(const json& rec, const data::TaskCard& card, bool require_label,
                           bool balance_pairs) {
  if (!rec.is_object()) throw Error("not a JSON object");
  auto text = [&](const std::string& key) -> std::optional<std::string> {
    const auto it = rec.find(key);
    if (it == rec.end()) return std::nullopt;
    if (!it->is_string()) throw Error("'" + key + "' must be a string");
    return it->get<std::string>();
  };
  JsonlItem item;
  item.subset = text("subset").value_or("");
  item.category = text("category").value_or("");
  if (const auto it = rec.find("id"); it != rec.end()) item.id = *it;

  const bool pairwise = card.type == data::TaskType::pairwise;
  const auto chosen = pairwise ? text("chosen") : std::nullopt;
  const auto rejected = pairwise ? text("rejected") : std::nullopt;
  const bool by_preference = chosen || rejected;
  bool chosen_first = true;
  std::string label;
  if (by_preference) {
    const std::string& a = card.pair_fields[0];
    const std::string& b = card.pair_fields[1];
    if (!chosen || !rejected) throw Error("'chosen' and 'rejected' go together");
    if (rec.contains(a) || rec.contains(b))
      throw Error("give 'chosen'/'rejected' or '" + a + "'/'" + b + "', not both");
    if (rec.contains("label")) throw Error("a line with 'chosen'/'rejected' takes no 'label'");
    if (*chosen == *rejected) throw Error("'chosen' and 'rejected' are identical");
    if (balance_pairs) chosen_first = (hash_str(*chosen + '\x1f' + *rejected) & 1) == 0;
    label = chosen_first ? "A" : "B";
    item.labelled = true;
  }
  for (const auto& f : card.input_fields) {
    const auto& pf = card.pair_fields;
    if (by_preference && (f == pf[0] || f == pf[1])) {
      item.ex.inputs.emplace_back(f, (f == pf[0]) == chosen_first ? *chosen : *rejected);
      continue;
    }
    auto v = text(f);
    if (!v)
      throw Error("missing field '" + f + "'" +
                  (pairwise && (f == card.pair_fields[0] || f == card.pair_fields[1])
                       ? " (or give 'chosen'/'rejected')"
                       : ""));
    item.ex.inputs.emplace_back(f, std::move(*v));
  }
  if (!by_preference) {
    if (rec.contains("label") || rec.contains("score")) {
      label = record_label(rec, card);
      item.labelled = true;
    } else if (require_label) {
      throw Error(pairwise ? "no label (give 'chosen'/'rejected', or 'label': A, B" +
                                 std::string(card.labels.size() == 3 ? " or Tie)" : ")")
                           : "no label (give 'label' or 'score')");
    } else {
      label = card.labels.front();  // a placeholder: scoring reads only the inputs
    }
  }
  item.ex.outputs.emplace_back(card.output_fields.front(), label);
  for (size_t i = 1; i < card.output_fields.size(); ++i)
    item.ex.outputs.emplace_back(card.output_fields[i], "");
  return item;
}

JsonlItem parse_jsonl_line(const std::string& line, const data::TaskCard& card, bool require_label,
                           bool balance_pairs) {
  json rec;
  try {
    rec = json::parse(line);
  } catch (const json::parse_error& e) {
    throw Error(short_json_error(e.what()));
  }
  return parse_jsonl_item(rec, card, require_label, balance_pairs);
}

JsonlRead read_jsonl_items(const std::string& path, const data::TaskCard& card, bool require_label,
                           bool balance_pairs) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open JSONL file " + path);
  JsonlRead r;
  std::string line;
  for (long lineno = 1; std::getline(f, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++r.lines;
    try {
      JsonlItem item = parse_jsonl_line(line, card, require_label, balance_pairs);
      item.line = lineno;
      r.items.push_back(std::move(item));
    } catch (const std::exception& e) {
      ++r.bad;
      if (r.bad_samples.size() < JsonlRead::kMaxBadSamples)
        r.bad_samples.push_back(path + ":" + std::to_string(lineno) + ": " + e.what());
    }
  }
  if (f.bad()) throw Error("error reading JSONL file " + path);
  if (r.lines == 0) throw Error("JSONL file " + path + " has no items");
  if (r.items.empty())
    throw Error("JSONL file " + path + ": all " + std::to_string(r.lines) +
                " lines are malformed; the first: " + r.bad_samples.front());
  return r;
}

std::vector<ExampleScore> score_examples(ScoringModel model, const data::Tokenizer& tok,
                                         const data::TaskCard& card,
                                         const std::vector<data::Example>& exs) {
  FLAME_CHECK(card.type != data::TaskType::generative,
              "task " << card.name << " is generative; score_examples reads label probabilities");
  std::vector<ExampleScore> out(exs.size());
  if (exs.empty()) return out;
  if (card.type != data::TaskType::pairwise) {
    auto probs = label_probs(model, tok, card, exs);
    for (size_t e = 0; e < exs.size(); ++e) out[e].probs = std::move(probs[e]);
    return out;
  }
  // Both orders in one call, so they pack into the same rows.
  std::vector<data::Example> both = exs;
  for (const auto& ex : exs) both.push_back(data::swap_pair(card, ex));
  auto probs = label_probs(model, tok, card, both);
  for (size_t e = 0; e < exs.size(); ++e) {
    out[e].p_ab = std::move(probs[e]);
    out[e].p_ba = std::move(probs[exs.size() + e]);
    out[e].probs = order_averaged(PairJudgment{out[e].p_ab, out[e].p_ba, 0, 0, 0});
  }
  return out;
}

// --- Running a suite --------------------------------------------------------------------------

namespace {

struct Subset {
  std::string name, category;
  data::TaskCard card;
  std::string origin;  // where its first item came from (for conflict messages)
  std::vector<data::Example> exs;
};

class SubsetTable {
 public:
  // Adds ex to the named subset; "" on success, else why it does not belong there (a subset
  // has one category). A second card for one subset throws: it is a suite error, not a line's.
  std::string add(const std::string& name, const std::string& category, const data::TaskCard& card,
                  const std::string& origin, data::Example ex) {
    auto [it, fresh] = index_.emplace(name, subsets_.size());
    if (fresh) subsets_.push_back(Subset{name, category, card, origin, {}});
    Subset& s = subsets_[it->second];
    if (s.card.name != card.name)
      throw Error("eval suite: subset '" + name + "' gets items rendered with task card " +
                  s.card.name + " (" + s.origin + ") and with " + card.name + " (" + origin +
                  "); give one of the sources another subset");
    if (s.category != category)
      return "subset '" + name + "' is in category '" + s.category + "' (" + s.origin + "), not '" +
             category + "'";
    s.exs.push_back(std::move(ex));
    return "";
  }
  std::vector<Subset>& subsets() { return subsets_; }

 private:
  std::vector<Subset> subsets_;
  std::map<std::string, size_t> index_;
};

int argmax(const std::vector<double>& p) {
  return int(std::max_element(p.begin(), p.end()) - p.begin());
}

json label_metrics(const data::TaskCard& card, const std::vector<data::Example>& exs,
                   const std::vector<ExampleScore>& scores) {
  std::vector<int> pred, truth;
  for (size_t e = 0; e < exs.size(); ++e) {
    pred.push_back(argmax(scores[e].probs));
    truth.push_back(label_index(card, exs[e].label()));
  }
  json j = {{"accuracy", accuracy(pred, truth)},
            {"balanced_accuracy", balanced_accuracy(pred, truth)}};
  if (card.labels.size() == 2) {
    // p(first label) against "the first label is right"; with two labels either choice gives
    // the same area.
    std::vector<double> score;
    std::vector<int> positive;
    for (size_t e = 0; e < exs.size(); ++e) {
      score.push_back(scores[e].probs[0]);
      positive.push_back(truth[e] == 0);
    }
    j["roc_auc"] = roc_auc(score, positive);
  }
  if (card.type == data::TaskType::pointwise) {
    // The expected score over the scale against the reference score.
    const std::vector<double> values = label_values(card);
    std::vector<double> expected, reference;
    for (size_t e = 0; e < exs.size(); ++e) {
      double s = 0;
      for (size_t l = 0; l < values.size(); ++l) s += scores[e].probs[l] * values[l];
      expected.push_back(s);
      reference.push_back(values[size_t(truth[e])]);
    }
    j["pearson"] = pearson(expected, reference);
    j["spearman"] = spearman(expected, reference);
    j["kendall_tau_b"] = kendall_tau_b(expected, reference);
  }
  return j;
}

size_t text_length(const data::Example& ex, const std::string& field) {
  for (const auto& [f, v] : ex.inputs)
    if (f == field) return v.size();
  return 0;
}

void add_bad(json& src, const std::string& sample) {
  src["bad_lines"] = src["bad_lines"].get<long>() + 1;
  if (src["bad_samples"].size() < JsonlRead::kMaxBadSamples) src["bad_samples"].push_back(sample);
}

}  // namespace

json run_suite(ScoringModel model, const data::Tokenizer& tok, const EvalSuite& suite,
               int max_examples) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string origin = "eval suite " + (suite.path.empty() ? suite.name : suite.path);
  SubsetTable table;
  json sources = json::array();
  for (const auto& src : suite.sources) {
    json rep = {{"source", src.where}, {"subset", src.subset}};
    auto take_task = [&](const data::TaskCard& card, std::vector<data::Example> exs) {
      rep["card"] = card.name;
      rep["items"] = exs.size();
      const std::string cat = src.category.empty() ? card.category : src.category;
      for (auto& ex : exs) {
        const std::string why = table.add(src.subset, cat, card, src.where, std::move(ex));
        if (!why.empty()) throw Error(origin + ": " + src.where + ": " + why);
      }
    };
    switch (src.kind) {
      case SourceKind::synthetic:
        rep["task"] = src.task;
        take_task(src.card,
                  data::generate_synthetic(src.task, data::Split::dev, src.examples, src.seed));
        break;
      case SourceKind::shards: {
        // Dev examples are scored from their fields, re-tokenized with the model's tokenizer, so
        // shards made with another tokenizer are fine here.
        data::TaskShard shard =
            data::read_shard((fs::path(src.path) / (src.task + ".h5")).string());
        if (shard.card.flipped_labels)
          throw Error(origin + ": " + src.where + ": task " + src.task +
                      " has deliberately wrong labels and does not belong in a suite");
        rep["task"] = src.task;
        rep["shards"] = src.path;
        if (shard.dev_examples.empty())
          throw Error(origin + ": " + src.where + ": shard " + src.path + "/" + src.task +
                      ".h5 has no dev examples");
        take_task(shard.card, std::move(shard.dev_examples));
        break;
      }
      case SourceKind::jsonl: {
        JsonlRead r = read_jsonl_items(src.path, src.card, true, true);
        rep["jsonl"] = src.path;
        rep["card"] = src.card.name;
        rep["lines"] = r.lines;
        rep["bad_lines"] = r.bad;
        rep["bad_samples"] = r.bad_samples;
        long used = 0;
        for (auto& item : r.items) {
          const std::string subset = item.subset.empty() ? src.subset : item.subset;
          const std::string cat = !item.category.empty()  ? item.category
                                  : !src.category.empty() ? src.category
                                                          : src.card.category;
          const std::string at = src.path + ":" + std::to_string(item.line);
          const std::string why = table.add(subset, cat, src.card, at, std::move(item.ex));
          if (why.empty())
            ++used;
          else
            add_bad(rep, at + ": " + why);
        }
        if (used == 0)
          throw Error("JSONL file " + src.path + ": no usable line; the first problem: " +
                      rep["bad_samples"][0].get<std::string>());
        rep["items"] = used;
        break;
      }
    }
    sources.push_back(rep);
  }

  auto& subsets = table.subsets();
  if (max_examples > 0)
    for (auto& s : subsets)
      if (s.exs.size() > size_t(max_examples)) s.exs.resize(size_t(max_examples));

  // One scoring call per card over all of its subsets: fuller rows than one call per subset.
  std::map<std::string, std::vector<size_t>> by_card;
  for (size_t i = 0; i < subsets.size(); ++i) by_card[subsets[i].card.name].push_back(i);
  std::vector<std::vector<ExampleScore>> scores(subsets.size());
  std::vector<json> generative(subsets.size());
  for (const auto& [card_name, idx] : by_card) {
    const data::TaskCard& card = subsets[idx.front()].card;
    if (card.type == data::TaskType::generative) {
      for (size_t i : idx) generative[i] = evaluate_examples(model, tok, card, subsets[i].exs);
      continue;
    }
    std::vector<data::Example> all;
    for (size_t i : idx) all.insert(all.end(), subsets[i].exs.begin(), subsets[i].exs.end());
    auto sc = score_examples(model, tok, card, all);
    size_t at = 0;
    for (size_t i : idx) {
      scores[i].assign(sc.begin() + long(at), sc.begin() + long(at + subsets[i].exs.size()));
      at += subsets[i].exs.size();
    }
  }

  json out_subsets = json::object();
  std::vector<PairJudgment> all_pairs;
  std::map<std::string, std::pair<double, long>> by_category;  // sum of accuracy * n, n
  std::map<std::string, std::vector<std::string>> category_subsets;
  long n_items = 0;
  for (size_t i = 0; i < subsets.size(); ++i) {
    const Subset& s = subsets[i];
    json j;
    if (s.card.type == data::TaskType::pairwise) {
      std::vector<PairJudgment> pairs;
      for (size_t e = 0; e < s.exs.size(); ++e)
        pairs.push_back(PairJudgment{scores[i][e].p_ab, scores[i][e].p_ba,
                                     label_index(s.card, s.exs[e].label()),
                                     text_length(s.exs[e], s.card.pair_fields[0]),
                                     text_length(s.exs[e], s.card.pair_fields[1])});
      j = pairwise_metrics(pairs).to_json();
      all_pairs.insert(all_pairs.end(), pairs.begin(), pairs.end());
    } else if (s.card.type == data::TaskType::generative) {
      // Teacher-forced exact match is greedy decoding's exact match: the accuracy of a
      // generative subset.
      j = {{"accuracy", generative[i]["value"]},
           {"target_token_loss", generative[i]["target_token_loss"]}};
    } else {
      j = label_metrics(s.card, s.exs, scores[i]);
    }
    j["n"] = s.exs.size();
    j["type"] = data::task_type_name(s.card.type);
    j["card"] = s.card.name;
    j["category"] = s.category;
    const double acc = j["accuracy"].get<double>();
    auto& [sum, n] = by_category[s.category];
    sum += acc * double(s.exs.size());
    n += long(s.exs.size());
    category_subsets[s.category].push_back(s.name);
    n_items += long(s.exs.size());
    out_subsets[s.name] = j;
  }

  json categories = json::object();
  double overall = 0;
  for (const auto& [cat, sn] : by_category) {
    const double acc = sn.second > 0 ? sn.first / double(sn.second) : 0.0;
    categories[cat] = {{"accuracy", acc}, {"n", sn.second}, {"subsets", category_subsets[cat]}};
    overall += acc;
  }
  if (!by_category.empty()) overall /= double(by_category.size());

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json report = {
      {"suite", suite.name},
      {"n_items", n_items},
      {"max_examples", max_examples},
      {"subsets", out_subsets},
      {"categories", categories},
      {"overall", {{"accuracy", overall}, {"n_categories", by_category.size()}, {"n", n_items}}},
      {"sources", sources},
      {"wall_s", wall}};
  if (!all_pairs.empty()) report["pairwise"] = pairwise_metrics(all_pairs).to_json();
  return report;
}

// --- The table --------------------------------------------------------------------------------

namespace {

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

std::string pad(const std::string& s, size_t w) {
  return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
}
std::string lpad(const std::string& s, size_t w) {
  return s.size() >= w ? s : std::string(w - s.size(), ' ') + s;
}

// The type's secondary figures, in the table's last column.
std::string details(const json& j) {
  const std::string type = j["type"];
  auto num = [&](const char* label, const char* key) {
    return std::string(label) + " " + fmt("%.3f", j[key].get<double>());
  };
  if (type == "pairwise")
    return num("single", "accuracy_single_order") + "  " + num("consist", "order_consistency") +
           "  " + num("slot1", "first_slot_win_rate") + "  " +
           num("longer", "longer_preferred_rate") + "/" +
           fmt("%.3f", j["longer_correct_rate"].get<double>());
  if (type == "generative") return num("target_loss", "target_token_loss");
  std::string s = num("bal_acc", "balanced_accuracy");
  if (j.contains("roc_auc")) s += "  " + num("auc", "roc_auc");
  if (type == "pointwise")
    s += "  " + num("pearson", "pearson") + "  " + num("spearman", "spearman") + "  " +
         num("kendall", "kendall_tau_b");
  return s;
}

}  // namespace

std::string suite_table(const json& report) {
  std::ostringstream os;
  // Rows by category, then subset.
  std::vector<std::pair<std::string, std::string>> rows;
  size_t wc = 8, ws = 6;
  for (const auto& [name, j] : report["subsets"].items()) {
    rows.emplace_back(j["category"].get<std::string>(), name);
    wc = std::max(wc, rows.back().first.size());
    ws = std::max(ws, name.size());
  }
  std::sort(rows.begin(), rows.end());
  os << "suite " << report["suite"].get<std::string>() << ": " << report["n_items"] << " items, "
     << report["subsets"].size() << " subsets, " << report["categories"].size() << " categories ("
     << fmt("%.1f", report["wall_s"].get<double>()) << " s)\n";
  os << pad("category", wc) << "  " << pad("subset", ws) << "  " << pad("type", 14) << "  "
     << lpad("n", 6) << "  " << lpad("accuracy", 8) << "  details\n";
  for (const auto& [cat, name] : rows) {
    const json& j = report["subsets"][name];
    os << pad(cat, wc) << "  " << pad(name, ws) << "  " << pad(j["type"].get<std::string>(), 14)
       << "  " << lpad(std::to_string(j["n"].get<long>()), 6) << "  "
       << lpad(fmt("%.3f", j["accuracy"].get<double>()), 8) << "  " << details(j) << "\n";
  }
  os << "\n"
     << pad("category", wc) << "  " << lpad("n", 6) << "  " << lpad("accuracy", 8)
     << "  (example-weighted mean of its subsets)\n";
  for (const auto& [cat, j] : report["categories"].items())
    os << pad(cat, wc) << "  " << lpad(std::to_string(j["n"].get<long>()), 6) << "  "
       << lpad(fmt("%.3f", j["accuracy"].get<double>()), 8) << "\n";
  os << pad("overall", wc) << "  " << lpad(std::to_string(report["overall"]["n"].get<long>()), 6)
     << "  " << lpad(fmt("%.3f", report["overall"]["accuracy"].get<double>()), 8) << "  (mean of "
     << report["overall"]["n_categories"] << " categories)\n";
  if (report.contains("pairwise")) {
    const json& p = report["pairwise"];
    os << "\npairwise (" << p["n"] << " pairs): accuracy "
       << fmt("%.3f", p["accuracy"].get<double>()) << " over both orders, "
       << fmt("%.3f", p["accuracy_single_order"].get<double>())
       << " in the given order; order consistency "
       << fmt("%.3f", p["order_consistency"].get<double>()) << "\n"
       << "  position bias: first-shown response preferred in "
       << fmt("%.3f", p["first_slot_win_rate"].get<double>()) << " of " << p["n_slot_verdicts"]
       << " single-order verdicts (0.5 = none)\n"
       << "  length bias: longer response preferred in "
       << fmt("%.3f", p["longer_preferred_rate"].get<double>()) << ", correct in "
       << fmt("%.3f", p["longer_correct_rate"].get<double>()) << " of " << p["n_length_pairs"]
       << " pairs of unequal length\n";
  }
  for (const auto& s : report["sources"]) {
    if (!s.contains("bad_lines") || s["bad_lines"].get<long>() == 0) continue;
    os << "\n"
       << s["jsonl"].get<std::string>() << ": " << s["bad_lines"] << " of " << s["lines"]
       << " lines skipped as malformed, e.g.\n";
    for (const auto& b : s["bad_samples"]) os << "  " << b.get<std::string>() << "\n";
  }
  return os.str();
}

}  // namespace flame::train
