// Greedy decoding: every generated token is the argmax given everything before it (checked with
// the scorer's teacher forcing), stopping works, long prompts keep BOS and their tail, and the
// batched entry points (generate_greedy_batch, explain_batch) equal the per-prompt ones on the CPU.
#include <gtest/gtest.h>

#include <algorithm>

#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "core/error.h"
#include "train/evaluate.h"
#include "tests/train/small_model.h"
#include "train/generate.h"

using namespace flame;

namespace {

model::ModelConfig small() { return flame_test::small_model_config(); }

}  // namespace

TEST(Generate, EveryTokenIsTheArgmaxOfItsPrefix) {
  model::Model m(small(), 4, 64);
  m.init_weights(21);
  const std::vector<int32_t> prompt = {256, 72, 101, 108, 108, 111, 58, 32};
  const auto gen = train::generate_greedy(m, prompt, 12, -1);
  ASSERT_EQ(gen.size(), 12u);
  train::Query q;
  q.tokens = prompt;
  q.tokens.insert(q.tokens.end(), gen.begin(), gen.end() - 1);
  q.n_prompt = int(prompt.size());
  q.cont = gen;
  const auto r = train::score_queries(m, {q});
  EXPECT_TRUE(r[0].cont_argmax);
  // Stopping at a token returns what came before its first occurrence.
  const int32_t stop = gen[5];
  const auto cut = train::generate_greedy(m, prompt, 12, stop);
  const auto first = std::find(gen.begin(), gen.end(), stop) - gen.begin();
  EXPECT_EQ(cut, std::vector<int32_t>(gen.begin(), gen.begin() + first));
}

TEST(Generate, LongPromptsKeepBosAndTheirTail) {
  model::Model m(small(), 1, 64);
  m.init_weights(3);
  std::vector<int32_t> prompt{256};
  for (int i = 0; i < 200; ++i) prompt.push_back(65 + i % 26);
  const auto a = train::generate_greedy(m, prompt, 3, -1);
  // Only BOS + the last 63 tokens matter.
  std::vector<int32_t> tail{256};
  tail.insert(tail.end(), prompt.end() - 63, prompt.end());
  EXPECT_EQ(a.front(), train::generate_greedy(m, tail, 1, -1).front());
}

TEST(Generate, ExplainReturnsOneLine) {
  model::Model m(small(), 1, 64);
  m.init_weights(5);
  const data::ByteTokenizer tok;
  const auto& card = data::synthetic_card("synth_refusal");
  const auto ex = data::generate_synthetic(card.name, data::Split::dev, 1, 1).front();
  model::ModelConfig big = small();
  big.max_seq_len = 512;
  model::Model mb(big, 1, 512);
  mb.init_weights(5);
  const std::string text = train::explain(mb, tok, card, ex, "A", 10);
  EXPECT_LE(text.size(), 10u * 4);
  EXPECT_EQ(text.find('\n'), std::string::npos);
}

TEST(Generate, BatchOnTheCpuEqualsOnePromptAtATime) {
  model::Model m(small(), 4, 64);
  m.init_weights(8);
  std::vector<std::vector<int32_t>> prompts = {{256, 72, 101}, {256}, {256, 1, 2, 3, 4, 5, 6}};
  std::vector<int32_t> longer{256};  // longer than the context: the sliding window
  for (int i = 0; i < 70; ++i) longer.push_back(65 + i % 26);
  prompts.push_back(longer);
  // A stop token that the first prompt emits, so that stopping is exercised too.
  const int32_t stop = train::generate_greedy(m, prompts[0], 10, -1)[4];
  for (int32_t s : {int32_t(-1), stop}) {
    const auto batch = train::generate_greedy_batch(m, prompts, 10, s);
    ASSERT_EQ(batch.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(batch[i], train::generate_greedy(m, prompts[i], 10, s)) << "prompt " << i;
  }
  EXPECT_LT(train::generate_greedy_batch(m, prompts, 10, stop)[0].size(), 10u);
  EXPECT_THROW(train::generate_greedy_batch(m, {{256}, {}}, 4, -1), flame::Error);
}

TEST(Generate, ExplainBatchEqualsExplainPerItem) {
  model::ModelConfig big = small();
  big.max_seq_len = 512;
  model::Model m(big, 2, 512);
  m.init_weights(13);
  const data::ByteTokenizer tok;
  const auto& card = data::synthetic_card("synth_refusal");
  const auto exs = data::generate_synthetic(card.name, data::Split::dev, 3, 4);
  const std::vector<std::string> verdicts = {"A", "B", "A"};
  const auto texts = train::explain_batch(m, tok, card, exs, verdicts, 8);
  ASSERT_EQ(texts.size(), exs.size());
  for (size_t i = 0; i < exs.size(); ++i)
    EXPECT_EQ(texts[i], train::explain(m, tok, card, exs[i], verdicts[i], 8)) << "item " << i;
  EXPECT_THROW(train::explain_batch(m, tok, card, exs, {"A"}, 8), flame::Error);
}
