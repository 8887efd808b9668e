// Packing whole examples into fixed-length rows (packer.h). Attention masking and the loss both
// rely on these arrays, so the layout rules are kept in one place and tested as invariants.
#include "data/packer.h"

#include <algorithm>

#include "core/error.h"

namespace flame::data {

long Batch::n_loss_tokens() const {
  long n = 0;
  for (float m : mask) n += m != 0.0f;
  return n;
}

double Batch::loss_weight() const {
  double w = 0;
  for (float m : mask) w += m;
  return w;
}

Batch make_batch(int B, int T) {
  FLAME_CHECK(B > 0 && T > 0, "batch shape B=" << B << " T=" << T);
  Batch b;
  b.B = B;
  b.T = T;
  const size_t n = size_t(B) * size_t(T);
  b.tokens.assign(n, 0);
  b.targets.assign(n, 0);
  b.mask.assign(n, 0.0f);
  b.seg.assign(n, 0);
  b.pos.assign(n, 0);
  return b;
}

long packed_length(const TokenizedExample& ex, int T) {
  return std::min<long>(long(ex.input.size() + ex.target.size()), T);
}

int pack_row(Batch& b, int row, const std::vector<TokenizedExample>& queue, size_t start,
             float input_loss_weight) {
  const int T = b.T;
  const size_t n = size_t(b.B) * size_t(T);
  FLAME_CHECK(input_loss_weight >= 0.0f && input_loss_weight <= 1.0f,
              "input_loss_weight " << input_loss_weight << " outside [0, 1]");
  FLAME_CHECK(row >= 0 && row < b.B, "row " << row << " outside batch of " << b.B);
  FLAME_CHECK(b.tokens.size() == n && b.targets.size() == n && b.mask.size() == n &&
                  b.seg.size() == n && b.pos.size() == n,
              "batch arrays are not (B,T) = (" << b.B << "," << T << "); use make_batch");
  const size_t off = size_t(row) * size_t(T);
  std::fill_n(b.tokens.begin() + off, T, 0);
  std::fill_n(b.targets.begin() + off, T, 0);
  std::fill_n(b.mask.begin() + off, T, 0.0f);
  std::fill_n(b.seg.begin() + off, T, 0);
  std::fill_n(b.pos.begin() + off, T, 0);

  int used = 0, taken = 0;
  std::vector<int32_t> seq;
  for (size_t i = start; i < queue.size(); ++i) {
    const TokenizedExample& ex = queue[i];
    FLAME_CHECK(!ex.input.empty() && !ex.target.empty(),
                "example " << i << " has an empty input or target");
    const long len = long(ex.input.size() + ex.target.size());
    if (taken > 0 && used + len > T) break;  // whole examples only; the rest waits for next row

    // Only the first example of a row can be longer than the row: cut it to exactly T.
    size_t n_tgt = ex.target.size(), n_in = ex.input.size();
    if (len > T) {
      n_tgt = std::min<size_t>(ex.target.size(), size_t(T - 1));
      n_in = size_t(T) - n_tgt;
    }
    seq.clear();
    seq.push_back(ex.input.front());
    seq.insert(seq.end(), ex.input.end() - long(n_in - 1), ex.input.end());
    seq.insert(seq.end(), ex.target.begin(), ex.target.begin() + long(n_tgt));

    const int L = int(seq.size());
    const int segment = taken + 1;
    for (int j = 0; j < L; ++j) {
      const size_t t = off + size_t(used + j);
      b.tokens[t] = seq[size_t(j)];
      const bool has_next = j + 1 < L;
      b.targets[t] = has_next ? seq[size_t(j + 1)] : 0;
      b.mask[t] = !has_next ? 0.0f : size_t(j + 1) >= n_in ? 1.0f : input_loss_weight;
      b.seg[t] = segment;
      b.pos[t] = j;
    }
    used += L;
    ++taken;
  }
  return taken;
}

}  // namespace flame::data
