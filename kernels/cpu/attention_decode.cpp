// Attention of new tokens against a KV cache (attention.h): per (token, query head), a two-pass
// softmax over the cached keys (max, then exp-sum and the weighted sum of values), in fp32 with
// double accumulation of the normaliser. Tokens and heads are independent: one OpenMP task each.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/check.h"

namespace flame::cpu {

void attention_decode(float* out, const float* q, const float* kcache, const float* vcache,
                      int start, int n, int Hq, int Hkv, int D) {
  FLAME_CHECK(start >= 0 && n >= 1 && Hq >= 1 && Hkv >= 1 && Hq % Hkv == 0 && D >= 1,
              "attention_decode: bad shape start=" << start << " n=" << n << " Hq=" << Hq
                                                   << " Hkv=" << Hkv << " D=" << D);
  const int group = Hq / Hkv, kv_width = Hkv * D, q_width = Hq * D;
  const float scale = 1.0f / std::sqrt(float(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int i = 0; i < n; ++i) {
    for (int h = 0; h < Hq; ++h) {
      const int len = start + i + 1;  // keys this token sees
      const float* qh = q + size_t(i) * q_width + size_t(h) * D;
      const int kvh = h / group;
      std::vector<float> score(static_cast<size_t>(len));
      float mx = -INFINITY;
      for (int j = 0; j < len; ++j) {
        const float* k = kcache + size_t(j) * kv_width + size_t(kvh) * D;
        float dotp = 0;
        for (int d = 0; d < D; ++d) dotp += qh[d] * k[d];
        score[size_t(j)] = dotp * scale;
        mx = std::max(mx, score[size_t(j)]);
      }
      double z = 0;
      for (float& sc : score) z += sc = std::exp(sc - mx);
      float* o = out + size_t(i) * q_width + size_t(h) * D;
      for (int d = 0; d < D; ++d) o[d] = 0;
      for (int j = 0; j < len; ++j) {
        const float w = float(score[size_t(j)] / z);
        const float* v = vcache + size_t(j) * kv_width + size_t(kvh) * D;
        for (int d = 0; d < D; ++d) o[d] += w * v[d];
      }
    }
  }
}

}  // namespace flame::cpu
