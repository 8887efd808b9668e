// Residual add and accumulate: exact against naive loops (fp32 addition is exact to compare),
// including aliasing of out with an input and sizes on both sides of the threading threshold.
// Neither op has a separate backward: the residual's backward is `accumulate` itself.
#include "kernels/residual.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_vector;

class ResidualTest : public ::testing::TestWithParam<long> {};

TEST_P(ResidualTest, ForwardAddsExactly) {
  const long N = GetParam();
  std::mt19937 rng(70);
  auto a = random_vector(N, rng), b = random_vector(N, rng);
  std::vector<float> out(N, 5.0f);
  residual_forward(out.data(), a.data(), b.data(), N);
  for (long i = 0; i < N; ++i) ASSERT_EQ(out[i], a[i] + b[i]) << i;
}

TEST_P(ResidualTest, ForwardMayAliasEitherInput) {
  const long N = GetParam();
  std::mt19937 rng(71);
  const auto a = random_vector(N, rng), b = random_vector(N, rng);
  auto a_alias = a, b_alias = b;
  residual_forward(a_alias.data(), a_alias.data(), b.data(), N);
  residual_forward(b_alias.data(), a.data(), b_alias.data(), N);
  for (long i = 0; i < N; ++i) {
    ASSERT_EQ(a_alias[i], a[i] + b[i]) << i;
    ASSERT_EQ(b_alias[i], a[i] + b[i]) << i;
  }
}

TEST_P(ResidualTest, AccumulateAdds) {
  const long N = GetParam();
  std::mt19937 rng(72);
  auto acc = random_vector(N, rng);
  const auto acc0 = acc, x = random_vector(N, rng);
  accumulate(acc.data(), x.data(), N);
  for (long i = 0; i < N; ++i) ASSERT_EQ(acc[i], acc0[i] + x[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Sizes, ResidualTest, ::testing::Values(1L, 7L, 13L, 1000003L));

}  // namespace
}  // namespace flame::cpu
