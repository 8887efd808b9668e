// GELU (tanh) and SwiGLU: forward against the formulas in double plus a few hand values;
// backward by finite differences; dinp is written, not accumulated.
#include "kernels/activations.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_vector;
using test::weighted_sum;

double gelu_ref(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double silu_ref(double x) { return x / (1.0 + std::exp(-x)); }

class GeluTest : public ::testing::TestWithParam<long> {};

TEST_P(GeluTest, ForwardMatchesFormula) {
  const long N = GetParam();
  std::mt19937 rng(50);
  auto inp = random_vector(N, rng, -6.0f, 6.0f);
  std::vector<float> out(N);
  gelu_forward(out.data(), inp.data(), N);
  std::vector<double> ref(N);
  for (long i = 0; i < N; ++i) ref[i] = gelu_ref(inp[i]);
  test::expect_all_close(out, ref, 1e-5, 1e-6, "gelu");
}

TEST_P(GeluTest, BackwardMatchesFiniteDifferences) {
  const long N = GetParam();
  std::mt19937 rng(51);
  auto inp = random_vector(N, rng, -4.0f, 4.0f), R = random_vector(N, rng);
  std::vector<float> out(N);
  auto loss = [&] {
    gelu_forward(out.data(), inp.data(), N);
    return weighted_sum(out, R);
  };
  auto dinp = random_vector(N, rng, 50.0f, 60.0f);  // written: old values must vanish
  gelu_backward(dinp.data(), inp.data(), R.data(), N);
  test::check_gradient_sampled(inp, dinp, loss, "gelu inp", 100);
}

INSTANTIATE_TEST_SUITE_P(Sizes, GeluTest, ::testing::Values(1L, 7L, 13L, 100000L));

TEST(Gelu, HandValues) {
  const std::vector<float> x{0.0f, 1.0f, -1.0f, 10.0f, -10.0f};
  std::vector<float> y(x.size());
  gelu_forward(y.data(), x.data(), long(x.size()));
  EXPECT_FLOAT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 0.8411920f, 1e-6);   // 0.5 (1 + tanh(0.7978846 * 1.044715))
  EXPECT_NEAR(y[2], -0.1588080f, 1e-6);  // gelu(-x) = gelu(x) - x
  EXPECT_FLOAT_EQ(y[3], 10.0f);
  EXPECT_NEAR(y[4], 0.0f, 1e-6);
  std::vector<float> g(x.size()), ones(x.size(), 1.0f);
  gelu_backward(g.data(), x.data(), ones.data(), long(x.size()));
  EXPECT_FLOAT_EQ(g[0], 0.5f);  // gelu'(0) = 1/2
}

struct SwigluCase {
  int N, F;
};

std::ostream& operator<<(std::ostream& os, const SwigluCase& c) {
  return os << "N=" << c.N << " F=" << c.F;
}
class SwigluTest : public ::testing::TestWithParam<SwigluCase> {};

TEST_P(SwigluTest, ForwardMatchesFormula) {
  const auto [N, F] = GetParam();
  std::mt19937 rng(52);
  auto inp = random_vector(size_t(N) * 2 * F, rng, -5.0f, 5.0f);
  std::vector<float> out(size_t(N) * F);
  swiglu_forward(out.data(), inp.data(), N, F);
  std::vector<double> ref(out.size());
  for (int n = 0; n < N; ++n)
    for (int f = 0; f < F; ++f)
      ref[size_t(n) * F + f] =
          silu_ref(inp[size_t(n) * 2 * F + f]) * inp[size_t(n) * 2 * F + F + f];
  test::expect_all_close(out, ref, 1e-5, 1e-6, "swiglu");
}

TEST_P(SwigluTest, BackwardMatchesFiniteDifferences) {
  const auto [N, F] = GetParam();
  std::mt19937 rng(53);
  auto inp = random_vector(size_t(N) * 2 * F, rng, -4.0f, 4.0f);
  auto R = random_vector(size_t(N) * F, rng);
  std::vector<float> out(size_t(N) * F);
  auto loss = [&] {
    swiglu_forward(out.data(), inp.data(), N, F);
    return weighted_sum(out, R);
  };
  auto dinp = random_vector(inp.size(), rng, 50.0f, 60.0f);
  swiglu_backward(dinp.data(), inp.data(), R.data(), N, F);
  test::check_gradient_sampled(inp, dinp, loss, "swiglu inp", 200);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SwigluTest,
                         ::testing::Values(SwigluCase{1, 12}, SwigluCase{3, 13},
                                           SwigluCase{7, 12}, SwigluCase{300, 257}));

TEST(Swiglu, HandValues) {
  // row [gate 0, 2 | up 5, 3]: silu(0) = 0, silu(2) = 2 / (1 + e^-2)
  const std::vector<float> inp{0, 2, 5, 3};
  std::vector<float> out(2);
  swiglu_forward(out.data(), inp.data(), 1, 2);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 3.0 * 2.0 / (1.0 + std::exp(-2.0)), 1e-6);
  std::vector<float> dinp(4), dout{1, 1};
  swiglu_backward(dinp.data(), inp.data(), dout.data(), 1, 2);
  EXPECT_FLOAT_EQ(dinp[0], 2.5f);  // d/dgate at 0: up * silu'(0) = 5 * 1/2
  EXPECT_FLOAT_EQ(dinp[2], 0.0f);  // d/dup = silu(gate) = 0
}

}  // namespace
}  // namespace flame::cpu
