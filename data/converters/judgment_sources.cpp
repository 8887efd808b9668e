// Classification, pointwise and generative human judgments. Formats read: JSON arrays (SummEdits,
// ICE-Score's HumanEval grades, MR-GSM8K), JSON Lines (QAGS, HaluEval's `.json`, Factcheck-GPT,
// WiCE), TSVs without quoting, with a header (BEGIN) or without (CoLA), the WMT MQM pair of
// annotation TSV + avg_seg_scores table (tab and space mixed), and MLQE-PE's tar.gz archives
// holding one TSV per split.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <utility>

#include "core/strings.h"
#include "data/converters/converters.h"
#include "data/raw_io.h"
#include "core/error.h"

namespace flame::data::converters {

namespace {

using nlohmann::json;
using Fields = std::vector<std::pair<std::string, std::string>>;

Example example(Fields inputs, Fields outputs) { return {std::move(inputs), std::move(outputs)}; }

std::string yes_no(bool b) { return b ? "Yes" : "No"; }

// A comma-separated option value ("a, b") as its non-empty items.
double parse_number(const std::string& s, const std::string& what) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw Error(what + " is not a number: '" + s + "'");
}

const json& array_field(const json& rec, const std::string& key) {
  const json& v = field(rec, key);
  if (!v.is_array()) throw Error("field '" + key + "' is not a list");
  return v;
}

// A 0/1 label stored as a JSON integer (or bool).
bool binary_field(const json& rec, const std::string& key) {
  const json& v = field(rec, key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v == 0 || v == 1)) return v == 1;
  throw Error("field '" + key + "' must be 0 or 1, got " + v.dump());
}

std::string join_lines(const json& list, const std::string& key) {
  std::string out;
  for (const json& s : list) {
    if (!s.is_string()) throw Error("field '" + key + "' holds a non-string");
    if (!out.empty()) out += '\n';
    out += s.get_ref<const std::string&>();
  }
  if (out.empty()) throw Error("field '" + key + "' is empty");
  return out;
}

Table read_table(const std::string& path, ExampleSink& sink, bool header) {
  DelimitedOptions opt;
  opt.header = header;
  return parse_delimited(read_raw_file(path, &sink), path, opt);
}

// Examples of one record are collected first and emitted together, so a record that turns out
// to be malformed half-way contributes nothing.
void emit_all(ExampleSink& sink, std::vector<Example>& out) {
  for (auto& ex : out) sink.emit(std::move(ex));
}

}  // namespace

// SummEdits (salesforce/factualNLG): a JSON array per domain; `label` 1 = the (possibly edited)
// summary is consistent with `doc`, 0 = inconsistent -> Yes / No. Options: files.
void summedits(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_json_item(path, sink, [&](const json& r, long) {
      sink.emit(example({{"document", str_field(r, "doc")}, {"summary", str_field(r, "summary")}},
                        {{"answer", yes_no(binary_field(r, "label"))}}));
    });
}

// QAGS (W4ngatang/qags): JSONL, one article per line; each of its `summary_sentences` has crowd
// `responses` "yes" (supported by the article) / "no". One example per sentence labelled by the
// majority vote (Yes / No); an even split is skipped ("no majority"). Options: files.
void qags(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& r, long) {
      const std::string article = str_field(r, "article");
      std::vector<Example> out;
      for (const json& s : array_field(r, "summary_sentences")) {
        int yes = 0, no = 0;
        for (const json& v : array_field(s, "responses")) {
          const std::string resp = str_field(v, "response");
          if (resp != "yes" && resp != "no") throw Error("unknown response '" + resp + "'");
          (resp == "yes" ? yes : no) += 1;
        }
        if (yes == no) {
          sink.skip("no majority");
          continue;
        }
        out.push_back(
            example({{"article", article}, {"summary_sentence", str_field(s, "sentence")}},
                    {{"answer", yes_no(yes > no)}}));
      }
      emit_all(sink, out);
    });
}

// BEGIN (google/BEGIN-dataset): TSV with a header and no quoting; `begin_label` is the human
// attribution of `response` to `knowledge`: Fully attributable / Not fully attributable /
// Generic, kept as written (an unknown value fails the card's label check). Options: files;
// binary (default false; true folds Generic into Not fully attributable).
void begin(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  const bool binary = option_bool(card, "binary", false);
  for (const auto& path : in.files(card)) {
    const Table t = read_table(path, sink, true);
    const int know = t.col("knowledge"), msg = t.col("message"), resp = t.col("response"),
              lab = t.col("begin_label");
    for_each_row(t, sink, 0, [&](const std::vector<std::string>& row, long) {
      std::string label = row[size_t(lab)];
      if (binary && label == "Generic") label = "Not fully attributable";
      sink.emit(example({{"knowledge", row[size_t(know)]},
                         {"message", row[size_t(msg)]},
                         {"response", row[size_t(resp)]}},
                        {{"answer", label}}));
    });
  }
}

// HaluEval general (RUCAIBox/HaluEval): JSON Lines despite `.json`; `hallucination` "yes" = the
// ChatGPT response contains hallucinated content, "no" = it does not -> Yes / No. Options: files.
void halueval(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& r, long) {
      const std::string h = str_field(r, "hallucination");
      if (h != "yes" && h != "no") throw Error("unknown hallucination label '" + h + "'");
      sink.emit(example(
          {{"query", str_field(r, "user_query")}, {"response", str_field(r, "chatgpt_response")}},
          {{"answer", yes_no(h == "yes")}}));
    });
}

namespace {

// Factcheck-GPT rows not to use, counted as skips: those whose `source` the card's
// `exclude_sources` names, and those whose `response` is null (one felm-wk row).
bool skip_row(const TaskCard& card, const json& r, ExampleSink& sink) {
  const auto excluded = split_list(option(card, "exclude_sources", ""));
  const std::string src = str_field(r, "source");
  if (std::find(excluded.begin(), excluded.end(), src) != excluded.end()) {
    sink.skip("excluded source " + src);
    return true;
  }
  if (!field(r, "response").is_null()) return false;
  sink.skip("no response");
  return true;
}

}  // namespace

// Factcheck-GPT / Factbench (yuxiaw/Factcheck-GPT), response level: JSONL; `response_label`
// true = every claim in the response is factual, false = at least one is not -> Yes / No; the
// string "NA" is skipped ("NA label"), a null response too ("no response"). Options: files;
// exclude_sources (comma-separated `source` values to drop, e.g. halueval-dolly15k, which
// repeats HaluEval).
void factcheck_response(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& r, long) {
      if (skip_row(card, r, sink)) return;
      const json& label = field(r, "response_label");
      if (label == "NA") return sink.skip("NA label");
      if (!label.is_boolean())
        throw Error("response_label must be true/false, got " + label.dump());
      sink.emit(
          example({{"prompt", str_field(r, "prompt")}, {"response", str_field(r, "response")}},
                  {{"answer", yes_no(label.get<bool>())}}));
    });
}

// Factcheck-GPT, claim level: one example per (claims[i], claim_labels[i]); true = the claim is
// factual -> Yes / No, with the prompt and the whole response as context. The string labels
// "unknown" / "NA" are skipped ("<value> claim label"); rows without claims are skipped ("no
// claims"), a null response too ("no response"). Options: files; exclude_sources (as above).
void factcheck_claims(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& r, long) {
      if (skip_row(card, r, sink)) return;
      const json& claims = array_field(r, "claims");
      const json& labels = array_field(r, "claim_labels");
      if (claims.size() != labels.size())
        throw Error(std::to_string(claims.size()) + " claims but " +
                    std::to_string(labels.size()) + " claim_labels");
      if (claims.empty()) return sink.skip("no claims");
      const std::string prompt = str_field(r, "prompt"), response = str_field(r, "response");
      std::vector<Example> out;
      for (size_t i = 0; i < claims.size(); ++i) {
        if (labels[i] == "unknown" || labels[i] == "NA") {
          sink.skip(labels[i].get<std::string>() + " claim label");
          continue;
        }
        if (!labels[i].is_boolean() || !claims[i].is_string())
          throw Error("claim " + std::to_string(i) + ": expected a string and a bool label");
        out.push_back(example(
            {{"prompt", prompt}, {"response", response}, {"claim", claims[i].get<std::string>()}},
            {{"answer", yes_no(labels[i].get<bool>())}}));
      }
      emit_all(sink, out);
    });
}

// WiCE (ryokamoi/wice), claim level: JSONL; `label` supported / partially_supported /
// not_supported is the human entailment of `claim` by the cited article's `evidence` sentences
// (joined with newlines) -> Supported / Partially supported / Not supported. Options: files.
void wice(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  static const std::map<std::string, std::string> names = {
      {"supported", "Supported"},
      {"partially_supported", "Partially supported"},
      {"not_supported", "Not supported"}};
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& r, long) {
      const std::string label = str_field(r, "label");
      const auto it = names.find(label);
      if (it == names.end()) throw Error("unknown label '" + label + "'");
      sink.emit(example({{"claim", str_field(r, "claim")},
                         {"evidence", join_lines(array_field(r, "evidence"), "evidence")}},
                        {{"answer", it->second}}));
    });
}

// CoLA (nyu-mll/CoLA-baselines): headerless 4-column TSV without quoting (source, label,
// original mark, sentence); label 1 = acceptable, 0 = unacceptable, as judged by the authors of
// the linguistics publications -> Yes / No. Options: files.
void cola(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_row(read_table(path, sink, false), sink, 4,
                 [&](const std::vector<std::string>& row, long) {
                   if (row[1] != "0" && row[1] != "1")
                     throw Error("label must be 0 or 1, got '" + row[1] + "'");
                   sink.emit(example({{"sentence", row[3]}}, {{"answer", yes_no(row[1] == "1")}}));
                 });
}

namespace {

// Candidate keys of an ICE-Score problem are bare numbers ("0".."166"); the rest are
// "<metric>-N" or problem fields.
bool is_number_key(const std::string& key) {
  return !key.empty() &&
         std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

// ICE-Score HumanEval grades (terryyz/ice-score): a JSON array with one object per problem;
// each candidate N has its code under "N" and `grade-N.execution` 1 = passes the HumanEval
// tests, 0 = fails (from execution, not people) -> Yes / No. One example per (problem,
// candidate), candidates in numeric order. Options: files.
void ice_score(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_json_item(path, sink, [&](const json& r, long) {
      const std::string problem = str_field(r, "intent");
      std::vector<long> ids;
      for (const auto& [key, value] : r.items())
        if (is_number_key(key)) ids.push_back(std::stol(key));
      if (ids.empty()) throw Error("no candidates");
      std::sort(ids.begin(), ids.end());
      std::vector<Example> out;
      for (long id : ids) {
        const std::string n = std::to_string(id);
        const bool passes = binary_field(field(r, "grade-" + n), "execution");
        out.push_back(example({{"problem", problem}, {"completion", str_field(r, n)}},
                              {{"answer", yes_no(passes)}}));
      }
      emit_all(sink, out);
    });
}

// MR-GSM8K (dvlab-research/MR-GSM8K), the gpt4-grading result files: a JSON array; the human
// labels are `model_output_solution_correctness` (correct / wrong),
// `model_output_solution_first_error_step` (step number) and `..._first_error_reason` (text).
// Generative: for a wrong solution, output the first wrong step and why. Correct solutions are
// skipped ("solution correct"), a step of "N/A" too ("no first error step"). Options: files.
void mr_gsm8k(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  for (const auto& path : in.files(card))
    for_each_json_item(path, sink, [&](const json& r, long) {
      const std::string correctness = str_field(r, "model_output_solution_correctness");
      if (correctness == "correct") return sink.skip("solution correct");
      if (correctness != "wrong") throw Error("unknown solution correctness '" + correctness + "'");
      const json& step = field(r, "model_output_solution_first_error_step");
      if (step == "N/A") return sink.skip("no first error step");
      if (!step.is_number_integer() || step.get<long>() < 1)
        throw Error("first error step must be a step number, got " + step.dump());
      const std::string reason = str_field(r, "model_output_solution_first_error_reason");
      if (trim(reason).empty()) throw Error("empty first error reason");
      sink.emit(example({{"question", str_field(r, "question")},
                         {"solution", join_lines(array_field(r, "model_output_steps"),
                                                 "model_output_steps")}},
                        {{"first_error_step", std::to_string(step.get<long>())},
                         {"reason", reason}}));
    });
}

namespace {

std::string strip_error_marks(std::string s) {
  for (const char* mark : {"<v>", "</v>"})
    for (size_t p; (p = s.find(mark)) != std::string::npos;) s.erase(p, std::strlen(mark));
  return s;
}

struct MqmSegment {
  std::string source, target;
};
using MqmKey = std::pair<std::string, std::string>;  // (system, seg_id)

// The annotation TSV has one row per marked error (or No-error row); every row of a (system,
// seg_id) carries the same text once the <v>..</v> error marks are stripped.
std::map<MqmKey, MqmSegment> read_mqm_segments(const std::string& path, ExampleSink& sink) {
  const Table t = read_table(path, sink, true);
  const int sys = t.col("system"), seg = t.col("seg_id"), src = t.col("source"),
            tgt = t.col("target");
  std::map<MqmKey, MqmSegment> out;
  for_each_row(t, sink, 0, [&](const std::vector<std::string>& row, long) {
    out.try_emplace({row[size_t(sys)], row[size_t(seg)]},
                    MqmSegment{strip_error_marks(row[size_t(src)]),
                               strip_error_marks(row[size_t(tgt)])});
  });
  return out;
}

// avg_seg_scores: a space-separated header, then rows "system<TAB>score<SPACE>seg_id"; any run of
// whitespace separates the three fields, so a plain TSV reads the same.
void for_each_mqm_score(
    const std::string& path, ExampleSink& sink,
    const std::function<void(const std::string&, const std::string&, const std::string&)>& fn) {
  std::istringstream text(read_raw_file(path, &sink));
  std::string line;
  std::getline(text, line);
  if (line.rfind("system", 0) != 0)
    throw Error(path + ": expected the header 'system mqm_avg_score seg_id'");
  for (long n = 2; std::getline(text, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    guarded_record(sink, path + ":line " + std::to_string(n), [&] {
      std::istringstream ss(line);
      std::string system, score, seg, extra;
      if (!(ss >> system >> score >> seg) || (ss >> extra))
        throw Error("expected 3 fields: system, score, seg_id");
      fn(system, score, seg);
    });
  }
}

// Score -> level: thresholds (descending) are the lowest score of the top level, the next, ...;
// a score below the last is level 1.
std::string mqm_level(double score, const std::vector<double>& thresholds) {
  const size_t n = thresholds.size();
  for (size_t i = 0; i < n; ++i)
    if (score >= thresholds[i] - 1e-9) return std::to_string(n + 1 - i);
  return "1";
}

std::vector<double> mqm_thresholds(const TaskCard& card) {
  std::vector<double> out;
  for (const auto& s : split_list(option(card, "thresholds", "0,-1,-5,-10")))
    out.push_back(parse_number(s, "task " + card.name + ": option 'thresholds' item"));
  FLAME_CHECK(!out.empty() && std::is_sorted(out.rbegin(), out.rend()) &&
                  std::adjacent_find(out.begin(), out.end()) == out.end(),
              "task " << card.name << ": option 'thresholds' must be strictly descending");
  return out;
}

// Option system_aliases "ref-A=ref,ref-B=refB": the scores file's system name -> the TSV's.
std::map<std::string, std::string> mqm_aliases(const TaskCard& card) {
  std::map<std::string, std::string> out;
  for (const auto& item : split_list(option(card, "system_aliases", ""))) {
    const auto eq = item.find('=');
    FLAME_CHECK(eq != std::string::npos, "task " << card.name << ": system_aliases item '" << item
                                                 << "' is not name=name");
    out[trim(item.substr(0, eq))] = trim(item.substr(eq + 1));
  }
  return out;
}

}  // namespace

// WMT MQM (google/wmt-mqm-human-evaluation), one language pair: `files` names the annotation
// TSV and its *.avg_seg_scores.tsv. Professional translators marked errors; mqm_avg_score is the
// rater-averaged weighted error penalty (0 = no error, more negative = worse; None = not rated,
// skipped as "not rated"). One example per rated (system, seg_id): source and translation from
// the TSV (error marks stripped), score mapped to levels by `thresholds` (default
// "0,-1,-5,-10": 5 if >= 0, 4 if >= -1, 3 if >= -5, 2 if >= -10, else 1). Options: files,
// thresholds, system_aliases (the two files name the references differently: ref-A vs ref).
// Records: the annotation rows plus the score rows.
void wmt_mqm(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  const auto files = in.files(card);
  const auto is_scores = [](const std::string& p) {
    return p.find("avg_seg_scores") != std::string::npos;
  };
  const auto n_scores = std::count_if(files.begin(), files.end(), is_scores);
  if (files.size() != 2 || n_scores != 1)
    throw Error("task " + card.name +
                ": wmt_mqm needs 'files' = the annotation TSV and its avg_seg_scores file");
  const std::string scores = is_scores(files[0]) ? files[0] : files[1];
  const std::string main = is_scores(files[0]) ? files[1] : files[0];
  const auto thresholds = mqm_thresholds(card);
  const auto aliases = mqm_aliases(card);
  const auto segments = read_mqm_segments(main, sink);
  for_each_mqm_score(scores, sink, [&](const std::string& sys, const std::string& score,
                                       const std::string& seg) {
    if (score == "None") return sink.skip("not rated");
    const double v = parse_number(score, "mqm_avg_score");
    const auto alias = aliases.find(sys);
    const std::string name = alias == aliases.end() ? sys : alias->second;
    const auto it = segments.find({name, seg});
    if (it == segments.end())
      throw Error("no segment text for system " + name + ", seg_id " + seg + " in " + main);
    sink.emit(example({{"source", it->second.source}, {"translation", it->second.target}},
                      {{"score", mqm_level(v, thresholds)}}));
  });
}

// MLQE-PE Direct Assessments (sheffieldnlp/mlqe-pe): each tar.gz holds <split>.<pair>.df.short.tsv
// (header, no quoting); `mean` is the average of several annotators' 0-100 DA scores (higher =
// better), binned with bin_label into `levels` equal bins over [score_min, score_max] (defaults
// 5 over [0, 100]). Options: files (the archives), score_min, score_max, levels.
void mlqe_pe(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  const double lo = option_double(card, "score_min", 0), hi = option_double(card, "score_max", 100);
  const double levels = option_double(card, "levels", 5);
  FLAME_CHECK(levels >= 2 && levels == std::floor(levels),
              "task " << card.name << ": option 'levels' must be an integer >= 2");
  const std::string suffix = ".df.short.tsv";
  for (const auto& path : in.files(card)) {
    const auto members = read_tar(path, &sink);
    const auto m = std::find_if(members.begin(), members.end(), [&](const TarMember& t) {
      return t.name.size() >= suffix.size() &&
             t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
    if (m == members.end()) throw Error(path + ": no member named *" + suffix);
    const Table t = parse_delimited(m->data, path + ":" + m->name, DelimitedOptions{});
    const int src = t.col("original"), tgt = t.col("translation"), mean = t.col("mean");
    for_each_row(t, sink, 0, [&](const std::vector<std::string>& row, long) {
      const double v = parse_number(row[size_t(mean)], "mean");
      sink.emit(example({{"source", row[size_t(src)]}, {"translation", row[size_t(tgt)]}},
                        {{"score", bin_label(v, lo, hi, int(levels))}}));
    });
  }
}

}  // namespace flame::data::converters
