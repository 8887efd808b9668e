#include <gtest/gtest.h>

#include "data/render.h"
#include "core/error.h"

using namespace flame::data;

namespace {

TaskCard golden_card() {
  TaskCard c;
  c.name = "golden";
  c.source = "hand";
  c.license = "CC0-1.0";
  c.category = "quality";
  c.type = TaskType::pairwise;
  c.title = "Which response is better?";
  c.description = "Pick the more helpful response. Choice: A or B.";
  c.input_fields = {"prompt", "response_a", "response_b"};
  c.output_fields = {"choice", "explanation"};
  c.labels = {"A", "B"};
  c.pair_fields = {"response_a", "response_b"};
  return c;
}

Example golden_example() {
  return {{{"prompt", "say hi"}, {"response_a", "hello!"}, {"response_b", "go away"}},
          {{"choice", "A"}, {"explanation", "A is polite."}}};
}

}  // namespace

TEST(Render, GoldenFormat) {
  const RenderedExample r = render(golden_card(), golden_example());
  EXPECT_EQ(r.input,
            "INSTRUCTIONS:\n"
            "title: Which response is better?\n"
            "description: Pick the more helpful response. Choice: A or B.\n"
            "output_fields: choice, explanation\n"
            "\n"
            "CONTEXT:\n"
            "prompt: say hi\n"
            "response_a: hello!\n"
            "response_b: go away\n"
            "\n"
            "EVALUATION:\n");
  EXPECT_EQ(r.target, "choice: A\nexplanation: A is polite.");
}

TEST(Render, ScoringPromptContinuesTheInput) {
  const auto card = golden_card();
  const auto ex = golden_example();
  EXPECT_EQ(scoring_prompt(card, ex), render(card, ex).input + "choice: ");
  // The prompt needs no outputs: it is what a judge sees for an unlabelled example.
  Example unlabelled = ex;
  unlabelled.outputs.clear();
  EXPECT_EQ(scoring_prompt(card, unlabelled), render(card, ex).input + "choice: ");
}

TEST(Render, SingleOutputHasNoTrailingNewline) {
  TaskCard c = golden_card();
  c.output_fields = {"choice"};
  Example ex = golden_example();
  ex.outputs = {{"choice", "B"}};
  EXPECT_EQ(render(c, ex).target, "choice: B");
}

TEST(Render, RejectsFieldsThatDoNotMatchTheCard) {
  const auto card = golden_card();
  Example swapped = golden_example();
  std::swap(swapped.inputs[1], swapped.inputs[2]);  // wrong order
  EXPECT_THROW(render(card, swapped), flame::Error);
  Example missing = golden_example();
  missing.inputs.pop_back();
  EXPECT_THROW(render(card, missing), flame::Error);
  Example bad_out = golden_example();
  bad_out.outputs[0].first = "score";
  EXPECT_THROW(render(card, bad_out), flame::Error);
}
