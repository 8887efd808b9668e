// The `fields` converter: a declarative mapping from the records of a JSON array (.json), JSON
// Lines (.jsonl, .ndjson), CSV (.csv, RFC-4180 quoting) or TSV (.tsv, no quoting) file, each
// optionally gzip-compressed (.gz), to examples. It serves the cards of datasets whose records
// already hold one judgment each, so a new dataset needs a card, not code.
//
// Card options (all strings):
//   files           required; comma-separated paths under the raw root, all read the same way.
//   format          json | jsonl | csv | tsv; default from each file's extension (.gz ignored).
//   records         json only: dotted path to the array of records inside the document (default:
//                   the document itself must be an array).
//   columns         csv/tsv only: comma-separated column names for a file without a header line.
//   quoted          csv/tsv only: true|false, whether fields may be double-quoted (default: true
//                   for csv, false for tsv, which is read QUOTE_NONE as most TSV releases need).
//   input.<field>   for every card input field: the record key holding its text (except the two
//                   pair fields when chosen/rejected are given). CSV/TSV keys are column names.
//   output.<field>  for every output field after the first (e.g. an explanation); the first
//                   output field may also be named this way instead of with `label`.
//   label           the record key of the label (classification, pointwise, pairwise without
//                   chosen/rejected) or of the target text (generative).
//   label_map       "raw=label,raw=label,...": raw label values to card labels; `*=label` maps
//                   every other value; a raw value with no entry is a bad record. Without it the
//                   raw value must already be one of the card's labels.
//   skip_labels     comma-separated raw label values dropped as skip("label <value>") (e.g. "-"
//                   for MNLI's no-consensus pairs, "-1" for unlabelled rows).
//   bins            pointwise: "lo,hi,levels": a numeric raw label is binned into "1".."levels"
//                   with bin_label (values outside [lo, hi] are bad records); label_map, if
//                   given, then applies to the bin.
//   chosen, rejected  pairwise: keys of the preferred and the other response. The preferred one
//                   goes to the first or the second pair field by a hash of the two texts (and the
//                   task name), so the labels A/B come out balanced and the same on every run.
//                   Two identical texts carry no preference: skip("identical responses").
//   ties            pairwise with `label`: drop (default; a Tie label becomes skip("tie")) or
//                   keep (the card's labels must then be [A, B, Tie]).
//   filter          comma-separated conditions a record must all meet, else skip("filter"):
//                   key=value, key!=value, or key~regex (ECMAScript, case-insensitive search);
//                   values cannot hold commas.
//   join            separator used when a value is a list of scalars (default "\n").
// Keys: a key is looked up as written first, so keys with dots or spaces work ("response 1");
// otherwise it is a dotted path through objects and list indices ("conversation_a.1.content").
// Values: strings as they are; numbers and booleans in their JSON spelling (a whole float as an
// integer, so 3.0 reads "3"); lists of scalars joined. A missing key, null, or nested object is a
// bad record at file:line N (JSON arrays: file:record N).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "core/strings.h"
#include "data/converters/converters.h"
#include "data/raw_io.h"
#include "core/rng.h"
#include "core/error.h"

namespace flame::data::converters {

namespace {

using nlohmann::json;

struct Condition {
  std::string key, op, value;  // op: "=", "!=", "~"
  std::regex re;               // op "~"
};

// The card's options, parsed and checked once per conversion.
struct Mapping {
  std::string format;                // "" = from each file's extension
  std::string records;               // json: path to the record array
  std::vector<std::string> columns;  // csv/tsv without header
  std::optional<bool> quoted;
  std::map<std::string, std::string> inputs;  // card input field -> record key
  std::vector<std::string> outputs;           // record keys of output_fields[1..]
  std::string label;                          // record key of the label / target
  std::map<std::string, std::string> label_map;
  std::set<std::string> skip_labels;
  std::optional<std::tuple<double, double, int>> bins;
  std::string chosen, rejected;
  bool keep_ties = false;
  std::vector<Condition> filters;
  std::string join = "\n";
};

[[noreturn]] void option_error(const TaskCard& card, const std::string& msg) {
  throw Error("task " + card.name + " (converter fields): " + msg);
}

std::map<std::string, std::string> parse_label_map(const TaskCard& card, const std::string& s) {
  std::map<std::string, std::string> out;
  for (const auto& item : split_list(s)) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) option_error(card, "label_map entry '" + item + "' lacks '='");
    out[trim(item.substr(0, eq))] = trim(item.substr(eq + 1));
  }
  if (out.empty()) option_error(card, "label_map is empty");
  return out;
}

std::vector<Condition> parse_filters(const TaskCard& card, const std::string& s) {
  std::vector<Condition> out;
  for (const auto& item : split_list(s)) {
    const auto p = item.find_first_of("!=~");
    const bool negated = p != std::string::npos && item[p] == '!';
    if (p == std::string::npos || p == 0 || (negated && item.compare(p, 2, "!=") != 0))
      option_error(card, "bad filter '" + item + "'");
    const std::string op = negated ? "!=" : item.substr(p, 1);
    Condition c{trim(item.substr(0, p)), op, trim(item.substr(p + op.size())), {}};
    if (op == "~") {
      try {
        c.re = std::regex(c.value, std::regex::ECMAScript | std::regex::icase);
      } catch (const std::regex_error& e) {
        option_error(card, "bad regex in filter '" + item + "': " + e.what());
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::tuple<double, double, int> parse_bins(const TaskCard& card, const std::string& s) {
  const auto parts = split_list(s);
  try {
    if (parts.size() == 3) {
      const double lo = std::stod(parts[0]), hi = std::stod(parts[1]);
      const int levels = std::stoi(parts[2]);
      if (hi > lo && levels >= 2) return {lo, hi, levels};
    }
  } catch (const std::exception&) {
  }
  option_error(card,
               "bins must be \"lo,hi,levels\" with hi > lo and levels >= 2 (got '" + s + "')");
}

bool is_pair_field(const TaskCard& card, const std::string& f) {
  return std::find(card.pair_fields.begin(), card.pair_fields.end(), f) != card.pair_fields.end();
}

void parse_label_options(const TaskCard& card, Mapping& m) {
  m.label = option(card, "label", option(card, "output." + card.output_fields[0], ""));
  if (card.options.count("label_map"))
    m.label_map = parse_label_map(card, card.options.at("label_map"));
  for (const auto& v : split_list(option(card, "skip_labels", ""))) m.skip_labels.insert(v);
  if (card.options.count("bins")) {
    if (card.type != TaskType::pointwise) option_error(card, "bins is for pointwise tasks");
    m.bins = parse_bins(card, card.options.at("bins"));
  }
  const std::string ties = option(card, "ties", "drop");
  if (ties != "drop" && ties != "keep") option_error(card, "ties must be drop or keep");
  m.keep_ties = ties == "keep";
}

void parse_pair_options(const TaskCard& card, Mapping& m) {
  m.chosen = option(card, "chosen", "");
  m.rejected = option(card, "rejected", "");
  if (m.chosen.empty() != m.rejected.empty()) option_error(card, "chosen and rejected go together");
  if (!m.chosen.empty()) {
    if (card.type != TaskType::pairwise)
      option_error(card, "chosen/rejected are for pairwise tasks");
    if (!m.label.empty()) option_error(card, "give either chosen/rejected or label, not both");
  } else if (m.label.empty()) {
    option_error(card,
                 "needs the option 'label'" +
                     std::string(card.type == TaskType::pairwise ? " or chosen/rejected" : ""));
  }
}

void parse_field_options(const TaskCard& card, Mapping& m) {
  const bool by_preference = !m.chosen.empty();
  for (const auto& f : card.input_fields) {
    const std::string key = option(card, "input." + f, "");
    if (by_preference && is_pair_field(card, f)) {
      if (!key.empty()) option_error(card, "input." + f + " is filled from chosen/rejected");
      continue;
    }
    if (key.empty()) option_error(card, "needs the option 'input." + f + "' (the record key)");
    m.inputs[f] = key;
  }
  for (size_t i = 1; i < card.output_fields.size(); ++i) {
    const std::string key = option(card, "output." + card.output_fields[i], "");
    if (key.empty()) option_error(card, "needs the option 'output." + card.output_fields[i] + "'");
    m.outputs.push_back(key);
  }
  for (const auto& [k, v] : card.options) {  // a typo in a field name must not pass silently
    const bool in = k.rfind("input.", 0) == 0, out = k.rfind("output.", 0) == 0;
    const std::string f = k.substr(k.find('.') + 1);
    const auto& fields = in ? card.input_fields : card.output_fields;
    if ((in || out) && std::find(fields.begin(), fields.end(), f) == fields.end())
      option_error(card, "option '" + k + "' names no " + (in ? "input" : "output") + " field");
  }
}

Mapping parse_mapping(const TaskCard& card) {
  Mapping m;
  m.format = option(card, "format", "");
  if (!m.format.empty() && m.format != "json" && m.format != "jsonl" && m.format != "csv" &&
      m.format != "tsv")
    option_error(card, "format must be json, jsonl, csv or tsv (got '" + m.format + "')");
  m.records = option(card, "records", "");
  m.columns = split_list(option(card, "columns", ""));
  if (card.options.count("quoted")) m.quoted = option_bool(card, "quoted", false);
  m.join = option(card, "join", "\n");
  m.filters = parse_filters(card, option(card, "filter", ""));
  parse_label_options(card, m);
  parse_pair_options(card, m);
  parse_field_options(card, m);
  return m;
}

// --- Reading values out of a record ----------------------------------------------------------

const json* lookup(const json& rec, const std::string& key) {
  if (!rec.is_object()) throw Error("record is not a JSON object");
  if (const auto it = rec.find(key); it != rec.end()) return &*it;
  const json* cur = &rec;
  for (const auto& part : split_list(key, '.')) {
    if (cur->is_object()) {
      const auto it = cur->find(part);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && !part.empty() &&
               std::all_of(part.begin(), part.end(),
                           [](unsigned char c) { return std::isdigit(c); })) {
      const size_t i = std::stoul(part);
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15)
      return std::to_string(static_cast<long long>(d));
  }
  return v.dump();
}

std::string text(const json& rec, const std::string& key, const std::string& join) {
  const json* v = lookup(rec, key);
  if (!v) throw Error("missing field '" + key + "'");
  if (v->is_null()) throw Error("field '" + key + "' is null");
  if (v->is_object()) throw Error("field '" + key + "' is an object, not text");
  if (!v->is_array()) return scalar_text(*v);
  std::string out;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (e.is_object() || e.is_array() || e.is_null())
      throw Error("field '" + key + "' is a list of non-scalars, not text");
    out += (i ? join : "") + scalar_text(e);
  }
  return out;
}

bool passes(const Mapping& m, const json& rec) {
  for (const auto& c : m.filters) {
    const std::string v = text(rec, c.key, m.join);
    const bool ok = c.op == "="    ? v == c.value
                    : c.op == "!=" ? v != c.value
                                   : std::regex_search(v, c.re);
    if (!ok) return false;
  }
  return true;
}

std::string binned(const Mapping& m, const std::string& raw) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(raw, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != raw.size()) throw Error("label '" + raw + "' is not a number");
  const auto& [lo, hi, levels] = *m.bins;
  return bin_label(x, lo, hi, levels);
}

// The card label of a record, or nullopt when the record is deliberately skipped.
std::optional<std::string> record_label(const Mapping& m, const TaskCard& card, const json& rec,
                                        ExampleSink& sink) {
  std::string raw = text(rec, m.label, m.join);
  if (card.type == TaskType::generative) return raw;
  if (m.skip_labels.count(raw)) {
    sink.skip("label " + raw);
    return std::nullopt;
  }
  if (m.bins) raw = binned(m, raw);
  if (m.label_map.empty()) {
    if (std::find(card.labels.begin(), card.labels.end(), raw) == card.labels.end())
      throw Error("unknown label '" + raw + "'");
    return raw;
  }
  auto it = m.label_map.find(raw);
  if (it == m.label_map.end()) it = m.label_map.find("*");
  if (it == m.label_map.end()) throw Error("unknown label '" + raw + "' (not in label_map)");
  return it->second;
}

// chosen/rejected: the two texts and which pair field gets the chosen one.
struct Pair {
  std::string chosen, rejected;
  bool chosen_first = true;
};

// Places the preferred text by a content hash and returns the label, or nullopt (skipped).
std::optional<std::string> place_pair(const Mapping& m, const TaskCard& card, const json& rec,
                                      Pair& pair, ExampleSink& sink) {
  pair.chosen = text(rec, m.chosen, m.join);
  pair.rejected = text(rec, m.rejected, m.join);
  if (pair.chosen == pair.rejected) {
    sink.skip("identical responses");
    return std::nullopt;
  }
  const uint64_t h =
      hash_combine(hash_str(card.name), hash_str(pair.chosen + '\x1f' + pair.rejected));
  pair.chosen_first = (h & 1) == 0;
  return pair.chosen_first ? "A" : "B";
}

Example make_example(const Mapping& m, const TaskCard& card, const json& rec,
                     const std::string& label, const Pair& pair) {
  Example ex;
  for (const auto& f : card.input_fields) {
    if (m.chosen.empty() || !is_pair_field(card, f))
      ex.inputs.emplace_back(f, text(rec, m.inputs.at(f), m.join));
    else
      ex.inputs.emplace_back(
          f, (f == card.pair_fields[0]) == pair.chosen_first ? pair.chosen : pair.rejected);
  }
  ex.outputs.emplace_back(card.output_fields[0], label);
  for (size_t i = 0; i < m.outputs.size(); ++i)
    ex.outputs.emplace_back(card.output_fields[i + 1], text(rec, m.outputs[i], m.join));
  return ex;
}

void convert_record(const Mapping& m, const TaskCard& card, const json& rec, ExampleSink& sink) {
  if (!passes(m, rec)) return sink.skip("filter");
  Pair pair;
  const auto label =
      m.chosen.empty() ? record_label(m, card, rec, sink) : place_pair(m, card, rec, pair, sink);
  if (!label) return;
  if (*label == "Tie" && card.type == TaskType::pairwise && !m.keep_ties) return sink.skip("tie");
  sink.emit(make_example(m, card, rec, *label, pair));
}

// --- Reading the files -----------------------------------------------------------------------

std::string file_format(const TaskCard& card, const Mapping& m, const std::string& path) {
  if (!m.format.empty()) return m.format;
  std::string p = path;
  if (p.ends_with(".gz")) p.resize(p.size() - 3);
  if (p.ends_with(".jsonl") || p.ends_with(".ndjson")) return "jsonl";
  if (p.ends_with(".json")) return "json";
  if (p.ends_with(".csv")) return "csv";
  if (p.ends_with(".tsv")) return "tsv";
  option_error(card, "cannot tell the format of " + path + " from its name; set the option format");
}

void read_json_records(const Mapping& m, const TaskCard& card, const std::string& path,
                       ExampleSink& sink) {
  const json doc = read_json(path, &sink);
  const json* arr = &doc;
  if (!m.records.empty()) {
    arr = doc.is_object() ? lookup(doc, m.records) : nullptr;
    if (!arr) throw Error(path + ": no record list at '" + m.records + "'");
  }
  if (!arr->is_array()) throw Error(path + ": expected a JSON array of records");
  for (size_t i = 0; i < arr->size(); ++i)
    guarded_record(sink, path + ":record " + std::to_string(i),
                   [&] { convert_record(m, card, (*arr)[i], sink); });
}

void read_table_records(const Mapping& m, const TaskCard& card, const std::string& path, bool csv,
                        ExampleSink& sink) {
  DelimitedOptions opt;
  opt.sep = csv ? ',' : '\t';
  opt.quoted = m.quoted.value_or(csv);
  opt.header = m.columns.empty();
  Table t = parse_delimited(read_raw_file(path, &sink), path, opt);
  if (!m.columns.empty()) t.header = m.columns;
  for_each_row(t, sink, int(t.header.size()), [&](const std::vector<std::string>& row, long) {
    json rec = json::object();
    for (size_t i = 0; i < row.size(); ++i) rec[t.header[i]] = row[i];
    convert_record(m, card, rec, sink);
  });
}

}  // namespace

void fields(const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
  const Mapping m = parse_mapping(card);
  for (const auto& path : in.files(card)) {
    const std::string format = file_format(card, m, path);
    if (format == "jsonl")
      for_each_jsonl(path, sink,
                     [&](const json& rec, long) { convert_record(m, card, rec, sink); });
    else if (format == "json")
      read_json_records(m, card, path, sink);
    else
      read_table_records(m, card, path, format == "csv", sink);
  }
}

}  // namespace flame::data::converters
