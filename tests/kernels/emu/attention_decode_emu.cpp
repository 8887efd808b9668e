// Runs the CUDA KV-cache decode kernels (kernels/cuda/attention_decode.cu: kv_cache_append and
// attention_decode, unchanged apart from the primitives of attention_common.cuh) on the CPU
// through tests/kernels/emu/flame_emu.h and compares them with cpu::attention_decode, with the
// tolerance of tests/kernels/test_cuda_attention_decode.cpp. Needs no GPU: a check of the
// kernels' indexing (rows, positions, GQA heads, q read in place from qkv), the warp reductions
// and the online softmax. Cache slots past each row's end hold NaN, so a read beyond a token's
// position shows; outputs are poisoned with NaN, so an unwritten element shows.
// Built by CMake as `attention_decode_emu` and run by ctest as AttentionDecodeEmu.MatchesCpu.
#define FLAME_ATTN_EMULATE 1
#ifndef FLAME_WITH_CUDA
#define FLAME_WITH_CUDA 1
#endif
#include "tests/kernels/emu/flame_emu.h"
// The kernels and launchers, compiled for the emulator.
#include "kernels/cuda/attention_decode.cu"

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

namespace {

using bf16 = __nv_bfloat16;

float round_bf16(float f) { return __bfloat162float(__float2bfloat16_rn(f)); }

std::vector<bf16> to_bf16(const std::vector<float>& x) {
  std::vector<bf16> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = __float2bfloat16_rn(x[i]);
  return out;
}

bool same_or_both_nan(float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }

struct Case {
  int Hq, Hkv, D;
  std::vector<int> cached;  // tokens already in each row's cache
  std::vector<int> fresh;   // new tokens of each row in this call (0: the row is not advanced)
  bool q_in_qkv;            // read q in place from the qkv rows (q_stride = QKV)
};

// Returns the number of elements out of tolerance (or appended wrongly).
long run_case(const Case& c, std::mt19937& rng) {
  const int rows = int(c.cached.size()), KV = c.Hkv * c.D, QW = c.Hq * c.D;
  const int QKV = QW + 2 * KV;
  int max_len = 1;
  std::vector<int32_t> row, pos;
  for (int r = 0; r < rows; ++r) {
    max_len = std::max(max_len, c.cached[size_t(r)] + c.fresh[size_t(r)] + 3);
    for (int j = 0; j < c.fresh[size_t(r)]; ++j) {
      row.push_back(r);
      pos.push_back(c.cached[size_t(r)] + j);
    }
  }
  const int n = int(row.size());
  const size_t cache_n = size_t(rows) * max_len * KV;
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> kc(cache_n), vc(cache_n), qkv(size_t(n) * QKV);
  for (auto& x : kc) x = round_bf16(u(rng));
  for (auto& x : vc) x = round_bf16(u(rng));
  for (auto& x : qkv) x = round_bf16(2.f * u(rng));
  for (int r = 0; r < rows; ++r)
    for (int p = c.cached[size_t(r)]; p < max_len; ++p)
      for (int e = 0; e < KV; ++e) {
        const size_t k = (size_t(r) * max_len + p) * KV + e;
        kc[k] = vc[k] = nan;
      }

  // Reference: the cache after the append, then cpu::attention_decode per new token.
  std::vector<float> k_want = kc, v_want = vc, q(size_t(n) * QW), want(size_t(n) * QW);
  for (int i = 0; i < n; ++i) {
    const float* src = &qkv[size_t(i) * QKV];
    std::copy_n(src, QW, &q[size_t(i) * QW]);
    const size_t dst = (size_t(row[size_t(i)]) * max_len + pos[size_t(i)]) * KV;
    std::copy_n(src + QW, KV, &k_want[dst]);
    std::copy_n(src + QW + KV, KV, &v_want[dst]);
  }
  for (int i = 0; i < n; ++i) {
    const size_t base = size_t(row[size_t(i)]) * max_len * KV;
    flame::cpu::attention_decode(&want[size_t(i) * QW], &q[size_t(i) * QW], &k_want[base],
                                 &v_want[base], pos[size_t(i)], 1, c.Hq, c.Hkv, c.D);
  }

  auto k_dev = to_bf16(kc), v_dev = to_bf16(vc), qkv_dev = to_bf16(qkv), q_dev = to_bf16(q);
  std::vector<bf16> out(size_t(n) * QW, __float2bfloat16_rn(nan));
  flame::cuda::DecodeShape s{n, c.Hq, c.Hkv, c.D, rows, max_len};
  flame::cuda::kv_cache_append(k_dev.data(), v_dev.data(), qkv_dev.data(), row.data(), pos.data(),
                               s, nullptr);
  long bad = 0;
  for (size_t i = 0; i < cache_n; ++i) {
    bad += !same_or_both_nan(__bfloat162float(k_dev[i]), k_want[i]);
    bad += !same_or_both_nan(__bfloat162float(v_dev[i]), v_want[i]);
  }
  if (c.q_in_qkv) s.q_stride = QKV;
  flame::cuda::attention_decode(out.data(), c.q_in_qkv ? qkv_dev.data() : q_dev.data(),
                                k_dev.data(), v_dev.data(), row.data(), pos.data(), s, nullptr);
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const float got = __bfloat162float(out[i]);
    const double err = std::fabs(double(got) - want[i]);
    if (std::isnan(got) || err > 1e-2 + 1e-2 * std::fabs(want[i])) ++bad;
    if (err > worst) worst = err;
  }
  std::printf("%s Hq=%d Hkv=%d D=%d rows=%d n=%d q_in_qkv=%d: max err %.1e, %ld bad\n",
              bad ? "FAIL" : "ok  ", c.Hq, c.Hkv, c.D, rows, n, int(c.q_in_qkv), worst, bad);
  return bad;
}

}  // namespace

int main() {
  // The shapes of test_cuda_attention_decode.cpp: GQA 4/2 and 4/1, D 32..256, odd n, rows of
  // different lengths (one of 1000 cached tokens), a row not advanced, q packed or in place.
  const Case cases[] = {
      {4, 2, 64, {0, 5, 17}, {5, 1, 1}, true},     {4, 2, 64, {3, 0, 9}, {1, 0, 2}, false},
      {4, 1, 128, {33, 0}, {1, 6}, true},          {4, 1, 128, {130, 257, 1}, {1, 1, 1}, false},
      {2, 2, 64, {1000}, {1}, true},               {2, 2, 32, {7, 2}, {2, 3}, false},
      {2, 1, 96, {11, 4}, {3, 0}, true},           {4, 4, 256, {300, 1}, {1, 2}, true},
  };
  std::mt19937 rng(5);
  long bad = 0;
  for (const Case& c : cases) bad += run_case(c, rng);
  std::printf("%s\n", bad ? "FAIL" : "all cases passed");
  return bad ? 1 : 0;
}
