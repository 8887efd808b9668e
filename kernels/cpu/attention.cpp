// Causal grouped-query attention with packed-segment masking, the straightforward way: for each
// (row, query head, query token) score the keys of its own segment up to itself, softmax with
// max-subtraction, and mix the values; lse is kept so backward recomputes P = exp(S - lse).
// Backward runs per (row, KV head): that task owns dK/dV of the head and dQ of its query heads.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace flame::cpu {
namespace {

// key_begin (B,T): the first key position query t may see, i.e. the smallest s with
// seg[b,s] == seg[b,t] (0 when seg is null). For the usual contiguous segments this is the start
// of t's run; a segment id that reappears later in the row is also handled (keys between the
// two runs are then skipped by the per-key segment test).
void compute_key_begin(int* key_begin, const int32_t* seg, int B, int T) {
  for (int b = 0; b < B; ++b) {
    int* begin = key_begin + long(b) * T;
    if (!seg) {
      for (int t = 0; t < T; ++t) begin[t] = 0;
      continue;
    }
    const int32_t* row = seg + long(b) * T;
    for (int t = 0; t < T; ++t) {
      if (t > 0 && row[t] == row[t - 1]) {
        begin[t] = begin[t - 1];
        continue;
      }
      int first = t;  // a new run: look for an earlier occurrence of the same id
      for (int s = 0; s < t; ++s) {
        if (row[s] == row[t]) {
          first = s;
          break;
        }
      }
      begin[t] = first;
    }
  }
}

inline float dot(const float* a, const float* b, int D) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int d = 0; d < D; ++d) sum += a[d] * b[d];
  return sum;
}

// y (D) += alpha * x (D)
inline void axpy(float* y, float alpha, const float* x, int D) {
#pragma omp simd
  for (int d = 0; d < D; ++d) y[d] += alpha * x[d];
}

// Below this many multiply-adds a parallel region costs more than it saves.
bool worth_threading(const AttentionShape& s) {
  const double macs = double(s.B) * s.Hq * s.T * (s.T + 1) / 2 * s.D;
  return macs >= 65536.0;
}

void check_shape(const AttentionShape& s) {
  FLAME_CHECK(s.B > 0 && s.T > 0 && s.D > 0, "B=" << s.B << " T=" << s.T << " D=" << s.D);
  FLAME_CHECK(s.Hkv > 0 && s.Hq > 0 && s.Hq % s.Hkv == 0, "Hq=" << s.Hq << " Hkv=" << s.Hkv);
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, const int32_t* seg,
                       const AttentionShape& s) {
  check_shape(s);
  const int B = s.B, T = s.T, Hq = s.Hq, Hkv = s.Hkv, D = s.D;
  const long width = long(Hq + 2 * Hkv) * D;  // qkv row stride per token
  const int group = Hq / Hkv;                 // query heads per KV head
  const float scale = 1.0f / std::sqrt(float(D));
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  std::vector<int> key_begin(size_t(B) * T);  // (B,T)
  compute_key_begin(key_begin.data(), seg, B, T);

#pragma omp parallel if (worth_threading(s))
  {
    std::vector<float> weights(T);  // scores, then unnormalised probabilities, of one query
    std::vector<float> acc(D);      // sum_s p_s * v_s for one query
    // Work per query grows with t, so hand out small chunks dynamically.
#pragma omp for collapse(3) schedule(dynamic, 16)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < Hq; ++h) {
        for (int t = 0; t < T; ++t) {
          const float* q = qkv + (long(b) * T + t) * width + long(h) * D;  // (D)
          // key of token j: k_row + j*width; value: v_row + j*width
          const float* k_row = qkv + long(b) * T * width + long(Hq + h / group) * D;
          const float* v_row = k_row + long(Hkv) * D;
          const int32_t* seg_row = seg ? seg + long(b) * T : nullptr;
          const int begin = key_begin[long(b) * T + t];

          float max_score = kNegInf;
          for (int j = begin; j <= t; ++j) {
            if (seg_row && seg_row[j] != seg_row[t]) {
              weights[j] = kNegInf;  // exp() -> 0 below
              continue;
            }
            const float score = dot(q, k_row + j * width, D) * scale;
            weights[j] = score;
            max_score = std::max(max_score, score);
          }
          float sum = 0.0f;
          for (int j = begin; j <= t; ++j) {
            const float p = std::exp(weights[j] - max_score);
            weights[j] = p;
            sum += p;
          }
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (int j = begin; j <= t; ++j) {
            if (weights[j] != 0.0f) axpy(acc.data(), weights[j], v_row + j * width, D);
          }
          const float inv_sum = 1.0f / sum;  // sum >= 1: the max term contributes exp(0)
          float* o = out + (long(b) * T + t) * Hq * D + long(h) * D;  // (D)
          for (int d = 0; d < D; ++d) o[d] = acc[d] * inv_sum;
          lse[(long(b) * Hq + h) * T + t] = max_score + std::log(sum);
        }
      }
    }
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                        const float* lse, const int32_t* seg, const AttentionShape& s) {
  check_shape(s);
  const int B = s.B, T = s.T, Hq = s.Hq, Hkv = s.Hkv, D = s.D;
  const long width = long(Hq + 2 * Hkv) * D;
  const long out_width = long(Hq) * D;
  const int group = Hq / Hkv;
  const float scale = 1.0f / std::sqrt(float(D));

  std::vector<int> key_begin(size_t(B) * T);  // (B,T)
  compute_key_begin(key_begin.data(), seg, B, T);

#pragma omp parallel if (worth_threading(s))
  {
    std::vector<float> dq(D);
    // One task per (row, KV head): it alone writes dK/dV of that head and dQ of the query heads
    // that read it, so no two threads touch the same gradient element.
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; ++b) {
      for (int kvh = 0; kvh < Hkv; ++kvh) {
        const long row0 = long(b) * T;
        const float* k_row = qkv + row0 * width + long(Hq + kvh) * D;  // token j at + j*width
        const float* v_row = k_row + long(Hkv) * D;
        float* dk_row = dqkv + row0 * width + long(Hq + kvh) * D;
        float* dv_row = dk_row + long(Hkv) * D;
        const int32_t* seg_row = seg ? seg + row0 : nullptr;
        for (int j = 0; j < T; ++j) {
          std::fill(dk_row + j * width, dk_row + j * width + D, 0.0f);
          std::fill(dv_row + j * width, dv_row + j * width + D, 0.0f);
        }
        for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
          for (int t = 0; t < T; ++t) {
            const float* q = qkv + (row0 + t) * width + long(h) * D;       // (D)
            const float* g = dout + (row0 + t) * out_width + long(h) * D;  // (D)
            const float* o = out + (row0 + t) * out_width + long(h) * D;   // (D)
            const float row_lse = lse[(long(b) * Hq + h) * T + t];
            // softmax backward: dS_j = P_j * (dP_j - sum_i P_i dP_i), and sum_i P_i dP_i = g.o
            const float g_dot_o = dot(g, o, D);
            std::fill(dq.begin(), dq.end(), 0.0f);
            for (int j = key_begin[row0 + t]; j <= t; ++j) {
              if (seg_row && seg_row[j] != seg_row[t]) continue;
              const float* k = k_row + j * width;
              const float* v = v_row + j * width;
              const float p = std::exp(dot(q, k, D) * scale - row_lse);
              const float dp = dot(g, v, D);
              const float ds = p * (dp - g_dot_o) * scale;  // d loss / d (q.k), scale folded in
              axpy(dv_row + j * width, p, g, D);
              axpy(dq.data(), ds, k, D);
              axpy(dk_row + j * width, ds, q, D);
            }
            float* dq_out = dqkv + (row0 + t) * width + long(h) * D;
            std::copy(dq.begin(), dq.end(), dq_out);
          }
        }
      }
    }
  }
}

}  // namespace flame::cpu
