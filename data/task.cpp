// Task cards: names of task types, pairwise swapping, and the YAML form of a card.
#include "core/strings.h"
#include "data/task.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace flame::data {

const char* task_type_name(TaskType t) {
  switch (t) {
    case TaskType::pairwise: return "pairwise";
    case TaskType::pointwise: return "pointwise";
    case TaskType::classification: return "classification";
    case TaskType::generative: return "generative";
  }
  return "?";
}

TaskType parse_task_type(const std::string& s) {
  for (TaskType t : {TaskType::pairwise, TaskType::pointwise, TaskType::classification,
                     TaskType::generative})
    if (s == task_type_name(t)) return t;
  throw Error("unknown task type '" + s +
              "' (expected pairwise, pointwise, classification or generative)");
}

Example swap_pair(const TaskCard& card, const Example& ex) {
  FLAME_CHECK(card.type == TaskType::pairwise, "swap_pair on non-pairwise task " << card.name);
  FLAME_CHECK(card.pair_fields.size() == 2, "task " << card.name << " needs two pair_fields");
  Example out = ex;
  std::string* a = nullptr;
  std::string* b = nullptr;
  for (auto& [field, value] : out.inputs) {
    if (field == card.pair_fields[0]) a = &value;
    if (field == card.pair_fields[1]) b = &value;
  }
  FLAME_CHECK(a && b, "example of " << card.name << " lacks pair field " << card.pair_fields[0]
                                    << " or " << card.pair_fields[1]);
  std::swap(*a, *b);
  FLAME_CHECK(!out.outputs.empty(), "example of " << card.name << " has no outputs");
  std::string& label = out.outputs.front().second;
  FLAME_CHECK(label == "A" || label == "B" || label == "Tie",
              "pairwise label must be A, B or Tie, got '" << label << "'");
  if (label != "Tie") label = label == "A" ? "B" : "A";
  return out;
}

namespace {

const std::vector<std::string> kCategories = {"quality", "factuality", "safety",
                                              "coding",  "math",       "instruction"};

}  // namespace

void validate_task_card(const TaskCard& c, const std::string& origin) {
  auto bad = [&](const std::string& msg) {
    throw Error("task card " + origin + (c.name.empty() ? "" : " (" + c.name + ")") + ": " + msg);
  };
  if (c.name.empty()) bad("'name' is empty");
  if (std::find(kCategories.begin(), kCategories.end(), c.category) == kCategories.end())
    bad("category '" + c.category + "' is not one of " + join(kCategories));
  if (c.title.empty()) bad("'title' is empty");
  if (c.description.empty()) bad("'description' is empty");
  if (c.input_fields.empty()) bad("'input_fields' is empty");
  if (c.output_fields.empty()) bad("'output_fields' is empty");
  std::set<std::string> seen;
  for (const auto& f : c.input_fields)
    if (!seen.insert(f).second) bad("input field '" + f + "' appears twice");
  switch (c.type) {
    case TaskType::pairwise:
      if (c.labels != std::vector<std::string>{"A", "B"} &&
          c.labels != std::vector<std::string>{"A", "B", "Tie"})
        bad("pairwise labels must be [A, B], or [A, B, Tie] when ties are kept");
      if (c.pair_fields.size() != 2) bad("pairwise needs exactly two 'pair_fields'");
      for (const auto& f : c.pair_fields)
        if (!seen.count(f)) bad("pair field '" + f + "' is not an input field");
      break;
    case TaskType::pointwise:
    case TaskType::classification:
      if (c.labels.size() < 2) bad("'labels' needs at least two values for this type");
      break;
    case TaskType::generative:
      if (!c.labels.empty()) bad("generative tasks have no 'labels'");
      break;
  }
  if (c.type != TaskType::pairwise && !c.pair_fields.empty())
    bad("'pair_fields' is only for pairwise tasks");
}

TaskCard parse_task_card(const std::string& yaml_text, const std::string& origin) {
  YAML::Node n;
  try {
    n = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw Error("task card " + origin + ": invalid YAML: " + e.what());
  }
  if (!n.IsMap()) throw Error("task card " + origin + ": expected a mapping at the top level");

  static const std::set<std::string> known = {
      "name",   "source",        "license",       "category",       "type",
      "title",  "description",   "input_fields",  "output_fields",  "labels",
      "pair_fields", "flipped_labels", "converter", "options"};
  for (const auto& kv : n) {
    const auto key = kv.first.as<std::string>();
    if (!known.count(key)) throw Error("task card " + origin + ": unknown field '" + key + "'");
  }
  auto str = [&](const char* key, bool required) -> std::string {
    const YAML::Node v = n[key];
    if (!v) {
      if (required) throw Error("task card " + origin + ": missing required field '" + key + "'");
      return {};
    }
    if (!v.IsScalar()) throw Error("task card " + origin + ": field '" + key + "' must be a string");
    return v.as<std::string>();
  };
  auto list = [&](const char* key, bool required) -> std::vector<std::string> {
    const YAML::Node v = n[key];
    if (!v) {
      if (required) throw Error("task card " + origin + ": missing required field '" + key + "'");
      return {};
    }
    if (!v.IsSequence())
      throw Error("task card " + origin + ": field '" + key + "' must be a list");
    std::vector<std::string> out;
    for (const auto& e : v) {
      if (!e.IsScalar())
        throw Error("task card " + origin + ": field '" + key + "' must hold strings");
      out.push_back(e.as<std::string>());
    }
    return out;
  };

  TaskCard c;
  c.name = str("name", true);
  c.source = str("source", true);
  c.license = str("license", true);
  c.category = str("category", true);
  try {
    c.type = parse_task_type(str("type", true));
  } catch (const Error& e) {
    throw Error("task card " + origin + ": " + e.what());
  }
  c.title = str("title", true);
  c.description = str("description", true);
  c.input_fields = list("input_fields", true);
  c.output_fields = list("output_fields", true);
  c.labels = list("labels", c.type != TaskType::generative);
  c.pair_fields = list("pair_fields", c.type == TaskType::pairwise);
  if (const YAML::Node f = n["flipped_labels"]) {
    try {
      c.flipped_labels = f.as<bool>();
    } catch (const YAML::Exception&) {
      throw Error("task card " + origin + ": field 'flipped_labels' must be true or false");
    }
  }
  c.converter = str("converter", false);
  if (const YAML::Node o = n["options"]) {
    if (!o.IsMap()) throw Error("task card " + origin + ": field 'options' must be a mapping");
    for (const auto& kv : o) {
      if (!kv.second.IsScalar())
        throw Error("task card " + origin + ": option '" + kv.first.as<std::string>() +
                    "' must be a scalar");
      c.options[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  validate_task_card(c, origin);
  return c;
}

TaskCard load_task_card(const std::string& yaml_path) {
  std::ifstream f(yaml_path);
  if (!f) throw Error("cannot open task card " + yaml_path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_task_card(ss.str(), yaml_path);
}

std::string task_card_yaml(const TaskCard& c) {
  YAML::Emitter e;
  auto list = [&](const char* key, const std::vector<std::string>& v) {
    e << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    // Quote every element: "Yes"/"No" would otherwise read back as booleans in YAML 1.1 tools.
    for (const auto& s : v) e << YAML::DoubleQuoted << s;
    e << YAML::EndSeq;
  };
  e << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << c.name;
  e << YAML::Key << "source" << YAML::Value << c.source;
  e << YAML::Key << "license" << YAML::Value << c.license;
  e << YAML::Key << "category" << YAML::Value << c.category;
  e << YAML::Key << "type" << YAML::Value << task_type_name(c.type);
  e << YAML::Key << "title" << YAML::Value << YAML::DoubleQuoted << c.title;
  e << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << c.description;
  list("input_fields", c.input_fields);
  list("output_fields", c.output_fields);
  if (c.type != TaskType::generative) list("labels", c.labels);
  if (c.type == TaskType::pairwise) list("pair_fields", c.pair_fields);
  if (c.flipped_labels) e << YAML::Key << "flipped_labels" << YAML::Value << true;
  if (!c.converter.empty()) e << YAML::Key << "converter" << YAML::Value << c.converter;
  if (!c.options.empty()) {
    e << YAML::Key << "options" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : c.options) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace flame::data
