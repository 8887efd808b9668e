// Agreement, correlation and pairwise-bias metrics (metrics.h), with the degenerate cases the
// header documents.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "core/error.h"

namespace flame::train {

namespace {

template <class A, class B>
void check_same_size(const A& a, const B& b, const char* what) {
  if (a.size() != b.size())
    throw Error(std::string(what) + ": " + std::to_string(a.size()) + " values against " +
                std::to_string(b.size()));
}

int argmax(const std::vector<double>& p) {
  return int(std::max_element(p.begin(), p.end()) - p.begin());
}

int mirror(int k) { return k == 0 ? 1 : k == 1 ? 0 : k; }  // A<->B, Tie stays

}  // namespace

double accuracy(const std::vector<int>& pred, const std::vector<int>& truth) {
  check_same_size(pred, truth, "accuracy");
  if (truth.empty()) return 0;
  long hits = 0;
  for (size_t i = 0; i < truth.size(); ++i) hits += pred[i] == truth[i];
  return double(hits) / double(truth.size());
}

double balanced_accuracy(const std::vector<int>& pred, const std::vector<int>& truth) {
  check_same_size(pred, truth, "balanced_accuracy");
  std::map<int, std::pair<long, long>> per_class;  // class -> (hits, count)
  for (size_t i = 0; i < truth.size(); ++i) {
    auto& [hits, count] = per_class[truth[i]];
    hits += pred[i] == truth[i];
    ++count;
  }
  if (per_class.empty()) return 0;
  double sum = 0;
  for (const auto& [cls, hc] : per_class) sum += double(hc.first) / double(hc.second);
  return sum / double(per_class.size());
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double mean_rank = 0.5 * double(i + j) + 1.0;  // ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) rank[order[k]] = mean_rank;
    i = j + 1;
  }
  return rank;
}

double roc_auc(const std::vector<double>& score, const std::vector<int>& positive) {
  check_same_size(score, positive, "roc_auc");
  const auto rank = average_ranks(score);
  double pos_rank_sum = 0;
  long n_pos = 0;
  for (size_t i = 0; i < score.size(); ++i)
    if (positive[i]) {
      pos_rank_sum += rank[i];
      ++n_pos;
    }
  const long n_neg = long(score.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return 0.5;
  // Mann-Whitney U of the positives: their rank sum minus the smallest it could be.
  const double u = pos_rank_sum - 0.5 * double(n_pos) * double(n_pos + 1);
  return u / (double(n_pos) * double(n_neg));
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_same_size(x, y, "pearson");
  const size_t n = x.size();
  if (n < 2) return 0;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / double(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / double(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_same_size(x, y, "spearman");
  return pearson(average_ranks(x), average_ranks(y));
}

double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  check_same_size(x, y, "kendall_tau_b");
  const size_t n = x.size();
  double concordant = 0, discordant = 0, ties_x = 0, ties_y = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0) ++ties_x;
      if (dy == 0) ++ties_y;
      if (dx == 0 || dy == 0) continue;
      (dx > 0) == (dy > 0) ? ++concordant : ++discordant;
    }
  const double n0 = 0.5 * double(n) * double(n > 0 ? n - 1 : 0);
  const double denom = std::sqrt((n0 - ties_x) * (n0 - ties_y));
  return denom > 0 ? (concordant - discordant) / denom : 0;
}

std::vector<double> order_averaged(const PairJudgment& j) {
  check_same_size(j.p_ab, j.p_ba, "pair judgment");
  std::vector<double> p(j.p_ab.size());
  for (size_t k = 0; k < p.size(); ++k) p[k] = 0.5 * (j.p_ab[k] + j.p_ba[size_t(mirror(int(k)))]);
  return p;
}

PairwiseMetrics pairwise_metrics(const std::vector<PairJudgment>& pairs) {
  PairwiseMetrics m;
  m.n = long(pairs.size());
  double correct = 0, longer_preferred = 0;
  long correct_single = 0, consistent = 0, first_slot = 0, longer_correct = 0;
  for (const auto& j : pairs) {
    FLAME_CHECK(j.p_ab.size() == 2 || j.p_ab.size() == 3,
                "a pair judgment has labels A, B (, Tie), got " << j.p_ab.size());
    FLAME_CHECK(j.truth >= 0 && j.truth < int(j.p_ab.size()), "pair truth " << j.truth);
    const auto p = order_averaged(j);
    const double best = *std::max_element(p.begin(), p.end());
    int n_best = 0;
    for (double x : p) n_best += x >= best - 1e-9;
    if (p[size_t(j.truth)] >= best - 1e-9) correct += 1.0 / n_best;
    const int v_ab = argmax(j.p_ab), v_ba = argmax(j.p_ba);
    correct_single += v_ab == j.truth;
    consistent += mirror(v_ab) == v_ba;
    for (int v : {v_ab, v_ba})
      if (v < 2) {
        ++m.n_slot_verdicts;
        first_slot += v == 0;
      }
    if (j.len_a != j.len_b && j.truth < 2) {
      ++m.n_length_pairs;
      const int longer = j.len_a > j.len_b ? 0 : 1;
      longer_correct += j.truth == longer;
      const double d = p[size_t(longer)] - p[size_t(1 - longer)];
      longer_preferred += std::fabs(d) <= 1e-9 ? 0.5 : d > 0 ? 1.0 : 0.0;
    }
  }
  if (m.n > 0) {
    m.accuracy = correct / double(m.n);
    m.accuracy_single_order = double(correct_single) / double(m.n);
    m.order_consistency = double(consistent) / double(m.n);
  }
  if (m.n_slot_verdicts > 0) m.first_slot_win_rate = double(first_slot) / double(m.n_slot_verdicts);
  if (m.n_length_pairs > 0) {
    m.longer_preferred_rate = longer_preferred / double(m.n_length_pairs);
    m.longer_correct_rate = double(longer_correct) / double(m.n_length_pairs);
  }
  return m;
}

nlohmann::json PairwiseMetrics::to_json() const {
  return {{"n", n},
          {"accuracy", accuracy},
          {"accuracy_single_order", accuracy_single_order},
          {"order_consistency", order_consistency},
          {"first_slot_win_rate", first_slot_win_rate},
          {"n_slot_verdicts", n_slot_verdicts},
          {"longer_preferred_rate", longer_preferred_rate},
          {"longer_correct_rate", longer_correct_rate},
          {"n_length_pairs", n_length_pairs}};
}

}  // namespace flame::train
