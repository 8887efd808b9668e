// Linear layer: forward against a naive triple loop in double; backward by finite differences
// (inp, weight, bias); dinp written (garbage before is overwritten), dweight/dbias accumulated.
#include "kernels/matmul.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_vector;
using test::weighted_sum;

struct MatmulCase {
  int N, C, OC;
  bool with_bias;
};

std::ostream& operator<<(std::ostream& os, const MatmulCase& c) {
  return os << "N=" << c.N << " C=" << c.C << " OC=" << c.OC << (c.with_bias ? " bias" : " no-bias");
}

class MatmulTest : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(MatmulTest, ForwardMatchesNaive) {
  const auto [N, C, OC, with_bias] = GetParam();
  std::mt19937 rng(30);
  auto inp = random_vector(size_t(N) * C, rng), weight = random_vector(size_t(OC) * C, rng);
  auto bias = random_vector(OC, rng);
  std::vector<float> out(size_t(N) * OC, 123.0f);  // must be overwritten, not added to
  matmul_forward(out.data(), inp.data(), weight.data(), with_bias ? bias.data() : nullptr, N, C,
                 OC);
  std::vector<double> ref(out.size());
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double acc = with_bias ? bias[o] : 0.0;
      for (int c = 0; c < C; ++c) acc += double(inp[size_t(n) * C + c]) * weight[size_t(o) * C + c];
      ref[size_t(n) * OC + o] = acc;
    }
  test::expect_all_close(out, ref, 1e-5, 1e-5, "out");
}

TEST_P(MatmulTest, BackwardMatchesFiniteDifferences) {
  const auto [N, C, OC, with_bias] = GetParam();
  std::mt19937 rng(31);
  auto inp = random_vector(size_t(N) * C, rng), weight = random_vector(size_t(OC) * C, rng);
  auto bias = random_vector(OC, rng), R = random_vector(size_t(N) * OC, rng);
  std::vector<float> out(size_t(N) * OC);
  auto loss = [&] {
    matmul_forward(out.data(), inp.data(), weight.data(), with_bias ? bias.data() : nullptr, N,
                   C, OC);
    return weighted_sum(out, R);
  };
  auto dinp = random_vector(inp.size(), rng, 50.0f, 60.0f);  // written: old values must vanish
  std::vector<float> dweight(weight.size(), 0.0f), dbias(OC, 0.0f);
  matmul_backward(dinp.data(), dweight.data(), with_bias ? dbias.data() : nullptr, R.data(),
                  inp.data(), weight.data(), N, C, OC);
  // every element for the small shapes; 200 samples per buffer for the large one
  test::check_gradient_sampled(inp, dinp, loss, "inp", 200);
  test::check_gradient_sampled(weight, dweight, loss, "weight", 200);
  if (with_bias) test::check_gradient_sampled(bias, dbias, loss, "bias", 200);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulTest,
                         ::testing::Values(MatmulCase{1, 12, 13, true}, MatmulCase{3, 13, 7, true},
                                           MatmulCase{7, 8, 12, false},
                                           MatmulCase{7, 13, 1, true},
                                           MatmulCase{300, 16, 257, true}));

TEST(Matmul, BackwardAccumulatesParamGradsAndWritesDinp) {
  const int N = 5, C = 7, OC = 9;
  std::mt19937 rng(32);
  auto inp = random_vector(size_t(N) * C, rng), weight = random_vector(size_t(OC) * C, rng);
  auto dout = random_vector(size_t(N) * OC, rng);
  std::vector<float> fresh_dinp(inp.size()), fresh_dw(weight.size(), 0.0f), fresh_db(OC, 0.0f);
  matmul_backward(fresh_dinp.data(), fresh_dw.data(), fresh_db.data(), dout.data(), inp.data(),
                  weight.data(), N, C, OC);
  auto dinp = random_vector(inp.size(), rng), dw = random_vector(weight.size(), rng),
       db = random_vector(OC, rng);
  const auto dw0 = dw, db0 = db;
  matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), N, C,
                  OC);
  for (size_t i = 0; i < dinp.size(); ++i) EXPECT_FLOAT_EQ(dinp[i], fresh_dinp[i]);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], dw0[i] + fresh_dw[i], 1e-5);
  for (int o = 0; o < OC; ++o) EXPECT_NEAR(db[o], db0[o] + fresh_db[o], 1e-5);
  // dinp == nullptr skips the input gradient but still accumulates the parameter gradients
  matmul_backward(nullptr, dw.data(), nullptr, dout.data(), inp.data(), weight.data(), N, C, OC);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], dw0[i] + 2 * fresh_dw[i], 1e-5);
}

TEST(Matmul, HandComputed) {
  // inp (1,2) = {1, 2}; weight (2,2) = {{1, 0}, {3, 4}}; bias {10, 20} -> {11, 31}
  const std::vector<float> inp{1, 2}, weight{1, 0, 3, 4}, bias{10, 20};
  std::vector<float> out(2);
  matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), 1, 2, 2);
  EXPECT_FLOAT_EQ(out[0], 11.0f);
  EXPECT_FLOAT_EQ(out[1], 31.0f);
}

}  // namespace
}  // namespace flame::cpu
