// `flame eval` and `flame judge` end to end: train a few steps with checkpoints, score the
// checkpoint on the example suite, judge a JSONL file, and check the outputs' schema, the
// order-averaging, batching independence and the one-line errors.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/train/run_flame.h"

using flame_test::run_flame;
using flame_test::Scratch;
using nlohmann::json;

namespace {

const std::string kRepo = FLAME_SOURCE_DIR;

// A 4-step run of the quickstart recipe with a checkpoint every 2 steps; returns the run dir.
std::string train_tiny(const Scratch& s) {
  const auto r = run_flame(
      s, "train " + kRepo +
             "/configs/runs/quickstart.yaml train.steps=4 schedule.warmup_steps=1 "
             "train.ckpt_interval=2 train.eval_interval=0 train.log_interval=2 eval.max_examples=4 "
             "data.train_examples=50 data.dev_examples=10 train.out_dir=" +
             s.dir.string());
  EXPECT_EQ(r.rc, 0) << r.err;
  return (s.dir / "quickstart").string();
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

void expect_one_line_error(const flame_test::RunResult& r, const std::string& expected) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "stderr is not one line: " << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
}

}  // namespace

TEST(EvalCli, EvalAndJudgeACheckpoint) {
  Scratch s("eval_cli");
  const std::string run = train_tiny(s);
  ASSERT_TRUE(std::filesystem::is_directory(run + "/ckpt/step-4")) << run;

  // flame eval on the shipped example suite, three items per subset.
  const std::string report_path = (s.dir / "out/report.json").string();
  auto r = run_flame(s, "eval --model " + run + " --suite " + kRepo +
                            "/configs/eval/example.yaml --max-examples 3 --json " + report_path);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* want : {"synth_refusal", "chat_easy", "overall", "position bias"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  const json rep = json::parse(flame_test::slurp(report_path));
  EXPECT_EQ(rep["suite"], "example");
  EXPECT_EQ(rep["model"]["step"], 4);
  EXPECT_EQ(rep["subsets"].size(), 10u);  // 5 synthetic tasks + 5 subsets of tiny_pairs.jsonl
  for (const auto& [name, j] : rep["subsets"].items()) {
    EXPECT_LE(j["n"].get<long>(), 3) << name;
    EXPECT_GE(j["accuracy"].get<double>(), 0.0);
    EXPECT_LE(j["accuracy"].get<double>(), 1.0);
  }
  EXPECT_EQ(rep["overall"]["n_categories"], 5);
  // A step-N directory works as well as the run directory.
  r = run_flame(s, "eval --model " + run + "/ckpt/step-2 --suite " + kRepo +
                       "/configs/eval/example.yaml --max-examples 1");
  EXPECT_EQ(r.rc, 0) << r.err;

  // flame judge: both input forms, an id, a label, a malformed line; batches of 2.
  const std::string input = s.write(
      "items.jsonl",
      R"({"id": "a", "prompt": "2 + 2?", "response_a": "4", "response_b": "5", "label": "A"})"
      "\n"
      R"({"prompt": "Say hi", "response_a": "no", "response_b": "hi there"})"
      "\n"
      "{oops\n"
      R"({"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Rome"})"
      "\n"
      R"({"prompt": "Sort 3 1 2", "response_a": "3 2 1", "response_b": "1 2 3", "label": "B"})"
      "\n");
  const std::string out2 = (s.dir / "judged_b2.jsonl").string();
  r = run_flame(s,
                "judge --model " + run + " --input " + input + " --output " + out2 + " --batch 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("items/s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 malformed"), std::string::npos) << r.err;
  const auto lines = json_lines(flame_test::slurp(out2));
  ASSERT_EQ(lines.size(), 5u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["line"], long(i + 1));
  EXPECT_EQ(lines[0]["id"], "a");
  EXPECT_FALSE(lines[1].contains("id"));
  EXPECT_NE(lines[2]["error"].get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_EQ(lines[3]["label"], "A");  // chosen/rejected: chosen is A
  EXPECT_FALSE(lines[1].contains("label"));
  for (size_t i : {0u, 1u, 3u, 4u}) {
    const json& j = lines[i];
    const double pa = j["p_a"], pb = j["probs"]["B"];
    EXPECT_NEAR(pa + pb, 1.0, 1e-9);
    EXPECT_EQ(pa, j["probs"]["A"].get<double>());
    // The reported p(A) is the mean of the two single-order figures, both named as given.
    EXPECT_NEAR(pa, 0.5 * (j["order_ab"]["A"].get<double>() + j["order_ba"]["A"].get<double>()),
                1e-9);
    EXPECT_EQ(j["decision"], pa >= pb ? "A" : "B");
    if (j.contains("label")) {
      EXPECT_EQ(j["correct"], j["decision"] == j["label"]);
    }
  }

  // Batching only changes how items are packed, not their scores.
  r = run_flame(s, "judge --model " + run + " --input " + input + " --batch 100");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto lines100 = json_lines(r.out);
  ASSERT_EQ(lines100.size(), 5u);
  for (size_t i : {0u, 1u, 3u, 4u})
    EXPECT_NEAR(lines100[i]["p_a"].get<double>(), lines[i]["p_a"].get<double>(), 1e-5);

  // Another card: classification items, the label probabilities and the decision.
  const std::string claims = s.write("claims.jsonl", R"({"claim": "3 + 4 = 7"})"
                                                     "\n"
                                                     R"({"claim": "3 + 4 = 9", "label": "No"})"
                                                     "\n");
  r = run_flame(s, "judge --model " + run + " --input " + claims + " --task synth_arith_claim");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto cls = json_lines(r.out);
  ASSERT_EQ(cls.size(), 2u);
  for (const auto& j : cls) {
    EXPECT_NEAR(j["probs"]["Yes"].get<double>() + j["probs"]["No"].get<double>(), 1.0, 1e-9);
    EXPECT_TRUE(j["decision"] == "Yes" || j["decision"] == "No");
    EXPECT_FALSE(j.contains("p_a"));
  }
  EXPECT_EQ(cls[1]["label"], "No");

  // One-line errors.
  const std::string bad_suite = s.write("bad.yaml", "name: x\nsources: [{task: nope}]\n");
  expect_one_line_error(run_flame(s, "eval --model " + run + " --suite " + bad_suite),
                        "sources[0].task: 'nope' is not a synthetic task");
  expect_one_line_error(
      run_flame(s, "judge --model " + (s.dir / "none").string() + " --input " + input),
      "no checkpoint");
  const std::string all_bad = s.write("all_bad.jsonl", "{\"prompt\": \"p\"}\n[]\n");
  expect_one_line_error(run_flame(s, "judge --model " + run + " --input " + all_bad),
                        "all 2 lines of " + all_bad + " are malformed");
  expect_one_line_error(
      run_flame(s, "judge --model " + run + " --input " + input + " --task synth_echo"),
      "generative");
}

TEST(EvalCli, TheTrainerRunsTheSuiteAtEachEvaluation) {
  Scratch s("eval_in_train");
  auto r = run_flame(s, "train " + kRepo +
                            "/configs/runs/quickstart.yaml train.steps=4 schedule.warmup_steps=1 "
                            "train.eval_interval=2 train.ckpt_interval=-1 eval.max_examples=3 "
                            "data.train_examples=50 data.dev_examples=10 eval.suite=" + kRepo +
                            "/configs/eval/example.yaml train.out_dir=" + s.dir.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("eval suite example at step 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("eval suite example at step 4"), std::string::npos) << r.out;
  const json summary = json::parse(flame_test::slurp(s.dir / "quickstart" / "summary.json"));
  ASSERT_TRUE(summary["eval"]["suite"].is_object()) << summary.dump();
  EXPECT_TRUE(summary["eval"]["suite"].contains("overall"));
  expect_one_line_error(run_flame(s, "train " + kRepo + "/configs/runs/quickstart.yaml eval.suite=nope.yaml"),
                        "eval.suite: eval suite file not found: nope.yaml");
}

TEST(EvalCli, JudgeExplainsOnRequest) {
  Scratch s("judge_explain");
  const std::string run = train_tiny(s);
  const std::string in = s.write("pairs.jsonl",
      "{\"prompt\": \"Say hi.\", \"chosen\": \"Hi!\", \"rejected\": \"No.\"}\n"
      "{\"prompt\": \"malformed: no responses\"}\n"
      "{\"prompt\": \"Add 2 and 2.\", \"chosen\": \"4\", \"rejected\": \"5\"}\n");
  const auto r = run_flame(s, "judge --model " + run + " --input " + in + " --explain 6");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  // The batch's explanations land on the scored lines, the malformed one keeps its error.
  EXPECT_TRUE(lines[1].contains("error")) << lines[1].dump();
  EXPECT_FALSE(lines[1].contains("explanation")) << lines[1].dump();
  for (const auto& j : {lines[0], lines[2]}) {
    ASSERT_TRUE(j.contains("explanation")) << j.dump();
    EXPECT_TRUE(j["explanation"].is_string());
    EXPECT_EQ(j["explanation"].get<std::string>().find('\n'), std::string::npos);
  }
  EXPECT_NE(r.err.find("explained items/s"), std::string::npos) << r.err;
}
