// The converter framework (convert.h): example checks, bad-record accounting, options.
#include "data/convert.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace flame::data {

void ExampleSink::emit(Example ex) {
  const TaskCard& c = card_;
  FLAME_CHECK(ex.inputs.size() == c.input_fields.size(),
              "example has " << ex.inputs.size() << " inputs, card " << c.name << " has "
                             << c.input_fields.size());
  for (size_t i = 0; i < ex.inputs.size(); ++i)
    FLAME_CHECK(ex.inputs[i].first == c.input_fields[i],
                "input " << i << " is '" << ex.inputs[i].first << "', card says '"
                         << c.input_fields[i] << "'");
  FLAME_CHECK(ex.outputs.size() == c.output_fields.size(),
              "example has " << ex.outputs.size() << " outputs, card " << c.name << " has "
                             << c.output_fields.size());
  for (size_t i = 0; i < ex.outputs.size(); ++i)
    FLAME_CHECK(ex.outputs[i].first == c.output_fields[i],
                "output " << i << " is '" << ex.outputs[i].first << "', card says '"
                          << c.output_fields[i] << "'");
  // These two are data problems (not converter bugs), so their message is the plain reason.
  if (c.type != TaskType::generative) {
    if (std::find(c.labels.begin(), c.labels.end(), ex.label()) == c.labels.end())
      throw Error("unknown label '" + ex.label() + "'");
  } else {
    for (const auto& [f, v] : ex.outputs)
      if (v.empty()) throw Error("empty target field '" + f + "'");
  }
  examples_.push_back(std::move(ex));
  ++report_.examples;
}

void ExampleSink::bad(const std::string& where, const std::string& why) {
  ++report_.bad;
  if (report_.bad_samples.size() < ConvertReport::kMaxBadSamples)
    report_.bad_samples.push_back(where + ": " + why);
}

std::vector<std::string> ConvertInput::files(const TaskCard& card) const {
  const auto it = card.options.find("files");
  if (it == card.options.end())
    throw Error("task " + card.name + ": converter " + card.converter +
                " needs the option 'files' (paths relative to the raw-data root)");
  std::vector<std::string> out;
  std::stringstream ss(it->second);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t\r\n");
    const auto e = item.find_last_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    const std::string rel = item.substr(b, e - b + 1);
    const fs::path p = fs::path(raw_dir) / rel;
    if (!fs::is_regular_file(p))
      throw Error("task " + card.name + ": raw file not found: " + p.string());
    out.push_back(p.string());
  }
  if (out.empty()) throw Error("task " + card.name + ": option 'files' lists no file");
  return out;
}

ConvertReport convert(const TaskCard& card, const ConvertInput& in, std::vector<Example>& out) {
  const ConvertFn& fn = find_converter(card.converter);
  ExampleSink sink(card);
  fn(card, in, sink);
  out = std::move(sink.examples());
  return sink.report();
}

std::string option(const TaskCard& card, const std::string& key, const std::string& fallback) {
  const auto it = card.options.find(key);
  return it == card.options.end() ? fallback : it->second;
}

bool option_bool(const TaskCard& card, const std::string& key, bool fallback) {
  const auto it = card.options.find(key);
  if (it == card.options.end()) return fallback;
  const std::string& v = it->second;
  if (v == "true" || v == "yes" || v == "1") return true;
  if (v == "false" || v == "no" || v == "0") return false;
  throw Error("task " + card.name + ": option '" + key + "' must be true or false (got '" + v +
              "')");
}

double option_double(const TaskCard& card, const std::string& key, double fallback) {
  const auto it = card.options.find(key);
  if (it == card.options.end()) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error("task " + card.name + ": option '" + key + "' must be a number (got '" +
              it->second + "')");
}

const nlohmann::json& field(const nlohmann::json& rec, const std::string& key) {
  if (!rec.is_object()) throw Error("record is not a JSON object");
  const auto it = rec.find(key);
  if (it == rec.end()) throw Error("missing field '" + key + "'");
  return *it;
}

std::string str_field(const nlohmann::json& rec, const std::string& key) {
  const auto& v = field(rec, key);
  if (!v.is_string()) throw Error("field '" + key + "' is not a string");
  return v.get<std::string>();
}

std::string bin_label(double value, double lo, double hi, int n_levels) {
  FLAME_CHECK(n_levels >= 2 && hi > lo, "bad scale [" << lo << ", " << hi << "] x" << n_levels);
  if (!std::isfinite(value) || value < lo - 1e-9 || value > hi + 1e-9)
    throw Error("score " + std::to_string(value) + " outside the scale [" + std::to_string(lo) +
                ", " + std::to_string(hi) + "]");
  int k = int(std::floor((value - lo) / (hi - lo) * n_levels)) + 1;
  k = std::clamp(k, 1, n_levels);
  return std::to_string(k);
}

}  // namespace flame::data
