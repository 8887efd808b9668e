// Evaluation metrics against values computed by hand (the working is in the comments), including
// ties, one-class and constant inputs, and the pairwise position and length biases.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/metrics.h"

using namespace flame::train;

TEST(Metrics, AccuracyAndBalancedAccuracy) {
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 1, 0}, {0, 1, 0, 0}), 0.75);
  // Always the majority class: accuracy 3/4, balanced accuracy (1 + 0) / 2.
  EXPECT_DOUBLE_EQ(accuracy({0, 0, 0, 0}, {0, 0, 0, 1}), 0.75);
  EXPECT_DOUBLE_EQ(balanced_accuracy({0, 0, 0, 0}, {0, 0, 0, 1}), 0.5);
  // Three classes: recalls 1/2, 1/2, 1/1.
  EXPECT_DOUBLE_EQ(balanced_accuracy({0, 1, 1, 0, 2}, {0, 0, 1, 1, 2}), 2.0 / 3.0);
  // A predicted class that never occurs in the truth adds no recall term.
  EXPECT_DOUBLE_EQ(balanced_accuracy({5, 0}, {0, 0}), 0.5);
  EXPECT_EQ(accuracy({}, {}), 0.0);
  EXPECT_EQ(balanced_accuracy({}, {}), 0.0);
  EXPECT_THROW(accuracy({0, 1}, {0}), flame::Error);
}

TEST(Metrics, AverageRanksShareTies) {
  const auto r = average_ranks({10, 20, 20, 5});  // 5 -> 1, 10 -> 2, both 20s -> (3+4)/2
  ASSERT_EQ(r.size(), 4u);
  EXPECT_DOUBLE_EQ(r[0], 2);
  EXPECT_DOUBLE_EQ(r[1], 3.5);
  EXPECT_DOUBLE_EQ(r[2], 3.5);
  EXPECT_DOUBLE_EQ(r[3], 1);
  const auto all_tied = average_ranks({7, 7, 7});
  for (double x : all_tied) EXPECT_DOUBLE_EQ(x, 2);
}

TEST(Metrics, RocAuc) {
  // Positives 0.9, 0.7; negatives 0.8, 0.6: 0.9>0.8, 0.9>0.6, 0.7<0.8, 0.7>0.6 -> 3/4.
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.8, 0.7, 0.6}, {1, 0, 1, 0}), 0.75);
  // Positives 0.5, 0.8; negatives 0.5, 0.2: the tied pair counts 1/2 -> (0.5 + 1 + 1 + 1) / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.2, 0.8}, {1, 0, 0, 1}), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.2, 0.3}, {0, 0, 1}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.2, 0.3}, {1, 0, 0}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.4, 0.4, 0.4, 0.4}, {1, 0, 1, 0}), 0.5);  // all scores tied
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.9}, {1, 1}), 0.5);                  // one class only
  EXPECT_DOUBLE_EQ(roc_auc({}, {}), 0.5);
}

TEST(Metrics, Correlations) {
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {2, 4, 6, 8}), 1.0, 1e-12);
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {8, 6, 4, 2}), -1.0, 1e-12);
  // dx = (-1, 0, 1), dy = (-1, 1, 0): sxy 1, sxx 2, syy 2 -> 0.5.
  EXPECT_NEAR(pearson({1, 2, 3}, {1, 3, 2}), 0.5, 1e-12);
  // Spearman with a tie in x: ranks (1, 2.5, 2.5, 4) vs (1, 3, 2, 4): sxy 4.5, sxx 4.5, syy 5.
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 3, 2, 4}), 4.5 / std::sqrt(4.5 * 5.0), 1e-12);
  // Monotone but not linear: Spearman 1, Pearson below 1.
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 4, 9, 100}), 1.0, 1e-12);
  EXPECT_LT(pearson({1, 2, 3, 4}, {1, 4, 9, 100}), 0.95);
  // Kendall tau-b, same data: 5 concordant pairs, 0 discordant, one pair tied in x, n0 = 6
  // -> 5 / sqrt((6 - 1) * (6 - 0)).
  EXPECT_NEAR(kendall_tau_b({1, 2, 2, 3}, {1, 3, 2, 4}), 5.0 / std::sqrt(30.0), 1e-12);
  // (1,3),(2,1),(3,2): pairs 01 and 02 discordant, 12 concordant -> (1 - 2) / 3.
  EXPECT_NEAR(kendall_tau_b({1, 2, 3}, {3, 1, 2}), -1.0 / 3.0, 1e-12);
  // Tied in both x and y: the pair is in both tie counts: (2 - 0) / sqrt((3-1)(3-1)).
  EXPECT_NEAR(kendall_tau_b({1, 1, 2}, {5, 5, 6}), 1.0, 1e-12);
}

TEST(Metrics, DegenerateCorrelationsAreZero) {
  EXPECT_EQ(pearson({3, 3, 3}, {1, 2, 3}), 0.0);
  EXPECT_EQ(spearman({1, 2, 3}, {4, 4, 4}), 0.0);
  EXPECT_EQ(kendall_tau_b({2, 2, 2}, {1, 2, 3}), 0.0);
  EXPECT_EQ(pearson({1}, {2}), 0.0);
  EXPECT_EQ(kendall_tau_b({}, {}), 0.0);
  EXPECT_THROW(spearman({1, 2}, {1, 2, 3}), flame::Error);
}

TEST(Metrics, OrderAveragedNamesOutcomesAsGiven) {
  // p(A) = mean of "A better" shown first (0.8) and "B better" once swapped (0.7).
  const auto p = order_averaged(PairJudgment{{0.8, 0.2}, {0.3, 0.7}, 0, 0, 0});
  EXPECT_DOUBLE_EQ(p[0], 0.75);
  EXPECT_DOUBLE_EQ(p[1], 0.25);
  const auto t = order_averaged(PairJudgment{{0.5, 0.2, 0.3}, {0.1, 0.6, 0.3}, 0, 0, 0});
  EXPECT_DOUBLE_EQ(t[0], 0.55);  // (0.5 + 0.6) / 2
  EXPECT_DOUBLE_EQ(t[1], 0.15);  // (0.2 + 0.1) / 2
  EXPECT_DOUBLE_EQ(t[2], 0.3);
}

TEST(Metrics, PairwiseAccuracyConsistencyAndBiases) {
  const std::vector<PairJudgment> pairs = {
      // Averages (0.75, 0.25): right. Verdicts A then B (= the same response): consistent, one
      // first-slot win of two. A is longer and correct; the average prefers it.
      {{0.8, 0.2}, {0.3, 0.7}, 0, 10, 5},
      // Averages (0.5, 0.5): a tie, half credit. Verdicts A and A: inconsistent, two first-slot
      // wins. B is longer and correct; the tied average prefers it by one half.
      {{0.6, 0.4}, {0.6, 0.4}, 1, 3, 8},
      // Averages (0.2, 0.8): right. Verdicts B then A: consistent, one first-slot win of two.
      // Equal lengths: not a length pair.
      {{0.1, 0.9}, {0.7, 0.3}, 1, 4, 4},
  };
  const PairwiseMetrics m = pairwise_metrics(pairs);
  EXPECT_EQ(m.n, 3);
  EXPECT_DOUBLE_EQ(m.accuracy, 2.5 / 3);
  EXPECT_DOUBLE_EQ(m.accuracy_single_order, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.order_consistency, 2.0 / 3);
  EXPECT_EQ(m.n_slot_verdicts, 6);
  EXPECT_DOUBLE_EQ(m.first_slot_win_rate, 4.0 / 6);
  EXPECT_EQ(m.n_length_pairs, 2);
  EXPECT_DOUBLE_EQ(m.longer_preferred_rate, 0.75);
  EXPECT_DOUBLE_EQ(m.longer_correct_rate, 1.0);
  const auto j = m.to_json();
  EXPECT_DOUBLE_EQ(j["first_slot_win_rate"].get<double>(), 4.0 / 6);
  EXPECT_EQ(j["n_length_pairs"].get<long>(), 2);
}

TEST(Metrics, PairwiseJudgeThatAlwaysPicksTheFirstSlot) {
  // Whatever the content, "A" at 0.9 in both orders: every average is a tie (accuracy 1/2), the
  // two orders never agree, and every single-order verdict goes to the first slot.
  std::vector<PairJudgment> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back({{0.9, 0.1}, {0.9, 0.1}, i % 2, size_t(5 + i), 5});
  const PairwiseMetrics m = pairwise_metrics(pairs);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.accuracy_single_order, 0.5);
  EXPECT_DOUBLE_EQ(m.order_consistency, 0.0);
  EXPECT_DOUBLE_EQ(m.first_slot_win_rate, 1.0);
  // Lengths 6, 7, 8 vs 5 (the first pair is equal): A is longer; correct for truth A (i = 2).
  EXPECT_EQ(m.n_length_pairs, 3);
  EXPECT_DOUBLE_EQ(m.longer_correct_rate, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.longer_preferred_rate, 0.5);
}

TEST(Metrics, PairwiseTiesAndEmptyInput) {
  // Tie verdicts in both orders: consistent, but no response was picked, so no slot verdicts;
  // a Tie truth is left out of the length figures.
  const PairwiseMetrics t = pairwise_metrics({{{0.2, 0.2, 0.6}, {0.2, 0.2, 0.6}, 2, 3, 9}});
  EXPECT_DOUBLE_EQ(t.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(t.order_consistency, 1.0);
  EXPECT_EQ(t.n_slot_verdicts, 0);
  EXPECT_DOUBLE_EQ(t.first_slot_win_rate, 0.5);
  EXPECT_EQ(t.n_length_pairs, 0);

  const PairwiseMetrics e = pairwise_metrics({});
  EXPECT_EQ(e.n, 0);
  EXPECT_EQ(e.accuracy, 0.0);
  EXPECT_DOUBLE_EQ(e.first_slot_win_rate, 0.5);
  EXPECT_DOUBLE_EQ(e.longer_preferred_rate, 0.5);
  EXPECT_DOUBLE_EQ(e.longer_correct_rate, 0.5);

  EXPECT_THROW(pairwise_metrics({{{0.5, 0.5}, {0.5, 0.5}, 2, 0, 0}}),
               flame::Error);  // truth 2 of 2
  EXPECT_THROW(pairwise_metrics({{{0.5, 0.5}, {1.0}, 0, 0, 0}}), flame::Error);
}
