// Evaluation suites: the YAML's validation (one line, naming the key), the JSONL item schema and
// its malformed-line accounting, the generic pairwise card, and run_suite's RewardBench-style
// grouping on a freshly initialised model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/convert.h"
#include "data/shard.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "core/error.h"
#include "model/model.h"
#include "tests/train/run_flame.h"
#include "tests/train/small_model.h"
#include "train/eval_suite.h"
#include "train/evaluate.h"
#include "train/metrics.h"

namespace fs = std::filesystem;
using flame_test::Scratch;
using namespace flame::train;
using nlohmann::json;

namespace {

const std::string kRepo = FLAME_SOURCE_DIR;

// One layer; byte-level prompts with the card's instructions run to ~800 tokens.
flame::model::ModelConfig small_config() { return flame_test::small_model_config(32, 1024, 1); }

// The error message of load_eval_suite on `yaml` (written as suite.yaml in s).
std::string suite_error(const Scratch& s, const std::string& yaml) {
  const std::string path = s.write("suite.yaml", yaml);
  try {
    load_eval_suite(path);
  } catch (const flame::Error& e) {
    return e.what();
  }
  return "(no error)";
}

flame::data::TaskCard eval_card() {
  return flame::data::load_task_card(kRepo + "/configs/tasks/eval/eval_pairwise.yaml");
}

std::string pair_line(const std::string& prompt, const std::string& chosen,
                      const std::string& rejected, const std::string& subset,
                      const std::string& category) {
  return json{{"prompt", prompt},
              {"chosen", chosen},
              {"rejected", rejected},
              {"subset", subset},
              {"category", category}}
             .dump() +
         "\n";
}

}  // namespace

TEST(EvalSuite, TheExampleSuiteLoads) {
  const EvalSuite s = load_eval_suite(kRepo + "/configs/eval/example.yaml");
  EXPECT_EQ(s.name, "example");
  ASSERT_EQ(s.sources.size(), 6u);
  EXPECT_EQ(s.sources[0].kind, SourceKind::synthetic);
  EXPECT_EQ(s.sources[0].task, "synth_refusal");
  EXPECT_EQ(s.sources[0].examples, 100);
  EXPECT_EQ(s.sources[0].category, "safety");
  EXPECT_EQ(s.sources[0].subset, "synth_refusal");
  const SuiteSource& j = s.sources[5];
  EXPECT_EQ(j.kind, SourceKind::jsonl);
  EXPECT_EQ(j.card.name, "eval_pairwise");
  EXPECT_EQ(fs::path(j.path), fs::path(kRepo) / "configs/eval/tiny_pairs.jsonl");
  EXPECT_EQ(j.subset, "tiny_pairs");
}

TEST(EvalSuite, ErrorsNameTheKeyOnOneLine) {
  Scratch s("suite_errors");
  s.write("p.jsonl", pair_line("q", "good", "bad", "x", "y"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sources: [{task: synth_refusal}]", "name: required"},
      {"name: x\nsorces: []", "sorces: unknown key"},
      {"name: x", "sources: required"},
      {"name: x\nsources: []", "sources: must be a non-empty list"},
      {"name: x\nsources: [{task: synth_refusal, jsonl: p.jsonl}]",
       "sources[0]: give exactly one of 'task' and 'jsonl'"},
      {"name: x\nsources: [{task: synth_refusal}, {task: no_such_task}]",
       "sources[1].task: 'no_such_task' is not a synthetic task"},
      {"name: x\nsources: [{task: synth_refusal, examples: -3}]",
       "sources[0].examples: must be > 0"},
      {"name: x\nsources: [{task: synth_refusal, examples: many}]",
       "sources[0].examples: must be an integer"},
      {"name: x\nsources: [{task: synth_refusal, card: eval_pairwise}]",
       "sources[0].card: only for jsonl"},
      {"name: x\nsources: [{task: synth_refusal, colour: red}]", "sources[0].colour: unknown key"},
      {"name: x\nsources: [{task: synth_supported_claim_flipped}]", "deliberately wrong labels"},
      {"name: x\nsources: [{task: hh_rlhf_harmless, shards: no/such/dir}]",
       "sources[0].shards: directory not found: no/such/dir"},
      {"name: x\nsources: [{task: hh_rlhf_harmless, shards: " + s.dir.string() + "}]",
       "sources[0].shards: no hh_rlhf_harmless.h5 in"},
      {"name: x\nsources: [{jsonl: p.jsonl}]", "sources[0].card: required for a jsonl source"},
      {"name: x\nsources: [{jsonl: missing.jsonl, card: eval_pairwise}]",
       "sources[0].jsonl: file not found: missing.jsonl"},
      {"name: x\nsources: [{jsonl: p.jsonl, card: no_such_card}]",
       "sources[0].card: no task card named 'no_such_card'"},
      {"name: x\nsources: [{jsonl: p.jsonl, card: synth_echo}]",
       "sources[0].card: synth_echo is generative"},
      {"name: x\nsources: [{jsonl: p.jsonl, card: eval_pairwise, examples: 3}]",
       "sources[0].examples: only for synthetic tasks"},
      {"name: x\nsources: [{jsonl: p.jsonl, card: eval_pairwise, subset: ''}]",
       "sources[0].subset: is empty"},
      {"name: x\nsources: [{task: synth_refusal}]\ntasks_dir: [a]", "tasks_dir: must be a string"},
      {"name: [x", "invalid YAML"},
  };
  for (const auto& [yaml, want] : cases) {
    const std::string msg = suite_error(s, yaml);
    EXPECT_NE(msg.find(want), std::string::npos) << "suite:\n" << yaml << "\nerror: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find("suite"), std::string::npos) << msg;  // names the suite file
  }
  try {
    load_eval_suite((s.dir / "nope.yaml").string());
    FAIL() << "a missing suite file must throw";
  } catch (const flame::Error& e) {
    EXPECT_NE(std::string(e.what()).find("eval suite file not found"), std::string::npos);
  }
}

TEST(EvalSuite, CardsByPathAndJsonlRelativeToTheSuite) {
  Scratch s("suite_paths");
  fs::create_directories(s.dir / "sub");
  s.write("sub/p.jsonl", pair_line("q", "good", "bad", "x", "y"));
  const std::string card = kRepo + "/configs/tasks/eval/eval_pairwise.yaml";
  const std::string path = s.write(
      "sub/suite.yaml", "name: x\nsources: [{jsonl: p.jsonl, card: " + card + ", category: c}]");
  const EvalSuite suite = load_eval_suite(path);
  ASSERT_EQ(suite.sources.size(), 1u);
  EXPECT_EQ(fs::path(suite.sources[0].path), s.dir / "sub/p.jsonl");
  EXPECT_EQ(suite.sources[0].card, eval_card());
  EXPECT_EQ(suite.sources[0].category, "c");
}

// The card is a valid card, and its `fields` options read the suite JSONL schema: the same file
// goes through the converter (e.g. to train on it) once a copy of the card names it in `files`.
TEST(EvalSuite, TheGenericPairwiseCardReadsTheSuiteSchema) {
  flame::data::TaskCard card = eval_card();
  EXPECT_NO_THROW(flame::data::validate_task_card(card));
  EXPECT_EQ(card.converter, "fields");
  EXPECT_EQ(card.options.count("files"), 0u);  // it names no data of its own
  card.options["files"] = "tiny_pairs.jsonl";
  std::vector<flame::data::Example> exs;
  const auto report = flame::data::convert(card, {kRepo + "/configs/eval"}, exs);
  EXPECT_EQ(report.bad, 0);
  EXPECT_EQ(exs.size(), 12u);
  // The suite reader gives the same twelve pairs, with both A and B correct now and then.
  const JsonlRead r =
      read_jsonl_items(kRepo + "/configs/eval/tiny_pairs.jsonl", eval_card(), true, true);
  EXPECT_EQ(r.lines, 12);
  EXPECT_EQ(r.bad, 0);
  ASSERT_EQ(r.items.size(), 12u);
  const long n_a = std::count_if(r.items.begin(), r.items.end(),
                                 [](const JsonlItem& i) { return i.ex.label() == "A"; });
  EXPECT_GT(n_a, 0);
  EXPECT_LT(n_a, 12);
  EXPECT_EQ(r.items[0].subset, "chat_easy");
  EXPECT_EQ(r.items[0].category, "chat");
  EXPECT_EQ(r.items[0].id, json(1));
  EXPECT_EQ(r.items[3].line, 4);
}

TEST(EvalSuite, JsonlItemSchema) {
  const auto card = eval_card();
  // chosen/rejected without balancing: chosen is response_a, label A.
  auto it = parse_jsonl_item(json{{"prompt", "p"}, {"chosen", "c"}, {"rejected", "r"}}, card, true,
                             false);
  ASSERT_EQ(it.ex.inputs.size(), 3u);
  EXPECT_EQ(it.ex.inputs[0], std::make_pair(std::string("prompt"), std::string("p")));
  EXPECT_EQ(it.ex.inputs[1].second, "c");
  EXPECT_EQ(it.ex.inputs[2].second, "r");
  EXPECT_EQ(it.ex.label(), "A");
  EXPECT_TRUE(it.labelled);
  // The pair fields by name with a label.
  it = parse_jsonl_item(
      json{{"prompt", "p"}, {"response_a", "x"}, {"response_b", "y"}, {"label", "B"}}, card, true,
      false);
  EXPECT_EQ(it.ex.label(), "B");
  EXPECT_EQ(it.ex.inputs[2].second, "y");
  // Unlabelled is fine for judging, not for a suite.
  it = parse_jsonl_item(json{{"prompt", "p"}, {"response_a", "x"}, {"response_b", "y"}}, card,
                        false, false);
  EXPECT_FALSE(it.labelled);

  auto why = [&](const json& rec, const flame::data::TaskCard& c) -> std::string {
    try {
      parse_jsonl_item(rec, c, true, false);
    } catch (const flame::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(why({{"chosen", "c"}, {"rejected", "r"}}, card).find("missing field 'prompt'"),
            std::string::npos);
  EXPECT_NE(why({{"prompt", 3}, {"chosen", "c"}, {"rejected", "r"}}, card)
                .find("'prompt' must be a string"),
            std::string::npos);
  EXPECT_NE(why({{"prompt", "p"}, {"chosen", "c"}}, card).find("go together"), std::string::npos);
  EXPECT_NE(why({{"prompt", "p"}, {"chosen", "c"}, {"rejected", "c"}}, card).find("identical"),
            std::string::npos);
  EXPECT_NE(why({{"prompt", "p"}, {"chosen", "c"}, {"rejected", "r"}, {"response_a", "x"}}, card)
                .find("not both"),
            std::string::npos);
  EXPECT_NE(why({{"prompt", "p"}, {"response_a", "x"}, {"response_b", "y"}}, card).find("no label"),
            std::string::npos);
  EXPECT_NE(why({{"prompt", "p"}, {"response_a", "x"}, {"response_b", "y"}, {"label", "Tie"}}, card)
                .find("label 'Tie' is not one of the card's labels (A, B)"),
            std::string::npos);
  EXPECT_NE(why(json::array({1, 2}), card).find("not a JSON object"), std::string::npos);

  // Classification and pointwise: the card's input fields plus label / score.
  const auto& cls = flame::data::synthetic_card("synth_supported_claim");
  it = parse_jsonl_item(json{{"context", "a"}, {"claim", "b"}, {"label", "No"}}, cls, true, false);
  EXPECT_EQ(it.ex.label(), "No");
  EXPECT_NE(why({{"context", "a"}, {"claim", "b"}, {"score", 1}}, cls).find("not a numeric scale"),
            std::string::npos);
  const auto& pw = flame::data::synthetic_card("synth_keyword_count");
  it = parse_jsonl_item(json{{"keywords", "a"}, {"text", "b"}, {"score", 3}}, pw, true, false);
  EXPECT_EQ(it.ex.label(), "3");
  it = parse_jsonl_item(json{{"keywords", "a"}, {"text", "b"}, {"label", "5"}}, pw, true, false);
  EXPECT_EQ(it.ex.label(), "5");
  EXPECT_NE(
      why({{"keywords", "a"}, {"text", "b"}, {"score", 3.5}}, pw).find("not on the card's scale"),
      std::string::npos);
  EXPECT_NE(
      why({{"keywords", "a"}, {"text", "b"}, {"score", 3}, {"label", "3"}}, pw).find("not both"),
      std::string::npos);
}

TEST(EvalSuite, MalformedLinesAreCountedWithFileAndLine) {
  Scratch s("suite_jsonl");
  const std::string good = pair_line("q", "good", "bad", "x", "y");
  const std::string path = s.write(
      "p.jsonl", good + "{not json\n" + "\n" + R"({"prompt": "q", "chosen": "a"})" + "\n" + good);
  const JsonlRead r = read_jsonl_items(path, eval_card(), true, true);
  EXPECT_EQ(r.lines, 4);  // the blank line is not an item
  EXPECT_EQ(r.bad, 2);
  EXPECT_EQ(r.items.size(), 2u);
  ASSERT_EQ(r.bad_samples.size(), 2u);
  EXPECT_EQ(r.bad_samples[0].rfind(path + ":2: invalid JSON", 0), 0u) << r.bad_samples[0];
  EXPECT_EQ(r.bad_samples[1].rfind(path + ":4: 'chosen' and 'rejected' go together", 0), 0u)
      << r.bad_samples[1];
  EXPECT_EQ(r.items[1].line, 5);

  const std::string all_bad = s.write("bad.jsonl", "[1]\n{\"prompt\": 1}\n");
  try {
    read_jsonl_items(all_bad, eval_card(), true, true);
    FAIL() << "a file without one usable line must throw";
  } catch (const flame::Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("all 2 lines are malformed; the first: " + all_bad + ":1:"),
        std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_jsonl_items(s.write("empty.jsonl", "\n\n"), eval_card(), true, true),
               flame::Error);
}

// A suite over every item kind, scored by a fresh model: the structure, the counts, and the
// grouping arithmetic (category = example-weighted mean of subsets, overall = mean of categories).
TEST(EvalSuite, RunSuiteGroupsLikeRewardBench) {
  Scratch s("suite_run");
  std::string lines;
  lines +=
      pair_line("Capital of France?", "Paris.", "Lyon is the capital of France.", "easy", "chat");
  lines += pair_line("2 + 2?", "4", "5", "easy", "chat");
  lines += pair_line("Say hi", "hi", "no", "easy", "chat");
  lines += pair_line("Sort 3 1 2", "1 2 3", "3 2 1", "hard", "chat");
  lines += pair_line("Spell cat", "c a t", "k a t", "hard", "chat");
  lines += "{broken\n";
  lines += pair_line("Odd one", "x", "y", "hard", "other");  // subset hard is in chat: a bad line
  lines += pair_line("No subset", "good answer", "bad", "", "");  // -> the source's defaults
  // (an empty subset/category string is "none given")
  s.write("pairs.jsonl", lines);
  const std::string path = s.write("suite.yaml", R"(
name: mixed
sources:
  - task: synth_refusal
    examples: 6
    category: safety
  - task: synth_arith_claim
    examples: 8
    category: reasoning
  - task: synth_keyword_count
    examples: 5
    category: reasoning
  - task: synth_echo
    examples: 3
    category: reasoning
  - jsonl: pairs.jsonl
    card: eval_pairwise
    subset: misc
    category: chat
)");
  const EvalSuite suite = load_eval_suite(path);
  flame::model::Model model(small_config(), 4, 1024);
  model.init_weights(7);
  const flame::data::ByteTokenizer tok;
  const json r = run_suite(model, tok, suite, 0);

  EXPECT_EQ(r["suite"], "mixed");
  const json& sub = r["subsets"];
  ASSERT_EQ(sub.size(), 7u) << sub.dump(1);
  EXPECT_EQ(sub["synth_refusal"]["n"], 6);
  EXPECT_EQ(sub["synth_refusal"]["type"], "pairwise");
  EXPECT_EQ(sub["synth_arith_claim"]["n"], 8);
  EXPECT_TRUE(sub["synth_arith_claim"].contains("roc_auc"));
  EXPECT_TRUE(sub["synth_keyword_count"].contains("kendall_tau_b"));
  EXPECT_EQ(sub["synth_echo"]["type"], "generative");
  EXPECT_EQ(sub["easy"]["n"], 3);
  EXPECT_EQ(sub["hard"]["n"], 2);
  EXPECT_EQ(sub["misc"]["n"], 1);
  EXPECT_EQ(sub["misc"]["category"], "chat");
  EXPECT_EQ(r["n_items"], 6 + 8 + 5 + 3 + 6);

  // Pairwise accuracy over both orders comes in steps of 1/(2n) (a tie is half a point).
  for (const char* name : {"synth_refusal", "easy", "hard"}) {
    const double acc = sub[name]["accuracy"], n = sub[name]["n"];
    EXPECT_NEAR(acc * 2 * n, std::round(acc * 2 * n), 1e-9) << name;
    EXPECT_EQ(sub[name]["n_slot_verdicts"].get<long>(), 2 * long(n));  // no Tie label
  }
  // Categories: example-weighted means of their subsets; overall: the mean of categories.
  auto weighted = [&](std::vector<std::string> names) {
    double sum = 0, n = 0;
    for (const auto& nm : names) {
      sum += sub[nm]["accuracy"].get<double>() * sub[nm]["n"].get<double>();
      n += sub[nm]["n"].get<double>();
    }
    return sum / n;
  };
  const json& cat = r["categories"];
  ASSERT_EQ(cat.size(), 3u);
  EXPECT_NEAR(cat["chat"]["accuracy"].get<double>(), weighted({"easy", "hard", "misc"}), 1e-12);
  EXPECT_NEAR(cat["reasoning"]["accuracy"].get<double>(),
              weighted({"synth_arith_claim", "synth_keyword_count", "synth_echo"}), 1e-12);
  EXPECT_EQ(cat["reasoning"]["n"], 16);
  EXPECT_NEAR(r["overall"]["accuracy"].get<double>(),
              (cat["chat"]["accuracy"].get<double>() + cat["reasoning"]["accuracy"].get<double>() +
               cat["safety"]["accuracy"].get<double>()) /
                  3,
              1e-12);
  EXPECT_EQ(r["overall"]["n_categories"], 3);

  // Position and length bias over every pair of the suite.
  ASSERT_TRUE(r.contains("pairwise"));
  EXPECT_EQ(r["pairwise"]["n"], 6 + 6);
  EXPECT_EQ(r["pairwise"]["n_slot_verdicts"], 24);
  EXPECT_GT(r["pairwise"]["n_length_pairs"].get<long>(), 0);

  // The JSONL source: 8 lines, one broken, one in the wrong category.
  const json& src = r["sources"][4];
  EXPECT_EQ(src["lines"], 8);
  EXPECT_EQ(src["items"], 6);
  EXPECT_EQ(src["bad_lines"], 2);
  const std::string jsonl = (s.dir / "pairs.jsonl").string();
  EXPECT_EQ(src["bad_samples"][0].get<std::string>().rfind(jsonl + ":6: invalid JSON", 0), 0u);
  EXPECT_NE(
      src["bad_samples"][1].get<std::string>().find(":7: subset 'hard' is in category 'chat'"),
      std::string::npos)
      << src["bad_samples"][1];

  const std::string table = suite_table(r);
  for (const char* want : {"synth_refusal", "easy", "overall", "position bias", "length bias",
                           "lines skipped as malformed", ":6: invalid JSON"})
    EXPECT_NE(table.find(want), std::string::npos) << want << "\n" << table;

  // max_examples caps every subset.
  const json capped = run_suite(model, tok, suite, 2);
  for (const auto& [name, j] : capped["subsets"].items()) EXPECT_LE(j["n"].get<long>(), 2) << name;
  EXPECT_EQ(capped["subsets"]["misc"]["n"], 1);
}

// The suite scores pairs with the dev scorer's label probabilities, so its single-order numbers
// are evaluate()'s and its order-averaged metrics follow from them.
TEST(EvalSuite, ScoresAgreeWithTheDevScorer) {
  flame::model::Model model(small_config(), 4, 1024);
  model.init_weights(3);
  const flame::data::ByteTokenizer tok;
  const auto& card = flame::data::synthetic_card("synth_sorted_list");
  const auto exs = flame::data::generate_synthetic(card.name, flame::data::Split::dev, 10, 5);
  const auto scores = score_examples(model, tok, card, exs);
  const auto alone = label_probs(model, tok, card, exs);
  std::vector<flame::data::Example> swapped;
  for (const auto& ex : exs) swapped.push_back(flame::data::swap_pair(card, ex));
  const auto alone_swapped = label_probs(model, tok, card, swapped);
  std::vector<PairJudgment> pairs;
  for (size_t e = 0; e < exs.size(); ++e) {
    for (int k = 0; k < 2; ++k) {
      EXPECT_NEAR(scores[e].p_ab[k], alone[e][k], 1e-5);
      EXPECT_NEAR(scores[e].p_ba[k], alone_swapped[e][k], 1e-5);
    }
    EXPECT_NEAR(scores[e].probs[0], 0.5 * (scores[e].p_ab[0] + scores[e].p_ba[1]), 1e-12);
    pairs.push_back({scores[e].p_ab, scores[e].p_ba, label_index(card, exs[e].label()), 0, 0});
  }
  // evaluate() reports the same single-order accuracy from its own (separate) scoring calls.
  const json ev = evaluate(model, tok, {EvalTask{card, exs}}, 10);
  const PairwiseMetrics m = pairwise_metrics(pairs);
  EXPECT_NEAR(ev["tasks"][card.name]["accuracy_single_order"].get<double>(),
              m.accuracy_single_order, 1e-12);
  EXPECT_NEAR(ev["tasks"][card.name]["value"].get<double>(), m.accuracy, 1e-12);
}

TEST(EvalSuite, ASubsetHasOneCard) {
  Scratch s("suite_clash");
  s.write("p.jsonl", pair_line("q", "good", "bad", "", ""));
  const std::string path =
      s.write("suite.yaml",
              "name: x\nsources:\n  - {task: synth_refusal, examples: 2, subset: same}\n"
              "  - {jsonl: p.jsonl, card: eval_pairwise, subset: same}\n");
  const EvalSuite suite = load_eval_suite(path);
  flame::model::Model model(small_config(), 2, 1024);
  model.init_weights(1);
  const flame::data::ByteTokenizer tok;
  try {
    run_suite(model, tok, suite, 0);
    FAIL() << "two cards in one subset must throw";
  } catch (const flame::Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "subset 'same' gets items rendered with task card synth_refusal"),
              std::string::npos)
        << e.what();
  }
}

// A prepared task: the suite scores the dev examples stored in <shards>/<task>.h5 with the card
// stored beside them (whatever tokenizer made the shard).
TEST(EvalSuite, ShardSourcesUseTheirDevSplit) {
  Scratch s("suite_shards");
  flame::data::TaskShard shard;
  shard.card = flame::data::synthetic_card("synth_supported_claim");
  shard.tokenizer = "sentencepiece:0000";
  shard.source = "test";
  shard.dev_examples =
      flame::data::generate_synthetic(shard.card.name, flame::data::Split::dev, 5, 2);
  for (size_t i = 0; i < 6; ++i) {
    flame::data::TokenizedExample ex;
    ex.input = {1, int32_t(10 + i)};
    ex.target = {5, 2};
    if (i == 0)
      shard.train.add(ex, 0);
    else
      shard.dev.add(ex, flame::train::label_index(shard.card, shard.dev_examples[i - 1].label()));
  }
  fs::create_directories(s.dir / "shards");
  flame::data::write_shard((s.dir / "shards/synth_supported_claim.h5").string(), shard);
  const std::string path =
      s.write("suite.yaml", "name: x\nsources: [{task: synth_supported_claim, shards: shards}]\n");
  const EvalSuite suite = load_eval_suite(path);
  ASSERT_EQ(suite.sources[0].kind, SourceKind::shards);
  flame::model::Model model(small_config(), 4, 1024);
  model.init_weights(2);
  const flame::data::ByteTokenizer tok;
  const json r = run_suite(model, tok, suite, 0);
  const json& sub = r["subsets"]["synth_supported_claim"];
  EXPECT_EQ(sub["n"], 5);
  EXPECT_EQ(sub["type"], "classification");
  EXPECT_EQ(sub["category"], "factuality");  // the stored card's
  EXPECT_EQ(r["sources"][0]["shards"], (s.dir / "shards").string());
  // The same examples scored directly give the same accuracy.
  const auto probs = label_probs(model, tok, shard.card, shard.dev_examples);
  std::vector<int> pred, truth;
  for (size_t e = 0; e < probs.size(); ++e) {
    pred.push_back(int(std::max_element(probs[e].begin(), probs[e].end()) - probs[e].begin()));
    truth.push_back(label_index(shard.card, shard.dev_examples[e].label()));
  }
  EXPECT_DOUBLE_EQ(sub["accuracy"].get<double>(), accuracy(pred, truth));
}
