// Attention of new tokens against a KV cache (attention.h): per (token, query head), a two-pass
// softmax over the cached keys (max, then exp-sum and the weighted sum of values), in fp32 with
// double accumulation of the normaliser. Tokens and heads are independent: one OpenMP task each.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "core/error.h"

namespace flame::cpu {

namespace {

// One query head of one token against the first `len` cached keys/values of its KV head:
// o (D) = softmax(q . k_j * scale) . v_j. kc, vc point at the sequence's entry 0 (stride kv_width).
void decode_head(float* o, const float* qh, const float* kc, const float* vc, int len, int kvh,
                 int kv_width, int D, float scale) {
  std::vector<float> score(static_cast<size_t>(len));
  float mx = -INFINITY;
  for (int j = 0; j < len; ++j) {
    const float* k = kc + size_t(j) * kv_width + size_t(kvh) * D;
    float dotp = 0;
    for (int d = 0; d < D; ++d) dotp += qh[d] * k[d];
    score[size_t(j)] = dotp * scale;
    mx = std::max(mx, score[size_t(j)]);
  }
  double z = 0;
  for (float& sc : score) z += sc = std::exp(sc - mx);
  for (int d = 0; d < D; ++d) o[d] = 0;
  for (int j = 0; j < len; ++j) {
    const float w = float(score[size_t(j)] / z);
    const float* v = vc + size_t(j) * kv_width + size_t(kvh) * D;
    for (int d = 0; d < D; ++d) o[d] += w * v[d];
  }
}

}  // namespace

void attention_decode(float* out, const float* q, const float* kcache, const float* vcache,
                      int start, int n, int Hq, int Hkv, int D) {
  FLAME_CHECK(start >= 0 && n >= 1 && Hq >= 1 && Hkv >= 1 && Hq % Hkv == 0 && D >= 1,
              "attention_decode: bad shape start=" << start << " n=" << n << " Hq=" << Hq
                                                   << " Hkv=" << Hkv << " D=" << D);
  const int group = Hq / Hkv, kv_width = Hkv * D, q_width = Hq * D;
  const float scale = 1.0f / std::sqrt(float(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int i = 0; i < n; ++i)
    for (int h = 0; h < Hq; ++h)
      decode_head(out + size_t(i) * q_width + size_t(h) * D, q + size_t(i) * q_width + size_t(h) * D,
                  kcache, vcache, start + i + 1, h / group, kv_width, D, scale);
}

void attention_decode(float* out, const float* q, const float* kcache, const float* vcache,
                      const int32_t* row, const int32_t* pos, const DecodeShape& s) {
  FLAME_CHECK(s.n >= 1 && s.Hq >= 1 && s.Hkv >= 1 && s.Hq % s.Hkv == 0 && s.D >= 1 &&
                  s.rows >= 1 && s.max_len >= 1,
              "attention_decode: bad shape n=" << s.n << " Hq=" << s.Hq << " Hkv=" << s.Hkv
                                               << " D=" << s.D);
  const int group = s.Hq / s.Hkv, kv_width = s.Hkv * s.D, q_width = s.Hq * s.D;
  const long q_stride = s.q_stride ? s.q_stride : q_width;
  const float scale = 1.0f / std::sqrt(float(s.D));
  for (int i = 0; i < s.n; ++i)
    FLAME_CHECK(row[i] >= 0 && row[i] < s.rows && pos[i] >= 0 && pos[i] < s.max_len,
                "attention_decode: token " << i << " at row " << row[i] << ", position " << pos[i]
                                           << " outside the cache (" << s.rows << " x "
                                           << s.max_len << ")");
#pragma omp parallel for collapse(2) schedule(static)
  for (int i = 0; i < s.n; ++i)
    for (int h = 0; h < s.Hq; ++h) {
      const size_t base = size_t(row[i]) * s.max_len * kv_width;
      decode_head(out + size_t(i) * q_width + size_t(h) * s.D, q + size_t(i) * q_stride + size_t(h) * s.D,
                  kcache + base, vcache + base, pos[i] + 1, h / group, kv_width, s.D, scale);
    }
}

void kv_cache_append(float* kcache, float* vcache, const float* qkv, const int32_t* row,
                     const int32_t* pos, const DecodeShape& s) {
  const int kv_width = s.Hkv * s.D, q_width = s.Hq * s.D;
  const size_t stride = size_t(q_width) + 2 * size_t(kv_width);
  for (int i = 0; i < s.n; ++i) {
    FLAME_CHECK(row[i] >= 0 && row[i] < s.rows && pos[i] >= 0 && pos[i] < s.max_len,
                "kv_cache_append: token " << i << " at row " << row[i] << ", position " << pos[i]
                                          << " outside the cache (" << s.rows << " x "
                                          << s.max_len << ")");
    const size_t at = (size_t(row[i]) * s.max_len + size_t(pos[i])) * kv_width;
    const float* src = qkv + size_t(i) * stride + q_width;
    std::copy(src, src + kv_width, kcache + at);
    std::copy(src + kv_width, src + 2 * kv_width, vcache + at);
  }
}

}  // namespace flame::cpu
