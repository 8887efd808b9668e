// CUDA decode attention and KV-cache append vs the fp32 CPU reference (cpu::attention_decode, one
// call per new token with start = its position, against its row's cache) on the same bf16
// inputs. Several rows with different cached lengths take new tokens in one batch (a row's later
// new tokens see its earlier ones), n odd and even, D 32 to 256 (64 and 128 among them), Hq == Hkv
// and grouped KV heads (4/2, 4/1), cached lengths up to 1000 (many steps of the online softmax).
// - append: the cache after kv_cache_append equals the host copy bit for bit (a plain copy);
// - attention: |got - want| <= 1e-2 + 1e-2 |want| per element (outputs are convex combinations
//   of values in [-1,1]: one bf16 rounding of the output, ~4e-3 at 1, plus fp32 softmax noise).
// Outputs are poisoned (NaN) first, and cache entries past each row's last new token hold NaN,
// so an element never written or a key read past its position fails.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/check.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 1e-2f, kRtol = 1e-2f;

struct Case {
  int Hq, Hkv, D;
  std::vector<int> cached;  // tokens already in each row's cache
  std::vector<int> fresh;   // new tokens per row in this call (0 = row not advanced)
  bool q_in_qkv;            // read q in place from qkv (q_stride = QKV) or from a packed copy
};

std::string case_name(const Case& c) {
  std::string s = "Hq=" + std::to_string(c.Hq) + " Hkv=" + std::to_string(c.Hkv) +
                  " D=" + std::to_string(c.D) + " rows(cached+new)=";
  for (size_t r = 0; r < c.cached.size(); ++r) {
    if (r) s += ',';
    s += std::to_string(c.cached[r]);
    s += '+';
    s += std::to_string(c.fresh[r]);
  }
  return s + (c.q_in_qkv ? " q in qkv" : " q packed");
}

void check_case(const Case& c, uint32_t seed) {
  SCOPED_TRACE(case_name(c));
  const int rows = int(c.cached.size()), KV = c.Hkv * c.D, QW = c.Hq * c.D;
  const int QKV = QW + 2 * KV;
  int max_len = 1;
  std::vector<int32_t> row, pos;  // (n)
  for (int r = 0; r < rows; ++r) {
    max_len = std::max(max_len, c.cached[size_t(r)] + c.fresh[size_t(r)] + 3);
    for (int j = 0; j < c.fresh[size_t(r)]; ++j) {
      row.push_back(r);
      pos.push_back(c.cached[size_t(r)] + j);
    }
  }
  const int n = int(row.size());
  const size_t cache_n = size_t(rows) * max_len * KV;
  // Cached entries random, everything past them NaN (the appends overwrite the new slots).
  std::vector<float> kc = random_bf16_values(cache_n, -1.0f, 1.0f, seed);
  std::vector<float> vc = random_bf16_values(cache_n, -1.0f, 1.0f, seed + 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int r = 0; r < rows; ++r)
    for (int p = c.cached[size_t(r)]; p < max_len; ++p)
      for (int e = 0; e < KV; ++e) {
        const size_t k = (size_t(r) * max_len + p) * KV + e;
        kc[k] = vc[k] = nan;
      }
  // q in [-2,2] against keys in [-1,1]: scores up to ~D/sqrt(D), a clearly peaked softmax.
  const std::vector<float> qkv = random_bf16_values(size_t(n) * QKV, -2.0f, 2.0f, seed + 2);

  // Host reference: append, then one cpu::attention_decode call per token on its row.
  std::vector<float> kc_want = kc, vc_want = vc, q(size_t(n) * QW), want(size_t(n) * QW);
  for (int i = 0; i < n; ++i) {
    const float* src = qkv.data() + size_t(i) * QKV;
    std::copy_n(src, QW, q.begin() + size_t(i) * QW);
    const size_t dst = (size_t(row[i]) * max_len + pos[i]) * KV;
    std::copy_n(src + QW, KV, kc_want.begin() + dst);
    std::copy_n(src + QW + KV, KV, vc_want.begin() + dst);
  }
  for (int i = 0; i < n; ++i) {
    const size_t base = size_t(row[i]) * max_len * KV;
    cpu::attention_decode(want.data() + size_t(i) * QW, q.data() + size_t(i) * QW,
                          kc_want.data() + base, vc_want.data() + base, pos[i], 1, c.Hq, c.Hkv,
                          c.D);
  }

  auto d_k = upload_bf16(kc);
  auto d_v = upload_bf16(vc);
  auto d_qkv = upload_bf16(qkv);
  auto d_q = upload_bf16(q);
  DeviceBuffer<int32_t> d_row(row), d_pos(pos);
  DeviceBuffer<bf16> d_out(size_t(n) * QW);
  d_out.poison();
  cuda::DecodeShape s{n, c.Hq, c.Hkv, c.D, rows, max_len};
  cuda::kv_cache_append(d_k.data(), d_v.data(), d_qkv.data(), d_row.data(), d_pos.data(), s, 0);
  const std::vector<float> k_got = download_f32(d_k), v_got = download_f32(d_v);
  // Bitwise, NaN included (past the new tokens the NaN must still be there).
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
    return true;
  };
  EXPECT_TRUE(same(k_got, kc_want)) << "key cache after append";
  EXPECT_TRUE(same(v_got, vc_want)) << "value cache after append";

  if (c.q_in_qkv) s.q_stride = QKV;
  cuda::attention_decode(d_out.data(), c.q_in_qkv ? d_qkv.data() : d_q.data(), d_k.data(),
                         d_v.data(), d_row.data(), d_pos.data(), s, 0);
  expect_close(download_f32(d_out), want, kAtol, kRtol, "attention_decode out");
}

TEST(CudaAttentionDecode, MatchesCpuReference) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const Case cases[] = {
      {4, 2, 64, {0, 5, 17}, {5, 1, 1}, true},       // prefill of a row beside single steps
      {4, 2, 64, {3, 0, 9}, {1, 0, 2}, false},       // a row not advanced
      {4, 1, 128, {33, 0}, {1, 6}, true},            // Hkv 1, odd n
      {4, 1, 128, {130, 257, 1}, {1, 1, 1}, false},  // odd lengths, one step each
      {2, 2, 64, {1000}, {1}, true},                 // a long row: many online-softmax steps
      {2, 2, 32, {7, 2}, {2, 3}, false},
      {2, 1, 96, {11, 4}, {3, 0}, true},
      {4, 4, 256, {300, 1}, {1, 2}, true},
  };
  uint32_t seed = 500;
  for (const Case& c : cases) check_case(c, seed += 10);
}

// The shape checks run on the host before any launch: no device needed.
TEST(CudaAttentionDecode, RejectsBadShapesBeforeLaunching) {
  for (const cuda::DecodeShape& s : {cuda::DecodeShape{1, 1, 1, 16, 1, 4},
                                     cuda::DecodeShape{1, 1, 1, 48, 1, 4},
                                     cuda::DecodeShape{1, 1, 1, 288, 1, 4},
                                     cuda::DecodeShape{1, 3, 2, 64, 1, 4}}) {
    EXPECT_THROW(cuda::attention_decode(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, s, 0),
                 Error)
        << "D=" << s.D << " Hq=" << s.Hq << " Hkv=" << s.Hkv;
    EXPECT_THROW(cuda::kv_cache_append(nullptr, nullptr, nullptr, nullptr, nullptr, s, 0), Error);
  }
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
