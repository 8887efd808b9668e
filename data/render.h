// The unified text-to-text format of DESIGN.md:
//   INSTRUCTIONS:\ntitle: ..\ndescription: ..\noutput_fields: a, b\n\nCONTEXT:\nf: v\n...\n\nEVALUATION:\n
// target: "field: value" per output field, one per line (no trailing newline).
#pragma once
#include <string>

#include "data/task.h"

namespace flame::data {

struct RenderedExample {
  std::string input;   // everything up to and including "EVALUATION:\n"
  std::string target;  // "choice: A" / "score: 4" / "answer: Yes" / "explanation: ..."
};

RenderedExample render(const TaskCard& card, const Example& ex);
// The input's three parts, so a tokenizer can encode them separately (render_input = header +
// one render_field line per input + kEvaluationTrailer).
std::string render_header(const TaskCard& card);  // "INSTRUCTIONS: ... \n\nCONTEXT:\n"
std::string render_field(const std::string& field, const std::string& value);  // "f: v\n"
inline constexpr const char* kEvaluationTrailer = "\nEVALUATION:\n";
// The prompt the scorer continues: input + "<first output field>: "
std::string scoring_prompt(const TaskCard& card, const Example& ex);
// The input alone (up to and including "EVALUATION:\n"); needs only the example's inputs, so it
// also renders new, unlabelled items (flame judge).
std::string render_input(const TaskCard& card, const Example& ex);

}  // namespace flame::data
