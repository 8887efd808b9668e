// Human preferences over pairs (or rankings) of responses, and BARTScore's human-scored outputs,
// read in the formats their repositories ship:
//   - HH-RLHF: gzip JSONL, `chosen` / `rejected` full dialogue transcripts;
//   - PandaLM: a JSON array with three annotators' votes per pair;
//   - Auto-J: JSONL with one 0/1/2 label per pair;
//   - FairEval: question and per-model answer JSONL files joined with a label-per-line text file;
//   - CoBBLEr: JSON win-count rankings of 15 models by 6 annotators, turned into pairs;
//   - BARTScore: data.jsonl (one line per document) with human scores per system output
//     (SummEval, REALSumm) or human-preferred pairs (Rank19, WMT DARR).
// Pairwise converters emit one presentation order; the preferred response lands at A or B by a
// hash of the content, so even that one order has balanced labels.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <ranges>
#include <string_view>

#include "core/strings.h"
#include "data/converters/converters.h"
#include "data/raw_io.h"
#include "core/rng.h"
#include "core/error.h"

namespace flame::data::converters {

namespace {

using nlohmann::json;
using Fields = std::vector<std::pair<std::string, std::string>>;

enum class Winner { first, second, tie };

// Converters fill fields by name, so a card naming other fields is a whole-task error (thrown
// here, once) rather than thousands of bad records. Pairwise cards end with their pair fields.
void require_fields(const TaskCard& card, std::vector<std::string> context) {
  if (card.type == TaskType::pairwise)
    context.insert(context.end(), card.pair_fields.begin(), card.pair_fields.end());
  if (card.input_fields != context)
    throw Error("task " + card.name + ": converter " + card.converter + " needs input_fields [" +
                join(context) + "], the card has [" + join(card.input_fields) + "]");
  if (card.output_fields.size() != 1)
    throw Error("task " + card.name + ": converter " + card.converter +
                " fills exactly one output field, the card has [" + join(card.output_fields) + "]");
}

// Option ties: drop (default) skips tied pairs; keep labels them Tie, which the card must list.
bool keep_ties(const TaskCard& card) {
  const std::string v = option(card, "ties", "drop");
  if (v != "drop" && v != "keep")
    throw Error("task " + card.name + ": option 'ties' must be drop or keep (got '" + v + "')");
  const bool has_tie = card.labels.size() == 3 && card.labels[2] == "Tie";
  if ((v == "keep") != has_tie)
    throw Error("task " + card.name + ": ties: " + v + " needs labels " +
                (v == "keep" ? "[A, B, Tie]" : "[A, B]"));
  return v == "keep";
}

// The content hash picks the order, so the label does not follow the source's field order
// (HH-RLHF always lists the preferred transcript first). A preference between two identical
// texts carries nothing a rater could learn from.
void emit_pair(ExampleSink& sink, bool keep_ties, Fields inputs, const std::string& first,
               const std::string& second, Winner w) {
  if (w == Winner::tie && !keep_ties) return sink.skip("tie");
  if (w != Winner::tie && first == second) return sink.skip("identical responses");
  std::string key;
  for (const auto& [name, value] : inputs) key += value + '\x1f';
  const bool swap = hash_str(key + first + '\x1f' + second) & 1;
  const TaskCard& card = sink.card();
  inputs.emplace_back(card.pair_fields[0], swap ? second : first);
  inputs.emplace_back(card.pair_fields[1], swap ? first : second);
  std::string label = "Tie";
  if (w != Winner::tie) label = ((w == Winner::first) != swap) ? "A" : "B";
  sink.emit({std::move(inputs), {{card.output_fields[0], label}}});
}

// An integer field holding one of `codes` (e.g. {0, 1, 2}); anything else is an unknown label.
int code_field(const json& rec, const std::string& key, std::initializer_list<int> codes) {
  const json& v = field(rec, key);
  if (v.is_number_integer())
    for (int c : codes)
      if (v.get<long>() == c) return c;
  throw Error("field '" + key + "': unknown label " + v.dump());
}

// --- HH-RLHF -------------------------------------------------------------------------------

// "\n\nHuman: ...\n\nAssistant: reply" -> (dialogue before the last assistant turn, reply); the
// turn markers around the split are format, not content.
std::pair<std::string, std::string> split_last_turn(const std::string& transcript) {
  static const std::string kTurn = "\n\nAssistant:";
  const size_t p = transcript.rfind(kTurn);
  if (p == std::string::npos) throw Error("transcript has no '\\n\\nAssistant:' turn");
  return {trim(std::string_view(transcript).substr(0, p), " \t\r\n"),
          trim(std::string_view(transcript).substr(p + kTurn.size()), " \t\r\n")};
}

}  // namespace

// Anthropic HH-RLHF (any subset: harmless-base, helpful-base, ...). Label: `chosen` is the
// transcript the crowdworker preferred, `rejected` the other; no ties. The prompt is the shared
// dialogue before the final assistant turn; pairs that differ earlier are skipped. Options:
// files.
void hh_rlhf(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  require_fields(card, {"conversation"});
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& rec, long) {
      const auto [prompt, chosen] = split_last_turn(str_field(rec, "chosen"));
      const auto [other_prompt, rejected] = split_last_turn(str_field(rec, "rejected"));
      if (prompt != other_prompt) return sink.skip("transcripts differ before the last turn");
      emit_pair(sink, false, {{"conversation", prompt}}, chosen, rejected, Winner::first);
    });
}

namespace {

// PandaLM votes: 1 = response1 better, 2 = response2 better, 0 = tie. A winner needs more than
// half of the votes; nullopt when there is none.
std::optional<Winner> pandalm_majority(const json& rec) {
  constexpr int kAnnotators = 3;
  int votes[3] = {0, 0, 0};
  for (int i = 1; i <= kAnnotators; ++i)
    ++votes[code_field(rec, "annotator" + std::to_string(i), {0, 1, 2})];
  const Winner by_code[3] = {Winner::tie, Winner::first, Winner::second};
  for (int c = 0; c < 3; ++c)
    if (2 * votes[c] > kAnnotators) return by_code[c];
  return std::nullopt;
}

// PandaLM's file holds six responses that were the text "True" as JSON booleans (a Python-side
// conversion); the annotators judged the text, so it is restored as Python prints it.
std::string pandalm_text(const json& rec, const std::string& key) {
  const json& v = field(rec, key);
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  return str_field(rec, key);
}

}  // namespace

// PandaLM human test set (data/testset-v1.json). Label: majority of annotator1..3 (1 =
// response1, 2 = response2, 0 = tie); pairs without a majority are skipped. Options: files, ties.
void pandalm(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  require_fields(card, {"instruction", "input"});
  const bool ties = keep_ties(card);
  for (const auto& path : in.files(card))
    for_each_json_item(path, sink, [&](const json& rec, long) {
      const std::optional<Winner> w = pandalm_majority(rec);
      const Fields context = {{"instruction", str_field(rec, "instruction")},
                              {"input", str_field(rec, "input")}};
      const std::string r1 = pandalm_text(rec, "response1"), r2 = pandalm_text(rec, "response2");
      if (!w) return sink.skip("no majority");
      emit_pair(sink, ties, context, r1, r2, *w);
    });
}

// Auto-J pairwise test set (data/test/testdata_pairwise.jsonl). Label: 0 = `response 1`
// preferred, 1 = `response 2`, 2 = tie. `scenario` is Auto-J's own task taxonomy, not something
// the annotators were shown, so it stays out of the prompt. Options: files, ties.
void autoj(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  require_fields(card, {"prompt"});
  const bool ties = keep_ties(card);
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& rec, long) {
      const Winner by_code[3] = {Winner::first, Winner::second, Winner::tie};
      const Winner w = by_code[code_field(rec, "label", {0, 1, 2})];
      emit_pair(sink, ties, {{"prompt", str_field(rec, "prompt")}}, str_field(rec, "response 1"),
                str_field(rec, "response 2"), w);
    });
}

namespace {

// question_id -> text of a FairEval question or answer file. Its lines are records in their own
// right, so a malformed one is reported at its own location.
std::map<long, std::string> texts_by_question(const std::string& path, ExampleSink& sink) {
  std::map<long, std::string> out;
  for_each_jsonl(path, sink, [&](const json& rec, long) {
    const json& id = field(rec, "question_id");
    if (!id.is_number_integer()) throw Error("field 'question_id' is not an integer");
    if (!out.emplace(id.get<long>(), str_field(rec, "text")).second)
      throw Error("duplicate question_id " + id.dump());
  });
  return out;
}

const std::string& text_for(const std::map<long, std::string>& texts, long id,
                            const std::string& what) {
  const auto it = texts.find(id);
  if (it == texts.end()) throw Error("no " + what + " for question_id " + std::to_string(id));
  return it->second;
}

// Non-blank lines of a text file: fn(trimmed line, 1-based line number), each a guarded record.
void for_each_text_line(const std::string& path, ExampleSink& sink,
                        const std::function<void(const std::string&, long)>& fn) {
  const std::string text = read_raw_file(path, &sink);
  size_t start = 0;
  for (long line = 1; start < text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string value = trim(std::string_view(text).substr(start, end - start), " \t\r\n");
    start = end + 1;
    if (value.empty()) continue;
    guarded_record(sink, path + ":line " + std::to_string(line), [&] { fn(value, line); });
  }
}

}  // namespace

// FairEval human review of gpt35 vs vicuna-13b. Files, in this order: question.jsonl, the first
// model's answers, the second model's answers, the review file. Label: line i of the review file
// judges question_id i: `first` / `second` / `tie` (options, default CHATGPT / VICUNA13B / TIE).
// Options: files, first, second, tie, ties.
void faireval(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  require_fields(card, {"question"});
  const bool ties = keep_ties(card);
  const auto files = in.files(card);
  if (files.size() != 4)
    throw Error("task " + card.name + ": faireval needs 4 files (questions, answers of the " +
                "first model, answers of the second, review), got " + std::to_string(files.size()));
  const auto questions = texts_by_question(files[0], sink);
  const auto first = texts_by_question(files[1], sink), second = texts_by_question(files[2], sink);
  const std::map<std::string, Winner> labels = {
      {option(card, "first", "CHATGPT"), Winner::first},
      {option(card, "second", "VICUNA13B"), Winner::second},
      {option(card, "tie", "TIE"), Winner::tie}};
  for_each_text_line(files[3], sink, [&](const std::string& label, long qid) {
    const auto it = labels.find(label);
    if (it == labels.end()) throw Error("unknown label '" + label + "'");
    emit_pair(sink, ties, {{"question", text_for(questions, qid, "question")}},
              text_for(first, qid, "first answer"), text_for(second, qid, "second answer"),
              it->second);
  });
}

namespace {

// One CoBBLEr instruction: every annotator's win counts (model -> how many models it beat) and
// each model's response.
struct CobblerItem {
  std::string instruction, reference;
  std::vector<std::map<std::string, long>> wins;  // per annotator
  std::map<std::string, std::string> responses;   // per model
};

std::map<std::string, long> annotator_wins(const json& file, size_t i, const std::string& path) {
  if (!file.is_array() || i >= file.size()) throw Error(path + " has no item " + std::to_string(i));
  if (!file[i].is_object()) throw Error(path + " item " + std::to_string(i) + " is not an object");
  std::map<std::string, long> out;
  for (const auto& [model, v] : file[i].items()) {
    if (!v.is_number_integer()) throw Error(path + ": wins of '" + model + "' not an integer");
    out[model] = v.get<long>();
  }
  return out;
}

CobblerItem cobbler_item(const json& evalset, const json& gens, const std::vector<json>& annots,
                         const std::vector<std::string>& files, size_t i) {
  CobblerItem item{
      str_field(evalset[i], "instruction"), str_field(evalset[i], "reference"), {}, {}};
  for (size_t k = 0; k < annots.size(); ++k) {
    item.wins.push_back(annotator_wins(annots[k], i, files[k + 2]));
    if (!std::ranges::equal(item.wins.back() | std::views::keys, item.wins[0] | std::views::keys))
      throw Error(files[k + 2] + " ranks another set of models than " + files[2]);
  }
  for (const auto& [model, w] : item.wins.front()) {
    const json& list = field(gens, model);
    if (!list.is_array() || i >= list.size() || !list[i].is_string())
      throw Error("no response " + std::to_string(i) + " of model '" + model + "'");
    item.responses[model] = list[i].get<std::string>();
  }
  return item;
}

// How many annotators ranked model a above model b.
int votes_for(const CobblerItem& item, const std::string& a, const std::string& b) {
  int n = 0;
  for (const auto& w : item.wins) n += w.at(a) > w.at(b);
  return n;
}

void emit_cobbler_pairs(ExampleSink& sink, const CobblerItem& item, int need) {
  const Fields context = {{"instruction", item.instruction}, {"reference", item.reference}};
  for (auto a = item.responses.begin(); a != item.responses.end(); ++a)
    for (auto b = std::next(a); b != item.responses.end(); ++b) {
      const int for_a = votes_for(item, a->first, b->first);
      const int for_b = votes_for(item, b->first, a->first);
      if (for_a < need && for_b < need) {
        sink.skip("annotators disagree");
        continue;
      }
      emit_pair(sink, false, context, a->second, b->second,
                for_a >= need ? Winner::first : Winner::second);
    }
}

// More than half of the annotators, so a pair can never qualify in both directions.
int min_agreement(const TaskCard& card, size_t annotators) {
  const double v = option_double(card, "min_agreement", 5);
  if (v != std::floor(v) || 2 * v <= double(annotators) || v > double(annotators))
    throw Error("task " + card.name + ": min_agreement must be an integer above half of the " +
                std::to_string(annotators) + " annotators and at most all of them");
  return int(v);
}

}  // namespace

// CoBBLEr human rankings. Files, in this order: the eval set ([{instruction, reference}]), the
// generations ({model: [response per instruction]}), then one annotation file per annotator
// (list per instruction of {model: number of models ranked below it}). Label: a pair of models
// is kept when at least min_agreement annotators rank the same one higher, else skipped as
// "annotators disagree". One record per instruction. Options: files, min_agreement (default 5).
void cobbler(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  require_fields(card, {"instruction", "reference"});
  const auto files = in.files(card);
  if (files.size() < 3)
    throw Error("task " + card.name + ": cobbler needs the eval set, the generations and at " +
                "least one annotation file");
  const json evalset = read_json(files[0], &sink), gens = read_json(files[1], &sink);
  if (!evalset.is_array()) throw Error(files[0] + ": expected a JSON array at the top level");
  std::vector<json> annots;
  for (size_t k = 2; k < files.size(); ++k) annots.push_back(read_json(files[k], &sink));
  const int need = min_agreement(card, annots.size());
  for (size_t i = 0; i < evalset.size(); ++i)
    guarded_record(sink, files[0] + ":record " + std::to_string(i), [&] {
      emit_cobbler_pairs(sink, cobbler_item(evalset, gens, annots, files, i), need);
    });
}

namespace {

// A human score -> a label of the card's scale: "round" to the nearest integer (SummEval's
// 3-annotator means are thirds, so there is never a half to break), or "bins": equal-width bins
// over [lo, hi], as many as the card has labels.
std::string score_label(const TaskCard& card, double v, const std::string& mapping) {
  std::string label;
  if (mapping == "round") {
    if (!std::isfinite(v)) throw Error("score is not a finite number");
    label = std::to_string(long(std::floor(v + 0.5)));
  } else {
    label = bin_label(v, option_double(card, "lo", 0), option_double(card, "hi", 1),
                      int(card.labels.size()));
  }
  if (std::find(card.labels.begin(), card.labels.end(), label) == card.labels.end())
    throw Error("score " + std::to_string(v) + " maps to '" + label + "', not on the scale");
  return label;
}

}  // namespace

// BARTScore data.jsonl for summarisation (SummEval, REALSumm, QAGS_*): one example per system
// summary of a document. Label: sys_summs[system].scores[metric] mapped to the card's scale.
// All summaries of a document are checked before any is emitted, so a bad document is dropped
// whole. Options: files, metric (required), mapping (round | bins), lo, hi (bins; default 0, 1).
void bartscore_pointwise(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  require_fields(card, {"document", "summary"});
  const std::string metric = option(card, "metric", "");
  const std::string mapping = option(card, "mapping", "round");
  if (metric.empty()) throw Error("task " + card.name + ": bartscore_pointwise needs 'metric'");
  if (mapping != "round" && mapping != "bins")
    throw Error("task " + card.name + ": option 'mapping' must be round or bins");
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& rec, long) {
      const std::string doc = str_field(rec, "src");
      std::vector<Example> out;
      for (const auto& [system, s] : field(rec, "sys_summs").items()) {
        const json& score = field(field(s, "scores"), metric);
        if (!score.is_number()) throw Error(system + ": score '" + metric + "' is not a number");
        out.push_back({{{"document", doc}, {"summary", str_field(s, "sys_summ")}},
                       {{card.output_fields[0], score_label(card, score.get<double>(), mapping)}}});
      }
      for (auto& ex : out) sink.emit(std::move(ex));
    });
}

namespace {

// WMT DARR: `better` was judged the better translation of `src` than `worse`.
void emit_darr(ExampleSink& sink, const json& rec) {
  const json& better = field(rec, "better");
  const json& worse = field(rec, "worse");
  emit_pair(sink, false, {{"source", str_field(rec, "src")}, {"reference", str_field(rec, "ref")}},
            str_field(better, "sys"), str_field(worse, "sys"), Winner::first);
}

// Two named entries of sys_summs, the first preferred (Rank19: correct vs incorrect).
void emit_systems(ExampleSink& sink, const json& rec, const std::string& better,
                  const std::string& worse) {
  const json& systems = field(rec, "sys_summs");
  emit_pair(sink, false, {{"article", str_field(rec, "src")}},
            str_field(field(systems, better), "sys_summ"),
            str_field(field(systems, worse), "sys_summ"), Winner::first);
}

}  // namespace

// BARTScore pairwise sets. format darr (WMT kk-en): `better` / `worse` translations of `src`
// with reference `ref`; the label is the field name (the scores are empty). format systems
// (Rank19): the sys_summs entries named by options better / worse (default correct /
// incorrect) of the article `src`. Options: files, format (darr | systems), better, worse.
void bartscore_pairwise(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  const std::string format = option(card, "format", "");
  if (format != "darr" && format != "systems")
    throw Error("task " + card.name + ": option 'format' must be darr or systems");
  const bool darr = format == "darr";
  require_fields(card, darr ? std::vector<std::string>{"source", "reference"}
                            : std::vector<std::string>{"article"});
  const std::string better = option(card, "better", "correct");
  const std::string worse = option(card, "worse", "incorrect");
  for (const auto& path : in.files(card))
    for_each_jsonl(path, sink, [&](const json& rec, long) {
      darr ? emit_darr(sink, rec) : emit_systems(sink, rec, better, worse);
    });
}

}  // namespace flame::data::converters
