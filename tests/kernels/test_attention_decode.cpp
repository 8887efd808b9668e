// attention_decode (n new tokens against a KV cache) equals the causal attention_forward over the
// whole sequence at the new tokens' rows, at odd shapes and with grouped KV heads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "core/error.h"

using namespace flame::cpu;

namespace {

void check(int T, int start, int Hq, int Hkv, int D, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int QKV = (Hq + 2 * Hkv) * D, KV = Hkv * D, QW = Hq * D;
  std::vector<float> qkv(size_t(T) * QKV);
  for (auto& x : qkv) x = u(rng);
  std::vector<float> out(size_t(T) * QW), lse(size_t(Hq) * T);
  attention_forward(out.data(), lse.data(), qkv.data(), nullptr, {1, T, Hq, Hkv, D});

  const int n = T - start;
  std::vector<float> q(size_t(n) * QW), k(size_t(T) * KV), v(size_t(T) * KV), got(size_t(n) * QW);
  for (int t = 0; t < T; ++t) {
    const float* row = qkv.data() + size_t(t) * QKV;
    std::copy(row + QW, row + QW + KV, k.begin() + long(t) * KV);
    std::copy(row + QW + KV, row + QKV, v.begin() + long(t) * KV);
    if (t >= start) std::copy(row, row + QW, q.begin() + long(t - start) * QW);
  }
  attention_decode(got.data(), q.data(), k.data(), v.data(), start, n, Hq, Hkv, D);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < QW; ++c)
      EXPECT_NEAR(got[size_t(i) * QW + c], out[size_t(start + i) * QW + c], 2e-6f)
          << "T=" << T << " start=" << start << " token " << i << " col " << c;
}

}  // namespace

TEST(AttentionDecode, MatchesTheFullCausalForward) {
  check(1, 0, 1, 1, 4, 1);      // a single token
  check(7, 0, 4, 2, 8, 2);      // the whole sequence at once (a prompt)
  check(13, 12, 4, 1, 5, 3);    // one new token, multi-query
  check(33, 20, 6, 3, 16, 4);   // a chunk, GQA 6/3, odd T
}

TEST(AttentionDecode, BadShapesAreErrors) {
  std::vector<float> buf(64);
  EXPECT_THROW(attention_decode(buf.data(), buf.data(), buf.data(), buf.data(), 0, 1, 3, 2, 4),
               flame::Error);
  EXPECT_THROW(attention_decode(buf.data(), buf.data(), buf.data(), buf.data(), -1, 1, 2, 2, 4),
               flame::Error);
}
