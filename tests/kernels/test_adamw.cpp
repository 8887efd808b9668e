// AdamW: two hand-computed steps (bias correction at steps 1 and 2, weight decay on and off),
// a multi-step comparison against a double-precision reference on random tensors, and the
// gradient-clipping helpers sum_squares / scale_inplace.
#include "kernels/adamw.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_vector;

TEST(AdamW, HandComputedTwoSteps) {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, wd 0.01; p0 = 1, g = 0.5 then -0.25.
  // step 1: m = 0.05, v = 0.00025; mhat = 0.05 / 0.1 = 0.5, vhat = 0.00025 / 0.001 = 0.25;
  //         p = 1 - 0.1 * (0.5 / (0.5 + 1e-8) + 0.01 * 1) = 0.899000002
  // step 2: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225;
  //         mhat = 0.02 / 0.19 = 0.1052632, vhat = 0.00031225 / 0.001999 = 0.1562031;
  //         p = 0.899 - 0.1 * (0.1052632 / 0.3952254 + 0.00899) = 0.8714673
  float p = 1.0f, m = 0.0f, v = 0.0f;
  AdamWParams hp{0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  float g = 0.5f;
  adamw_update(&p, &g, &m, &v, 1, hp);
  // fp32 betas: 1 - 0.9f and 1 - 0.999f are off by 2.4e-7 and 1.3e-5 relative (bias
  // correction uses the same fp32 betas, so p is unaffected); tolerances are relative 2e-5.
  EXPECT_NEAR(m, 0.05f, 0.05 * 2e-5);
  EXPECT_NEAR(v, 0.00025f, 0.00025 * 2e-5);
  EXPECT_NEAR(p, 0.899000002f, 1e-6);
  g = -0.25f;
  hp.step = 2;
  adamw_update(&p, &g, &m, &v, 1, hp);
  EXPECT_NEAR(m, 0.02f, 0.02 * 2e-5);
  EXPECT_NEAR(v, 0.00031225f, 0.00031225 * 2e-5);
  EXPECT_NEAR(p, 0.8714673f, 1e-6);
}

TEST(AdamW, HandComputedWithoutWeightDecay) {
  // wd = 0: step 1 moves every parameter by lr * sign(g) (mhat / sqrt(vhat) = +-1), whatever
  // the parameter's size.
  std::vector<float> p{1.0f, -3.0f, 100.0f}, g{0.5f, -2.0f, 1e-3f}, m(3, 0.0f), v(3, 0.0f);
  const AdamWParams hp{0.01f, 0.9f, 0.95f, 1e-12f, 0.0f, 1};
  adamw_update(p.data(), g.data(), m.data(), v.data(), 3, hp);
  EXPECT_NEAR(p[0], 0.99f, 1e-6);
  EXPECT_NEAR(p[1], -2.99f, 1e-6);
  EXPECT_NEAR(p[2], 99.99f, 1e-5);
  // zero gradient with zero moments: the parameter does not move at all
  float p0 = 2.0f, g0 = 0.0f, m0 = 0.0f, v0 = 0.0f;
  const AdamWParams hp_eps{0.01f, 0.9f, 0.95f, 1e-8f, 0.0f, 1};
  adamw_update(&p0, &g0, &m0, &v0, 1, hp_eps);
  EXPECT_EQ(p0, 2.0f);
}

TEST(AdamW, MatchesDoubleReferenceOverSteps) {
  for (const long n : {1L, 13L, 100003L}) {
    std::mt19937 rng(90 + int(n));
    auto p = random_vector(n, rng), m = std::vector<float>(n, 0.0f), v = m;
    std::vector<double> p_ref(p.begin(), p.end()), m_ref(n, 0.0), v_ref(n, 0.0);
    AdamWParams hp{3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};
    for (int step = 1; step <= 5; ++step) {
      hp.step = step;
      const auto g = random_vector(n, rng, -0.1f, 0.1f);
      adamw_update(p.data(), g.data(), m.data(), v.data(), n, hp);
      for (long i = 0; i < n; ++i) {
        m_ref[i] = 0.9 * m_ref[i] + 0.1 * g[i];
        v_ref[i] = 0.95 * v_ref[i] + 0.05 * double(g[i]) * g[i];
        const double mhat = m_ref[i] / (1 - std::pow(0.9, step));
        const double vhat = v_ref[i] / (1 - std::pow(0.95, step));
        p_ref[i] -= 3e-3 * (mhat / (std::sqrt(vhat) + 1e-8) + 0.1 * p_ref[i]);
      }
    }
    test::expect_all_close(p, p_ref, 1e-5, 1e-6, "params n=" + std::to_string(n));
    test::expect_all_close(m, m_ref, 1e-5, 1e-8, "m n=" + std::to_string(n));
    test::expect_all_close(v, v_ref, 1e-5, 1e-10, "v n=" + std::to_string(n));
  }
}

TEST(AdamW, SumSquaresAndScale) {
  const std::vector<float> hand{3.0f, -4.0f};
  EXPECT_EQ(sum_squares(hand.data(), 2), 25.0);
  for (const long n : {1L, 7L, 300001L}) {
    std::mt19937 rng(95);
    auto x = random_vector(n, rng);
    double ref = 0;
    for (float e : x) ref += double(e) * e;
    EXPECT_NEAR(sum_squares(x.data(), n), ref, 1e-9 * ref) << n;
    const auto x0 = x;
    scale_inplace(x.data(), n, 0.25f);
    for (long i = 0; i < n; ++i) ASSERT_EQ(x[i], x0[i] * 0.25f) << i;
  }
}

}  // namespace
}  // namespace flame::cpu
