// flame prepare end to end on fixtures: conversion with malformed records, the bad-record
// threshold, group-wise splits, both presentation orders, context truncation, shards, stats, and
// the sampler restored over shard data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "data/mixture.h"
#include "data/prepare.h"
#include "data/raw_io.h"
#include "data/render.h"
#include "data/shard.h"
#include "data/stats.h"
#include "data/synthetic.h"
#include "core/error.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

// Test converters over a JSONL fixture: {"text", "label"} (classification) and
// {"prompt", "good", "bad"} (pairwise; the good response always first, so both_orders matters).
void register_test_converters() {
  static const bool once = [] {
    register_converter("test_cls", [](const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
      for (const auto& f : in.files(card))
        for_each_jsonl(f, sink, [&](const nlohmann::json& r, long) {
          const std::string l = str_field(r, "label");
          if (l == "skip") return sink.skip("unwanted");
          sink.emit({{{"text", str_field(r, "text")}}, {{"answer", l}}});
        });
    });
    register_converter("test_pair", [](const TaskCard& card, const ConvertInput& in, ExampleSink& sink) {
      for (const auto& f : in.files(card))
        for_each_jsonl(f, sink, [&](const nlohmann::json& r, long) {
          sink.emit({{{"prompt", str_field(r, "prompt")}, {"response_a", str_field(r, "good")},
                      {"response_b", str_field(r, "bad")}},
                     {{"choice", "A"}}});
        });
    });
    return true;
  }();
  (void)once;
}

struct Fixture {
  fs::path root;
  PrepareConfig cfg;

  explicit Fixture(const std::string& name) {
    register_test_converters();
    root = fs::temp_directory_path() / ("flame_prepare_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(root);
    fs::create_directories(root / "raw");
    fs::create_directories(root / "cards");
    cfg.raw_dir = (root / "raw").string();
    cfg.tasks_dir = (root / "cards").string();
    cfg.out_dir = (root / "out").string();
    cfg.tokenizer.model = "byte";
    cfg.max_tokens = 512;
    cfg.dev_fraction = 0.2;
    cfg.threads = 2;
  }
  ~Fixture() { fs::remove_all(root); }

  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
  void classification_card(const std::string& name, const std::string& file) const {
    write("cards/" + name + ".yaml",
          "name: " + name + "\nsource: test\nlicense: CC0\ncategory: quality\ntype: classification\n"
          "title: \"Is it good?\"\ndescription: \"Yes or No.\"\ninput_fields: [text]\n"
          "output_fields: [answer]\nlabels: [\"Yes\", \"No\"]\nconverter: test_cls\n"
          "options: {files: " + file + "}\n");
  }
  void pairwise_card(const std::string& name, const std::string& file) const {
    write("cards/" + name + ".yaml",
          "name: " + name + "\nsource: test\nlicense: CC0\ncategory: instruction\ntype: pairwise\n"
          "title: \"Which response is better?\"\ndescription: \"A or B.\"\n"
          "input_fields: [prompt, response_a, response_b]\noutput_fields: [choice]\n"
          "labels: [\"A\", \"B\"]\npair_fields: [response_a, response_b]\nconverter: test_pair\n"
          "options: {files: " + file + "}\n");
  }
};

// n good records (alternating labels), with malformed lines at the given 1-based line numbers.
std::string cls_jsonl(int n, std::set<int> bad_lines, int text_len = 20) {
  std::ostringstream s;
  int line = 0;
  for (int i = 0; i < n; ++i) {
    while (bad_lines.count(++line)) s << (line % 2 ? "{not json\n" : "{\"text\": \"x\", \"label\": \"Maybe\"}\n");
    s << "{\"text\": \"item " << i << " " << std::string(size_t(text_len), 'a' + char(i % 26))
      << "\", \"label\": \"" << (i % 2 ? "No" : "Yes") << "\"}\n";
  }
  return s.str();
}

}  // namespace

TEST(Prepare, MalformedRecordsAreSkippedCountedAndLocated) {
  Fixture fx("bad");
  fx.classification_card("cls", "cls.jsonl");
  fx.write("raw/cls.jsonl", cls_jsonl(100, {7, 30}) + "{\"text\": \"t\", \"label\": \"skip\"}\n");
  fx.cfg.max_bad_fraction = 0.05;
  std::ostringstream log;
  const auto report = prepare(fx.cfg, log);
  EXPECT_EQ(report["tasks"]["cls"]["records"], 103);
  EXPECT_EQ(report["tasks"]["cls"]["bad"], 2);
  EXPECT_EQ(report["tasks"]["cls"]["skipped"]["unwanted"], 1);
  EXPECT_EQ(report["train_examples"].get<long>() + report["dev_examples"].get<long>(), 100);
  const std::string l = log.str();
  EXPECT_NE(l.find("cls.jsonl:line 7: bad JSON"), std::string::npos) << l;
  EXPECT_NE(l.find("cls.jsonl:line 30: unknown label 'Maybe'"), std::string::npos) << l;
  // The shard carries the same counts.
  const auto s = read_shard(fx.cfg.out_dir + "/cls.h5", "byte");
  EXPECT_EQ(s.counts.bad, 2);
  EXPECT_EQ(s.counts.records, 103);
}

TEST(Prepare, TooManyMalformedRecordsFailTheRun) {
  Fixture fx("toobad");
  fx.classification_card("cls", "cls.jsonl");
  fx.write("raw/cls.jsonl", cls_jsonl(40, {2, 5, 9}));
  fx.cfg.max_bad_fraction = 0.05;  // 3 of 43 is 7%
  std::ostringstream log;
  try {
    prepare(fx.cfg, log);
    FAIL() << "expected a failure";
  } catch (const flame::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cls: 3 of 43 records malformed"), std::string::npos) << m;
    EXPECT_NE(m.find("cls.jsonl:line 2"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(fx.cfg.out_dir + "/cls.h5"));
}

TEST(Prepare, PairsComeInBothOrdersAndGroupsNeverStraddleSplits) {
  Fixture fx("pairs");
  fx.pairwise_card("pairs", "pairs.jsonl");
  std::ostringstream s;
  for (int i = 0; i < 300; ++i)  // 100 prompts, 3 pairs each
    s << "{\"prompt\": \"prompt " << i / 3 << "\", \"good\": \"good " << i << "\", \"bad\": \"bad " << i << "\"}\n";
  fx.write("raw/pairs.jsonl", s.str());
  std::ostringstream log;
  prepare(fx.cfg, log);
  const auto sh = read_shard(fx.cfg.out_dir + "/pairs.h5", "byte");
  const long n_dev = long(sh.dev.size());
  EXPECT_GT(n_dev, 20);
  EXPECT_LT(n_dev, 120);
  EXPECT_EQ(n_dev % 3, 0) << "a prompt's pairs stay together";
  EXPECT_EQ(long(sh.train.size()), 2 * (300 - n_dev)) << "train holds both orders";
  long a = 0;
  for (int32_t l : sh.train.labels) a += l == 0;
  EXPECT_EQ(2 * a, long(sh.train.size())) << "both orders balance the labels exactly";
  std::set<std::string> dev_prompts;
  for (const auto& ex : sh.dev_examples) dev_prompts.insert(ex.inputs[0].second);
  const ByteTokenizer tok;
  for (size_t i = 0; i < sh.train.size(); ++i) {
    const auto ex = sh.train.example(i);
    const std::string text = tok.decode(ex.input);
    for (const auto& p : dev_prompts)
      EXPECT_EQ(text.find("prompt: " + p + "\n"), std::string::npos) << "train shares a dev prompt";
  }
}

TEST(Prepare, LongContextIsCutNeverTheTarget) {
  TaskCard card;
  card.name = "long";
  card.source = card.license = "t";
  card.category = "quality";
  card.type = TaskType::classification;
  card.title = "Title";
  card.description = "Desc";
  card.input_fields = {"question", "document"};
  card.output_fields = {"answer", "explanation"};
  card.labels = {"Yes", "No"};
  Example ex{{{"question", "short question?"}, {"document", std::string(3000, 'd') + "END"}},
             {{"answer", "No"}, {"explanation", "because"}}};
  const ByteTokenizer tok;
  TokenizedExample t;
  bool truncated = false;
  Example cut = ex;
  ASSERT_TRUE(fit_example(card, cut, tok, 400, t, truncated));
  EXPECT_TRUE(truncated);
  EXPECT_LE(long(t.input.size() + t.target.size()), 400);
  EXPECT_GT(long(t.input.size() + t.target.size()), 330) << "cut no more than needed";
  EXPECT_EQ(tok.decode(t.target), "answer: No\nexplanation: because");
  EXPECT_EQ(cut.inputs[0].second, "short question?") << "only the longest field is cut";
  EXPECT_EQ(cut.inputs[1].second.substr(cut.inputs[1].second.size() - 6), " [...]");
  EXPECT_EQ(tok.decode(t.input), render(card, cut).input) << "tokens match the cut example";
  // "Yes" is a byte longer than "No", but the cut reserves room for the longest label, so the
  // context is cut the same way whatever the label (no label leak through the cut).
  Example other = ex;
  other.outputs[0].second = "Yes";
  other.outputs[1].second = "because";
  TokenizedExample t2;
  ASSERT_TRUE(fit_example(card, other, tok, 400, t2, truncated));
  EXPECT_EQ(t2.input.size(), t.input.size());
  // Short examples are untouched; impossible ones are refused.
  Example small{{{"question", "q"}, {"document", "d"}}, {{"answer", "Yes"}, {"explanation", "e"}}};
  ASSERT_TRUE(fit_example(card, small, tok, 400, t, truncated));
  EXPECT_FALSE(truncated);
  EXPECT_FALSE(fit_example(card, ex, tok, 40, t, truncated));
}

TEST(Prepare, StatsDescribeTheShards) {
  Fixture fx("stats");
  fx.classification_card("small", "small.jsonl");
  fx.classification_card("big", "big.jsonl");
  fx.write("raw/small.jsonl", cls_jsonl(50, {}));
  fx.write("raw/big.jsonl", cls_jsonl(400, {}, 200));
  std::ostringstream log;
  const auto report = prepare(fx.cfg, log);
  const auto st = shard_stats(find_shards(fx.cfg.out_dir), 100, 1.0);
  ASSERT_EQ(st["tasks"].size(), 2u);
  double rate_sum = 0;
  for (const auto& t : st["tasks"]) {
    const std::string name = t["task"];
    EXPECT_EQ(t["train"], report["tasks"][name]["train"]);
    EXPECT_EQ(t["dev"], report["tasks"][name]["dev"]);
    EXPECT_NEAR(t["labels"]["Yes"].get<double>() + t["labels"]["No"].get<double>(), 1.0, 1e-12);
    EXPECT_LE(t["len_p50"], t["len_p95"]);
    EXPECT_LE(t["len_p95"], t["len_max"]);
    rate_sum += t["mixture_rate"].get<double>();
  }
  EXPECT_NEAR(rate_sum, 1.0, 1e-12);
  // big is capped at 100, small has ~40 train examples: rates follow min(n, cap).
  const auto& big = st["tasks"][0]["task"] == "big" ? st["tasks"][0] : st["tasks"][1];
  const auto& small = st["tasks"][0]["task"] == "big" ? st["tasks"][1] : st["tasks"][0];
  EXPECT_NEAR(big["mixture_rate"].get<double>(),
              100.0 / (100.0 + small["train"].get<double>()), 1e-12);
  EXPECT_GT(big["len_p50"].get<long>(), small["len_p50"].get<long>() + 150);
  EXPECT_NE(stats_table(st).find("big"), std::string::npos);
}

TEST(Prepare, SamplerRestoredOverShardsReplaysTheSameBatches) {
  Fixture fx("restore");
  fx.classification_card("one", "one.jsonl");
  fx.classification_card("two", "two.jsonl");
  fx.write("raw/one.jsonl", cls_jsonl(120, {}, 30));
  fx.write("raw/two.jsonl", cls_jsonl(70, {}, 90));
  std::ostringstream log;
  prepare(fx.cfg, log);
  std::vector<std::vector<TokenizedExample>> tasks;
  std::vector<long> sizes;
  for (const auto& path : find_shards(fx.cfg.out_dir)) {
    const auto s = read_shard(path, "byte");
    tasks.emplace_back();
    for (size_t i = 0; i < s.train.size(); ++i) tasks.back().push_back(s.train.example(i, int(tasks.size() - 1)));
    sizes.push_back(long(s.train.size()));
  }
  auto fresh = [&] { return BatchStream(&tasks, MixtureSampler(sizes, {}, 65536, 42, 2.0), 3, 256); };
  BatchStream run = fresh();
  std::vector<Batch> uninterrupted;
  for (int i = 0; i < 25; ++i) uninterrupted.push_back(run.next());
  BatchStream first = fresh();
  for (int i = 0; i < 11; ++i) first.next();
  const MixtureState saved = first.state();
  BatchStream resumed = fresh();  // a new process: nothing shared but the saved state
  resumed.restore(saved);
  for (int i = 11; i < 25; ++i) {
    const Batch b = resumed.next();
    EXPECT_EQ(b.tokens, uninterrupted[size_t(i)].tokens) << "batch " << i;
    EXPECT_EQ(b.mask, uninterrupted[size_t(i)].mask) << "batch " << i;
    EXPECT_EQ(b.seg, uninterrupted[size_t(i)].seg) << "batch " << i;
  }
}

TEST(Prepare, TrainsASentencePieceModelAndRecordsIt) {
  Fixture fx("sp");
  fx.classification_card("cls", "cls.jsonl");
  std::string raw = cls_jsonl(300, {}, 40);
  for (int i = 0; i < 40; ++i)  // long, varied documents that must be cut
    raw += "{\"text\": \"" + std::string(size_t(200 + 37 * i), 'a' + char(i % 26)) + " tail words " +
           std::to_string(i) + "\", \"label\": \"Yes\"}\n";
  fx.write("raw/cls.jsonl", raw);
  fx.cfg.tokenizer.model = "";
  fx.cfg.tokenizer.train.vocab_size = 400;
  fx.cfg.max_tokens = 90;
  std::ostringstream log;
  const auto report = prepare(fx.cfg, log);
  const auto model = fx.cfg.out_dir + "/tokenizer.model";
  ASSERT_TRUE(fs::exists(model));
  const SentencePieceTokenizer tok(model);
  EXPECT_EQ(report["tokenizer"], tok.fingerprint());
  const auto s = read_shard(fx.cfg.out_dir + "/cls.h5", tok.fingerprint());
  const auto ex = s.dev.size() ? s.dev.example(0) : s.train.example(0);
  EXPECT_EQ(ex.input.front(), tok.bos_id());
  EXPECT_EQ(ex.target.back(), tok.eos_id());
  EXPECT_NE(read_shard(fx.cfg.out_dir + "/cls.h5").tokenizer, "byte");
  EXPECT_THROW(read_shard(fx.cfg.out_dir + "/cls.h5", "byte"), flame::Error);
  // The model composes at line ends, and the shard's tokens are exactly what the scorer encodes
  // for the (cut) dev examples: BOS + encode(input), encode(target) + EOS.
  EXPECT_TRUE(tok.composes_after_newline());
  EXPECT_GT(s.counts.truncated, 0);
  for (size_t i = 0; i < s.dev.size(); ++i) {
    const auto r = render(s.card, s.dev_examples[i]);
    auto in = tok.encode(r.input);
    in.insert(in.begin(), tok.bos_id());
    auto tg = tok.encode(r.target);
    tg.push_back(tok.eos_id());
    const auto ex = s.dev.example(i);
    EXPECT_EQ(ex.input, in) << "dev example " << i;
    EXPECT_EQ(ex.target, tg) << "dev example " << i;
    EXPECT_LE(ex.input.size() + ex.target.size(), 90u);
  }
}

namespace {
// The byte tokenizer, claiming not to compose: forces the re-encoding path of the fitter.
class NonComposingBytes final : public Tokenizer {
 public:
  std::vector<int32_t> encode(const std::string& t) const override { return b_.encode(t); }
  std::string decode(const std::vector<int32_t>& ids) const override { return b_.decode(ids); }
  int vocab_size() const override { return b_.vocab_size(); }
  int32_t bos_id() const override { return b_.bos_id(); }
  int32_t eos_id() const override { return b_.eos_id(); }
  std::string name() const override { return "bytes-noncomposing"; }
 private:
  ByteTokenizer b_;
};
}  // namespace

TEST(Prepare, BothFittingPathsCutToTheSameBudget) {
  TaskCard card;
  card.name = "two";
  card.source = card.license = "t";
  card.category = "factuality";
  card.type = TaskType::classification;
  card.title = "T";
  card.description = "D";
  card.input_fields = {"claim", "evidence"};
  card.output_fields = {"answer"};
  card.labels = {"Supported", "Not supported"};
  const ByteTokenizer composing;
  const NonComposingBytes reencoding;
  for (int len : {10, 300, 1000, 50000}) {
    for (const Tokenizer* tok : {static_cast<const Tokenizer*>(&composing), static_cast<const Tokenizer*>(&reencoding)}) {
      Example ex{{{"claim", "c"}, {"evidence", std::string(size_t(len), 'e')}}, {{"answer", "Supported"}}};
      TokenizedExample t;
      bool truncated = false;
      ASSERT_TRUE(fit_example(card, ex, *tok, 256, t, truncated)) << len;
      EXPECT_EQ(truncated, len > 150) << len;
      EXPECT_EQ(tok->decode(t.input), render(card, ex).input) << len;
      // Room is kept for the longer label ("Not supported"), whatever this example's label is.
      EXPECT_LE(long(t.input.size()) + long(std::string("answer: Not supported").size()) + 1, 256) << len;
      if (truncated) {
        EXPECT_GE(long(t.input.size() + t.target.size()), 256 - 12) << len;
      }
    }
  }
  // Two long fields: the longer is cut first; when emptying it is not enough the other is cut.
  for (const Tokenizer* tok : {static_cast<const Tokenizer*>(&composing), static_cast<const Tokenizer*>(&reencoding)}) {
    Example ex{{{"claim", std::string(900, 'c')}, {"evidence", std::string(1200, 'e')}}, {{"answer", "Supported"}}};
    TokenizedExample t;
    bool truncated = false;
    ASSERT_TRUE(fit_example(card, ex, *tok, 200, t, truncated));
    EXPECT_LE(t.input.size() + t.target.size(), 200u);
    EXPECT_LT(ex.inputs[0].second.size(), 200u);
    EXPECT_LT(ex.inputs[1].second.size(), 200u);
    EXPECT_EQ(tok->decode(t.input), render(card, ex).input);
  }
}

TEST(PrepareConfig, BadKeysAndValuesAreOneLineErrors) {
  auto err = [](const std::string& yaml) -> std::string {
    try {
      parse_prepare_config(YAML::Load(yaml));
    } catch (const flame::Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(err("out_dir: x\ntasks_dir: .\nmax_tokns: 5"), 
            "data config error: unknown key 'max_tokns' (did you mean 'max_tokens'?)");
  EXPECT_NE(err("out_dir: x\ntasks_dir: .\ndev_fraction: 1.5").find("dev_fraction must be in [0, 1)"), std::string::npos);
  EXPECT_NE(err("tasks_dir: .\n").find("out_dir is required"), std::string::npos);
  EXPECT_NE(err("out_dir: x\ntasks_dir: /nonexistent").find("tasks_dir not found"), std::string::npos);
  EXPECT_NE(err("out_dir: x\ntasks_dir: .\nmax_tokens: abc").find("max_tokens has the wrong type"), std::string::npos);
  EXPECT_NE(err("out_dir: x\ntasks_dir: .\ntokenizer: {vocab: 5}").find("unknown key 'tokenizer.vocab'"), std::string::npos);
}

TEST(Prepare, FitterEqualsPlainEncodingWhenNothingIsCut) {
  // The line-by-line encoding must give exactly the tokens of encoding the rendered text whole,
  // for every tokenizer that claims to compose (so the scorer's prompts match training).
  const ByteTokenizer bytes;
  const auto words = make_tokenizer("word");
  for (const Tokenizer* tok : {static_cast<const Tokenizer*>(&bytes), static_cast<const Tokenizer*>(words.get())}) {
    ASSERT_TRUE(tok->composes_after_newline());
    for (const auto& card : synthetic_cards()) {
      const ExampleFitter fitter(card, *tok, 4096);
      for (auto ex : generate_synthetic(card.name, Split::train, 40, 3)) {
        const auto r = render(card, ex);
        TokenizedExample t;
        bool truncated = true;
        ASSERT_TRUE(fitter.fit(ex, t, truncated));
        EXPECT_FALSE(truncated);
        auto in = tok->encode(r.input);
        in.insert(in.begin(), tok->bos_id());
        auto tg = tok->encode(r.target);
        tg.push_back(tok->eos_id());
        EXPECT_EQ(t.input, in) << card.name << " " << tok->name();
        EXPECT_EQ(t.target, tg) << card.name << " " << tok->name();
      }
    }
  }
}
