// Metrics for scoring an autorater against reference judgments: agreement (accuracy, balanced
// accuracy, ROC-AUC), correlation (Pearson, Spearman, Kendall tau-b) and, for pairwise judges,
// accuracy over both presentation orders plus the two biases a judge is known for: preferring
// the response shown first, and preferring the longer response (docs/evaluation.md).
//
// Degenerate inputs give a defined value instead of NaN (JSON has no NaN, and a report must not
// turn into nulls because one subset was tiny or constant):
//   empty input                       accuracy / balanced accuracy 0, correlations 0, AUC 0.5
//   one class only (AUC)              0.5: no pair of a positive and a negative to rank
//   a constant vector (correlations)  0: the correlation is undefined, report "no association"
//   no decisive verdicts / no pairs   first-slot and length rates 0.5 (no evidence of a bias);
//   of unequal length                 the counts beside them say how much evidence there was
// Vectors that must pair up element by element and differ in length throw flame::Error.
#pragma once
#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

namespace flame::train {

// Share of i with pred[i] == truth[i].
double accuracy(const std::vector<int>& pred, const std::vector<int>& truth);

// Mean over the classes that occur in truth of each class's recall: a judge that always answers
// the majority class scores 1/(number of classes), whatever the class balance.
double balanced_accuracy(const std::vector<int>& pred, const std::vector<int>& truth);

// Area under the ROC curve of `score` for separating positive[i] != 0 from the rest: the
// probability that a random positive scores above a random negative, ties counting one half
// (the Mann-Whitney statistic computed from average ranks).
double roc_auc(const std::vector<double>& score, const std::vector<int>& positive);

// 1-based ranks in ascending order; tied values share the mean of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& x);

double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Pearson correlation of the average ranks.
double spearman(const std::vector<double>& x, const std::vector<double>& y);
// (concordant - discordant) / sqrt((n0 - ties_x)(n0 - ties_y)) over all n0 = n(n-1)/2 pairs;
// O(n^2), which is nothing next to the model forward that produced the scores.
double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);

// One pair scored in both presentation orders. Labels are indexed as the card's (A, B[, Tie]).
struct PairJudgment {
  std::vector<double> p_ab;  // label probabilities with the pair as given (first response in A)
  std::vector<double> p_ba;  // the same pair swapped; labels as presented (A = the second response)
  int truth = 0;             // the correct label as given: 0 (A), 1 (B) or 2 (Tie)
  size_t len_a = 0, len_b = 0;  // length of the response in A and in B, as given (characters)
};

// The probabilities of each outcome averaged over both orders, named as given: p[A] is the
// mean of "A is better" when A is shown first and "B is better" once the pair is swapped.
std::vector<double> order_averaged(const PairJudgment& j);

struct PairwiseMetrics {
  long n = 0;
  // The order-averaged verdict (argmax of order_averaged). Outcomes with exactly equal averages
  // share the credit (a judge that ignores the content gets 1/2, not the first label's luck).
  double accuracy = 0;
  double accuracy_single_order = 0;  // argmax of p_ab alone
  double order_consistency = 0;      // the same verdict in both orders
  // Position bias: of all single-order verdicts that pick a response (2 per pair, Tie verdicts
  // left out), the share that picks the response shown first. 0.5 is unbiased.
  double first_slot_win_rate = 0.5;
  long n_slot_verdicts = 0;
  // Length bias, over the pairs whose responses differ in length and whose truth is not a tie:
  // how often the order-averaged p(A) vs p(B) favours the longer response (equal: one half),
  // next to how often the longer response is the correct one. A judge that prefers the longer
  // response far more often than it is right has a length bias.
  double longer_preferred_rate = 0.5;
  double longer_correct_rate = 0.5;
  long n_length_pairs = 0;

  nlohmann::json to_json() const;
};

PairwiseMetrics pairwise_metrics(const std::vector<PairJudgment>& pairs);

}  // namespace flame::train
