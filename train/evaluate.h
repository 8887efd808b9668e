// Dev-set evaluation of an autorater: judgments are read off the model's next-token
// distribution after the scoring prompt (DESIGN.md "Scoring an autorater").
//   pairwise        P(A) vs P(B), averaged over both presentation orders (position debiasing)
//   pointwise       expected score over the scale's labels (accuracy of the argmax, Pearson)
//   classification  label probabilities (accuracy)
//   generative      teacher-forced exact match (= greedy-decoding exact match)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/task.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "train/scoring_model.h"

namespace flame::train {

// One scoring request. The model reads `tokens` (BOS + prompt [+ continuation minus its last
// token]); the prompt ends at n_prompt, where the next-token distribution is read.
struct Query {
  std::vector<int32_t> tokens;
  int n_prompt = 0;
  std::vector<int32_t> candidates;  // next-token ids compared after the prompt (may be empty)
  std::vector<int32_t> cont;        // continuation scored by teacher forcing (may be empty)
};

struct QueryResult {
  std::vector<double> cand_probs;  // softmax over the candidates' logits only
  double cont_logprob = 0;         // sum of log p(cont[i] | everything before it)
  bool cont_argmax = true;         // every continuation token was the argmax (greedy would emit it)
};

// Scores all queries, packing several per row (segment ids keep them apart; positions restart)
// into micro-batches of at most (model.max_B(), model.max_T()). A query longer than max_T loses
// tokens from the left of its prompt, as the training packer does; one whose continuation alone
// does not fit scores as wrong (uniform candidates, -inf log-prob, not argmax).
std::vector<QueryResult> score_queries(ScoringModel model, const std::vector<Query>& queries);

// The probabilities of a label-typed task's labels (card.labels order) for each example, read
// off the next-token distribution after the scoring prompt. When the labels' first tokens are
// distinct one forward position decides (softmax over those tokens); otherwise each label is
// scored as a whole sequence by teacher forcing and the softmax is over the sequence log-probs.
// Pairwise examples are scored in the order given (callers swap for the other order).
std::vector<std::vector<double>> label_probs(ScoringModel model, const data::Tokenizer& tok,
                                             const data::TaskCard& card,
                                             const std::vector<data::Example>& exs);

// Index of `label` in card.labels; throws flame::Error naming the task and the label.
int label_index(const data::TaskCard& card, const std::string& label);

// The card's labels as numbers (a pointwise scale "1".."5"), or their indices 0..L-1 when any
// label is not a number.
std::vector<double> label_values(const data::TaskCard& card);

struct EvalTask {
  data::TaskCard card;
  std::vector<data::Example> examples;  // dev split
};

// Evaluates the first max_examples dev examples of every task. Returns
//   {"tasks": {name: {"type","category","metric","value","n",...}},
//    "categories": {category: mean value of its tasks},
//    "mean_pairwise_classification": mean value over pairwise + classification tasks}
// Flipped-label tasks are scored against their own labels but left out of both means.
nlohmann::json evaluate(ScoringModel model, const data::Tokenizer& tok,
                        const std::vector<EvalTask>& tasks, int max_examples);

// One task's metrics as evaluate() reports them under "tasks" (without type, category, n):
// {"metric", "value", ...} per the task type.
nlohmann::json evaluate_examples(ScoringModel model, const data::Tokenizer& tok,
                                 const data::TaskCard& card,
                                 const std::vector<data::Example>& exs);

}  // namespace flame::train
