#include <gtest/gtest.h>

#include "data/packer.h"
#include "core/error.h"

using namespace flame::data;

namespace {

constexpr int32_t BOS = 256, EOS = 257;

// An example whose tokens are distinct and encode (example id, position), so a test can tell
// exactly where each token came from: input BOS, id*1000+1..; target id*1000+500.., EOS.
TokenizedExample make_ex(int id, int n_input, int n_target) {
  TokenizedExample ex;
  ex.input.push_back(BOS);
  for (int i = 1; i < n_input; ++i) ex.input.push_back(id * 1000 + i);
  for (int i = 0; i + 1 < n_target; ++i) ex.target.push_back(id * 1000 + 500 + i);
  ex.target.push_back(EOS);
  ex.task = id;
  return ex;
}

size_t at(const Batch& b, int row, int t) { return size_t(row) * size_t(b.T) + size_t(t); }

// Invariants every packed row satisfies, whatever it holds.
void check_row_invariants(const Batch& b, int row) {
  for (int t = 0; t < b.T; ++t) {
    const size_t i = at(b, row, t);
    if (b.seg[i] == 0) {  // padding: inert
      EXPECT_EQ(b.tokens[i], 0);
      EXPECT_EQ(b.targets[i], 0);
      EXPECT_EQ(b.mask[i], 0.0f);
      continue;
    }
    const bool same_next = t + 1 < b.T && b.seg[i + 1] == b.seg[i];
    if (same_next) {
      EXPECT_EQ(b.targets[i], b.tokens[i + 1]) << "t=" << t;  // next token of the same example
      EXPECT_EQ(b.pos[i + 1], b.pos[i] + 1);
    } else {
      EXPECT_EQ(b.targets[i], 0) << "last token of an example predicts nothing";
      EXPECT_EQ(b.mask[i], 0.0f);
    }
    if (t == 0 || b.seg[i - 1] != b.seg[i]) {
      EXPECT_EQ(b.pos[i], 0) << "positions restart per example";
      EXPECT_EQ(b.tokens[i], BOS) << "each example starts with its BOS";
      if (t > 0) {
        EXPECT_EQ(b.seg[i], b.seg[i - 1] + 1) << "segments count up";
      } else {
        EXPECT_EQ(b.seg[i], 1);
      }
    }
    if (t > 0 && b.seg[i - 1] == 0) {
      EXPECT_EQ(b.seg[i], 0) << "padding only at the end";
    }
  }
}

}  // namespace

TEST(Packer, LayoutOfOneExample) {
  Batch b = make_batch(1, 16);
  const std::vector<TokenizedExample> q = {make_ex(1, 4, 3)};
  ASSERT_EQ(pack_row(b, 0, q, 0), 1);
  // tokens: BOS 1001 1002 1003 | 1500 1501 EOS | pad...
  const std::vector<int32_t> tokens = {BOS, 1001, 1002, 1003, 1500, 1501, EOS, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<int32_t> targets = {1001, 1002, 1003, 1500, 1501, EOS, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<float> mask = {0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(b.tokens, tokens);
  EXPECT_EQ(b.targets, targets);
  EXPECT_EQ(b.mask, mask);
  EXPECT_EQ(b.seg, (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(b.pos, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(b.n_loss_tokens(), 3);  // the target's two tokens and its EOS
  check_row_invariants(b, 0);
}

TEST(Packer, PacksWholeExamplesGreedily) {
  Batch b = make_batch(2, 64);
  std::vector<TokenizedExample> q = {make_ex(1, 20, 5), make_ex(2, 15, 5), make_ex(3, 10, 9),
                                     make_ex(4, 30, 5), make_ex(5, 3, 2)};
  // 25 + 20 = 45 fit; + 19 = 64 fits exactly; the fourth (35) does not.
  ASSERT_EQ(pack_row(b, 0, q, 0), 3);
  // Row 1 starts at the fourth; 35 + 5 = 40.
  ASSERT_EQ(pack_row(b, 1, q, 3), 2);
  for (int r = 0; r < 2; ++r) check_row_invariants(b, r);
  EXPECT_EQ(b.seg[at(b, 0, 63)], 3);
  EXPECT_EQ(b.seg[at(b, 1, 39)], 2);
  EXPECT_EQ(b.seg[at(b, 1, 40)], 0);
  // The loss covers exactly the target tokens: one masked position per target token.
  long expect = 0;
  for (const auto& ex : q) expect += long(ex.target.size());
  EXPECT_EQ(b.n_loss_tokens(), expect);
  // Every masked position predicts a target token (ids 500.. or EOS), never an input token.
  for (size_t i = 0; i < b.mask.size(); ++i)
    if (b.mask[i] != 0) {
      EXPECT_TRUE(b.targets[i] == EOS || b.targets[i] % 1000 >= 500) << i;
    }
  // The first target token is predicted from the last input token.
  EXPECT_EQ(b.tokens[at(b, 0, 19)], 1019);
  EXPECT_EQ(b.targets[at(b, 0, 19)], 1500);
  EXPECT_EQ(b.mask[at(b, 0, 19)], 1.0f);
  EXPECT_EQ(b.mask[at(b, 0, 18)], 0.0f);
}

TEST(Packer, RepackingARowClearsIt) {
  Batch b = make_batch(1, 32);
  ASSERT_EQ(pack_row(b, 0, {make_ex(1, 20, 10)}, 0), 1);
  ASSERT_EQ(pack_row(b, 0, {make_ex(2, 3, 2)}, 0), 1);
  check_row_invariants(b, 0);
  EXPECT_EQ(b.seg[at(b, 0, 5)], 0);
  EXPECT_EQ(b.n_loss_tokens(), 2);
}

TEST(Packer, TruncatesLongInputFromTheLeftKeepingBos) {
  Batch b = make_batch(1, 32);
  ASSERT_EQ(pack_row(b, 0, {make_ex(1, 50, 6), make_ex(2, 3, 2)}, 0), 1);
  check_row_invariants(b, 0);
  EXPECT_EQ(b.tokens[0], BOS);
  EXPECT_EQ(b.tokens[1], 1000 + 50 - 25);  // 32 - 6 target - 1 BOS = 25 input tokens kept
  EXPECT_EQ(b.tokens[25], 1049);           // the input's tail, right before the target
  EXPECT_EQ(b.tokens[26], 1500);           // the whole target
  EXPECT_EQ(b.tokens[31], EOS);
  EXPECT_EQ(b.n_loss_tokens(), 6);
  for (int t = 0; t < 32; ++t) EXPECT_EQ(b.seg[size_t(t)], 1);
}

TEST(Packer, TruncatesTargetTailOnlyWhenTargetAloneOverflows) {
  Batch b = make_batch(1, 16);
  ASSERT_EQ(pack_row(b, 0, {make_ex(1, 5, 40)}, 0), 1);
  check_row_invariants(b, 0);
  EXPECT_EQ(b.tokens[0], BOS);
  EXPECT_EQ(b.tokens[1], 1500);   // the target's head
  EXPECT_EQ(b.tokens[15], 1514);  // cut at the tail, EOS lost
  EXPECT_EQ(b.n_loss_tokens(), 15);
}

TEST(Packer, EmptyQueueAndBadArguments) {
  Batch b = make_batch(2, 8);
  EXPECT_EQ(pack_row(b, 0, {}, 0), 0);
  EXPECT_EQ(b.n_loss_tokens(), 0);
  EXPECT_THROW(pack_row(b, 2, {make_ex(1, 2, 2)}, 0), flame::Error);
  Batch unsized;
  unsized.B = 1;
  unsized.T = 8;
  EXPECT_THROW(pack_row(unsized, 0, {make_ex(1, 2, 2)}, 0), flame::Error);
  TokenizedExample no_target;
  no_target.input = {BOS};
  EXPECT_THROW(pack_row(b, 0, {no_target}, 0), flame::Error);
  EXPECT_THROW(make_batch(0, 8), flame::Error);
}

TEST(Packer, InputLossWeightMarksPromptPositions) {
  Batch b = make_batch(1, 16);
  TokenizedExample ex;
  ex.input = {256, 10, 11, 12};  // BOS + 3 prompt tokens
  ex.target = {20, 21, 257};     // 2 target tokens + EOS
  ASSERT_EQ(pack_row(b, 0, {ex}, 0, 0.25f), 1);
  // positions 0..2 predict prompt tokens 10,11,12 -> 0.25; 3..5 predict 20,21,EOS -> 1; 6 has no
  // next token in the example -> 0.
  const std::vector<float> expect = {0.25f, 0.25f, 0.25f, 1, 1, 1, 0};
  for (size_t t = 0; t < expect.size(); ++t) EXPECT_FLOAT_EQ(b.mask[t], expect[t]) << t;
  EXPECT_EQ(b.n_loss_tokens(), 6);
  EXPECT_DOUBLE_EQ(b.loss_weight(), 3.75);
  EXPECT_THROW(pack_row(b, 0, {ex}, 0, 1.5f), flame::Error);
}
