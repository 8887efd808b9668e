#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/error_of.h"
#include "data/synthetic.h"
#include "data/task.h"
#include "core/error.h"

using namespace flame::data;

namespace {

using flame_test::error_of;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const char* kValidCard = R"(name: my_task
source: https://example.org/data
license: MIT
category: safety
type: pairwise
title: "Which reply is safer?"
description: "Choice: A or B."
input_fields: [request, reply_a, reply_b]
output_fields: [choice, explanation]
labels: ["A", "B"]
pair_fields: [reply_a, reply_b]
converter: jsonl
options: {path: data.jsonl, label_key: winner}
)";

}  // namespace

TEST(TaskType, NamesRoundTrip) {
  for (TaskType t : {TaskType::pairwise, TaskType::pointwise, TaskType::classification,
                     TaskType::generative})
    EXPECT_EQ(parse_task_type(task_type_name(t)), t);
  EXPECT_TRUE(contains(error_of([] { parse_task_type("ranking"); }), "ranking"));
}

TEST(SwapPair, SwapsResponsesAndLabel) {
  const TaskCard& card = synthetic_card("synth_refusal");
  const Example ex = {{{"request", "bake bread"}, {"reply_a", "x"}, {"reply_b", "y"}},
                      {{"choice", "A"}}};
  const Example s = swap_pair(card, ex);
  EXPECT_EQ(s.inputs[0], ex.inputs[0]);
  EXPECT_EQ(s.inputs[1].second, "y");
  EXPECT_EQ(s.inputs[2].second, "x");
  EXPECT_EQ(s.label(), "B");
  EXPECT_EQ(swap_pair(card, s), ex);
  EXPECT_THROW(swap_pair(synthetic_card("synth_arith_claim"), ex), flame::Error);
}

TEST(TaskCardYaml, ParsesAValidCard) {
  const TaskCard c = parse_task_card(kValidCard);
  EXPECT_EQ(c.name, "my_task");
  EXPECT_EQ(c.type, TaskType::pairwise);
  EXPECT_EQ(c.input_fields, (std::vector<std::string>{"request", "reply_a", "reply_b"}));
  EXPECT_EQ(c.output_fields, (std::vector<std::string>{"choice", "explanation"}));
  EXPECT_EQ(c.labels, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(c.pair_fields, (std::vector<std::string>{"reply_a", "reply_b"}));
  EXPECT_FALSE(c.flipped_labels);
  EXPECT_EQ(c.converter, "jsonl");
  EXPECT_EQ(c.options.at("label_key"), "winner");
  EXPECT_EQ(parse_task_card(task_card_yaml(c)), c);
}

TEST(TaskCardYaml, ErrorsNameTheProblem) {
  auto without = [](const std::string& key) {
    std::string y = kValidCard, out;
    size_t start = 0;
    while (start < y.size()) {
      size_t end = y.find('\n', start);
      std::string line = y.substr(start, end - start + 1);
      if (line.rfind(key + ":", 0) != 0) out += line;
      start = end + 1;
    }
    return out;
  };
  const std::string valid = kValidCard;
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(without("title"), "t.yaml"); }),
                       "missing required field 'title'"));
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(without("title"), "t.yaml"); }), "t.yaml"));
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(without("pair_fields")); }), "pair_fields"));
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(without("labels")); }), "labels"));
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(valid + "colour: red\n"); }),
                       "unknown field 'colour'"));
  std::string bad_cat = valid;
  bad_cat.replace(bad_cat.find("safety"), 6, "sports");
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(bad_cat); }), "sports"));
  std::string bad_type = valid;
  bad_type.replace(bad_type.find("pairwise"), 8, "ranking");
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(bad_type); }), "ranking"));
  std::string bad_pair = valid;
  bad_pair.replace(bad_pair.find("[reply_a, reply_b]\nconverter"), 18, "[reply_a, reply_c]");
  EXPECT_TRUE(contains(error_of([&] { parse_task_card(bad_pair); }), "reply_c"));
  EXPECT_TRUE(contains(error_of([] { parse_task_card("name: [unclosed"); }), "invalid YAML"));
  EXPECT_TRUE(contains(error_of([] { load_task_card("/nonexistent/card.yaml"); }),
                       "/nonexistent/card.yaml"));
}

TEST(TaskCardYaml, SyntheticCardsRoundTrip) {
  for (const auto& c : synthetic_cards()) {
    validate_task_card(c, c.name);
    EXPECT_EQ(parse_task_card(task_card_yaml(c), c.name), c) << c.name;
  }
}

// The YAML files under configs/tasks/synthetic/ are the cards users read and edit; they must say
// exactly what the generator uses, one file per task and no stale extras.
TEST(TaskCardYaml, ConfigFilesEqualSyntheticCards) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(FLAME_SOURCE_DIR) / "configs/tasks/synthetic";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".yaml") files.insert(e.path().stem().string());
  std::set<std::string> names;
  for (const auto& c : synthetic_cards()) {
    names.insert(c.name);
    const fs::path p = dir / (c.name + ".yaml");
    ASSERT_TRUE(fs::exists(p)) << "missing " << p << "; expected content:\n" << task_card_yaml(c);
    EXPECT_EQ(load_task_card(p.string()), c)
        << p << " differs from synthetic_card; expected content:\n" << task_card_yaml(c);
  }
  EXPECT_EQ(files, names);
}
