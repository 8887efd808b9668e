// Task cards and examples: what a judgment task is, independent of where its data comes from.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/config_fields.h"

namespace flame::data {

enum class TaskType { pairwise, pointwise, classification, generative };
const config::Choices<TaskType>& choices(TaskType);
const char* task_type_name(TaskType t);
TaskType parse_task_type(const std::string& s);  // throws flame::Error naming the bad value

struct TaskCard {
  std::string name;                        // unique id, e.g. "synth_arith_claim"
  std::string source;                      // where the data comes from ("synthetic", a URL...)
  std::string license;                     // license of the source data
  std::string category;                    // quality|factuality|safety|coding|math|instruction
  TaskType type = TaskType::classification;  // what the rater outputs
  std::string title;                       // the question the rater answers
  std::string description;                 // definition + evaluation instructions + label scale
  std::vector<std::string> input_fields;   // CONTEXT field names, in order
  std::vector<std::string> output_fields;  // target field names; the first one is the label
  std::vector<std::string> labels;         // label values of the first output field
                                           // (pairwise: A,B; pointwise: the scale; empty for generative)
  std::vector<std::string> pair_fields;    // pairwise: the two input fields swapped to reverse order
  bool flipped_labels = false;             // labels deliberately wrong (a task known to hurt)
  std::string converter;                   // converter turning the source into examples
  std::map<std::string, std::string> options;  // converter options (free-form strings)
  static const config::Fields<TaskCard>& fields();  // the YAML keys (data/task.cpp)

  friend bool operator==(const TaskCard&, const TaskCard&) = default;
};

struct Example {
  std::vector<std::pair<std::string, std::string>> inputs;   // (field, value) per input field
  std::vector<std::pair<std::string, std::string>> outputs;  // (field, value) per output field
  const std::string& label() const { return outputs.front().second; }

  friend bool operator==(const Example&, const Example&) = default;
};

// Pairwise only: the same example with the two responses swapped and the label flipped A<->B.
Example swap_pair(const TaskCard& card, const Example& ex);

// Task cards as YAML (configs/tasks/**.yaml). The loader checks required fields, the category,
// the type, and the type's constraints (labels, pair_fields), and rejects unknown keys so a typo
// fails loudly; errors are flame::Error naming the file and the field.
TaskCard load_task_card(const std::string& yaml_path);
TaskCard parse_task_card(const std::string& yaml_text, const std::string& origin = "<string>");
std::string task_card_yaml(const TaskCard& card);  // what load_task_card reads back unchanged
void validate_task_card(const TaskCard& card, const std::string& origin = "<card>");

}  // namespace flame::data
