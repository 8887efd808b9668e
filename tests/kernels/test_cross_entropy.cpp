// Masked softmax cross-entropy: per-token losses and the masked mean against a double-precision
// naive version; dlogits by finite differences of the mean loss; masked tokens contribute no loss
// and no gradient; the external normaliser and dloss scale the gradient; in-place backward;
// stability for huge logits.
#include "kernels/cross_entropy.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_ints;
using test::random_vector;

struct CeCase {
  int N, V;
  bool with_mask;
};

std::ostream& operator<<(std::ostream& os, const CeCase& c) {
  return os << "N=" << c.N << " V=" << c.V << (c.with_mask ? " masked" : " no-mask");
}

// masked rows: every third row, starting at row 1 (so N = 1 keeps its only token)
std::vector<float> make_mask(int N) {
  std::vector<float> mask(N);
  for (int n = 0; n < N; ++n) mask[n] = (n % 3 == 1) ? 0.0f : 1.0f;
  return mask;
}

class CrossEntropyTest : public ::testing::TestWithParam<CeCase> {};

TEST_P(CrossEntropyTest, ForwardMatchesNaive) {
  const auto [N, V, with_mask] = GetParam();
  std::mt19937 rng(80);
  auto logits = random_vector(size_t(N) * V, rng, -4.0f, 4.0f);
  auto targets = random_ints(N, rng, 0, V - 1);
  const auto mask = make_mask(N);
  const float* mask_ptr = with_mask ? mask.data() : nullptr;
  std::vector<float> losses(N, 77.0f);
  const float mean = cross_entropy_forward(losses.data(), logits.data(), targets.data(), mask_ptr,
                                           N, V);
  std::vector<double> ref(N, 0.0);
  double sum = 0, count = 0;
  for (int n = 0; n < N; ++n) {
    if (with_mask && mask[n] == 0.0f) continue;
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(double(logits[size_t(n) * V + v]));
    ref[n] = std::log(z) - logits[size_t(n) * V + targets[n]];
    sum += ref[n];
    count += 1;
  }
  test::expect_all_close(losses, ref, 1e-5, 1e-6, "losses");
  EXPECT_NEAR(mean, sum / count, 1e-5 * std::abs(sum / count));
}

TEST_P(CrossEntropyTest, BackwardMatchesFiniteDifferences) {
  const auto [N, V, with_mask] = GetParam();
  std::mt19937 rng(81);
  auto logits = random_vector(size_t(N) * V, rng, -3.0f, 3.0f);
  auto targets = random_ints(N, rng, 0, V - 1);
  const auto mask = make_mask(N);
  const float* mask_ptr = with_mask ? mask.data() : nullptr;
  double count = 0;
  for (int n = 0; n < N; ++n) count += with_mask ? mask[n] : 1.0f;
  const float dloss = 1.7f;  // upstream gradient of the mean loss
  std::vector<float> losses(N);
  // L = dloss * (masked mean loss), the mean recomputed in double from the per-token losses
  auto loss = [&] {
    cross_entropy_forward(losses.data(), logits.data(), targets.data(), mask_ptr, N, V);
    double s = 0;
    for (int n = 0; n < N; ++n) s += double(losses[n]) * (with_mask ? mask[n] : 1.0f);
    return dloss * s / count;
  };
  auto dlogits = random_vector(logits.size(), rng, 50.0f, 60.0f);  // written
  cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), mask_ptr, N, V, dloss,
                         float(count));
  ASSERT_TRUE(test::has_nonzero(dlogits));
  test::check_gradient_sampled(logits, dlogits, loss, "logits", 200);
  if (with_mask) {
    for (int n = 0; n < N; ++n) {
      if (mask[n] != 0.0f) continue;
      for (int v = 0; v < V; ++v) ASSERT_EQ(dlogits[size_t(n) * V + v], 0.0f) << "masked row";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CrossEntropyTest,
                         ::testing::Values(CeCase{1, 12, false}, CeCase{3, 13, true},
                                           CeCase{7, 12, true}, CeCase{7, 13, false},
                                           CeCase{64, 300, true}));

TEST(CrossEntropy, MaskedTokensContributeNothing) {
  const int N = 6, V = 9;
  std::mt19937 rng(82);
  auto logits = random_vector(size_t(N) * V, rng, -3.0f, 3.0f);
  auto targets = random_ints(N, rng, 0, V - 1);
  const std::vector<float> mask{1, 0, 1, 0, 0, 1};
  std::vector<float> losses(N);
  const float mean =
      cross_entropy_forward(losses.data(), logits.data(), targets.data(), mask.data(), N, V);
  // scrambling masked rows (logits and even out-of-range targets) changes nothing
  auto logits2 = logits;
  auto targets2 = targets;
  for (int n : {1, 3, 4}) {
    for (int v = 0; v < V; ++v) logits2[size_t(n) * V + v] = 100.0f * (v + 1);
    targets2[n] = -1;
  }
  std::vector<float> losses2(N);
  const float mean2 =
      cross_entropy_forward(losses2.data(), logits2.data(), targets2.data(), mask.data(), N, V);
  EXPECT_EQ(mean, mean2);
  EXPECT_EQ(losses, losses2);
  for (int n : {1, 3, 4}) EXPECT_EQ(losses[n], 0.0f);
  EXPECT_NEAR(mean, (double(losses[0]) + losses[2] + losses[5]) / 3.0, 1e-6);

  std::vector<float> d1(logits.size()), d2(logits.size());
  cross_entropy_backward(d1.data(), logits.data(), targets.data(), mask.data(), N, V, 1.0f, 3.0f);
  cross_entropy_backward(d2.data(), logits2.data(), targets2.data(), mask.data(), N, V, 1.0f,
                         3.0f);
  EXPECT_EQ(d1, d2);
  for (int n : {1, 3, 4})
    for (int v = 0; v < V; ++v) EXPECT_EQ(d1[size_t(n) * V + v], 0.0f);
}

TEST(CrossEntropy, NoUnmaskedTokenGivesZeroLoss) {
  const std::vector<float> logits{1, 2, 3, 4}, mask{0, 0};
  const std::vector<int32_t> targets{0, 1};
  std::vector<float> losses(2);
  EXPECT_EQ(cross_entropy_forward(losses.data(), logits.data(), targets.data(), mask.data(), 2, 2),
            0.0f);
}

TEST(CrossEntropy, NormaliserAndDlossScaleGradient) {
  // the normaliser is external (shared across micro-batches): halving it doubles the gradient
  const int N = 3, V = 5;
  std::mt19937 rng(83);
  auto logits = random_vector(size_t(N) * V, rng);
  auto targets = random_ints(N, rng, 0, V - 1);
  std::vector<float> g1(logits.size()), g2(logits.size());
  cross_entropy_backward(g1.data(), logits.data(), targets.data(), nullptr, N, V, 1.0f, 6.0f);
  cross_entropy_backward(g2.data(), logits.data(), targets.data(), nullptr, N, V, 2.0f, 3.0f);
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g2[i], 4.0f * g1[i], 1e-6);
  // each row of (softmax - onehot) sums to zero
  for (int n = 0; n < N; ++n) {
    double row_sum = 0;
    for (int v = 0; v < V; ++v) row_sum += g1[size_t(n) * V + v];
    EXPECT_NEAR(row_sum, 0.0, 1e-6);
  }
}

TEST(CrossEntropy, BackwardInPlaceMatchesOutOfPlace) {
  const int N = 7, V = 13;
  std::mt19937 rng(84);
  auto logits = random_vector(size_t(N) * V, rng, -3.0f, 3.0f);
  auto targets = random_ints(N, rng, 0, V - 1);
  const auto mask = make_mask(N);
  std::vector<float> separate(logits.size());
  cross_entropy_backward(separate.data(), logits.data(), targets.data(), mask.data(), N, V, 1.0f,
                         5.0f);
  cross_entropy_backward(logits.data(), logits.data(), targets.data(), mask.data(), N, V, 1.0f,
                         5.0f);
  EXPECT_EQ(logits, separate);
}

TEST(CrossEntropy, StableForHugeLogits) {
  // logits {1000, 0}: naive exp overflows; the loss of target 0 is log(1 + e^-1000) ~ 0,
  // of target 1 it is 1000.
  const std::vector<float> logits{1000.0f, 0.0f, 1000.0f, 0.0f};
  const std::vector<int32_t> targets{0, 1};
  std::vector<float> losses(2), grad(4);
  cross_entropy_forward(losses.data(), logits.data(), targets.data(), nullptr, 2, 2);
  EXPECT_FLOAT_EQ(losses[0], 0.0f);
  EXPECT_FLOAT_EQ(losses[1], 1000.0f);
  cross_entropy_backward(grad.data(), logits.data(), targets.data(), nullptr, 2, 2, 1.0f, 1.0f);
  EXPECT_EQ(grad, (std::vector<float>{0.0f, 0.0f, 1.0f, -1.0f}));
}

TEST(CrossEntropy, HandComputed) {
  // uniform logits over V = 4: loss = log 4; gradient = (1/4 - onehot) / norm
  const std::vector<float> logits(4, 0.5f);
  const std::vector<int32_t> targets{2};
  std::vector<float> losses(1), grad(4);
  EXPECT_NEAR(cross_entropy_forward(losses.data(), logits.data(), targets.data(), nullptr, 1, 4),
              std::log(4.0), 1e-6);
  cross_entropy_backward(grad.data(), logits.data(), targets.data(), nullptr, 1, 4, 1.0f, 2.0f);
  const std::vector<float> expected{0.125f, 0.125f, -0.375f, 0.125f};
  for (int v = 0; v < 4; ++v) EXPECT_NEAR(grad[v], expected[v], 1e-7);
}

}  // namespace
}  // namespace flame::cpu
