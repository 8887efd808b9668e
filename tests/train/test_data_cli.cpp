// The data subcommands through the binary: prepare -> data stats -> train on the shards, the
// tokenizer trainer, and one-line errors for bad data configs, wrong tokenizers and bad shards.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/train/run_flame.h"

using flame_test::run_flame;
using flame_test::Scratch;
namespace fs = std::filesystem;

namespace {

std::string last_line(const std::string& s) {
  const auto end = s.find_last_not_of('\n');
  const auto start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

// A data config over the synthetic cards (byte tokenizer unless overridden).
std::string synthetic_data_config(const Scratch& s, const std::string& extra = "") {
  return s.write("data.yaml", "name: t\ntasks_dir: " FLAME_SOURCE_DIR "/configs/tasks/synthetic\n"
                              "tasks: [synth_arith_claim, synth_sorted_list]\nout_dir: " +
                                  (s.dir / "shards").string() +
                                  "\ntokenizer: {model: byte}\nmax_tokens: 400\n" + extra);
}

void expect_one_line_error(const flame_test::RunResult& r, const std::string& expected) {
  EXPECT_EQ(r.rc, 1) << r.err;
  const std::string line = last_line(r.err);
  EXPECT_EQ(line.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(line.find(expected), std::string::npos) << r.err;
}

}  // namespace

TEST(DataCli, PrepareStatsThenTrainOnShards) {
  Scratch s("data_cli");
  auto r = run_flame(s, "prepare " + synthetic_data_config(s));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto rep = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(rep["n_tasks"], 2);
  EXPECT_EQ(rep["tokenizer"], "byte");
  EXPECT_TRUE(fs::exists(s.dir / "shards" / "synth_arith_claim.h5"));
  EXPECT_TRUE(fs::exists(s.dir / "shards" / "prepare_report.json"));

  r = run_flame(s, "data stats " + (s.dir / "shards").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("synth_sorted_list"), std::string::npos) << r.out;
  r = run_flame(s, "data stats --json " + (s.dir / "shards").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto st = nlohmann::json::parse(r.out);
  EXPECT_EQ(st["tasks"].size(), 2u);
  EXPECT_EQ(st["train_examples"].get<long>() + st["dev_examples"].get<long>(),
            rep["train_examples"].get<long>() + rep["dev_examples"].get<long>());

  const std::string run = s.write("run.yaml",
      "name: shards_run\nmodel: {preset: tiny, max_seq_len: 400}\ndata: {source: shards, shards: " +
      (s.dir / "shards").string() + ", seq_len: 400}\ntrain: {steps: 6, batch_size: 4, "
      "micro_batch_size: 4, log_interval: 3, eval_interval: 0, out_dir: " + (s.dir / "runs").string() +
      "}\nschedule: {warmup_steps: 2}\neval: {max_examples: 8}\n");
  r = run_flame(s, "train " + run);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  const auto summary = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(summary["steps"], 6);
  EXPECT_EQ(summary["eval"]["tasks"].size(), 2u);
  EXPECT_NE(r.out.find("2 tasks (shards)"), std::string::npos) << r.out;

  // The shards were made with the byte tokenizer: another one is refused, naming both.
  r = run_flame(s, "train " + run + " data.tokenizer=word");
  expect_one_line_error(r, "made with tokenizer byte, but this run uses word:");
  // A damaged shard is refused with its name.
  fs::resize_file(s.dir / "shards" / "synth_sorted_list.h5", 1000);
  r = run_flame(s, "train " + run);
  expect_one_line_error(r, "synth_sorted_list.h5");
  r = run_flame(s, "data stats " + (s.dir / "shards").string());
  expect_one_line_error(r, "synth_sorted_list.h5");
}

TEST(DataCli, TokenizerTrainWritesALoadableModel) {
  Scratch s("tok_cli");
  std::string text;
  for (int i = 0; i < 400; ++i) text += "claim: " + std::to_string(i) + " plus " + std::to_string(i * 7) + " is more than " + std::to_string(i * 3) + "\n";
  const auto in = s.write("corpus.txt", text);
  const auto model = (s.dir / "tok" / "sp.model").string();
  auto r = run_flame(s, "tokenizer train --input " + in + " --out " + model + " --vocab-size 320");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(j["model"], model);
  EXPECT_GT(j["vocab_size"].get<int>(), 258);
  EXPECT_TRUE(fs::exists(model));
  // and prepare can use it
  r = run_flame(s, "prepare " + synthetic_data_config(s) + " tokenizer.model=" + model);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(r.out))["tokenizer"], j["fingerprint"]);
  expect_one_line_error(run_flame(s, "tokenizer train --input " + in + " --out " + model + " --model-type nope"),
                        "model_type must be unigram, bpe, char or word");
}

TEST(DataCli, BadDataConfigsAreOneLineErrors) {
  Scratch s("bad_data_cli");
  expect_one_line_error(run_flame(s, "prepare missing.yaml"), "data config file not found");
  expect_one_line_error(run_flame(s, "prepare " + synthetic_data_config(s, "max_tokns: 3\n")),
                        "unknown key 'max_tokns'");
  expect_one_line_error(run_flame(s, "prepare " + synthetic_data_config(s) + " tasks=[nope]"),
                        "no task card named nope");
  expect_one_line_error(run_flame(s, "data stats " + s.dir.string()), "no *.h5 shards");
  expect_one_line_error(run_flame(s, "prepare " + synthetic_data_config(s) + " max_tokens=60"),
                        "task synth_arith_claim: no training example fits max_tokens 60");
  const std::string run = s.write("run.yaml", "name: x\ndata: {source: shards}\n");
  expect_one_line_error(run_flame(s, "train " + run), "data.shards is not set");
  expect_one_line_error(run_flame(s, "train " + run + " data.shards=/nonexistent"), "no directory /nonexistent");
}
