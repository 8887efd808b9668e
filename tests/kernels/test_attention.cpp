// Attention: forward (out and lse) against a naive double-precision implementation with an
// explicit mask; backward by finite differences over the whole qkv buffer; and the masking
// properties: no attention across segments, none to the future, GQA head sharing.
#include "kernels/attention.h"

#include <limits>

#include "test_util.h"

namespace flame::cpu {
namespace {

using test::random_vector;
using test::weighted_sum;

struct AttnCase {
  int B, T, Hq, Hkv, D;
  std::vector<int32_t> seg_row;  // segment ids of one row, repeated for every row; empty = null
  const char* name;
};

std::ostream& operator<<(std::ostream& os, const AttnCase& c) {
  return os << c.name << ": B=" << c.B << " T=" << c.T << " Hq=" << c.Hq << " Hkv=" << c.Hkv
            << " D=" << c.D;
}

std::vector<int32_t> make_seg(const AttnCase& c) {
  std::vector<int32_t> seg;
  for (int b = 0; b < c.B; ++b) seg.insert(seg.end(), c.seg_row.begin(), c.seg_row.end());
  return seg;
}

size_t qkv_size(const AttentionShape& s) { return size_t(s.B) * s.T * (s.Hq + 2 * s.Hkv) * s.D; }
size_t out_size(const AttentionShape& s) { return size_t(s.B) * s.T * s.Hq * s.D; }

// Straight from the definition: scores over all s, mask (s <= t and equal segment), softmax.
void naive_attention(std::vector<double>& out, std::vector<double>& lse,
                     const std::vector<float>& qkv, const int32_t* seg, const AttentionShape& s) {
  const int W = (s.Hq + 2 * s.Hkv) * s.D, group = s.Hq / s.Hkv;
  out.assign(out_size(s), 0.0);
  lse.assign(size_t(s.B) * s.Hq * s.T, 0.0);
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.Hq; ++h)
      for (int t = 0; t < s.T; ++t) {
        const int kvh = h / group;
        std::vector<double> score(s.T, -std::numeric_limits<double>::infinity());
        double max_score = -std::numeric_limits<double>::infinity();
        for (int j = 0; j <= t; ++j) {
          if (seg && seg[b * s.T + j] != seg[b * s.T + t]) continue;
          double dot = 0;
          for (int d = 0; d < s.D; ++d)
            dot += double(qkv[(b * s.T + t) * W + h * s.D + d]) *
                   qkv[(b * s.T + j) * W + (s.Hq + kvh) * s.D + d];
          score[j] = dot / std::sqrt(double(s.D));
          max_score = std::max(max_score, score[j]);
        }
        double sum = 0;
        for (int j = 0; j <= t; ++j) sum += std::exp(score[j] - max_score);
        for (int j = 0; j <= t; ++j) {
          const double p = std::exp(score[j] - max_score) / sum;
          for (int d = 0; d < s.D; ++d)
            out[(b * s.T + t) * s.Hq * s.D + h * s.D + d] +=
                p * qkv[(b * s.T + j) * W + (s.Hq + s.Hkv + kvh) * s.D + d];
        }
        lse[(b * s.Hq + h) * s.T + t] = max_score + std::log(sum);
      }
}

class AttentionTest : public ::testing::TestWithParam<AttnCase> {};

TEST_P(AttentionTest, ForwardMatchesNaive) {
  const AttnCase& c = GetParam();
  const AttentionShape s{c.B, c.T, c.Hq, c.Hkv, c.D};
  std::mt19937 rng(40);
  auto qkv = random_vector(qkv_size(s), rng, -2.0f, 2.0f);  // sharp enough softmaxes
  const auto seg = make_seg(c);
  const int32_t* seg_ptr = seg.empty() ? nullptr : seg.data();
  std::vector<float> out(out_size(s), 99.0f), lse(size_t(s.B) * s.Hq * s.T, 99.0f);
  attention_forward(out.data(), lse.data(), qkv.data(), seg_ptr, s);
  std::vector<double> out_ref, lse_ref;
  naive_attention(out_ref, lse_ref, qkv, seg_ptr, s);
  test::expect_all_close(out, out_ref, 1e-4, 1e-5, "out");
  test::expect_all_close(lse, lse_ref, 1e-5, 1e-5, "lse");
}

TEST_P(AttentionTest, BackwardMatchesFiniteDifferences) {
  const AttnCase& c = GetParam();
  const AttentionShape s{c.B, c.T, c.Hq, c.Hkv, c.D};
  std::mt19937 rng(41);
  auto qkv = random_vector(qkv_size(s), rng, -1.5f, 1.5f);
  const auto seg = make_seg(c);
  const int32_t* seg_ptr = seg.empty() ? nullptr : seg.data();
  auto R = random_vector(out_size(s), rng);
  std::vector<float> out(out_size(s)), lse(size_t(s.B) * s.Hq * s.T);
  auto loss = [&] {
    attention_forward(out.data(), lse.data(), qkv.data(), seg_ptr, s);
    return weighted_sum(out, R);
  };
  loss();
  auto dqkv = random_vector(qkv.size(), rng, 50.0f, 60.0f);  // written: old values must vanish
  attention_backward(dqkv.data(), R.data(), qkv.data(), out.data(), lse.data(), seg_ptr, s);
  ASSERT_TRUE(test::has_nonzero(dqkv));
  test::check_gradient_sampled(qkv, dqkv, loss, "qkv", 1000);  // all of the small shapes
}

// Segments of lengths 3 and 4 inside a row of 7; GQA (Hq=4, Hkv=2), MQA (Hkv=1) and MHA.
INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    ::testing::Values(AttnCase{2, 7, 4, 2, 8, {}, "gqa_noseg"},
                      AttnCase{2, 7, 4, 2, 8, {0, 0, 0, 1, 1, 1, 1}, "gqa_seg3_4"},
                      AttnCase{1, 7, 2, 2, 8, {5, 5, 5, 9, 9, 9, 9}, "mha_seg3_4"},
                      AttnCase{2, 7, 3, 1, 6, {0, 1, 1, 2, 2, 2, 3}, "mqa_seg1_2_3_1"},
                      AttnCase{1, 1, 2, 1, 8, {}, "single_token"},
                      // an id that reappears: the header's rule is equality, not adjacency
                      AttnCase{1, 7, 2, 1, 8, {0, 0, 1, 1, 0, 0, 0}, "reappearing_id"},
                      AttnCase{2, 40, 4, 2, 16, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2},
                               "larger"}),
    [](const ::testing::TestParamInfo<AttnCase>& info) { return std::string(info.param.name); });

// Indices of token (b,t) in the qkv buffer: every element of its q, k and v heads.
void perturb_token(std::vector<float>& qkv, const AttentionShape& s, int b, int t) {
  const int W = (s.Hq + 2 * s.Hkv) * s.D;
  for (int i = 0; i < W; ++i) qkv[size_t(b * s.T + t) * W + i] += 0.75f;
}

TEST(Attention, NeverAttendsAcrossSegmentsOrToTheFuture) {
  const AttentionShape s{2, 7, 4, 2, 8};
  const std::vector<int32_t> seg{0, 0, 0, 1, 1, 1, 1, 7, 7, 7, 7, 8, 8, 8};  // 3+4 per row
  std::mt19937 rng(42);
  const auto qkv = random_vector(qkv_size(s), rng);
  std::vector<float> base_out(out_size(s)), base_lse(size_t(s.B) * s.Hq * s.T);
  attention_forward(base_out.data(), base_lse.data(), qkv.data(), seg.data(), s);
  const int W_out = s.Hq * s.D;
  // For each perturbed token (b, p): exactly the tokens of its segment at or after p change.
  for (int b = 0; b < s.B; ++b)
    for (int p = 0; p < s.T; ++p) {
      auto changed = qkv;
      perturb_token(changed, s, b, p);
      std::vector<float> out(out_size(s)), lse(base_lse.size());
      attention_forward(out.data(), lse.data(), changed.data(), seg.data(), s);
      for (int bb = 0; bb < s.B; ++bb)
        for (int t = 0; t < s.T; ++t) {
          const bool may_see = bb == b && t >= p && seg[bb * s.T + t] == seg[b * s.T + p];
          bool differs = false;
          for (int i = 0; i < W_out; ++i)
            differs |= out[size_t(bb * s.T + t) * W_out + i] !=
                       base_out[size_t(bb * s.T + t) * W_out + i];
          EXPECT_EQ(differs, may_see) << "perturbed (" << b << "," << p << "), output (" << bb
                                      << "," << t << ")";
        }
    }
}

TEST(Attention, SegmentStartBehavesLikeAFreshSequence) {
  // The second segment of a packed row must equal that example run alone in its own row.
  const int D = 8, Hq = 2, Hkv = 1, W = (Hq + 2 * Hkv) * D;
  std::mt19937 rng(43);
  const AttentionShape packed{1, 7, Hq, Hkv, D}, alone{1, 4, Hq, Hkv, D};
  const auto qkv = random_vector(qkv_size(packed), rng);
  const std::vector<int32_t> seg{0, 0, 0, 1, 1, 1, 1};
  std::vector<float> out(out_size(packed)), lse(size_t(Hq) * 7);
  attention_forward(out.data(), lse.data(), qkv.data(), seg.data(), packed);
  const std::vector<float> qkv_alone(qkv.begin() + 3 * W, qkv.end());
  std::vector<float> out_alone(out_size(alone)), lse_alone(size_t(Hq) * 4);
  attention_forward(out_alone.data(), lse_alone.data(), qkv_alone.data(), nullptr, alone);
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < Hq * D; ++i)
      EXPECT_FLOAT_EQ(out[size_t(3 + t) * Hq * D + i], out_alone[size_t(t) * Hq * D + i]);
  for (int h = 0; h < Hq; ++h)
    for (int t = 0; t < 4; ++t) EXPECT_FLOAT_EQ(lse[h * 7 + 3 + t], lse_alone[h * 4 + t]);
}

TEST(Attention, FirstTokenOfSegmentCopiesItsValue) {
  // A query that can only see itself returns its own value vector, and lse = q.k / sqrt(D).
  const AttentionShape s{1, 3, 1, 1, 4};
  // token layout [q | k | v], D = 4
  const std::vector<float> qkv{1, 0, 0, 0, 2, 0, 0, 0, 1, 2, 3, 4,    //
                               0, 1, 0, 0, 0, 1, 0, 0, 5, 6, 7, 8,    //
                               0, 0, 1, 0, 0, 0, 3, 0, -1, -2, -3, -4};
  const std::vector<int32_t> seg{0, 1, 2};
  std::vector<float> out(12), lse(3);
  attention_forward(out.data(), lse.data(), qkv.data(), seg.data(), s);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4}));
  EXPECT_FLOAT_EQ(lse[0], 1.0f);  // q.k = 2, / sqrt(4)
  EXPECT_FLOAT_EQ(lse[1], 0.5f);
  EXPECT_FLOAT_EQ(lse[2], 1.5f);
}

TEST(Attention, LargerShapeMatchesNaive) {
  // exercises the threaded paths (many (b,h,t) chunks, several (b,kv) backward tasks)
  const AttentionShape s{3, 64, 4, 2, 32};
  std::mt19937 rng(44);
  const auto qkv = random_vector(qkv_size(s), rng);
  std::vector<int32_t> seg(size_t(s.B) * s.T);
  for (int b = 0; b < s.B; ++b)
    for (int t = 0; t < s.T; ++t) seg[b * s.T + t] = t / (17 + b);  // runs of 17, 18, 19
  std::vector<float> out(out_size(s)), lse(size_t(s.B) * s.Hq * s.T);
  attention_forward(out.data(), lse.data(), qkv.data(), seg.data(), s);
  std::vector<double> out_ref, lse_ref;
  naive_attention(out_ref, lse_ref, qkv, seg.data(), s);
  test::expect_all_close(out, out_ref, 1e-4, 1e-5, "out");
  test::expect_all_close(lse, lse_ref, 1e-5, 1e-5, "lse");
}

}  // namespace
}  // namespace flame::cpu
