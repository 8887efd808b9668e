// Embedding: forward is a gather (checked exactly against a naive loop), backward a scatter-add
// (finite differences on wte/wpe, accumulation into existing gradients).
#include "kernels/embedding.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_ints;
using test::random_vector;
using test::weighted_sum;

struct EmbeddingCase {
  int N, C, V, maxT;
  bool with_wpe;
};

std::ostream& operator<<(std::ostream& os, const EmbeddingCase& c) {
  return os << "N=" << c.N << " C=" << c.C << " V=" << c.V << " maxT=" << c.maxT
            << (c.with_wpe ? " wpe" : " no-wpe");
}

class EmbeddingTest : public ::testing::TestWithParam<EmbeddingCase> {};

TEST_P(EmbeddingTest, ForwardMatchesNaiveGather) {
  const auto [N, C, V, maxT, with_wpe] = GetParam();
  std::mt19937 rng(1);
  auto tokens = random_ints(N, rng, 0, V - 1);
  auto pos = random_ints(N, rng, 0, maxT - 1);
  auto wte = random_vector(size_t(V) * C, rng);
  auto wpe = random_vector(size_t(maxT) * C, rng);
  std::vector<float> out(size_t(N) * C, -7.0f);
  embedding_forward(out.data(), tokens.data(), pos.data(), wte.data(),
                    with_wpe ? wpe.data() : nullptr, N, C);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      float expected = wte[size_t(tokens[n]) * C + c];
      if (with_wpe) expected += wpe[size_t(pos[n]) * C + c];
      ASSERT_EQ(out[size_t(n) * C + c], expected) << "n=" << n << " c=" << c;
    }
}

TEST_P(EmbeddingTest, BackwardMatchesFiniteDifferences) {
  const auto [N, C, V, maxT, with_wpe] = GetParam();
  std::mt19937 rng(2);
  auto tokens = random_ints(N, rng, 0, V - 1);
  auto pos = random_ints(N, rng, 0, maxT - 1);
  auto wte = random_vector(size_t(V) * C, rng);
  auto wpe = random_vector(size_t(maxT) * C, rng);
  auto R = random_vector(size_t(N) * C, rng);  // dL/dout
  std::vector<float> out(size_t(N) * C);
  auto loss = [&] {
    embedding_forward(out.data(), tokens.data(), pos.data(), wte.data(),
                      with_wpe ? wpe.data() : nullptr, N, C);
    return weighted_sum(out, R);
  };
  std::vector<float> dwte(wte.size(), 0.0f), dwpe(wpe.size(), 0.0f);
  embedding_backward(dwte.data(), with_wpe ? dwpe.data() : nullptr, R.data(), tokens.data(),
                     pos.data(), N, C);
  test::check_gradient_sampled(wte, dwte, loss, "wte", 200);
  if (with_wpe) test::check_gradient_sampled(wpe, dwpe, loss, "wpe", 200);
  else EXPECT_FALSE(test::has_nonzero(dwpe, 0.0f)) << "dwpe must be untouched when skipped";
}

// V < N makes tokens repeat, so the scatter-add must sum duplicate rows.
INSTANTIATE_TEST_SUITE_P(Shapes, EmbeddingTest,
                         ::testing::Values(EmbeddingCase{1, 12, 5, 4, true},
                                           EmbeddingCase{3, 13, 2, 3, true},
                                           EmbeddingCase{7, 12, 3, 7, true},
                                           EmbeddingCase{7, 13, 4, 5, false},
                                           EmbeddingCase{300, 130, 17, 64, true}));

TEST(Embedding, BackwardAccumulatesIntoExistingGradients) {
  const int N = 6, C = 13, V = 4, maxT = 5;
  std::mt19937 rng(3);
  auto tokens = random_ints(N, rng, 0, V - 1);
  auto pos = random_ints(N, rng, 0, maxT - 1);
  auto dout = random_vector(size_t(N) * C, rng);
  std::vector<float> fresh_wte(size_t(V) * C, 0.0f), fresh_wpe(size_t(maxT) * C, 0.0f);
  embedding_backward(fresh_wte.data(), fresh_wpe.data(), dout.data(), tokens.data(), pos.data(),
                     N, C);
  auto dwte = random_vector(fresh_wte.size(), rng), dwpe = random_vector(fresh_wpe.size(), rng);
  const auto dwte0 = dwte, dwpe0 = dwpe;
  embedding_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), pos.data(), N, C);
  for (size_t i = 0; i < dwte.size(); ++i) EXPECT_FLOAT_EQ(dwte[i], dwte0[i] + fresh_wte[i]);
  for (size_t i = 0; i < dwpe.size(); ++i) EXPECT_FLOAT_EQ(dwpe[i], dwpe0[i] + fresh_wpe[i]);
}

TEST(Embedding, HandComputedScatter) {
  // tokens {1, 0, 1}, C = 2: row 1 of dwte receives dout rows 0 and 2.
  const std::vector<int32_t> tokens{1, 0, 1}, pos{0, 1, 2};
  const std::vector<float> dout{1, 2, 3, 4, 5, 6};
  std::vector<float> dwte(4, 0.0f);
  embedding_backward(dwte.data(), nullptr, dout.data(), tokens.data(), pos.data(), 3, 2);
  EXPECT_EQ(dwte, (std::vector<float>{3, 4, 6, 8}));
}

}  // namespace
}  // namespace flame::cpu
