// LayerNorm: forward (and saved mean/rstd) against a double-precision naive version; backward
// by finite differences for inp, w and b; += semantics of dinp, dw, db.
#include "kernels/layernorm.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::check_gradient;
using test::random_vector;
using test::weighted_sum;

constexpr float kEps = 1e-5f;

struct NormCase {
  int N, C;
  bool with_bias;
};

std::ostream& operator<<(std::ostream& os, const NormCase& c) {
  return os << "N=" << c.N << " C=" << c.C << (c.with_bias ? " bias" : " no-bias");
}

class LayerNormTest : public ::testing::TestWithParam<NormCase> {};

TEST_P(LayerNormTest, ForwardMatchesNaive) {
  const auto [N, C, with_bias] = GetParam();
  std::mt19937 rng(10);
  // an offset mean checks that the variance is not computed as E[x^2] - E[x]^2 in fp32
  auto inp = random_vector(size_t(N) * C, rng, 2.0f, 4.0f);
  auto w = random_vector(C, rng), b = random_vector(C, rng);
  std::vector<float> out(inp.size()), mean(N), rstd(N);
  layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(),
                    with_bias ? b.data() : nullptr, N, C, kEps);
  std::vector<double> out_ref(inp.size()), mean_ref(N), rstd_ref(N);
  for (int n = 0; n < N; ++n) {
    double mu = 0, var = 0;
    for (int c = 0; c < C; ++c) mu += inp[n * C + c];
    mu /= C;
    for (int c = 0; c < C; ++c) var += (inp[n * C + c] - mu) * (inp[n * C + c] - mu);
    var /= C;
    const double r = 1.0 / std::sqrt(var + kEps);
    for (int c = 0; c < C; ++c)
      out_ref[n * C + c] = (inp[n * C + c] - mu) * r * w[c] + (with_bias ? b[c] : 0.0);
    mean_ref[n] = mu;
    rstd_ref[n] = r;
  }
  test::expect_all_close(out, out_ref, 1e-5, 1e-5, "out");
  test::expect_all_close(mean, mean_ref, 1e-6, 1e-6, "mean");
  test::expect_all_close(rstd, rstd_ref, 1e-5, 1e-5, "rstd");
}

TEST_P(LayerNormTest, BackwardMatchesFiniteDifferences) {
  const auto [N, C, with_bias] = GetParam();
  std::mt19937 rng(11);
  auto inp = random_vector(size_t(N) * C, rng, -2.0f, 2.0f);
  auto w = random_vector(C, rng, 0.5f, 1.5f), b = random_vector(C, rng);
  auto R = random_vector(inp.size(), rng);
  std::vector<float> out(inp.size()), mean(N), rstd(N);
  auto loss = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(),
                      with_bias ? b.data() : nullptr, N, C, kEps);
    return weighted_sum(out, R);
  };
  loss();  // fills mean/rstd for backward
  std::vector<float> dinp(inp.size(), 0.0f), dw(C, 0.0f), db(C, 0.0f);
  layernorm_backward(dinp.data(), dw.data(), with_bias ? db.data() : nullptr, R.data(),
                     inp.data(), w.data(), mean.data(), rstd.data(), N, C);
  ASSERT_TRUE(test::has_nonzero(dinp));
  test::check_gradient_sampled(inp, dinp, loss, "inp", 300);
  check_gradient(w, dw, loss, "w");
  if (with_bias) check_gradient(b, db, loss, "b");
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormTest,
                         ::testing::Values(NormCase{1, 12, true}, NormCase{3, 13, true},
                                           NormCase{7, 12, false}, NormCase{7, 13, true},
                                           NormCase{200, 96, true}));

TEST(LayerNorm, BackwardAccumulatesAllGradients) {
  const int N = 5, C = 13;
  std::mt19937 rng(12);
  auto inp = random_vector(size_t(N) * C, rng), w = random_vector(C, rng);
  auto b = random_vector(C, rng), dout = random_vector(inp.size(), rng);
  std::vector<float> out(inp.size()), mean(N), rstd(N);
  layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C,
                    kEps);
  std::vector<float> fresh_dinp(inp.size(), 0.0f), fresh_dw(C, 0.0f), fresh_db(C, 0.0f);
  layernorm_backward(fresh_dinp.data(), fresh_dw.data(), fresh_db.data(), dout.data(), inp.data(),
                     w.data(), mean.data(), rstd.data(), N, C);
  auto dinp = random_vector(inp.size(), rng), dw = random_vector(C, rng),
       db = random_vector(C, rng);
  const auto dinp0 = dinp, dw0 = dw, db0 = db;
  layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(),
                     mean.data(), rstd.data(), N, C);
  for (size_t i = 0; i < dinp.size(); ++i) EXPECT_NEAR(dinp[i], dinp0[i] + fresh_dinp[i], 1e-6);
  for (int c = 0; c < C; ++c) {
    EXPECT_NEAR(dw[c], dw0[c] + fresh_dw[c], 1e-6);
    EXPECT_NEAR(db[c], db0[c] + fresh_db[c], 1e-6);
  }
}

TEST(LayerNorm, HandComputedRow) {
  // x = {1, 3}: mean 2, var 1, xhat = {-1, 1}; w = {2, 3}, b = {0.5, -0.5} -> {-1.5, 2.5}
  const std::vector<float> x{1, 3}, w{2, 3}, b{0.5f, -0.5f};
  std::vector<float> out(2), mean(1), rstd(1);
  layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), 1, 2,
                    0.0f);
  EXPECT_FLOAT_EQ(out[0], -1.5f);
  EXPECT_FLOAT_EQ(out[1], 2.5f);
  EXPECT_FLOAT_EQ(mean[0], 2.0f);
  EXPECT_FLOAT_EQ(rstd[0], 1.0f);
}

}  // namespace
}  // namespace flame::cpu
