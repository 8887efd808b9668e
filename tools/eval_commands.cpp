// flame eval / flame judge (eval_commands.h).
#include "tools/eval_commands.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/timing.h"
#include "train/checkpoint.h"
#include "train/eval_suite.h"
#include "train/generate.h"
#include "train/evaluate.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ordered = nlohmann::ordered_json;  // judge lines keep the documented key order

namespace flame::tools {

namespace {

// Rows per forward. The sequence length is the model's own max_seq_len (load_model_for_inference
// caps it there), so no item is cut shorter than the model could read.
constexpr int kRows = 8;
constexpr int kAnyLength = 1 << 30;

void write_text(const std::string& path, const std::string& text) {
  if (const auto parent = fs::path(path).parent_path(); !parent.empty())
    fs::create_directories(parent);
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f.flush()) throw Error("cannot write " + path);
}

// "cpu" | "cuda" -> the device the scoring runs on (a clear error for anything else).
model::Device scoring_device(const std::string& device) {
  if (device != "cpu" && device != "cuda")
    throw Error("--device must be cpu or cuda (got '" + device + "')");
  return model::parse_device(device);
}

int run_eval(const EvalCommands& c) {
  // The suite is checked before the weights are read: a typo fails in milliseconds.
  const train::EvalSuite suite = train::load_eval_suite(c.eval_suite);
  const auto t0 = Clock::now();
  train::LoadedModel lm =
      train::load_model_for_inference(c.eval_model, kRows, kAnyLength, scoring_device(c.device));
  json report = train::run_suite(*lm.model, *lm.tokenizer, suite, c.eval_max_examples);
  report["model"] = {{"checkpoint", lm.dir}, {"step", lm.state.step}};
  std::cout << train::suite_table(report) << std::flush;
  if (!c.eval_json.empty()) write_text(c.eval_json, report.dump(2) + "\n");
  const double wall = seconds_since(t0);
  std::cerr << "eval: " << report["n_items"] << " items in " << std::fixed << std::setprecision(1)
            << wall << " s (checkpoint " << lm.dir << ")"
            << (c.eval_json.empty() ? "" : " -> " + c.eval_json) << std::endl;
  return 0;
}

ordered named(const data::TaskCard& card, const std::vector<double>& p) {
  ordered j = ordered::object();
  for (size_t i = 0; i < p.size(); ++i) j[card.labels[i]] = p[i];
  return j;
}

int argmax(const std::vector<double>& p) {
  return int(std::max_element(p.begin(), p.end()) - p.begin());
}

// One scored input line as the output schema (docs/evaluation.md) has it.
ordered judgment(const data::TaskCard& card, const train::JsonlItem& item,
                 const train::ExampleScore& s) {
  ordered j = {{"line", item.line}};
  if (!item.id.is_null()) j["id"] = item.id;
  const int verdict = argmax(s.probs);
  j["decision"] = card.labels[size_t(verdict)];
  if (card.type == data::TaskType::pairwise) {
    j["p_a"] = s.probs[0];
    j["probs"] = named(card, s.probs);
    // The swapped order's probabilities named after the responses as given: its "A" is the
    // probability that response A, shown second, is the better one.
    std::vector<double> ba(s.p_ba.size());
    for (size_t k = 0; k < ba.size(); ++k) ba[k] = s.p_ba[k < 2 ? 1 - k : k];
    j["order_ab"] = named(card, s.p_ab);
    j["order_ba"] = named(card, ba);
    j["consistent"] = argmax(s.p_ab) == argmax(ba);
  } else {
    j["probs"] = named(card, s.probs);
    if (card.type == data::TaskType::pointwise) {
      const auto values = train::label_values(card);
      double e = 0;
      for (size_t l = 0; l < values.size(); ++l) e += s.probs[l] * values[l];
      j["expected_score"] = e;
    }
  }
  if (item.labelled) {
    j["label"] = item.ex.label();
    j["correct"] = j["decision"] == item.ex.label();
  }
  return j;
}

int run_judge(const EvalCommands& c) {
  if (c.judge_batch <= 0) throw Error("judge: --batch must be > 0");
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  // Cards by name are found from the working directory, then from the binary's build directory
  // (which sits in the source tree), so the default card works from anywhere in a checkout.
  const data::TaskCard card = train::find_task_card(
      c.judge_task, "configs/tasks", {fs::current_path().string(), exe_dir.string()});
  if (card.type == data::TaskType::generative)
    throw Error("judge: task " + card.name + " is generative; judge reads label probabilities");
  std::ifstream in(c.judge_input, std::ios::binary);
  if (!in) throw Error("judge: cannot open --input " + c.judge_input);
  train::LoadedModel lm =
      train::load_model_for_inference(c.judge_model, kRows, kAnyLength, scoring_device(c.device));

  std::ofstream file_out;
  if (!c.judge_output.empty()) {
    if (const auto parent = fs::path(c.judge_output).parent_path(); !parent.empty())
      fs::create_directories(parent);
    file_out.open(c.judge_output, std::ios::binary);
    if (!file_out) throw Error("judge: cannot write --output " + c.judge_output);
  }
  std::ostream& out = c.judge_output.empty() ? std::cout : file_out;

  const auto t0 = Clock::now();
  long lines = 0, bad = 0, scored = 0, correct = 0, labelled = 0;
  double explain_s = 0.0;  // time spent generating explanations (part of the wall time)
  std::string first_bad;
  // A batch keeps input order: a malformed line's error record sits where the line was.
  std::vector<std::optional<train::JsonlItem>> batch;
  std::vector<ordered> errors;
  auto flush = [&] {
    std::vector<data::Example> exs;
    for (const auto& b : batch)
      if (b) exs.push_back(b->ex);
    const auto scores = train::score_examples(*lm.model, *lm.tokenizer, card, exs);
    std::vector<ordered> judged;
    std::vector<std::string> verdicts;
    size_t k = 0, e = 0;
    for (const auto& b : batch) {
      judged.push_back(b ? judgment(card, *b, scores[k++]) : errors[e++]);
      if (b) verdicts.push_back(judged.back()["decision"].get<std::string>());
    }
    std::vector<std::string> explanations;
    if (c.judge_explain > 0) {  // the whole batch at once, on the scoring device
      const auto te = Clock::now();
      explanations = train::explain_batch(*lm.model, *lm.tokenizer, card, exs, verdicts,
                                          c.judge_explain);
      explain_s += seconds_since(te);
    }
    k = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& b = batch[i];
      ordered& j = judged[i];
      if (b && c.judge_explain > 0) j["explanation"] = explanations[k++];
      if (b && b->labelled) {
        ++labelled;
        correct += j["correct"].get<bool>();
      }
      out << j.dump() << "\n";
    }
    scored += long(exs.size());
    batch.clear();
    errors.clear();
  };
  std::string line;
  for (long lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++lines;
    try {
      train::JsonlItem item = train::parse_jsonl_line(line, card, false, false);
      item.line = lineno;
      batch.emplace_back(std::move(item));
    } catch (const std::exception& e) {
      ++bad;
      if (first_bad.empty())
        first_bad = c.judge_input + ":" + std::to_string(lineno) + ": " + e.what();
      batch.emplace_back(std::nullopt);
      errors.push_back({{"line", lineno}, {"error", e.what()}});
    }
    if (long(batch.size()) >= c.judge_batch) flush();
  }
  if (!batch.empty()) flush();
  out.flush();
  if (!out) throw Error("judge: writing the output failed");
  const double wall = seconds_since(t0);
  if (lines == 0) throw Error("judge: " + c.judge_input + " has no items");
  if (scored == 0)
    throw Error("judge: all " + std::to_string(lines) + " lines of " + c.judge_input +
                " are malformed; the first: " + first_bad);
  std::cerr << "judge: " << scored << " items";
  if (bad) std::cerr << " (" << bad << " malformed lines, e.g. " << first_bad << ")";
  std::cerr << " with " << card.name << " in " << std::fixed << std::setprecision(2) << wall
            << " s: " << std::setprecision(1) << scored / std::max(wall, 1e-9) << " items/s";
  if (c.judge_explain > 0)
    std::cerr << "; explanations took " << std::setprecision(2) << explain_s << " s: "
              << std::setprecision(1) << scored / std::max(explain_s, 1e-9)
              << " explained items/s";
  if (labelled)
    std::cerr << "; accuracy " << std::setprecision(3) << double(correct) / double(labelled)
              << " on " << labelled << " labelled items";
  std::cerr << std::endl;
  return 0;
}

}  // namespace

void EvalCommands::add_to(CLI::App& app) {
  eval = app.add_subcommand("eval", "Score a checkpoint on an evaluation suite (YAML)");
  eval->add_option("--model", eval_model,
                   "Checkpoint: a step-N directory, a run's ckpt/ directory or a run directory "
                   "(its latest checkpoint)")
      ->required();
  eval->add_option("--suite", eval_suite, "Suite YAML, e.g. configs/eval/example.yaml")->required();
  eval->add_option("--max-examples", eval_max_examples,
                   "At most this many items per subset (default 0: all)");
  eval->add_option("--json", eval_json, "Also write the report as JSON to this file");
  eval->add_option("--device", device, "cpu (default) or cuda: where the scoring runs");
  eval->footer(
      "Prints a table: accuracy per subset (with the type's other metrics), per category (the "
      "example-weighted mean of its subsets), overall (the mean of the categories), and for "
      "pairwise items the position bias (first-shown response preferred) and length bias. "
      "Suite format, metrics and the JSON report: docs/evaluation.md.");

  judge = app.add_subcommand("judge", "Judge the items of a JSONL file with a checkpoint");
  judge->add_option("--model", judge_model, "Checkpoint (as for flame eval)")->required();
  judge->add_option("--input", judge_input, "Items, one JSON object per line")->required();
  judge->add_option("--device", device,
                    "cpu (default) or cuda: where the scoring runs (explanations: CPU)");
  judge->add_option("--explain", judge_explain,
                    "Also generate an explanation of at most N tokens after the decision "
                    "(greedy; the card's second output field, else 'explanation')");
  judge->add_option("--task", judge_task,
                    "Task card: a name (synthetic, or under configs/tasks) or a path to a card "
                    "(default eval_pairwise: prompt, response_a, response_b)");
  judge->add_option("--output", judge_output,
                    "Judgments, one JSON object per line (default: stdout)");
  judge->add_option("--batch", judge_batch, "Items scored per model call (default 256)");
  judge->footer(
      "Input line: the card's input fields by name (eval_pairwise: prompt, response_a, "
      "response_b); for a pairwise card, chosen/rejected may replace the two responses (chosen "
      "becomes A). Optional: label (or score on a numeric scale), id; other keys are ignored.\n"
      "Output line: line, id (when given), decision, probs (label -> probability); pairwise adds "
      "p_a and the single-order probabilities order_ab and order_ba (both named after the "
      "responses as given; probs is their mean) and consistent; pointwise adds expected_score; "
      "with a label: label, correct. A malformed line yields {line, error}. Pairs are scored in "
      "both orders. Throughput (items/s) goes to stderr. Details: docs/evaluation.md.");
}

int EvalCommands::run() const {
  if (eval && eval->parsed()) return run_eval(*this);
  if (judge && judge->parsed()) return run_judge(*this);
  return -1;
}

}  // namespace flame::tools
