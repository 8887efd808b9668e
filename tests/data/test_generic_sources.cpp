// The `fields` converter (data/converters/generic_sources.cpp) on small fixtures in every format
// it reads, and the cards under configs/tasks/collection/ (they load, name a registered converter,
// and their mappings fit records shaped like each dataset's published schema).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "tests/error_of.h"
#include "data/convert.h"
#include "data/task.h"
#include "core/error.h"
#include "tests/temp_dir.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

using flame_test::TempDir;

TaskCard card(TaskType type, std::vector<std::string> inputs, std::vector<std::string> labels,
              std::map<std::string, std::string> options) {
  TaskCard c;
  c.name = "fields_test";
  c.source = "fixture";
  c.license = "CC0-1.0";
  c.category = "quality";
  c.type = type;
  c.title = "t";
  c.description = "d";
  c.input_fields = std::move(inputs);
  c.output_fields = {type == TaskType::pairwise    ? "choice"
                     : type == TaskType::pointwise ? "score"
                                                   : "answer"};
  c.labels = std::move(labels);
  if (type == TaskType::pairwise) c.pair_fields = {c.input_fields[1], c.input_fields[2]};
  c.converter = "fields";
  c.options = std::move(options);
  validate_task_card(c, "test");
  return c;
}

std::string input(const Example& ex, const std::string& field) {
  for (const auto& [k, v] : ex.inputs)
    if (k == field) return v;
  return "<no field " + field + ">";
}

bool any_contains(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

using flame_test::error_of;

}  // namespace

TEST(FieldsConverter, JsonlClassificationCountsBadAndSkippedRecords) {
  TempDir d;
  d.write("x/data.jsonl",
          R"({"q": "Is water wet?", "lab": 1})"
          "\n"
          R"({"q": "Is fire cold?", "lab": 0})"
          "\n"
          "{not json\n"
          "\n"
          R"({"lab": 1})"
          "\n"
          R"({"q": "odd", "lab": 7})"
          "\n"
          R"({"q": "unlabelled", "lab": -1})"
          "\n");
  const TaskCard c = card(TaskType::classification, {"question"}, {"Yes", "No"},
                          {{"files", "x/data.jsonl"},
                           {"input.question", "q"},
                           {"label", "lab"},
                           {"label_map", "1=Yes, 0=No"},
                           {"skip_labels", "-1"}});
  std::vector<Example> ex;
  const ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(input(ex[0], "question"), "Is water wet?");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(r.records, 6);
  EXPECT_EQ(r.examples, 2);
  EXPECT_EQ(r.bad, 3);
  EXPECT_EQ(r.skipped.at("label -1"), 1);
  EXPECT_TRUE(any_contains(r.bad_samples, "data.jsonl:line 3: bad JSON")) << r.bad_samples[0];
  EXPECT_TRUE(any_contains(r.bad_samples, "data.jsonl:line 5: missing field 'q'"));
  EXPECT_TRUE(any_contains(r.bad_samples, "data.jsonl:line 6: unknown label '7'"));
}

TEST(FieldsConverter, GzipJsonlNestedPathsListsAndFilter) {
  TempDir d;
  d.write("p/train.jsonl.gz",
          R"({"question": {"problem": "1+1?"}, "steps": ["a", 2, true], "conv": [{"content": "u"},)"
          R"( {"content": "v"}], "done": "solution", "lang": "English"})"
          "\n"
          R"({"question": {"problem": "2+2?"}, "steps": ["b"], "conv": [{"content": "x"}],)"
          R"( "done": "found_error", "lang": "English"})"
          "\n"
          R"({"question": {"problem": "3+3?"}, "steps": ["c"], "conv": [{"content": "y"},)"
          R"( {"content": "z"}], "done": "solution", "lang": "German"})"
          "\n"
          R"({"question": {"problem": "4+4?"}, "steps": [{"nested": 1}],)"
          R"( "conv": [{"content": "y"}, {"content": "z"}], "done": "solution", "lang": "English"})"
          "\n");
  const TaskCard c = card(TaskType::classification, {"problem", "solution", "reply"},
                          {"Yes", "No"},
                          {{"files", "p/train.jsonl.gz"},
                           {"input.problem", "question.problem"},
                           {"input.solution", "steps"},
                           {"input.reply", "conv.1.content"},
                           {"label", "done"},
                           {"label_map", "solution=Yes,found_error=No"},
                           {"join", " | "},
                           {"filter", "lang=English"}});
  std::vector<Example> ex;
  const ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(input(ex[0], "problem"), "1+1?");
  EXPECT_EQ(input(ex[0], "solution"), "a | 2 | true");
  EXPECT_EQ(input(ex[0], "reply"), "v");
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(r.skipped.at("filter"), 1);
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(any_contains(r.bad_samples, "train.jsonl.gz:line 2: missing field 'conv.1.content'"));
  EXPECT_TRUE(any_contains(r.bad_samples, "train.jsonl.gz:line 4: field 'steps' is a list"));
}

TEST(FieldsConverter, JsonArrayPointwiseBinsAndWholeFloats) {
  TempDir d;
  d.write("s/items.json", R"({"meta": 1, "data": {"rows": [
      {"doc": "d0", "summ": "s0", "fact": 0.0},
      {"doc": "d1", "summ": "s1", "fact": 0.5},
      {"doc": "d2", "summ": "s2", "fact": 1},
      {"doc": "d3", "summ": "s3", "fact": 1.5},
      {"doc": "d4", "summ": "s4", "fact": "n/a"},
      {"doc": "d5", "summ": "s5", "fact": "0.9"}]}})");
  const TaskCard c = card(TaskType::pointwise, {"document", "summary"}, {"1", "2", "3", "4", "5"},
                          {{"files", "s/items.json"},
                           {"records", "data.rows"},
                           {"input.document", "doc"},
                           {"input.summary", "summ"},
                           {"label", "fact"},
                           {"bins", "0,1,5"}});
  std::vector<Example> ex;
  const ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 4u);
  EXPECT_EQ(ex[0].label(), "1");
  EXPECT_EQ(ex[1].label(), "3");
  EXPECT_EQ(ex[2].label(), "5");
  EXPECT_EQ(input(ex[2], "document"), "d2");
  EXPECT_EQ(ex[3].label(), "5");  // "0.9" as text is still a number
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(any_contains(r.bad_samples, "items.json:record 3: score"));
  EXPECT_TRUE(any_contains(r.bad_samples, "items.json:record 4: label 'n/a' is not a number"));

  // A whole float reads as an integer, so a 0-4 scale stored as floats matches labels "0".."4".
  d.write("h/h.json", R"([{"p": "x", "r": "y", "helpfulness": 3.0}, {"p": "x", "r": "z",
      "helpfulness": 4}, {"p": "x", "r": "w", "helpfulness": 2.5}])");
  const TaskCard h = card(TaskType::pointwise, {"prompt", "response"}, {"0", "1", "2", "3", "4"},
                          {{"files", "h/h.json"},
                           {"input.prompt", "p"},
                           {"input.response", "r"},
                           {"label", "helpfulness"}});
  const ConvertReport rh = convert(h, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].label(), "3");
  EXPECT_EQ(ex[1].label(), "4");
  EXPECT_EQ(rh.bad, 1);
  EXPECT_TRUE(any_contains(rh.bad_samples, "h.json:record 2: "));
}

TEST(FieldsConverter, CsvQuotedPairwiseLabelsAndTies) {
  TempDir d;
  d.write("c/pairs.csv",
          "post,ref_a,ref_b,labels\n"
          "\"Why, though?\",\"First, \"\"quoted\"\"\",second,1\n"
          "q2,\"multi\nline\",b2,0\n"
          "q3,a3,b3,2\n"
          "q4,a4,b4\n"
          "q5,a5,b5,9\n");
  std::map<std::string, std::string> opt = {{"files", "c/pairs.csv"},
                                            {"input.post", "post"},
                                            {"input.response_a", "ref_a"},
                                            {"input.response_b", "ref_b"},
                                            {"label", "labels"},
                                            {"label_map", "1=A,0=B,2=Tie"}};
  const TaskCard c =
      card(TaskType::pairwise, {"post", "response_a", "response_b"}, {"A", "B"}, opt);
  std::vector<Example> ex;
  ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(input(ex[0], "post"), "Why, though?");
  EXPECT_EQ(input(ex[0], "response_a"), "First, \"quoted\"");
  EXPECT_EQ(ex[0].label(), "A");
  EXPECT_EQ(input(ex[1], "response_a"), "multi\nline");
  EXPECT_EQ(ex[1].label(), "B");
  EXPECT_EQ(r.skipped.at("tie"), 1);
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(any_contains(r.bad_samples, "pairs.csv:line 6: expected 4 fields, got 3"));
  EXPECT_TRUE(any_contains(r.bad_samples, "pairs.csv:line 7: unknown label '9'"));

  opt["ties"] = "keep";
  const TaskCard keep =
      card(TaskType::pairwise, {"post", "response_a", "response_b"}, {"A", "B", "Tie"}, opt);
  r = convert(keep, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[2].label(), "Tie");
  EXPECT_EQ(r.skipped.count("tie"), 0u);
}

TEST(FieldsConverter, TsvHeaderAndHeaderlessColumns) {
  TempDir d;
  // No quoting in TSV: a lone double quote stays part of the text.
  d.write("t/train.tsv",
          "id\tsentence1\tsentence2\tlabel\n"
          "1\tA \"cat\tA feline\t1\n"
          "2\tRed\tBlue\t0\n"
          "3\tOnly two\n");
  const TaskCard c = card(TaskType::classification, {"text_1", "text_2"}, {"Yes", "No"},
                          {{"files", "t/train.tsv"},
                           {"input.text_1", "sentence1"},
                           {"input.text_2", "sentence2"},
                           {"label", "label"},
                           {"label_map", "1=Yes,0=No"}});
  std::vector<Example> ex;
  ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(input(ex[0], "text_1"), "A \"cat");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(r.bad, 1);
  EXPECT_TRUE(any_contains(r.bad_samples, "train.tsv:line 4: expected 4 fields, got 2"));

  d.write("t/raw.txt.gz", "src\t1\tgood sentence\nsrc\t0\tbad sentence one\nsrc\tX\tthird\n");
  const TaskCard h = card(TaskType::classification, {"sentence"}, {"1", "0"},
                          {{"files", "t/raw.txt.gz"},
                           {"format", "tsv"},
                           {"columns", "source,acceptable,sentence"},
                           {"input.sentence", "sentence"},
                           {"label", "acceptable"}});
  r = convert(h, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(input(ex[1], "sentence"), "bad sentence one");
  EXPECT_EQ(ex[1].label(), "0");
  EXPECT_EQ(r.bad, 1);
  EXPECT_TRUE(any_contains(r.bad_samples, "raw.txt.gz:line 3: unknown label 'X'"));
}

TEST(FieldsConverter, ChosenRejectedIsBalancedAndDeterministic) {
  TempDir d;
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += R"({"prompt": "p)" + std::to_string(i) + R"(", "good": "g)" + std::to_string(i) +
            R"(", "bad": "b)" + std::to_string(i) + "\"}\n";
  text += R"({"prompt": "p", "good": "g"})" "\n";
  text += R"({"prompt": "p", "good": "same", "bad": "same"})" "\n";
  d.write("pref.jsonl", text);
  const TaskCard c = card(TaskType::pairwise, {"prompt", "code_a", "code_b"}, {"A", "B"},
                          {{"files", "pref.jsonl"},
                           {"input.prompt", "prompt"},
                           {"chosen", "good"},
                           {"rejected", "bad"}});
  std::vector<Example> ex, again;
  const ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  convert(c, ConvertInput{d.str()}, again);
  EXPECT_EQ(ex, again);
  ASSERT_EQ(ex.size(), 400u);
  EXPECT_EQ(r.bad, 1);
  EXPECT_TRUE(any_contains(r.bad_samples, "pref.jsonl:line 401: missing field 'bad'"));
  EXPECT_EQ(r.skipped.at("identical responses"), 1);
  int n_a = 0;
  for (size_t i = 0; i < ex.size(); ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(input(ex[i], "prompt"), "p" + n);
    const bool a = ex[i].label() == "A";
    n_a += a;
    EXPECT_EQ(input(ex[i], "code_a"), (a ? "g" : "b") + n);
    EXPECT_EQ(input(ex[i], "code_b"), (a ? "b" : "g") + n);
  }
  EXPECT_GT(n_a, 160);
  EXPECT_LT(n_a, 240);
}

TEST(FieldsConverter, GenerativeTargetsAndExtraOutputs) {
  TempDir d;
  d.write("g.jsonl",
          R"({"conversations": ["Write a haiku.", "Leaves fall..."]})"
          "\n"
          R"({"conversations": ["Only a prompt."]})"
          "\n"
          R"({"conversations": ["Empty answer.", ""]})"
          "\n");
  TaskCard g = card(TaskType::generative, {"request"}, {},
                    {{"files", "g.jsonl"},
                     {"input.request", "conversations.0"},
                     {"output.answer", "conversations.1"}});
  std::vector<Example> ex;
  ConvertReport r = convert(g, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(input(ex[0], "request"), "Write a haiku.");
  EXPECT_EQ(ex[0].label(), "Leaves fall...");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(any_contains(r.bad_samples, "g.jsonl:line 3: "));

  d.write("e.jsonl", R"({"claim": "c", "verdict": "SUPPORTS", "why": "because"})" "\n");
  TaskCard e = card(TaskType::classification, {"claim"}, {"Supports", "Refutes"},
                    {{"files", "e.jsonl"},
                     {"input.claim", "claim"},
                     {"label", "verdict"},
                     {"label_map", "SUPPORTS=Supports,*=Refutes"},
                     {"output.explanation", "why"}});
  e.output_fields.push_back("explanation");
  r = convert(e, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].outputs,
            (std::vector<std::pair<std::string, std::string>>{{"answer", "Supports"},
                                                              {"explanation", "because"}}));
}

TEST(FieldsConverter, FilterOperators) {
  TempDir d;
  d.write("f.jsonl",
          R"({"msg": "Fix crash on start", "lang": "Python", "turn": 1, "x": "1"})"
          "\n"
          R"({"msg": "Add feature", "lang": "Python", "turn": 1, "x": "2"})"
          "\n"
          R"({"msg": "BUGFIX: typo", "lang": "Python", "turn": 2, "x": "3"})"
          "\n"
          R"({"msg": "fix tests", "lang": "Go", "turn": 1, "x": "4"})"
          "\n");
  const TaskCard c = card(TaskType::classification, {"message"}, {"1", "2", "3", "4"},
                          {{"files", "f.jsonl"},
                           {"input.message", "msg"},
                           {"label", "x"},
                           {"filter", "msg~FIX, lang!=Go, turn=1"}});
  std::vector<Example> ex;
  ConvertReport r = convert(c, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].label(), "1");
  EXPECT_EQ(r.skipped.at("filter"), 3);
  EXPECT_EQ(r.bad, 0);

  TaskCard re = c;
  re.options["filter"] = R"(msg~\b(bug)?fix\b)";  // whole words only
  r = convert(re, ConvertInput{d.str()}, ex);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[1].label(), "3");
  EXPECT_EQ(r.skipped.at("filter"), 1);
  re.options["filter"] = "nope=1";
  r = convert(re, ConvertInput{d.str()}, ex);
  EXPECT_EQ(ex.size(), 0u);
  EXPECT_EQ(r.bad, 4);
  EXPECT_TRUE(any_contains(r.bad_samples, "f.jsonl:line 1: missing field 'nope'"));
}

TEST(FieldsConverter, BadOptionsFailTheWholeConversion) {
  TempDir d;
  d.write("a.jsonl", R"({"q": "x", "l": "Yes"})" "\n");
  d.write("a.parquet", "PAR1");
  const std::map<std::string, std::string> base = {
      {"files", "a.jsonl"}, {"input.question", "q"}, {"label", "l"}};
  auto err = [&](std::map<std::string, std::string> change, const std::vector<std::string>& drop,
                 TaskType type = TaskType::classification) {
    auto o = base;
    for (const auto& k : drop) o.erase(k);
    for (const auto& [k, v] : change) o[k] = v;
    std::vector<std::string> labels = {"Yes", "No"};
    if (type == TaskType::pointwise) labels = {"1", "2"};
    const TaskCard c = card(type, {"question"}, labels, o);
    std::vector<Example> ex;
    return error_of([&] { convert(c, ConvertInput{d.str()}, ex); });
  };
  EXPECT_EQ(err({}, {}), "");
  EXPECT_NE(err({}, {"input.question"}).find("input.question"), std::string::npos);
  EXPECT_NE(err({{"input.qustion", "q"}}, {}).find("names no input field"), std::string::npos);
  EXPECT_NE(err({}, {"label"}).find("'label'"), std::string::npos);
  EXPECT_NE(err({{"format", "xml"}}, {}).find("format"), std::string::npos);
  EXPECT_NE(err({{"files", "a.parquet"}}, {}).find("set the option format"), std::string::npos);
  EXPECT_NE(err({{"bins", "0,1,5"}}, {}).find("pointwise"), std::string::npos);
  EXPECT_NE(err({{"bins", "1,0,5"}}, {}, TaskType::pointwise).find("bins"), std::string::npos);
  EXPECT_NE(err({{"label_map", "Yes"}}, {}).find("label_map"), std::string::npos);
  EXPECT_NE(err({{"filter", "=x"}}, {}).find("bad filter"), std::string::npos);
  EXPECT_NE(err({{"filter", "q!x"}}, {}).find("bad filter"), std::string::npos);
  EXPECT_NE(err({{"filter", "q~("}}, {}).find("bad regex"), std::string::npos);
  EXPECT_NE(err({{"ties", "maybe"}}, {}).find("ties"), std::string::npos);
  EXPECT_NE(err({{"chosen", "q"}}, {}).find("chosen and rejected"), std::string::npos);
  EXPECT_NE(err({{"files", "missing.jsonl"}}, {}).find("raw file not found"), std::string::npos);
}

// --- The collection cards ---------------------------------------------------------------------

namespace {

std::vector<TaskCard> collection_cards() {
  std::vector<TaskCard> out;
  const fs::path dir = fs::path(FLAME_SOURCE_DIR) / "configs/tasks/collection";
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".yaml") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) out.push_back(load_task_card(p.string()));
  return out;
}

const TaskCard& collection_card(const std::vector<TaskCard>& cards, const std::string& name) {
  for (const auto& c : cards)
    if (c.name == name) return c;
  throw flame::Error("no collection card " + name);
}

// Writes `records` to the first file the card lists and nothing to the others, then converts.
ConvertReport convert_fixture(const TempDir& d, const TaskCard& c, const std::string& records,
                              std::vector<Example>& ex) {
  std::stringstream ss(c.options.at("files"));
  std::string f;
  bool first = true;
  while (std::getline(ss, f, ',')) {
    const auto b = f.find_first_not_of(" \t\n");
    if (b == std::string::npos) continue;
    d.write(f.substr(b, f.find_last_not_of(" \t\n") - b + 1), first ? records : "");
    first = false;
  }
  return convert(c, ConvertInput{d.str()}, ex);
}

}  // namespace

TEST(CollectionCards, EveryCardLoadsAndNamesARegisteredConverter) {
  const auto cards = collection_cards();
  EXPECT_GE(cards.size(), 17u);
  std::set<std::string> names;
  const auto empty = fs::temp_directory_path() / "flame_no_raw_data_here";
  for (const auto& c : cards) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate name";
    EXPECT_NO_THROW(find_converter(c.converter));
    ASSERT_TRUE(c.options.count("files"));
    EXPECT_TRUE(c.source.rfind("https://", 0) == 0) << c.source;
    // With no raw data the only complaint may be the missing file: the mapping options parse.
    std::vector<Example> ex;
    const std::string e = error_of([&] { convert(c, ConvertInput{empty.string()}, ex); });
    if (c.converter == "fields") {
      EXPECT_NE(e.find("raw file not found"), std::string::npos) << e;
    }
  }
  for (const char* n : {"hh_rlhf_helpful", "helpsteer_helpfulness", "helpsteer_correctness",
                        "helpsteer_coherence", "helpsteer_complexity", "helpsteer_verbosity",
                        "shp", "prm800k", "beavertails", "chatbot_arena", "mnli", "qqp", "paws",
                        "vitaminc", "frank", "commitpack_bugs", "lima"})
    EXPECT_TRUE(names.count(n)) << "missing card " << n;
}

TEST(CollectionCards, HelpSteerMapsEveryAttribute) {
  const auto cards = collection_cards();
  TempDir d;
  const std::string rec =
      R"({"prompt": "P", "response": "R", "helpfulness": 3, "correctness": 4, "coherence": 4,)"
      R"( "complexity": 1, "verbosity": 0})"
      "\n";
  const std::map<std::string, std::string> want = {{"helpfulness", "3"}, {"correctness", "4"},
                                                   {"coherence", "4"},   {"complexity", "1"},
                                                   {"verbosity", "0"}};
  for (const auto& [attr, label] : want) {
    std::vector<Example> ex;
    const auto r = convert_fixture(d, collection_card(cards, "helpsteer_" + attr), rec, ex);
    ASSERT_EQ(ex.size(), 1u) << attr << (r.bad_samples.empty() ? "" : r.bad_samples[0]);
    EXPECT_EQ(ex[0].label(), label) << attr;
    EXPECT_EQ(ex[0].inputs.back().second, "R");
  }
}

TEST(CollectionCards, PublishedSchemasConvert) {
  const auto cards = collection_cards();
  // One record per card, shaped like the dataset's published files (FRANK's is a JSON array),
  // and the label it must give ("": placed by the hash).
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"shp",
       R"({"post_id": "x", "domain": "askculinary_train", "history": "How?", "human_ref_A": "a",)"
       R"( "human_ref_B": "b", "labels": 0, "score_A": 3, "score_B": 9})",
       "B"},
      {"chatbot_arena",
       R"({"question_id": "q", "model_a": "m1", "model_b": "m2", "winner": "model_a", "turn": 1,)"
       R"( "language": "English", "conversation_a": [{"role": "user", "content": "hi"},)"
       R"( {"role": "assistant", "content": "A!"}], "conversation_b": [{"role": "user",)"
       R"( "content": "hi"}, {"role": "assistant", "content": "B!"}]})",
       "A"},
      {"prm800k",
       R"({"labeler": "l", "is_quality_control_question": false,)"
       R"( "is_initial_screening_question": false,)"
       R"( "question": {"problem": "1+1", "pre_generated_steps": ["s1", "s2"]},)"
       R"( "label": {"steps": [], "finish_reason": "found_error"}})",
       "No"},
      {"beavertails",
       R"({"prompt": "p", "response": "r", "category": {"violence": false}, "is_safe": true})",
       "Yes"},
      {"mnli",
       R"({"annotator_labels": ["neutral"], "genre": "fiction", "gold_label": "neutral",)"
       R"( "pairID": "1", "sentence1": "A man.", "sentence2": "A person."})",
       "Neutral"},
      {"vitaminc",
       R"({"unique_id": "u", "case_id": "c", "claim": "c", "evidence": "e", "label": "REFUTES"})",
       "Refutes"},
      {"frank",
       R"([{"hash": "h", "model_name": "m", "article": "art", "reference": "ref",)"
       R"( "summary_sentences": ["one.", "two."], "Factuality": 1.0, "split": "test"}])",
       "Yes"},
      {"commitpack_bugs",
       R"({"commit": "c", "old_file": "a.py", "new_file": "a.py", "old_contents": "x=1",)"
       R"( "new_contents": "x=2", "subject": "Fix off-by-one", "message": "m", "lang": "Python"})",
       ""},
      {"lima", R"({"conversations": ["Q?", "Answer."], "source": "stackexchange"})", "Answer."},
  };
  for (const auto& [name, rec, label] : cases) {
    SCOPED_TRACE(name);
    TempDir d;
    std::vector<Example> ex;
    const auto r = convert_fixture(d, collection_card(cards, name), rec + "\n", ex);
    ASSERT_EQ(ex.size(), 1u) << (r.bad_samples.empty() ? "" : r.bad_samples[0]);
    if (!label.empty()) {
      EXPECT_EQ(ex[0].label(), label);
    }
    for (const auto& [k, v] : ex[0].inputs) EXPECT_FALSE(v.empty()) << k;
  }
}

TEST(CollectionCards, TsvCardsConvert) {
  const auto cards = collection_cards();
  TempDir d;
  std::vector<Example> ex;
  auto r = convert_fixture(d, collection_card(cards, "qqp"),
                           "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                           "0\t1\t2\tHow do I cook rice?\tWhat is the way to cook rice?\t1\n",
                           ex);
  ASSERT_EQ(ex.size(), 1u) << (r.bad_samples.empty() ? "" : r.bad_samples[0]);
  EXPECT_EQ(ex[0].label(), "Yes");
  r = convert_fixture(d, collection_card(cards, "paws"),
                      "id\tsentence1\tsentence2\tlabel\n1\tA b c .\tC b a .\t0\n", ex);
  ASSERT_EQ(ex.size(), 1u) << (r.bad_samples.empty() ? "" : r.bad_samples[0]);
  EXPECT_EQ(ex[0].label(), "No");
}

// The helpful card shares the hh_rlhf converter (and its fields) with hh_rlhf_harmless.
TEST(CollectionCards, HhRlhfHelpfulConverts) {
  const auto cards = collection_cards();
  TempDir d;
  std::vector<Example> ex;
  const auto r = convert_fixture(
      d, collection_card(cards, "hh_rlhf_helpful"),
      R"({"chosen": "\n\nHuman: How do I boil an egg?\n\nAssistant: Simmer it for 9 minutes.",)"
      R"( "rejected": "\n\nHuman: How do I boil an egg?\n\nAssistant: No idea."})"
      "\n",
      ex);
  ASSERT_EQ(ex.size(), 1u) << (r.bad_samples.empty() ? "" : r.bad_samples[0]);
  EXPECT_NE(input(ex[0], "conversation").find("How do I boil an egg?"), std::string::npos);
  const std::string preferred = input(ex[0], ex[0].label() == "A" ? "response_a" : "response_b");
  EXPECT_NE(preferred.find("Simmer it for 9 minutes."), std::string::npos) << preferred;
}
