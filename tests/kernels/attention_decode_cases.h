// The KV-cache decode test problems shared by the GPU conformance test (op_cases.h) and
// the CPU emulation of the same kernels (emu/attention_decode_emu.cpp): several cache rows with
// different cached lengths taking new tokens in one batch (a row's later new tokens see its
// earlier ones), bf16-representable random inputs, and the fp32 reference: the cache after the
// append, then cpu::attention_decode per new token on its row. Cache slots past each row's end
// hold NaN, so a key read past a token's position shows.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "kernels/attention.h"

namespace flame::test {

struct DecodeCase {
  int Hq, Hkv, D;
  std::vector<int> cached;  // tokens already in each row's cache
  std::vector<int> fresh;   // new tokens per row in this call (0 = row not advanced)
  bool q_in_qkv;            // read q in place from qkv (q_stride = QKV) or from a packed copy
};

// n odd and even, D 32 to 256 (64 and 128 among them), Hq == Hkv and grouped KV heads (4/2,
// 4/1), cached lengths up to 1000 (many steps of the online softmax).
inline const std::vector<DecodeCase>& decode_cases() {
  static const std::vector<DecodeCase> cases = {
      {4, 2, 64, {0, 5, 17}, {5, 1, 1}, true},       // prefill of a row beside single steps
      {4, 2, 64, {3, 0, 9}, {1, 0, 2}, false},       // a row not advanced
      {4, 1, 128, {33, 0}, {1, 6}, true},            // Hkv 1, odd n
      {4, 1, 128, {130, 257, 1}, {1, 1, 1}, false},  // odd lengths, one step each
      {2, 2, 64, {1000}, {1}, true},                 // a long row: many online-softmax steps
      {2, 2, 32, {7, 2}, {2, 3}, false},
      {2, 1, 96, {11, 4}, {3, 0}, true},
      {4, 4, 256, {300, 1}, {1, 2}, true},
  };
  return cases;
}

inline std::string decode_case_name(const DecodeCase& c) {
  std::string s = "Hq=" + std::to_string(c.Hq) + " Hkv=" + std::to_string(c.Hkv) +
                  " D=" + std::to_string(c.D) + " rows(cached+new)=";
  for (size_t r = 0; r < c.cached.size(); ++r) {
    if (r) s += ',';
    s += std::to_string(c.cached[r]) + '+' + std::to_string(c.fresh[r]);
  }
  return s + (c.q_in_qkv ? " q in qkv" : " q packed");
}

struct DecodeProblem {
  int rows = 0, max_len = 1, n = 0, QW = 0, QKV = 0;
  std::vector<int32_t> row, pos;        // (n) cache row and position of each new token
  std::vector<float> kc, vc;            // (rows, max_len, Hkv*D) before the append
  std::vector<float> qkv;               // (n, QKV) the new tokens' rotated q | k | v
  std::vector<float> q;                 // (n, QW) the q heads, packed
  std::vector<float> kc_want, vc_want;  // the caches after the append
  std::vector<float> want;              // (n, QW) reference attention output
};

inline DecodeProblem make_decode_problem(const DecodeCase& c, uint32_t seed) {
  DecodeProblem p;
  const int KV = c.Hkv * c.D;
  p.rows = int(c.cached.size());
  p.QW = c.Hq * c.D;
  p.QKV = p.QW + 2 * KV;
  for (int r = 0; r < p.rows; ++r) {
    p.max_len = std::max(p.max_len, c.cached[size_t(r)] + c.fresh[size_t(r)] + 3);
    for (int j = 0; j < c.fresh[size_t(r)]; ++j) {
      p.row.push_back(r);
      p.pos.push_back(c.cached[size_t(r)] + j);
    }
  }
  p.n = int(p.row.size());
  const size_t cache_n = size_t(p.rows) * p.max_len * KV;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& v, size_t count, float scale) {
    v.resize(count);
    for (float& x : v) x = round_to_bf16(scale * unit(rng));
  };
  fill(p.kc, cache_n, 1.0f);
  fill(p.vc, cache_n, 1.0f);
  // q in [-2,2] against keys in [-1,1]: scores up to ~D/sqrt(D), a clearly peaked softmax.
  fill(p.qkv, size_t(p.n) * p.QKV, 2.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int r = 0; r < p.rows; ++r)
    for (int s = c.cached[size_t(r)]; s < p.max_len; ++s) {
      const size_t slot = (size_t(r) * p.max_len + s) * KV;
      std::fill_n(p.kc.begin() + slot, KV, nan);
      std::fill_n(p.vc.begin() + slot, KV, nan);
    }

  p.kc_want = p.kc;
  p.vc_want = p.vc;
  p.q.resize(size_t(p.n) * p.QW);
  p.want.resize(size_t(p.n) * p.QW);
  for (int i = 0; i < p.n; ++i) {
    const float* src = p.qkv.data() + size_t(i) * p.QKV;
    std::copy_n(src, p.QW, p.q.begin() + size_t(i) * p.QW);
    const size_t dst = (size_t(p.row[size_t(i)]) * p.max_len + p.pos[size_t(i)]) * KV;
    std::copy_n(src + p.QW, KV, p.kc_want.begin() + dst);
    std::copy_n(src + p.QW + KV, KV, p.vc_want.begin() + dst);
  }
  for (int i = 0; i < p.n; ++i) {
    const size_t base = size_t(p.row[size_t(i)]) * p.max_len * KV;
    cpu::attention_decode(p.want.data() + size_t(i) * p.QW, p.q.data() + size_t(i) * p.QW,
                          p.kc_want.data() + base, p.vc_want.data() + base, p.pos[size_t(i)], 1,
                          c.Hq, c.Hkv, c.D);
  }
  return p;
}

}  // namespace flame::test
