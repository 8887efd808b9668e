// Token (+ learned position) embedding. Forward is a row gather, one token per iteration.
// Backward scatters dout back into the tables; tokens repeat, so instead of racing on rows it
// parallelizes over channel blocks: each thread owns a slice of C for every token.
#include "kernels/embedding.h"

#include <algorithm>

#include "core/error.h"

namespace flame::cpu {

void embedding_forward(float* out, const int32_t* tokens, const int32_t* pos, const float* wte,
                       const float* wpe, int N, int C) {
  for (int n = 0; n < N; ++n) FLAME_CHECK(tokens[n] >= 0, "token " << tokens[n] << " at " << n);
#pragma omp parallel for schedule(static) if (long(N) * C > 16384)
  for (int n = 0; n < N; ++n) {
    float* out_row = out + long(n) * C;                     // (C)
    const float* tok_row = wte + long(tokens[n]) * C;      // (C)
    if (wpe) {
      const float* pos_row = wpe + long(pos[n]) * C;        // (C)
      for (int c = 0; c < C; ++c) out_row[c] = tok_row[c] + pos_row[c];
    } else {
      std::copy(tok_row, tok_row + C, out_row);
    }
  }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                        const int32_t* pos, int N, int C) {
  // Channel blocks of 64 floats (one or more cache lines) keep threads off each other's lines.
  constexpr int kBlock = 64;
  const int n_blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (long(N) * C > 16384)
  for (int blk = 0; blk < n_blocks; ++blk) {
    const int c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
    for (int n = 0; n < N; ++n) {
      const float* g = dout + long(n) * C;
      float* tok_grad = dwte + long(tokens[n]) * C;
      for (int c = c0; c < c1; ++c) tok_grad[c] += g[c];
      if (dwpe) {
        float* pos_grad = dwpe + long(pos[n]) * C;
        for (int c = c0; c < c1; ++c) pos_grad[c] += g[c];
      }
    }
  }
}

}  // namespace flame::cpu
