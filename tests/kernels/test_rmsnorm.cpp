// RMSNorm: forward (and saved rstd) against a double-precision naive version; backward by finite
// differences for inp and w; += semantics of dinp and dw.
#include "kernels/rmsnorm.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::check_gradient;
using test::random_vector;
using test::weighted_sum;

constexpr float kEps = 1e-6f;

struct NormCase {
  int N, C;
};

std::ostream& operator<<(std::ostream& os, const NormCase& c) {
  return os << "N=" << c.N << " C=" << c.C;
}

class RmsNormTest : public ::testing::TestWithParam<NormCase> {};

TEST_P(RmsNormTest, ForwardMatchesNaive) {
  const auto [N, C] = GetParam();
  std::mt19937 rng(20);
  auto inp = random_vector(size_t(N) * C, rng, -3.0f, 3.0f);
  auto w = random_vector(C, rng);
  std::vector<float> out(inp.size()), rstd(N);
  rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, kEps);
  std::vector<double> out_ref(inp.size()), rstd_ref(N);
  for (int n = 0; n < N; ++n) {
    double ms = 0;
    for (int c = 0; c < C; ++c) ms += double(inp[n * C + c]) * inp[n * C + c];
    const double r = 1.0 / std::sqrt(ms / C + kEps);
    for (int c = 0; c < C; ++c) out_ref[n * C + c] = inp[n * C + c] * r * w[c];
    rstd_ref[n] = r;
  }
  test::expect_all_close(out, out_ref, 1e-5, 1e-6, "out");
  test::expect_all_close(rstd, rstd_ref, 1e-5, 1e-6, "rstd");
}

TEST_P(RmsNormTest, BackwardMatchesFiniteDifferences) {
  const auto [N, C] = GetParam();
  std::mt19937 rng(21);
  auto inp = random_vector(size_t(N) * C, rng, -2.0f, 2.0f);
  auto w = random_vector(C, rng, 0.5f, 1.5f);
  auto R = random_vector(inp.size(), rng);
  std::vector<float> out(inp.size()), rstd(N);
  auto loss = [&] {
    rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, kEps);
    return weighted_sum(out, R);
  };
  loss();
  std::vector<float> dinp(inp.size(), 0.0f), dw(C, 0.0f);
  rmsnorm_backward(dinp.data(), dw.data(), R.data(), inp.data(), w.data(), rstd.data(), N, C);
  ASSERT_TRUE(test::has_nonzero(dinp));
  test::check_gradient_sampled(inp, dinp, loss, "inp", 300);
  check_gradient(w, dw, loss, "w");
}

INSTANTIATE_TEST_SUITE_P(Shapes, RmsNormTest,
                         ::testing::Values(NormCase{1, 12}, NormCase{3, 13}, NormCase{7, 12},
                                           NormCase{7, 13}, NormCase{200, 96}));

TEST(RmsNorm, BackwardAccumulatesAllGradients) {
  const int N = 5, C = 13;
  std::mt19937 rng(22);
  auto inp = random_vector(size_t(N) * C, rng), w = random_vector(C, rng);
  auto dout = random_vector(inp.size(), rng);
  std::vector<float> out(inp.size()), rstd(N);
  rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, kEps);
  std::vector<float> fresh_dinp(inp.size(), 0.0f), fresh_dw(C, 0.0f);
  rmsnorm_backward(fresh_dinp.data(), fresh_dw.data(), dout.data(), inp.data(), w.data(),
                   rstd.data(), N, C);
  auto dinp = random_vector(inp.size(), rng), dw = random_vector(C, rng);
  const auto dinp0 = dinp, dw0 = dw;
  rmsnorm_backward(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), rstd.data(), N, C);
  for (size_t i = 0; i < dinp.size(); ++i) EXPECT_NEAR(dinp[i], dinp0[i] + fresh_dinp[i], 1e-6);
  for (int c = 0; c < C; ++c) EXPECT_NEAR(dw[c], dw0[c] + fresh_dw[c], 1e-6);
}

TEST(RmsNorm, HandComputedRow) {
  // x = {3, 4}: mean(x^2) = 12.5, rstd = 1/sqrt(12.5); w = {1, 2}
  const std::vector<float> x{3, 4}, w{1, 2};
  std::vector<float> out(2), rstd(1);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), 1, 2, 0.0f);
  const float r = 1.0f / std::sqrt(12.5f);
  EXPECT_FLOAT_EQ(rstd[0], r);
  EXPECT_FLOAT_EQ(out[0], 3 * r);
  EXPECT_FLOAT_EQ(out[1], 8 * r);
}

}  // namespace
}  // namespace flame::cpu
