// RoPE: forward against the rotate-half definition in double and a hand-computed rotation;
// position 0 is the identity; backward undoes forward; backward is the transpose (finite
// differences); heads beyond H and bytes beyond each head block (the v part of qkv) stay put.
#include "kernels/rope.h"

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_ints;
using test::random_vector;
using test::weighted_sum;

constexpr float kTheta = 10000.0f;

struct RopeCase {
  int N, H, D;
  int total_heads;  // heads per token in the buffer (>= H): stride = total_heads * D
};

std::ostream& operator<<(std::ostream& os, const RopeCase& c) {
  return os << "N=" << c.N << " H=" << c.H << " D=" << c.D << " heads/token=" << c.total_heads;
}

class RopeTest : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeTest, ForwardMatchesDefinition) {
  const auto [N, H, D, total_heads] = GetParam();
  const long stride = long(total_heads) * D;
  std::mt19937 rng(60);
  auto x = random_vector(size_t(N) * stride, rng);
  auto pos = random_ints(N, rng, 0, 300);
  const auto x0 = x;
  rope_forward(x.data(), pos.data(), N, H, D, stride, kTheta);
  std::vector<double> ref(x0.begin(), x0.end());
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < D / 2; ++i) {
        const double angle = pos[n] * std::pow(double(kTheta), -2.0 * i / D);
        const size_t lo = size_t(n) * stride + size_t(h) * D + i, hi = lo + D / 2;
        ref[lo] = x0[lo] * std::cos(angle) - x0[hi] * std::sin(angle);
        ref[hi] = x0[hi] * std::cos(angle) + x0[lo] * std::sin(angle);
      }
  // heads h >= H (the v heads of qkv) must come back bit-identical: the reference keeps x0
  test::expect_all_close(x, ref, 1e-5, 1e-6, "rope");
  for (int n = 0; n < N; ++n)
    for (size_t i = size_t(H) * D; i < size_t(stride); ++i)
      ASSERT_EQ(x[n * stride + i], x0[n * stride + i]) << "untouched head changed";
}

TEST_P(RopeTest, BackwardInvertsForward) {
  const auto [N, H, D, total_heads] = GetParam();
  const long stride = long(total_heads) * D;
  std::mt19937 rng(61);
  auto x = random_vector(size_t(N) * stride, rng);
  auto pos = random_ints(N, rng, 0, 4000);
  const auto x0 = x;
  rope_forward(x.data(), pos.data(), N, H, D, stride, kTheta);
  rope_backward(x.data(), pos.data(), N, H, D, stride, kTheta);
  test::expect_all_close(x, x0, 1e-5, 1e-6, "backward(forward(x))");
}

TEST_P(RopeTest, BackwardMatchesFiniteDifferences) {
  const auto [N, H, D, total_heads] = GetParam();
  const long stride = long(total_heads) * D;
  std::mt19937 rng(62);
  auto x = random_vector(size_t(N) * stride, rng);
  auto pos = random_ints(N, rng, 0, 50);
  auto R = random_vector(x.size(), rng);
  std::vector<float> work(x.size());
  auto loss = [&] {
    work = x;
    rope_forward(work.data(), pos.data(), N, H, D, stride, kTheta);
    return weighted_sum(work, R);
  };
  auto dx = R;  // gradient of L = sum(rope(x) * R) w.r.t. x
  rope_backward(dx.data(), pos.data(), N, H, D, stride, kTheta);
  test::check_gradient_sampled(x, dx, loss, "rope x", 300);
}

// (N, H, D, heads per token): plain buffers and the fused qkv layout (Hq=4, Hkv=2: H=6 of 8).
INSTANTIATE_TEST_SUITE_P(Shapes, RopeTest,
                         ::testing::Values(RopeCase{1, 1, 8, 1}, RopeCase{3, 2, 8, 2},
                                           RopeCase{7, 6, 8, 8}, RopeCase{7, 3, 12, 4},
                                           RopeCase{64, 6, 32, 8}));

TEST(Rope, PositionZeroIsIdentity) {
  const int N = 4, H = 3, D = 8;
  std::mt19937 rng(63);
  auto x = random_vector(size_t(N) * H * D, rng);
  const auto x0 = x;
  const std::vector<int32_t> pos(N, 0);
  rope_forward(x.data(), pos.data(), N, H, D, H * D, kTheta);
  EXPECT_EQ(x, x0);
  rope_backward(x.data(), pos.data(), N, H, D, H * D, kTheta);
  EXPECT_EQ(x, x0);
}

TEST(Rope, HandComputedRotation) {
  // D = 4, pos = 1: pair (0,2) turns by 1 rad, pair (1,3) by 10000^(-1/2) = 0.01 rad.
  std::vector<float> x{1, 1, 0, 0};
  const std::vector<int32_t> pos{1};
  rope_forward(x.data(), pos.data(), 1, 1, 4, 4, kTheta);
  EXPECT_NEAR(x[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(x[2], std::sin(1.0), 1e-6);
  EXPECT_NEAR(x[1], std::cos(0.01), 1e-6);
  EXPECT_NEAR(x[3], std::sin(0.01), 1e-6);
}

}  // namespace
}  // namespace flame::cpu
