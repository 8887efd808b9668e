// Packs whole tokenized examples into fixed-length rows for training: segment ids keep attention
// inside an example, positions restart per example, and the loss mask covers target tokens only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace flame::data {

struct TokenizedExample {
  std::vector<int32_t> input;   // BOS + rendered input tokens
  std::vector<int32_t> target;  // rendered target tokens + EOS
  int task = 0;                 // index of the task in the mixture
};

// One micro-batch, all arrays (B,T) row-major.
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> tokens;   // input token at each position (padding: 0)
  std::vector<int32_t> targets;  // next token to predict (padding: 0)
  std::vector<float> mask;       // 1 where targets[t] is a target token of the same example
  std::vector<int32_t> seg;      // segment id per position (1,2,.. per example; 0 = padding)
  std::vector<int32_t> pos;      // position within the example (0-based)
  long n_loss_tokens() const;    // positions whose mask is non-zero
  double loss_weight() const;    // sum of mask (the loss normaliser)
};

// A zeroed (B,T) batch, ready for pack_row.
Batch make_batch(int B, int T);

// Tokens an example occupies in a row of length T (its length, or T when it must be truncated).
long packed_length(const TokenizedExample& ex, int T);

// Fills one row of length T from the front of `queue`, taking whole examples while they fit
// (an example longer than T is truncated from the left of its input, never in the target).
// Truncation keeps the input's first token (BOS) and its tail, the part nearest the target.
// Only a target of T tokens or more is itself cut: it keeps its first T-1 tokens after the BOS.
// Each example's tokens are input ++ target; targets[t] = tokens[t+1] inside the example (its last
// position gets target 0, mask 0); mask[t] = 1 exactly when targets[t] is a target token, so the
// first target token (predicted from the input's last token) and the EOS are both in the loss.
// Returns how many examples it consumed (>= 1 when the queue is non-empty).
// input_loss_weight: mask value for positions predicting an input token (0: loss on targets
// only, as FLAMe; a small value adds an auxiliary language-model loss on the prompt, which helps
// a randomly initialised model find the features it must compare).
int pack_row(Batch& batch, int row, const std::vector<TokenizedExample>& queue, size_t start,
             float input_loss_weight = 0.0f);

}  // namespace flame::data
