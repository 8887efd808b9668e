// Converters of classification / pointwise / generative judgments (judgment_sources.cpp): unit
// tests on small fixtures in each source's schema (suite JudgmentSources), and the real files
// when the raw folder exists (suite RawDataJudgment), against the counts SOURCES.md states.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/convert.h"
#include "data/task.h"
#include "core/error.h"
#include "tests/temp_dir.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

using Counts = std::map<std::string, long>;

using flame_test::TempDir;

// The repository's card, with `files` pointed at a fixture.
TaskCard card(const std::string& rel, const std::string& files = "") {
  TaskCard c = load_task_card(std::string(FLAME_SOURCE_DIR) + "/configs/tasks/" + rel + ".yaml");
  if (!files.empty()) c.options["files"] = files;
  return c;
}

ConvertReport run(const TaskCard& c, const std::string& raw, std::vector<Example>& out) {
  return convert(c, ConvertInput{raw}, out);
}

Counts labels(const std::vector<Example>& ex) {
  Counts c;
  for (const auto& e : ex) ++c[e.label()];
  return c;
}

std::string in(const Example& ex, const std::string& name) {
  for (const auto& [f, v] : ex.inputs)
    if (f == name) return v;
  ADD_FAILURE() << "no input " << name;
  return "";
}

std::string out(const Example& ex, const std::string& name) {
  for (const auto& [f, v] : ex.outputs)
    if (f == name) return v;
  ADD_FAILURE() << "no output " << name;
  return "";
}

// Whether some bad-record sample names `where` ("x.jsonl:line 2") and mentions `why`.
bool has_bad(const ConvertReport& r, const std::string& where, const std::string& why = "") {
  for (const auto& s : r.bad_samples)
    if (s.find(where + ":") != std::string::npos && s.find(why) != std::string::npos) return true;
  return false;
}

std::string bad_list(const ConvertReport& r) {
  std::string s;
  for (const auto& b : r.bad_samples) s += b + "\n";
  return s;
}

// A .tar.gz of (name, contents) members, ustar headers, written with zlib.
void write_tar_gz(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& m) {
  std::string tar;
  for (const auto& [name, data] : m) {
    char h[512] = {};
    std::snprintf(h, 100, "%s", name.c_str());
    std::snprintf(h + 100, 8, "%07o", 0644);
    std::snprintf(h + 108, 8, "%07o", 0);
    std::snprintf(h + 116, 8, "%07o", 0);
    std::snprintf(h + 124, 12, "%011o", unsigned(data.size()));
    std::snprintf(h + 136, 12, "%011o", 0);
    h[156] = '0';
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char ch : h) sum += ch;
    std::snprintf(h + 148, 8, "%06o", sum);
    tar.append(h, 512);
    tar += data;
    tar.append((512 - data.size() % 512) % 512, '\0');
  }
  tar.append(1024, '\0');
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  ASSERT_EQ(gzwrite(f, tar.data(), unsigned(tar.size())), int(tar.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

}  // namespace

// --- Cards -----------------------------------------------------------------------------------

TEST(JudgmentSources, CardsLoadWithTheirConventions) {
  struct Want {
    std::string rel, converter;
    TaskType type;
    std::vector<std::string> outputs, labels;
  };
  const std::vector<std::string> yn = {"Yes", "No"}, scale = {"1", "2", "3", "4", "5"};
  const std::vector<Want> cards = {
      {"summedits/summedits", "summedits", TaskType::classification, {"answer"}, yn},
      {"qags/qags_sentence", "qags", TaskType::classification, {"answer"}, yn},
      {"begin/begin_attribution", "begin", TaskType::classification, {"answer"},
       {"Fully attributable", "Not fully attributable", "Generic"}},
      {"halueval/halueval_general", "halueval", TaskType::classification, {"answer"}, yn},
      {"factcheck_gpt/factcheck_response", "factcheck_response", TaskType::classification,
       {"answer"}, yn},
      {"factcheck_gpt/factcheck_claims", "factcheck_claims", TaskType::classification,
       {"answer"}, yn},
      {"wice/wice_entailment", "wice", TaskType::classification, {"answer"},
       {"Supported", "Partially supported", "Not supported"}},
      {"cola/cola_acceptability", "cola", TaskType::classification, {"answer"}, yn},
      {"ice_score/humaneval_execution", "ice_score", TaskType::classification, {"answer"}, yn},
      {"mr_gsm8k/mr_gsm8k_first_error", "mr_gsm8k", TaskType::generative,
       {"first_error_step", "reason"}, {}},
      {"wmt_mqm/wmt_mqm_ted_en_de", "wmt_mqm", TaskType::pointwise, {"score"}, scale},
      {"wmt_mqm/wmt_mqm_ted_zh_en", "wmt_mqm", TaskType::pointwise, {"score"}, scale},
      {"mlqe_pe/mlqe_pe_en_de", "mlqe_pe", TaskType::pointwise, {"score"}, scale},
      {"mlqe_pe/mlqe_pe_ro_en", "mlqe_pe", TaskType::pointwise, {"score"}, scale},
  };
  std::set<std::string> names;
  for (const auto& w : cards) {
    SCOPED_TRACE(w.rel);
    const TaskCard c = card(w.rel);
    EXPECT_EQ(c.name, fs::path(w.rel).filename().string());
    EXPECT_TRUE(names.insert(c.name).second);
    EXPECT_EQ(c.converter, w.converter);
    EXPECT_NO_THROW(find_converter(c.converter));
    EXPECT_EQ(c.type, w.type);
    EXPECT_EQ(c.output_fields, w.outputs);
    EXPECT_EQ(c.labels, w.labels);
    EXPECT_EQ(c.source.rfind("https://github.com/", 0), 0u) << c.source;
    EXPECT_FALSE(c.options.at("files").empty());
  }
  EXPECT_EQ(card("factcheck_gpt/factcheck_response").options.at("exclude_sources"),
            "halueval-dolly15k");
}

// --- Unit tests on fixtures ------------------------------------------------------------------

TEST(JudgmentSources, SummEditsLabelsAndBadItems) {
  TempDir d;
  d.write("s/summedits_x.json", R"([
    {"id": "a_og", "doc": "Doc one.", "summary": "Sum one.", "label": 1, "split": "test"},
    {"id": "b", "doc": "Doc two.", "summary": "Sum two.", "label": 0, "split": "test"},
    {"id": "c", "doc": "Doc three.", "label": 1},
    {"id": "d", "doc": "Doc four.", "summary": "Sum four.", "label": 2},
    {"id": "e", "doc": "Doc five.", "summary": "Sum five.", "label": 1}])");
  std::vector<Example> ex;
  const auto r = run(card("summedits/summedits", "s/summedits_x.json"), d.str(), ex);
  EXPECT_EQ(r.records, 5);
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(labels(ex), (Counts{{"Yes", 2}, {"No", 1}}));
  EXPECT_EQ(in(ex[1], "document"), "Doc two.");
  EXPECT_EQ(in(ex[1], "summary"), "Sum two.");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "summedits_x.json:record 2", "summary")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "summedits_x.json:record 3", "0 or 1")) << bad_list(r);
}

TEST(JudgmentSources, QagsMajorityPerSentence) {
  TempDir d;
  // A summary sentence as the file has it: text plus one {worker_id, response} per vote.
  auto sentence = [](const std::string& text, const std::vector<std::string>& votes) {
    std::string s = R"({"sentence": ")" + text + R"(", "responses": [)";
    for (size_t i = 0; i < votes.size(); ++i)
      s += (i ? ", " : "") + std::string(R"({"worker_id": )") + std::to_string(i) +
           R"(, "response": ")" + votes[i] + "\"}";
    return s + "]}";
  };
  auto line = [](const std::string& article, const std::string& sentences) {
    return R"({"article": ")" + article + R"(", "summary_sentences": [)" + sentences + "]}\n";
  };
  d.write("q/mturk_x.jsonl",
          line("The article.", sentence("S1.", {"yes", "yes", "no"}) + ", " +
                                   sentence("S2.", {"no", "no", "yes"})) +
              "{not json\n" +
              line("A3.", sentence("ok", {"yes", "yes", "yes"}) + ", " +
                              sentence("S", {"yes", "maybe", "no"})) +
              line("A4.", sentence("even", {"yes", "no"})) +
              R"({"summary_sentences": []})" + "\n");
  std::vector<Example> ex;
  const auto r = run(card("qags/qags_sentence", "q/mturk_x.jsonl"), d.str(), ex);
  EXPECT_EQ(r.records, 5);
  ASSERT_EQ(r.examples, 2);  // record 3 fails as a whole: its good first sentence is not kept
  EXPECT_EQ(in(ex[0], "article"), "The article.");
  EXPECT_EQ(in(ex[0], "summary_sentence"), "S1.");
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(in(ex[1], "summary_sentence"), "S2.");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(r.bad, 3);
  EXPECT_TRUE(has_bad(r, "mturk_x.jsonl:line 2", "bad JSON")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "mturk_x.jsonl:line 3", "maybe")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "mturk_x.jsonl:line 5", "article")) << bad_list(r);
  EXPECT_EQ(r.skipped.at("no majority"), 1);
}

TEST(JudgmentSources, BeginTsvWithoutQuoting) {
  TempDir d;
  d.write("b/begin_dev_x.tsv",
          "model_name\tdata_source\tknowledge\tmessage\tresponse\tbegin_label\n"
          "t5\twow\tK1\tM1\tR1\tFully attributable\n"
          "gpt2\twow\t\"Quoted knowledge\tM2\tsaid \"hi\tNot fully attributable\n"
          "ctrl\tcmu\tK3\tM3\tR3\tGeneric\n"
          "t5\twow\tK4\tM4\tR4\tMaybe\n"
          "t5\twow\tK5\tM5\tFully attributable\n");
  std::vector<Example> ex;
  TaskCard c = card("begin/begin_attribution", "b/begin_dev_x.tsv");
  auto r = run(c, d.str(), ex);
  EXPECT_EQ(r.records, 5);
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(labels(ex),
            (Counts{{"Fully attributable", 1}, {"Not fully attributable", 1}, {"Generic", 1}}));
  EXPECT_EQ(in(ex[1], "knowledge"), "\"Quoted knowledge");
  EXPECT_EQ(in(ex[1], "message"), "M2");
  EXPECT_EQ(in(ex[1], "response"), "said \"hi");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "begin_dev_x.tsv:line 5", "Maybe")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "begin_dev_x.tsv:line 6", "fields")) << bad_list(r);

  // binary: Generic joins Not fully attributable (the card then lists two labels).
  c.options["binary"] = "true";
  c.labels = {"Fully attributable", "Not fully attributable"};
  r = run(c, d.str(), ex);
  EXPECT_EQ(labels(ex), (Counts{{"Fully attributable", 1}, {"Not fully attributable", 2}}));
}

TEST(JudgmentSources, HaluEvalYesNo) {
  TempDir d;
  d.write("h/general_data.json",
          R"({"ID": "1", "user_query": "Q1", "chatgpt_response": "R1", "hallucination": "yes",)"
          R"( "hallucination_spans": ["x"]})"
          "\n"
          R"({"ID": "2", "user_query": "Q2", "chatgpt_response": "R2", "hallucination": "no",)"
          R"( "hallucination_spans": []})"
          "\n\n"
          R"({"ID": "3", "user_query": "Q3", "chatgpt_response": "R3", "hallucination": "unsure"})"
          "\n"
          R"({"ID": "4", "user_query": "Q4", "hallucination": "no"})"
          "\n");
  std::vector<Example> ex;
  const auto r = run(card("halueval/halueval_general", "h/general_data.json"), d.str(), ex);
  EXPECT_EQ(r.records, 4);
  ASSERT_EQ(r.examples, 2);
  EXPECT_EQ(in(ex[0], "query"), "Q1");
  EXPECT_EQ(in(ex[0], "response"), "R1");
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "general_data.json:line 4", "unsure")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "general_data.json:line 5", "chatgpt_response")) << bad_list(r);
}

namespace {

std::string factbench_row(const std::string& source, const std::string& label,
                          const std::string& claims, const std::string& claim_labels) {
  return R"({"prompt": "P-)" + source + R"(", "response": "R-)" + source +
         R"(", "response_label": )" + label + R"(, "claims": )" + claims +
         R"(, "claim_labels": )" + claim_labels + R"(, "source": ")" + source + "\"}\n";
}

const std::string kFactbench =
    factbench_row("halueval-dolly15k", "true", "[]", "[]") +                             // 1
    factbench_row("felm-wk", "false", R"(["c1", "c2", "c3"])", R"([true, false, "unknown"])") +
    factbench_row("factcheckgpt", "\"NA\"", "[]", "[]") +                                 // 3
    factbench_row("factool-qa", "true", R"(["c4"])", "[true]") +                          // 4
    factbench_row("factool-qa", "\"maybe\"", R"(["c5", "c6"])", "[true]") +               // 5
    factbench_row("felm-wk", "true", R"(["c7", "c8"])", R"([true, 3])") +                 // 6
    R"({"prompt": "P", "response": null, "response_label": true, "claims": ["c9"],)"
    R"( "claim_labels": [true], "source": "felm-wk"})" "\n";                                // 7

}  // namespace

TEST(JudgmentSources, FactcheckResponseLevel) {
  TempDir d;
  d.write("f/Factbench.jsonl", kFactbench);
  std::vector<Example> ex;
  TaskCard c = card("factcheck_gpt/factcheck_response", "f/Factbench.jsonl");
  auto r = run(c, d.str(), ex);
  EXPECT_EQ(r.records, 7);
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(in(ex[0], "prompt"), "P-felm-wk");
  EXPECT_EQ(in(ex[0], "response"), "R-felm-wk");
  EXPECT_EQ(ex[0].label(), "No");
  EXPECT_EQ(labels(ex), (Counts{{"Yes", 2}, {"No", 1}}));
  EXPECT_EQ(r.skipped, (Counts{{"NA label", 1},
                               {"excluded source halueval-dolly15k", 1},
                               {"no response", 1}}));
  EXPECT_EQ(r.bad, 1);
  EXPECT_TRUE(has_bad(r, "Factbench.jsonl:line 5", "maybe")) << bad_list(r);

  c.options.erase("exclude_sources");  // the HaluEval rows come back
  r = run(c, d.str(), ex);
  EXPECT_EQ(r.examples, 4);
  EXPECT_EQ(in(ex[0], "prompt"), "P-halueval-dolly15k");
}

TEST(JudgmentSources, FactcheckClaimLevel) {
  TempDir d;
  d.write("f/Factbench.jsonl", kFactbench);
  std::vector<Example> ex;
  const auto r =
      run(card("factcheck_gpt/factcheck_claims", "f/Factbench.jsonl"), d.str(), ex);
  EXPECT_EQ(r.records, 7);
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(in(ex[0], "claim"), "c1");
  EXPECT_EQ(in(ex[0], "prompt"), "P-felm-wk");
  EXPECT_EQ(in(ex[0], "response"), "R-felm-wk");
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(in(ex[1], "claim"), "c2");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(in(ex[2], "claim"), "c4");  // row 6 fails as a whole (label 3), so c7 is not kept
  EXPECT_EQ(r.skipped, (Counts{{"excluded source halueval-dolly15k", 1},
                               {"no claims", 1},
                               {"no response", 1},
                               {"unknown claim label", 1}}));
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "Factbench.jsonl:line 5", "claim_labels")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "Factbench.jsonl:line 6", "claim 1")) << bad_list(r);
}

TEST(JudgmentSources, WiceLabelsAndEvidenceLines) {
  TempDir d;
  d.write("w/dev.jsonl",
          R"({"label": "partially_supported", "supporting_sentences": [[0]], "claim": "C1",)"
          R"( "evidence": ["E1.", "E2."], "meta": {"id": "dev1"}})"
          "\n"
          R"({"label": "supported", "supporting_sentences": [], "claim": "C2",)"
          R"( "evidence": ["Only."], "meta": {}})"
          "\n"
          R"({"label": "not_supported", "supporting_sentences": [], "claim": "C3",)"
          R"( "evidence": ["X"]})"
          "\n"
          R"({"label": "refuted", "claim": "C4", "evidence": ["X"]})"
          "\n"
          R"({"label": "supported", "claim": "C5", "evidence": "not a list"})"
          "\n");
  std::vector<Example> ex;
  const auto r = run(card("wice/wice_entailment", "w/dev.jsonl"), d.str(), ex);
  EXPECT_EQ(r.records, 5);
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(in(ex[0], "claim"), "C1");
  EXPECT_EQ(in(ex[0], "evidence"), "E1.\nE2.");
  EXPECT_EQ(ex[0].label(), "Partially supported");
  EXPECT_EQ(ex[1].label(), "Supported");
  EXPECT_EQ(ex[2].label(), "Not supported");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "dev.jsonl:line 4", "refuted")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "dev.jsonl:line 5", "evidence")) << bad_list(r);
}

TEST(JudgmentSources, ColaHeaderlessTsv) {
  TempDir d;
  d.write("c/in_domain_dev.tsv",
          "gj04\t1\t\tThe book was written by John.\n"
          "gj04\t0\t*\tBook the was \"written.\n"
          "clc95\t1\t \tHe left.\n"
          "gj04\tyes\t\tBad label.\n"
          "gj04\t1\tToo few fields.\n");
  std::vector<Example> ex;
  const auto r = run(card("cola/cola_acceptability", "c/in_domain_dev.tsv"), d.str(), ex);
  EXPECT_EQ(r.records, 5);
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(in(ex[0], "sentence"), "The book was written by John.");
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(in(ex[1], "sentence"), "Book the was \"written.");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(ex[2].label(), "Yes");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "in_domain_dev.tsv:line 4", "yes")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "in_domain_dev.tsv:line 5", "4 fields")) << bad_list(r);
}

TEST(JudgmentSources, IceScoreOneExamplePerCandidate) {
  TempDir d;
  d.write("i/humaneval_python_grade.json", R"([
    {"intent": "def f(x):\n    \"\"\"Twice x.\"\"\"\n", "snippet": ["    return 2*x\n"],
     "simplified": "Twice x.", "task_id": 0,
     "10": "    return x+x\n", "grade-10": {"execution": 1}, "bleu-10": 0.5,
     "2": "    return x\n", "grade-2": {"execution": 0}, "gpt35_nsnr-2": 3,
     "0": "    return 2*x\n", "grade-0": {"execution": 1}},
    {"intent": "def g():\n", "snippet": [], "simplified": "", "task_id": 1,
     "0": "    pass\n", "grade-0": {"execution": 0},
     "1": "    return 1\n"},
    {"intent": "def h():\n", "snippet": [], "simplified": "", "task_id": 2,
     "0": "    pass\n", "grade-0": {"execution": 2}}])");
  std::vector<Example> ex;
  const auto r = run(card("ice_score/humaneval_execution", "i/humaneval_python_grade.json"),
                     d.str(), ex);
  EXPECT_EQ(r.records, 3);
  ASSERT_EQ(r.examples, 3);  // problems 2 and 3 fail as a whole
  EXPECT_EQ(in(ex[0], "problem"), "def f(x):\n    \"\"\"Twice x.\"\"\"\n");
  EXPECT_EQ(in(ex[0], "completion"), "    return 2*x\n");  // candidates in numeric order
  EXPECT_EQ(in(ex[1], "completion"), "    return x\n");
  EXPECT_EQ(in(ex[2], "completion"), "    return x+x\n");
  EXPECT_EQ(ex[0].label(), "Yes");
  EXPECT_EQ(ex[1].label(), "No");
  EXPECT_EQ(ex[2].label(), "Yes");
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "humaneval_python_grade.json:record 1", "grade-1")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "humaneval_python_grade.json:record 2", "execution")) << bad_list(r);
}

TEST(JudgmentSources, MrGsm8kFirstErrorStep) {
  TempDir d;
  auto rec = [](const std::string& correctness, const std::string& step,
                const std::string& reason_field) {
    return R"({"uuid": "u", "question": "Q?", "ground_truth_answer": 5,
      "model_output_steps": ["Step 1: a = 2", "Step 2: b = a * 3"],
      "model_output_solution_correctness": ")" + correctness +
           R"(", "model_output_solution_first_error_step": )" + step + reason_field + "}";
  };
  const std::string reason =
      R"(, "model_output_solution_first_error_reason": "b should be a + 3.")";
  d.write("m/x_eval_results.json", "[" + rec("wrong", "2", reason) + ",\n" +
                                       rec("correct", "\"N/A\"", reason) + ",\n" +
                                       rec("wrong", "\"N/A\"", reason) + ",\n" +
                                       rec("wrong", "1", "") + ",\n" +
                                       rec("wrong", "\"two\"", reason) + "]");
  std::vector<Example> ex;
  const auto r =
      run(card("mr_gsm8k/mr_gsm8k_first_error", "m/x_eval_results.json"), d.str(), ex);
  EXPECT_EQ(r.records, 5);
  ASSERT_EQ(r.examples, 1);
  EXPECT_EQ(in(ex[0], "question"), "Q?");
  EXPECT_EQ(in(ex[0], "solution"), "Step 1: a = 2\nStep 2: b = a * 3");
  EXPECT_EQ(out(ex[0], "first_error_step"), "2");
  EXPECT_EQ(out(ex[0], "reason"), "b should be a + 3.");
  EXPECT_EQ(r.skipped, (Counts{{"no first error step", 1}, {"solution correct", 1}}));
  EXPECT_EQ(r.bad, 2);
  EXPECT_TRUE(has_bad(r, "x_eval_results.json:record 3", "first_error_reason")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "x_eval_results.json:record 4", "step number")) << bad_list(r);
}

TEST(JudgmentSources, WmtMqmJoinsScoresWithSegments) {
  TempDir d;
  const std::string hdr =
      "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\tcomment\n";
  d.write("m/mqm_x.tsv",
          hdr +
              "sysA\ttalk.1\t1\t1\trater1\tHello \"world\".\t<v>Hallo</v> Welt.\t"
              "Accuracy/Mistranslation\tMinor\t\n"
              "sysA\ttalk.1\t1\t1\trater2\tHello \"world\".\tHallo <v>Welt</v>.\t"
              "Fluency/Grammar\tMajor\t\n"
              "sysA\ttalk.1\t1\t2\trater1\t<v>Bye</v>.\tTschüss.\tSource error\tMinor\t\n"
              "ref\ttalk.1\t1\t1\trater3\tHello \"world\".\tHallo, Welt.\tNo-error\tNo-error\t\n"
              "sysA\ttalk.1\t1\t3\trater1\ttoo few fields\n");
  d.write("m/mqm_x.avg_seg_scores.tsv",
          "system mqm_avg_score seg_id\n"
          "sysA\t-1.100000 1\n"
          "sysA\t-0.000000 2\n"
          "ref-A\t-25.000000 1\n"
          "sysA\tNone 3\n"
          "sysB\t-2.000000 1\n"
          "sysA\tabc 2\n"
          "sysA -5.0 1 extra\n");
  std::vector<Example> ex;
  TaskCard c = card("wmt_mqm/wmt_mqm_ted_en_de", "m/mqm_x.avg_seg_scores.tsv, m/mqm_x.tsv");
  const auto r = run(c, d.str(), ex);
  EXPECT_EQ(r.records, 5 + 7);  // annotation rows + score rows
  ASSERT_EQ(r.examples, 3);
  EXPECT_EQ(in(ex[0], "source"), "Hello \"world\".");
  EXPECT_EQ(in(ex[0], "translation"), "Hallo Welt.");
  EXPECT_EQ(ex[0].label(), "3");  // -1.1: below -1, at least -5
  EXPECT_EQ(in(ex[1], "source"), "Bye.");
  EXPECT_EQ(ex[1].label(), "5");  // -0.0 is no error
  EXPECT_EQ(in(ex[2], "translation"), "Hallo, Welt.");  // ref-A is the TSV's ref
  EXPECT_EQ(ex[2].label(), "1");
  EXPECT_EQ(r.skipped, (Counts{{"not rated", 1}}));
  EXPECT_EQ(r.bad, 4);
  EXPECT_TRUE(has_bad(r, "mqm_x.tsv:line 6", "fields")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "mqm_x.avg_seg_scores.tsv:line 6", "sysB")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "mqm_x.avg_seg_scores.tsv:line 7", "abc")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, "mqm_x.avg_seg_scores.tsv:line 8", "3 fields")) << bad_list(r);

  c.options["thresholds"] = "0, -2";  // three levels: 3 / 2 / 1
  c.labels = {"1", "2", "3"};
  run(c, d.str(), ex);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].label(), "2");
  EXPECT_EQ(ex[1].label(), "3");
  EXPECT_EQ(ex[2].label(), "1");

  c.options["files"] = "m/mqm_x.tsv";  // the scores file is required
  EXPECT_THROW(run(c, d.str(), ex), flame::Error);
}

TEST(JudgmentSources, MlqePeReadsTheTsvInsideTheArchive) {
  TempDir d;
  const std::string tsv =
      "index\toriginal\ttranslation\tscores\tmean\tz_scores\tz_mean\tmodel_scores\n"
      "0\t\"Quoted\" source.\tÜbersetzung eins.\t[0, 0, 0]\t0.0\t[]\t-1.0\t-0.3\n"
      "1\tS2\tT2\t[20, 19.8]\t19.9\t[]\t0\t-0.1\n"
      "2\tS3\tT3\t[20]\t20\t[]\t0\t-0.1\n"
      "3\tS4\tT4\t[60, 68.4]\t64.2\t[]\t0\t-0.1\n"
      "4\tS5\tT5\t[100]\t100.0\t[]\t0\t-0.1\n"
      "5\tS6\tT6\t[]\tabc\t[]\t0\t-0.1\n"
      "6\tS7\tT7\t[]\t101\t[]\t0\t-0.1\n";
  write_tar_gz(d.path() / "ende-dev.tar.gz",
               {{"en-de-dev/dev.doc_ids", "1\n2\n"}, {"en-de-dev/dev.ende.df.short.tsv", tsv}});
  std::vector<Example> ex;
  TaskCard c = card("mlqe_pe/mlqe_pe_en_de", "ende-dev.tar.gz");
  const auto r = run(c, d.str(), ex);
  EXPECT_EQ(r.records, 7);
  ASSERT_EQ(r.examples, 5);
  EXPECT_EQ(in(ex[0], "source"), "\"Quoted\" source.");
  EXPECT_EQ(in(ex[0], "translation"), "Übersetzung eins.");
  std::vector<std::string> got;
  for (const auto& e : ex) got.push_back(e.label());
  EXPECT_EQ(got, (std::vector<std::string>{"1", "1", "2", "4", "5"}));
  EXPECT_EQ(r.bad, 2);
  const std::string where = "ende-dev.tar.gz:en-de-dev/dev.ende.df.short.tsv:line ";
  EXPECT_TRUE(has_bad(r, where + "7", "abc")) << bad_list(r);
  EXPECT_TRUE(has_bad(r, where + "8", "outside")) << bad_list(r);

  write_tar_gz(d.path() / "empty.tar.gz", {{"x/dev.doc_ids", "1\n"}});
  c.options["files"] = "empty.tar.gz";
  EXPECT_THROW(run(c, d.str(), ex), flame::Error);
}

// --- The real files --------------------------------------------------------------------------

namespace {

std::string raw_dir() {
  if (const char* e = std::getenv("FLAME_RAW_DIR")) return e;
  return std::string(FLAME_SOURCE_DIR) + "/../shared/data/raw";
}

#define RAW_OR_SKIP()                                                         \
  if (!fs::is_directory(raw_dir())) GTEST_SKIP() << "no raw data at " << raw_dir()

struct RawRun {
  ConvertReport report;
  std::vector<Example> examples;
};

RawRun run_raw(const std::string& rel) {
  RawRun r;
  r.report = run(card(rel), raw_dir(), r.examples);
  EXPECT_EQ(r.report.bad, 0) << bad_list(r.report);
  return r;
}

}  // namespace

TEST(RawDataJudgment, SummEdits) {
  RAW_OR_SKIP();
  const auto r = run_raw("summedits/summedits");
  EXPECT_EQ(r.report.records, 3362);  // 668 + 431 + 520 + 613 + 664 + 466
  EXPECT_EQ(r.report.examples, 3362);
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 1164}, {"No", 2198}}));
}

TEST(RawDataJudgment, QagsSentence) {
  RAW_OR_SKIP();
  const auto r = run_raw("qags/qags_sentence");
  EXPECT_EQ(r.report.records, 235 + 239);  // articles
  EXPECT_EQ(r.report.examples, 714 + 239);
  EXPECT_TRUE(r.report.skipped.empty());  // exactly 3 votes per sentence: always a majority
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 647}, {"No", 306}}));
}

TEST(RawDataJudgment, BeginAttribution) {
  RAW_OR_SKIP();
  const auto r = run_raw("begin/begin_attribution");
  EXPECT_EQ(r.report.examples, 416 + 383 + 430 + 3607);
  EXPECT_EQ(labels(r.examples), (Counts{{"Fully attributable", 1705},
                                        {"Not fully attributable", 3044},
                                        {"Generic", 87}}));
}

TEST(RawDataJudgment, HaluEvalGeneral) {
  RAW_OR_SKIP();
  const auto r = run_raw("halueval/halueval_general");
  EXPECT_EQ(r.report.examples, 4507);
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 815}, {"No", 3692}}));
}

TEST(RawDataJudgment, FactcheckResponse) {
  RAW_OR_SKIP();
  const auto r = run_raw("factcheck_gpt/factcheck_response");
  EXPECT_EQ(r.report.records, 4835);
  // 184 felm-wk + 94 factcheckgpt + 50 factool-qa, less the two "NA" labels and one felm-wk
  // row whose response is null.
  EXPECT_EQ(r.report.examples, 184 + 94 + 50 - 2 - 1);
  EXPECT_EQ(r.report.skipped, (Counts{{"NA label", 2},
                                      {"excluded source halueval-dolly15k", 4507},
                                      {"no response", 1}}));
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 145}, {"No", 180}}));
}

TEST(RawDataJudgment, FactcheckClaims) {
  RAW_OR_SKIP();
  const auto r = run_raw("factcheck_gpt/factcheck_claims");
  EXPECT_EQ(r.report.records, 4835);
  // 1443 claims: 47 labelled "unknown", 13 (all true) of the row whose response is null.
  EXPECT_EQ(r.report.examples, 1443 - 47 - 13);
  EXPECT_EQ(r.report.skipped, (Counts{{"excluded source halueval-dolly15k", 4507},
                                      {"no claims", 2},
                                      {"no response", 1},
                                      {"unknown claim label", 47}}));
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 1021}, {"No", 362}}));
}

TEST(RawDataJudgment, WiceEntailment) {
  RAW_OR_SKIP();
  const auto r = run_raw("wice/wice_entailment");
  EXPECT_EQ(r.report.examples, 349 + 358);
  EXPECT_EQ(labels(r.examples),
            (Counts{{"Supported", 226}, {"Partially supported", 406}, {"Not supported", 75}}));
}

TEST(RawDataJudgment, ColaAcceptability) {
  RAW_OR_SKIP();
  const auto r = run_raw("cola/cola_acceptability");
  EXPECT_EQ(r.report.examples, 8551 + 527 + 516);
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 6742}, {"No", 2852}}));
}

TEST(RawDataJudgment, HumanEvalExecution) {
  RAW_OR_SKIP();
  const auto r = run_raw("ice_score/humaneval_execution");
  EXPECT_EQ(r.report.records, 161);
  EXPECT_EQ(r.report.examples, 161 * 20);
  EXPECT_EQ(labels(r.examples), (Counts{{"Yes", 1342}, {"No", 1878}}));
}

TEST(RawDataJudgment, MrGsm8kFirstError) {
  RAW_OR_SKIP();
  const auto r = run_raw("mr_gsm8k/mr_gsm8k_first_error");
  EXPECT_EQ(r.report.records, 173 + 22);
  EXPECT_EQ(r.report.examples, 173 + 22);  // every solution is wrong, with a step number
  Counts steps;
  for (const auto& e : r.examples) {
    ++steps[out(e, "first_error_step")];
    EXPECT_FALSE(out(e, "reason").empty());
    EXPECT_EQ(in(e, "solution").rfind("Step 1:", 0), 0u);
  }
  EXPECT_EQ(steps, (Counts{{"1", 22}, {"2", 26}, {"3", 42}, {"4", 34}, {"5", 31}, {"6", 18},
                           {"7", 15}, {"8", 7}}));
}

TEST(RawDataJudgment, WmtMqmTedEnDe) {
  RAW_OR_SKIP();
  const auto r = run_raw("wmt_mqm/wmt_mqm_ted_en_de");
  EXPECT_EQ(r.report.records, 8435 + 8484);
  EXPECT_EQ(r.report.skipped, (Counts{{"not rated", 1078}}));
  EXPECT_EQ(r.report.examples, 8484 - 1078);
  EXPECT_EQ(labels(r.examples),
            (Counts{{"1", 76}, {"2", 336}, {"3", 1482}, {"4", 1108}, {"5", 4404}}));
  for (const auto& e : r.examples)
    ASSERT_EQ(in(e, "translation").find("<v>"), std::string::npos) << in(e, "translation");
}

TEST(RawDataJudgment, WmtMqmTedZhEn) {
  RAW_OR_SKIP();
  const auto r = run_raw("wmt_mqm/wmt_mqm_ted_zh_en");
  EXPECT_EQ(r.report.records, 9915 + 12645);
  EXPECT_EQ(r.report.skipped, (Counts{{"not rated", 4710}}));
  EXPECT_EQ(r.report.examples, 12645 - 4710);
  EXPECT_EQ(labels(r.examples),
            (Counts{{"1", 293}, {"2", 685}, {"3", 1670}, {"4", 990}, {"5", 4297}}));
}

TEST(RawDataJudgment, MlqePeEnDe) {
  RAW_OR_SKIP();
  const auto r = run_raw("mlqe_pe/mlqe_pe_en_de");
  EXPECT_EQ(r.report.examples, 7000 + 1000 + 1000);
  EXPECT_EQ(labels(r.examples),
            (Counts{{"1", 34}, {"2", 39}, {"3", 252}, {"4", 1709}, {"5", 6966}}));
}

TEST(RawDataJudgment, MlqePeRoEn) {
  RAW_OR_SKIP();
  const auto r = run_raw("mlqe_pe/mlqe_pe_ro_en");
  EXPECT_EQ(r.report.examples, 7000 + 1000 + 1000);
  EXPECT_EQ(labels(r.examples),
            (Counts{{"1", 547}, {"2", 1041}, {"3", 1567}, {"4", 1593}, {"5", 4252}}));
}
