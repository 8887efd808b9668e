// Renders an example in the unified text-to-text format (render.h, DESIGN.md). The layout is fixed
// byte for byte: the scorer reads judgments off the token after "EVALUATION:\n<field>: ", and
// every converter, the tokenizer corpus and the packer see the same text.
#include "data/render.h"

#include "core/error.h"

namespace flame::data {

namespace {

// Examples must carry exactly the card's fields in the card's order, so a converter bug shows up
// here rather than as a silently different prompt (render_input checks the inputs).
void check_outputs(const TaskCard& card, const Example& ex) {
  FLAME_CHECK(ex.outputs.size() == card.output_fields.size(),
              "task " << card.name << ": example has " << ex.outputs.size()
                      << " outputs, card has " << card.output_fields.size());
  for (size_t i = 0; i < ex.outputs.size(); ++i)
    FLAME_CHECK(ex.outputs[i].first == card.output_fields[i],
                "task " << card.name << ": output " << i << " is '" << ex.outputs[i].first
                        << "', card expects '" << card.output_fields[i] << "'");
}

}  // namespace

std::string render_header(const TaskCard& card) {
  std::string s = "INSTRUCTIONS:\ntitle: " + card.title + "\ndescription: " + card.description +
                  "\noutput_fields: ";
  for (size_t i = 0; i < card.output_fields.size(); ++i)
    s += (i ? ", " : "") + card.output_fields[i];
  return s + "\n\nCONTEXT:\n";
}

std::string render_field(const std::string& field, const std::string& value) {
  return field + ": " + value + "\n";
}

RenderedExample render(const TaskCard& card, const Example& ex) {
  RenderedExample r;
  r.input = render_input(card, ex);
  check_outputs(card, ex);
  for (size_t i = 0; i < ex.outputs.size(); ++i)
    r.target += (i ? "\n" : "") + ex.outputs[i].first + ": " + ex.outputs[i].second;
  return r;
}

std::string render_input(const TaskCard& card, const Example& ex) {
  FLAME_CHECK(ex.inputs.size() == card.input_fields.size(),
              "task " << card.name << ": example has " << ex.inputs.size() << " inputs, card has "
                      << card.input_fields.size());
  for (size_t i = 0; i < ex.inputs.size(); ++i)
    FLAME_CHECK(ex.inputs[i].first == card.input_fields[i],
                "task " << card.name << ": input " << i << " is '" << ex.inputs[i].first
                        << "', card expects '" << card.input_fields[i] << "'");
  std::string s = render_header(card);
  for (const auto& [field, value] : ex.inputs) s += render_field(field, value);
  return s + kEvaluationTrailer;
}

std::string scoring_prompt(const TaskCard& card, const Example& ex) {
  FLAME_CHECK(!card.output_fields.empty(), "task " << card.name << " has no output fields");
  return render_input(card, ex) + card.output_fields.front() + ": ";
}

}  // namespace flame::data
