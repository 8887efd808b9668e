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

const config::Choices<TaskType>& choices(TaskType) {
  static const config::Choices<TaskType> c = {{TaskType::pairwise, "pairwise"},
                                              {TaskType::pointwise, "pointwise"},
                                              {TaskType::classification, "classification"},
                                              {TaskType::generative, "generative"}};
  return c;
}

const char* task_type_name(TaskType t) { return config::choice_name(t); }

TaskType parse_task_type(const std::string& s) {
  for (const auto& [t, n] : choices(TaskType{}))
    if (s == n) return t;
  throw Error("unknown task type '" + s +
              "' (expected pairwise, pointwise, classification or generative)");
}

const config::Fields<TaskCard>& TaskCard::fields() {
  using T = TaskCard;
  using config::field;
  auto given = [](const auto& v) { return !v.empty(); };
  static const config::Fields<T> f = {
      field("name", &T::name, "unique id, e.g. synth_arith_claim").required(),
      field("source", &T::source, "where the data comes from (synthetic, a URL...)").required(),
      field("license", &T::license, "license of the source data").required(),
      field("category", &T::category,
            "quality, factuality, safety, coding, math or instruction").required(),
      field("type", &T::type, "what the rater outputs").required(),
      field("title", &T::title, "the question the rater answers").required(),
      field("description", &T::description,
            "definition + evaluation instructions + label scale").required(),
      field("input_fields", &T::input_fields, "CONTEXT field names, in order").required(),
      field("output_fields", &T::output_fields, "target field names; the first one is the label")
          .required(),
      field("labels", &T::labels,
            "label values of the first output field (pairwise: A, B[, Tie]; none for generative)")
          .write_if(given),
      field("pair_fields", &T::pair_fields,
            "pairwise: the two input fields swapped to reverse the order")
          .write_if(given),
      field("flipped_labels", &T::flipped_labels, "labels deliberately wrong (a task known to hurt)")
          .write_if([](bool b) { return b; }),
      field("converter", &T::converter, "converter turning the source into examples")
          .write_if(given),
      field("options", &T::options, "converter options (free-form strings)").write_if(given),
  };
  return f;
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
  TaskCard c;
  config::Ctx ctx{config::Wording("task card " + origin + ": "), ""};
  ctx.w.noun = "field";
  ctx.w.expects = " must be ";
  config::read_fields(n, c, ctx);
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
  e << YAML::BeginMap;
  for (const auto& kv : config::to_yaml(c)) {
    e << YAML::Key << kv.first.Scalar() << YAML::Value;
    if (kv.second.IsSequence()) {
      // Quote every element: "Yes"/"No" would otherwise read back as booleans in YAML 1.1 tools.
      e << YAML::Flow << YAML::BeginSeq;
      for (const auto& s : kv.second) e << YAML::DoubleQuoted << s.Scalar();
      e << YAML::EndSeq;
    } else {
      e << kv.second;
    }
  }
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace flame::data
