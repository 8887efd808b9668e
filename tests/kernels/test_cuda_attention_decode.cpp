// CUDA decode attention and KV-cache append vs the fp32 CPU reference (cpu::attention_decode, one
// call per new token with start = its position, against its row's cache) on the same bf16
// inputs: the problems of attention_decode_cases.h (several rows of different cached lengths
// taking new tokens in one batch, GQA, D 32 to 256, cached lengths up to 1000).
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
#include "core/error.h"
#include "tests/kernels/attention_decode_cases.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 1e-2f, kRtol = 1e-2f;

void check_case(const DecodeCase& c, uint32_t seed) {
  SCOPED_TRACE(decode_case_name(c));
  const DecodeProblem p = make_decode_problem(c, seed);
  auto d_k = upload_bf16(p.kc);
  auto d_v = upload_bf16(p.vc);
  auto d_qkv = upload_bf16(p.qkv);
  auto d_q = upload_bf16(p.q);
  DeviceBuffer<int32_t> d_row(p.row), d_pos(p.pos);
  DeviceBuffer<bf16> d_out(size_t(p.n) * p.QW);
  d_out.poison();
  cuda::DecodeShape s{p.n, c.Hq, c.Hkv, c.D, p.rows, p.max_len};
  cuda::kv_cache_append(d_k.data(), d_v.data(), d_qkv.data(), d_row.data(), d_pos.data(), s, 0);
  const std::vector<float> k_got = download_f32(d_k), v_got = download_f32(d_v);
  // Bitwise, NaN included (past the new tokens the NaN must still be there).
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
    return true;
  };
  EXPECT_TRUE(same(k_got, p.kc_want)) << "key cache after append";
  EXPECT_TRUE(same(v_got, p.vc_want)) << "value cache after append";

  if (c.q_in_qkv) s.q_stride = p.QKV;
  cuda::attention_decode(d_out.data(), c.q_in_qkv ? d_qkv.data() : d_q.data(), d_k.data(),
                         d_v.data(), d_row.data(), d_pos.data(), s, 0);
  expect_close(download_f32(d_out), p.want, kAtol, kRtol, "attention_decode out");
}

TEST(CudaAttentionDecode, MatchesCpuReference) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 500;
  for (const DecodeCase& c : decode_cases()) check_case(c, seed += 10);
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
