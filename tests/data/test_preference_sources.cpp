// Preference converters (data/converters/preference_sources.cpp): unit tests on small fixtures
// written in each source's own schema, and (suite RawDataPreference) the real files when the
// shared raw-data folder is present, checked against the counts SOURCES.md states.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/convert.h"
#include "data/task.h"
#include "core/error.h"
#include "tests/temp_dir.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

using flame_test::TempDir;

TaskCard card_at(const std::string& rel) {
  return load_task_card(std::string(FLAME_SOURCE_DIR) + "/configs/tasks/" + rel);
}

// The real card with its files pointed at a fixture.
TaskCard fixture_card(const std::string& rel, const std::string& files) {
  TaskCard card = card_at(rel);
  card.options["files"] = files;
  return card;
}

struct Converted {
  ConvertReport report;
  std::vector<Example> examples;
};

Converted run(const TaskCard& card, const std::string& raw_dir) {
  Converted r;
  r.report = convert(card, ConvertInput{raw_dir}, r.examples);
  return r;
}

std::string input(const Example& ex, const std::string& name) {
  for (const auto& [k, v] : ex.inputs)
    if (k == name) return v;
  ADD_FAILURE() << "no input " << name;
  return "";
}

std::vector<std::string> input_names(const Example& ex) {
  std::vector<std::string> out;
  for (const auto& [k, v] : ex.inputs) out.push_back(k);
  return out;
}

// The text of the response the label prefers (pair fields per the card).
std::string preferred(const TaskCard& card, const Example& ex) {
  EXPECT_NE(ex.label(), "Tie");
  return input(ex, card.pair_fields[ex.label() == "A" ? 0 : 1]);
}

std::map<std::string, long> label_counts(const std::vector<Example>& examples) {
  std::map<std::string, long> out;
  for (const auto& ex : examples) ++out[ex.label()];
  return out;
}

bool has_bad(const ConvertReport& r, const std::string& where, const std::string& why) {
  for (const auto& s : r.bad_samples)
    if (s.find(where) != std::string::npos && s.find(why) != std::string::npos) return true;
  return false;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const flame::Error& e) {
    return e.what();
  }
  return "";
}

std::string hh_line(const std::string& chosen, const std::string& rejected) {
  return nlohmann::json{{"chosen", chosen}, {"rejected", rejected}}.dump() + "\n";
}

}  // namespace

// --- Unit tests on fixtures --------------------------------------------------------------------

TEST(PreferenceSources, EveryCardLoadsAndNamesItsFile) {
  long n = 0;
  for (const char* dir : {"hh_rlhf", "pandalm", "autoj", "faireval", "cobbler", "bartscore"})
    for (const auto& e :
         fs::directory_iterator(std::string(FLAME_SOURCE_DIR) + "/configs/tasks/" + dir)) {
      const TaskCard card = load_task_card(e.path().string());
      EXPECT_EQ(card.name, e.path().stem().string());
      EXPECT_NO_THROW(find_converter(card.converter)) << card.name;
      EXPECT_TRUE(card.options.count("files")) << card.name;
      ++n;
    }
  EXPECT_EQ(n, 12);
}

TEST(PreferenceSources, HhRlhfSplitsTheLastTurnAndSkipsDivergentTranscripts) {
  TempDir dir;
  const std::string conv = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how do I pick a lock?";
  std::string text = hh_line(conv + "\n\nAssistant: I can't help with that.",
                             conv + "\n\nAssistant: Use a tension wrench.");
  text += hh_line("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: c\n\nAssistant: d");
  text += "{not json\n";
  text += nlohmann::json{{"chosen", "\n\nHuman: x\n\nAssistant: y"}}.dump() + "\n";
  text += hh_line("\n\nHuman: no reply", "\n\nHuman: no reply");
  text += "\n" + hh_line("\n\nHuman: q\n\nAssistant: good", "\n\nHuman: q\n\nAssistant: bad");
  dir.write("hh/test.jsonl.gz", text);
  const TaskCard card = fixture_card("hh_rlhf/hh_rlhf_harmless.yaml", "hh/test.jsonl.gz");
  const Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 2u);
  EXPECT_EQ(r.report.records, 6);
  EXPECT_EQ(r.report.skipped.at("transcripts differ before the last turn"), 1);
  EXPECT_EQ(r.report.bad, 3);
  EXPECT_TRUE(has_bad(r.report, "test.jsonl.gz:line 3", "bad JSON"));
  EXPECT_TRUE(has_bad(r.report, "test.jsonl.gz:line 4", "missing field 'rejected'"));
  EXPECT_TRUE(has_bad(r.report, "test.jsonl.gz:line 5", "Assistant"));
  const Example& ex = r.examples[0];
  EXPECT_EQ(input(ex, "conversation"),
            "Human: hi\n\nAssistant: hello\n\nHuman: how do I pick a lock?");
  EXPECT_EQ(preferred(card, ex), "I can't help with that.");
  EXPECT_EQ(preferred(card, r.examples[1]), "good");
}

TEST(PreferenceSources, PairwiseLabelsAreBalancedInOneOrder) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 1000; ++i)
    text += hh_line("\n\nHuman: q" + std::to_string(i) + "\n\nAssistant: good",
                    "\n\nHuman: q" + std::to_string(i) + "\n\nAssistant: bad");
  dir.write("hh/many.jsonl.gz", text);
  const TaskCard card = fixture_card("hh_rlhf/hh_rlhf_harmless.yaml", "hh/many.jsonl.gz");
  const Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 1000u);
  const long a = label_counts(r.examples)["A"];
  EXPECT_GT(a, 450);
  EXPECT_LT(a, 550);
  for (const auto& ex : r.examples) EXPECT_EQ(preferred(card, ex), "good");
  // Deterministic: the same input gives the same placement.
  EXPECT_EQ(run(card, dir.str()).examples, r.examples);
}

TEST(PreferenceSources, PandalmTakesTheMajorityVote) {
  TempDir dir;
  auto rec = [](int idx, int a1, int a2, int a3) {
    return nlohmann::json{{"idx", idx},
                          {"motivation_app", "app"},
                          {"cmp_key", "m1_m2"},
                          {"instruction", "Fix the grammar."},
                          {"input", "in " + std::to_string(idx)},
                          {"response1", "one " + std::to_string(idx)},
                          {"response2", "two " + std::to_string(idx)},
                          {"annotator1", a1},
                          {"annotator2", a2},
                          {"annotator3", a3}};
  };
  nlohmann::json arr = {rec(0, 1, 1, 2), rec(1, 2, 0, 2), rec(2, 0, 0, 1), rec(3, 0, 1, 2),
                        rec(4, 1, 3, 1), rec(5, 2, 2, 2), rec(6, 1, 1, 1)};
  arr[0]["response1"] = true;  // as the real file stores six "True" responses
  arr[5].erase("response2");
  arr[6]["response2"] = 5;
  dir.write("p/test.json", arr.dump());
  TaskCard card = fixture_card("pandalm/pandalm.yaml", "p/test.json");
  const Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 3u);
  EXPECT_EQ(r.report.records, 7);
  EXPECT_EQ(r.report.skipped.at("no majority"), 1);
  EXPECT_EQ(r.report.bad, 3);
  EXPECT_TRUE(has_bad(r.report, "test.json:record 6", "field 'response2' is not a string"));
  EXPECT_TRUE(has_bad(r.report, "test.json:record 4", "unknown label 3"));
  EXPECT_TRUE(has_bad(r.report, "test.json:record 5", "missing field 'response2'"));
  EXPECT_EQ(preferred(card, r.examples[0]), "True");
  EXPECT_EQ(preferred(card, r.examples[1]), "two 1");
  EXPECT_EQ(r.examples[2].label(), "Tie");
  EXPECT_EQ(input(r.examples[2], "input"), "in 2");
  EXPECT_EQ(input(r.examples[2], "instruction"), "Fix the grammar.");

  card.options["ties"] = "drop";
  card.labels = {"A", "B"};
  const Converted dropped = run(card, dir.str());
  EXPECT_EQ(dropped.examples.size(), 2u);
  EXPECT_EQ(dropped.report.skipped.at("tie"), 1);
  card.options["ties"] = "keep";  // keep needs a Tie label: a whole-task error
  EXPECT_NE(error_of([&] { run(card, dir.str()); }).find("[A, B, Tie]"), std::string::npos);
}

TEST(PreferenceSources, AutojLeavesScenarioOutAndReadsZeroBasedLabels) {
  TempDir dir;
  auto rec = [](const nlohmann::json& label, const std::string& r1, const std::string& r2) {
    return nlohmann::json{{"scenario", "code_generation"},
                          {"label", label},
                          {"prompt", "Sort it"},
                          {"response 1", r1},
                          {"response 2", r2}}
               .dump() +
           "\n";
  };
  std::string text = rec(0, "first", "second") + rec(1, "first", "second") +
                     rec(2, "same", "same") + rec(1, "same", "same") + rec("x", "a", "b") +
                     "[1,\n" +
                     R"({"label": 0, "prompt": "p", "response 1": "a"})"
                     "\n";
  dir.write("a/pairwise.jsonl", text);
  const TaskCard card = fixture_card("autoj/autoj_pairwise.yaml", "a/pairwise.jsonl");
  const Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 3u);
  EXPECT_EQ(r.report.skipped.at("identical responses"), 1);
  EXPECT_EQ(r.report.bad, 3);
  EXPECT_TRUE(has_bad(r.report, "pairwise.jsonl:line 5", "unknown label \"x\""));
  EXPECT_TRUE(has_bad(r.report, "pairwise.jsonl:line 6", "bad JSON"));
  EXPECT_TRUE(has_bad(r.report, "pairwise.jsonl:line 7", "missing field 'response 2'"));
  EXPECT_EQ(input_names(r.examples[0]),
            (std::vector<std::string>{"prompt", "response_a", "response_b"}));
  EXPECT_EQ(preferred(card, r.examples[0]), "first");
  EXPECT_EQ(preferred(card, r.examples[1]), "second");
  EXPECT_EQ(r.examples[2].label(), "Tie");
}

TEST(PreferenceSources, FairevalJoinsAnswersByLineOrder) {
  TempDir dir;
  auto lines = [](const std::string& what, int n) {
    std::string s;
    for (int q = 1; q <= n; ++q)
      s += nlohmann::json{{"question_id", q}, {"text", what + std::to_string(q)}}.dump() + "\n";
    return s;
  };
  dir.write("f/question.jsonl", lines("question ", 5));
  dir.write("f/gpt.jsonl", lines("gpt answer ", 5));
  dir.write("f/vic.jsonl", lines("vicuna answer ", 3) + "{\"question_id\": 4}\n");
  dir.write("f/review.txt", "CHATGPT\nTIE\r\nVICUNA13B\nCHATGPT\nMAYBE");
  const TaskCard card = fixture_card("faireval/faireval.yaml",
                                     "f/question.jsonl,f/gpt.jsonl, f/vic.jsonl,f/review.txt");
  const Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 3u);
  EXPECT_EQ(r.report.bad, 3);
  EXPECT_TRUE(has_bad(r.report, "vic.jsonl:line 4", "missing field 'text'"));
  EXPECT_TRUE(has_bad(r.report, "review.txt:line 4", "no second answer for question_id 4"));
  EXPECT_TRUE(has_bad(r.report, "review.txt:line 5", "unknown label 'MAYBE'"));
  EXPECT_EQ(input(r.examples[0], "question"), "question 1");
  EXPECT_EQ(preferred(card, r.examples[0]), "gpt answer 1");
  EXPECT_EQ(r.examples[1].label(), "Tie");
  EXPECT_EQ(input(r.examples[2], "question"), "question 3");
  EXPECT_EQ(preferred(card, r.examples[2]), "vicuna answer 3");
  TaskCard three = card;
  three.options["files"] = "f/question.jsonl,f/gpt.jsonl,f/review.txt";
  EXPECT_NE(error_of([&] { run(three, dir.str()); }).find("needs 4 files"), std::string::npos);
}

TEST(PreferenceSources, CobblerKeepsPairsTheAnnotatorsAgreeOn) {
  TempDir dir;
  using J = nlohmann::json;
  dir.write("c/evalset.json", J::array({J{{"instruction", "i0"}, {"reference", "ref0"}},
                                        J{{"instruction", "i1"}, {"reference", "ref1"}},
                                        J{{"instruction", "i2"}, {"reference", "ref2"}}})
                                  .dump());
  dir.write("c/gens.json", J{{"m1", {"r1-0", "r1-1", "same"}},
                             {"m2", {"r2-0", "r2-1", "same"}},
                             {"m3", {"r3-0", "r3-1", "r3-2"}}}
                               .dump());
  const J full = J{{"m1", 2}, {"m2", 1}, {"m3", 0}};
  dir.write("c/a1.json", J::array({J{{"m1", 2}, {"m2", 1}, {"m3", 0}}, full, full}).dump());
  dir.write("c/a2.json",
            J::array({J{{"m1", 2}, {"m2", 0}, {"m3", 1}}, J{{"m1", 1}, {"m2", 0}}, full}).dump());
  dir.write("c/a3.json", J::array({J{{"m1", 1}, {"m2", 2}, {"m3", 0}}, full, full}).dump());
  TaskCard card = fixture_card("cobbler/cobbler.yaml",
                               "c/evalset.json,c/gens.json,c/a1.json,c/a2.json,c/a3.json");
  card.options["min_agreement"] = "3";
  const Converted r = run(card, dir.str());
  // Item 0: only m1 > m3 is unanimous; item 1: a2 lacks m3; item 2: m1 = m2 in text.
  EXPECT_EQ(r.report.records, 3);
  EXPECT_EQ(r.report.bad, 1);
  EXPECT_TRUE(has_bad(r.report, "evalset.json:record 1", "a2.json ranks another set of models"));
  EXPECT_EQ(r.report.skipped.at("annotators disagree"), 2);
  EXPECT_EQ(r.report.skipped.at("identical responses"), 1);
  ASSERT_EQ(r.examples.size(), 3u);
  EXPECT_EQ(input(r.examples[0], "instruction"), "i0");
  EXPECT_EQ(input(r.examples[0], "reference"), "ref0");
  EXPECT_EQ(preferred(card, r.examples[0]), "r1-0");
  EXPECT_EQ(preferred(card, r.examples[1]), "same");
  EXPECT_EQ(input(r.examples[2], "instruction"), "i2");
  EXPECT_EQ(preferred(card, r.examples[2]), "same");

  card.options["min_agreement"] = "2";  // item 0 then gives all 3 pairs
  EXPECT_EQ(run(card, dir.str()).examples.size(), 5u);
  card.options["min_agreement"] = "1";  // 1 of 3 could favour both models of a pair
  EXPECT_NE(error_of([&] { run(card, dir.str()); }).find("min_agreement"), std::string::npos);
}

TEST(PreferenceSources, BartscorePointwiseRoundsOrBinsAndDropsBadDocumentsWhole) {
  TempDir dir;
  using J = nlohmann::json;
  auto doc = [](const std::string& id, J systems) {
    return J{{"doc_id", id}, {"src", "article " + id}, {"ref_summ", "ref"}, {"sys_summs", systems}}
               .dump() +
           "\n";
  };
  auto sys = [](const std::string& text, J scores) {
    return J{{"sys_summ", text}, {"scores", scores}};
  };
  std::string text =
      doc("d0", J{{"M1", sys("s0", {{"coherence", 2.3333333333333335}, {"rec", 0.0}})},
                  {"M2", sys("s1", {{"coherence", 4.666666666666667}, {"rec", 1.0}})}}) +
      doc("d1", J{{"M1", sys("s2", {{"coherence", 3.0}, {"rec", 0.2}})},
                  {"M2", sys("s3", {{"fluency", 3.0}, {"rec", 0.5}})}}) +
      doc("d2", J{{"M1", sys("s4", {{"coherence", 7.0}, {"rec", 1.3}})}});
  dir.write("b/data.jsonl", text);
  TaskCard card = fixture_card("bartscore/summeval_coherence.yaml", "b/data.jsonl");
  Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 2u);  // nothing of d1 (one summary lacks the metric) nor d2
  EXPECT_EQ(r.report.bad, 2);
  EXPECT_TRUE(has_bad(r.report, "data.jsonl:line 2", "missing field 'coherence'"));
  EXPECT_TRUE(has_bad(r.report, "data.jsonl:line 3", "not on the scale"));
  EXPECT_EQ(r.examples[0],
            (Example{{{"document", "article d0"}, {"summary", "s0"}}, {{"score", "2"}}}));
  EXPECT_EQ(r.examples[1].label(), "5");

  card = fixture_card("bartscore/realsumm_coverage.yaml", "b/data.jsonl");
  card.options["metric"] = "rec";
  r = run(card, dir.str());
  EXPECT_EQ(r.report.bad, 1);
  EXPECT_TRUE(has_bad(r.report, "data.jsonl:line 3", "outside the scale"));
  std::vector<std::string> labels;
  for (const auto& ex : r.examples) labels.push_back(ex.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"1", "5", "2", "3"}));
  card.options["mapping"] = "nearest";
  EXPECT_NE(error_of([&] { run(card, dir.str()); }).find("round or bins"), std::string::npos);
}

TEST(PreferenceSources, BartscorePairwiseReadsDarrAndNamedSystems) {
  TempDir dir;
  using J = nlohmann::json;
  auto darr = [](int id, const std::string& better, const std::string& worse) {
    return J{{"doc_id", id},
             {"src", "src" + std::to_string(id)},
             {"ref", "ref"},
             {"better", {{"sys_name", "x"}, {"sys", better}, {"scores", J::object()}}},
             {"worse", {{"sys_name", "y"}, {"sys", worse}, {"scores", J::object()}}}}
               .dump() +
           "\n";
  };
  dir.write("w/data.jsonl", darr(0, "good", "bad") + darr(1, "fine", "poor") +
                                R"({"doc_id": 2, "src": "s", "ref": "r", "better": {"sys": "a"}})"
                                "\n");
  TaskCard card = fixture_card("bartscore/wmt19_kk_en_darr.yaml", "w/data.jsonl");
  Converted r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 2u);
  EXPECT_TRUE(has_bad(r.report, "data.jsonl:line 3", "missing field 'worse'"));
  EXPECT_EQ(input_names(r.examples[0]),
            (std::vector<std::string>{"source", "reference", "translation_a", "translation_b"}));
  EXPECT_EQ(input(r.examples[0], "source"), "src0");
  EXPECT_EQ(preferred(card, r.examples[0]), "good");
  EXPECT_EQ(preferred(card, r.examples[1]), "fine");

  auto rank = [](int id, const std::string& correct, const std::string& incorrect) {
    return J{{"doc_id", id},
             {"src", "article"},
             {"ref_summ", "article"},
             {"sys_summs",
              {{"correct", {{"sys_summ", correct}, {"scores", {{"fact", 1}}}}},
               {"incorrect", {{"sys_summ", incorrect}, {"scores", {{"fact", 0}}}}}}}}
               .dump() +
           "\n";
  };
  const std::string no_text =
      R"({"doc_id": 2, "src": "a", "sys_summs": {"correct": {}, "incorrect": {"sys_summ": "x"}}})";
  dir.write("r/data.jsonl", rank(0, "right", "wrong") + rank(1, "same", "same") + no_text + "\n");
  card = fixture_card("bartscore/rank19_factual_summary.yaml", "r/data.jsonl");
  r = run(card, dir.str());
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_EQ(preferred(card, r.examples[0]), "right");
  EXPECT_EQ(input(r.examples[0], "article"), "article");
  EXPECT_EQ(r.report.skipped.at("identical responses"), 1);
  EXPECT_TRUE(has_bad(r.report, "data.jsonl:line 3", "missing field 'sys_summ'"));
}

TEST(PreferenceSources, CardsWithOtherFieldsAreRejectedOnce) {
  TempDir dir;
  dir.write("a/x.jsonl", "");
  TaskCard card = fixture_card("autoj/autoj_pairwise.yaml", "a/x.jsonl");
  card.input_fields = {"query", "response_a", "response_b"};
  EXPECT_NE(error_of([&] { run(card, dir.str()); }).find("needs input_fields [prompt, "),
            std::string::npos);
  card = fixture_card("bartscore/wmt19_kk_en_darr.yaml", "a/x.jsonl");
  card.options.erase("format");
  EXPECT_NE(error_of([&] { run(card, dir.str()); }).find("darr or systems"), std::string::npos);
}

// --- The real files --------------------------------------------------------------------------

namespace {

std::string raw_dir() {
  if (const char* env = std::getenv("FLAME_RAW_DIR")) return env;
  return std::string(FLAME_SOURCE_DIR) + "/../shared/data/raw";
}

// Runs a card on the real data; fails on any malformed record (the files are the originals).
Converted run_real(const std::string& rel) {
  const Converted r = run(card_at(rel), raw_dir());
  EXPECT_EQ(r.report.bad, 0) << rel << ": "
                             << (r.report.bad_samples.empty() ? "" : r.report.bad_samples[0]);
  return r;
}

// Share of A among the A/B labels: the content hash should put the preferred response first
// about half the time (on these files every task lands within 2.2 points of 50%).
void expect_balanced(const Converted& r) {
  auto c = label_counts(r.examples);
  const double n = double(c["A"] + c["B"]);
  ASSERT_GT(n, 0);
  EXPECT_NEAR(double(c["A"]) / n, 0.5, 0.03) << "A " << c["A"] << ", B " << c["B"];
}

class RawDataPreference : public testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(raw_dir())) GTEST_SKIP() << "no raw data at " << raw_dir();
  }
};

}  // namespace

TEST_F(RawDataPreference, HhRlhfHarmless) {
  const Converted r = run_real("hh_rlhf/hh_rlhf_harmless.yaml");
  EXPECT_EQ(r.report.records, 2312);
  EXPECT_EQ(r.examples.size(), 2307u);
  EXPECT_EQ(r.report.skipped.at("transcripts differ before the last turn"), 5);
  expect_balanced(r);
  for (const auto& ex : r.examples) {
    EXPECT_EQ(input(ex, "conversation").rfind("Human: ", 0), 0u);
    EXPECT_EQ(input(ex, "response_a").find("\n\nAssistant:"), std::string::npos);
  }
}

TEST_F(RawDataPreference, Pandalm) {
  const Converted r = run_real("pandalm/pandalm.yaml");
  EXPECT_EQ(r.report.records, 999);
  EXPECT_EQ(r.examples.size(), 999u);  // every pair has a majority
  EXPECT_EQ(label_counts(r.examples)["Tie"], 105);
  EXPECT_EQ(r.report.skipped.count("no majority"), 0u);
  expect_balanced(r);
}

TEST_F(RawDataPreference, Autoj) {
  const Converted r = run_real("autoj/autoj_pairwise.yaml");
  EXPECT_EQ(r.report.records, 1392);
  // One pair has two identical responses yet a preference (label 1): skipped.
  EXPECT_EQ(r.report.skipped.at("identical responses"), 1);
  EXPECT_EQ(r.examples.size(), 1391u);
  EXPECT_EQ(label_counts(r.examples)["Tie"], 373);
  expect_balanced(r);
}

TEST_F(RawDataPreference, Faireval) {
  const TaskCard card = card_at("faireval/faireval.yaml");
  const Converted r = run_real("faireval/faireval.yaml");
  EXPECT_EQ(r.examples.size(), 80u);
  EXPECT_EQ(r.report.records, 4 * 80);  // the question and answer lines count as records too
  EXPECT_EQ(label_counts(r.examples)["Tie"], 14);
  // SOURCES.md: 41 CHATGPT, 25 VICUNA13B; the preferred text is the gpt35 answer 41 times.
  std::ifstream answers(raw_dir() + "/faireval/answer/answer_gpt35.jsonl");
  std::set<std::string> gpt_texts;
  for (std::string line; std::getline(answers, line);)
    gpt_texts.insert(nlohmann::json::parse(line).at("text").get<std::string>());
  long gpt_wins = 0;
  for (const auto& ex : r.examples)
    if (ex.label() != "Tie") gpt_wins += long(gpt_texts.count(preferred(card, ex)));
  EXPECT_EQ(gpt_wins, 41);
  expect_balanced(r);
}

TEST_F(RawDataPreference, Cobbler) {
  const Converted r = run_real("cobbler/cobbler.yaml");
  EXPECT_EQ(r.report.records, 50);
  // 50 instructions x C(15, 2) = 5250 pairs: 3485 with >= 5 of 6 annotators agreeing, of which
  // some have two identical responses.
  const long kept = long(r.examples.size()) + r.report.skipped.at("identical responses");
  EXPECT_EQ(kept, 3485);
  EXPECT_EQ(r.report.skipped.at("annotators disagree"), 5250 - 3485);
  EXPECT_EQ(r.report.skipped.at("identical responses"), 6);
  EXPECT_EQ(r.examples.size(), 3479u);
  expect_balanced(r);
}

TEST_F(RawDataPreference, SummevalAndRealsumm) {
  const std::map<std::string, std::vector<long>> expected = {
      {"summeval_coherence", {38, 326, 422, 579, 235}},
      {"summeval_consistency", {35, 82, 37, 59, 1387}},
      {"summeval_fluency", {10, 39, 82, 178, 1291}},
      {"summeval_relevance", {11, 120, 362, 837, 270}},
      {"realsumm_coverage", {299, 588, 892, 445, 176}}};
  for (const auto& [name, counts] : expected) {
    const Converted r = run_real("bartscore/" + name + ".yaml");
    EXPECT_EQ(r.report.records, 100) << name;
    EXPECT_EQ(r.examples.size(), name == "realsumm_coverage" ? 2400u : 1600u) << name;
    auto c = label_counts(r.examples);
    for (int k = 1; k <= 5; ++k) EXPECT_EQ(c[std::to_string(k)], counts[k - 1]) << name << " " << k;
  }
}

TEST_F(RawDataPreference, Rank19AndWmtDarr) {
  const Converted rank = run_real("bartscore/rank19_factual_summary.yaml");
  EXPECT_EQ(rank.report.records, 373);
  EXPECT_EQ(rank.report.skipped.at("identical responses"), 3);  // correct == incorrect text
  EXPECT_EQ(rank.examples.size(), 370u);
  expect_balanced(rank);
  const Converted wmt = run_real("bartscore/wmt19_kk_en_darr.yaml");
  EXPECT_EQ(wmt.report.records, 3000);
  EXPECT_EQ(wmt.examples.size(), 3000u);
  expect_balanced(wmt);
}
