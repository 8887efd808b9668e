// Evaluation scoring: packing several queries per row (segment ids, restarted positions) must give
// the same numbers as scoring each query alone, and truncation must keep the scored tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "data/packer.h"
#include "data/render.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "tests/train/small_model.h"
#include "train/evaluate.h"

using flame::train::Query;
using flame::train::QueryResult;

namespace {

flame::model::ModelConfig small_config() { return flame_test::small_model_config(); }

std::vector<Query> random_queries(int n, uint64_t seed) {
  std::mt19937 rng(seed);
  std::vector<Query> qs;
  for (int i = 0; i < n; ++i) {
    Query q;
    const int prompt = 3 + int(rng() % 30), cont = int(rng() % 4);
    q.tokens.push_back(256);  // BOS
    for (int j = 1; j < prompt; ++j) q.tokens.push_back(int32_t(rng() % 256));
    q.n_prompt = prompt;
    for (int j = 0; j < cont; ++j) q.cont.push_back(int32_t(rng() % 258));
    if (!q.cont.empty()) q.tokens.insert(q.tokens.end(), q.cont.begin(), q.cont.end() - 1);
    q.candidates = {65, 66, 67};
    qs.push_back(std::move(q));
  }
  return qs;
}

void expect_same(const QueryResult& a, const QueryResult& b) {
  ASSERT_EQ(a.cand_probs.size(), b.cand_probs.size());
  for (size_t i = 0; i < a.cand_probs.size(); ++i) EXPECT_NEAR(a.cand_probs[i], b.cand_probs[i], 1e-4);
  EXPECT_NEAR(a.cont_logprob, b.cont_logprob, 1e-3);
  EXPECT_EQ(a.cont_argmax, b.cont_argmax);
}

}  // namespace

TEST(Evaluate, PackedEqualsAlone) {
  flame::model::Model packed_model(small_config(), 3, 64), alone_model(small_config(), 1, 64);
  packed_model.init_weights(11);
  alone_model.init_weights(11);
  const auto qs = random_queries(25, 3);
  const auto packed = flame::train::score_queries(packed_model, qs);
  ASSERT_EQ(packed.size(), qs.size());
  for (size_t i = 0; i < qs.size(); ++i) {
    const auto alone = flame::train::score_queries(alone_model, {qs[i]});
    expect_same(packed[i], alone[0]);
    double sum = 0;
    for (double p : packed[i].cand_probs) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-9);
  }
}

TEST(Evaluate, LongQueryKeepsBosAndTail) {
  // A query longer than the row is cut like the training packer cuts: BOS + the last tokens.
  flame::model::Model m(small_config(), 1, 16);
  m.init_weights(4);
  Query longq;
  longq.tokens = {256};
  for (int j = 0; j < 40; ++j) longq.tokens.push_back(int32_t(97 + j % 26));
  longq.n_prompt = (int)longq.tokens.size();
  longq.candidates = {65, 66};
  Query cut = longq;
  cut.tokens = {256};
  cut.tokens.insert(cut.tokens.end(), longq.tokens.end() - 15, longq.tokens.end());
  cut.n_prompt = 16;
  const auto a = flame::train::score_queries(m, {longq});
  const auto b = flame::train::score_queries(m, {cut});
  expect_same(a[0], b[0]);
}

TEST(Evaluate, UntrainedModelReportsEveryTask) {
  auto cfg = small_config();
  cfg.max_seq_len = 256;
  flame::model::Model m(cfg, 4, 256);
  m.init_weights(1);
  flame::data::ByteTokenizer tok;
  std::vector<flame::train::EvalTask> tasks;
  for (const auto& card : flame::data::synthetic_cards())
    tasks.push_back({card, flame::data::generate_synthetic(card.name, flame::data::Split::dev, 6, 1)});
  const auto ev = flame::train::evaluate(m, tok, tasks, 4);
  ASSERT_EQ(ev["tasks"].size(), tasks.size());
  for (const auto& t : tasks) {
    const auto& r = ev["tasks"][t.card.name];
    EXPECT_EQ(r["n"], 4);
    EXPECT_GE(r["value"].get<double>(), 0.0);
    EXPECT_LE(r["value"].get<double>(), 1.0);
    EXPECT_EQ(r["metric"], t.card.type == flame::data::TaskType::generative ? "exact_match" : "accuracy");
    EXPECT_EQ(r.contains("flipped_labels"), t.card.flipped_labels);
  }
  EXPECT_TRUE(ev["mean_pairwise_classification"].is_number());
}

TEST(Evaluate, ScoringMatchesTrainingLoss) {
  // The evaluator's teacher-forced log-probs must equal what training optimises: pack one real
  // example with the training packer, take the model's loss on it, and score the same target as
  // a continuation of the same prompt.
  auto cfg = small_config();
  cfg.max_seq_len = 256;
  flame::model::Model m(cfg, 1, 256);
  m.init_weights(9);
  flame::data::ByteTokenizer tok;
  const auto& card = flame::data::synthetic_card("synth_refusal");
  const auto ex = flame::data::generate_synthetic(card.name, flame::data::Split::dev, 1, 2)[0];
  const auto r = flame::data::render(card, ex);
  flame::data::TokenizedExample te;
  te.input.push_back(tok.bos_id());
  for (int32_t t : tok.encode(r.input)) te.input.push_back(t);
  te.target = tok.encode(r.target);
  te.target.push_back(tok.eos_id());
  ASSERT_LE(te.input.size() + te.target.size(), 256u);

  flame::data::Batch b;
  b.B = 1;
  b.T = 256;
  b.tokens.assign(256, 0);
  b.targets.assign(256, 0);
  b.mask.assign(256, 0.f);
  b.seg.assign(256, 0);
  b.pos.assign(256, 0);
  ASSERT_EQ(flame::data::pack_row(b, 0, {te}, 0), 1);
  const float loss = m.forward(b.tokens.data(), b.pos.data(), b.seg.data(), b.targets.data(),
                               b.mask.data(), 1, 256);

  Query q;
  q.tokens = te.input;
  q.n_prompt = (int)q.tokens.size();
  q.cont = te.target;
  q.tokens.insert(q.tokens.end(), te.target.begin(), te.target.end() - 1);
  const auto res = flame::train::score_queries(m, {q});
  EXPECT_NEAR(-res[0].cont_logprob / te.target.size(), loss, 1e-4);
}

TEST(Evaluate, ContinuationTooLongScoresAsWrong) {
  flame::model::Model m(small_config(), 2, 16);
  m.init_weights(4);
  Query q;
  q.tokens = {256, 97, 98};
  q.n_prompt = 3;
  for (int j = 0; j < 20; ++j) q.cont.push_back(99);
  q.tokens.insert(q.tokens.end(), q.cont.begin(), q.cont.end() - 1);
  q.candidates = {65, 66};
  const auto ok = random_queries(3, 8);
  std::vector<Query> all = {q};
  for (auto& o : ok)
    if (o.tokens.size() <= 16) all.push_back(o);
  const auto res = flame::train::score_queries(m, all);
  EXPECT_FALSE(res[0].cont_argmax);
  EXPECT_TRUE(std::isinf(res[0].cont_logprob));
  EXPECT_NEAR(res[0].cand_probs[0], 0.5, 1e-12);
}
