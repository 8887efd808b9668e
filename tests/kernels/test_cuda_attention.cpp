// CUDA fused attention (forward, backward) vs the fp32 CPU reference on the same bf16-rounded
// inputs, over head dims 64 and 128, T in {1, 7, 64, 130, 256} (partial tiles, several tiles),
// B 1-2, Hq == Hkv and grouped KV heads (4/2, 8/1), seg null / packed rows of odd-length segments /
// segment ids that reappear later in the row.
// Tolerances (bf16 outputs, fp32 accumulation, P and dS rounded to bf16 before their products):
//   out, dq, dk, dv: |got - want| <= 2e-2 + 2e-2 * max|want| (max over that tensor / part);
//   lse (fp32): |got - want| <= 1e-3.
// Outputs are poisoned (all bits set: NaN) first, so an element never written fails.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "core/error.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

using flame::cpu::AttentionShape;

constexpr float kAtol = 2e-2f, kRtolOfMax = 2e-2f, kLseAtol = 1e-3f;

enum class Seg { kNone, kPacked, kReused };

std::string case_name(const AttentionShape& s, Seg seg) {
  return "B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) + " Hq=" + std::to_string(s.Hq) +
         " Hkv=" + std::to_string(s.Hkv) + " D=" + std::to_string(s.D) + " seg=" +
         (seg == Seg::kNone ? "null" : seg == Seg::kPacked ? "packed" : "reused");
}

// (B,T) segment ids: consecutive runs of odd lengths (different per row); kReused also lets
// some ids come back later in the row (the reference treats equal ids as one example).
std::vector<int32_t> make_segments(int B, int T, Seg mode) {
  static const int kLens[] = {5, 1, 13, 37, 3, 71, 9, 129, 17, 31};
  std::vector<int32_t> seg(size_t(B) * T);
  for (int b = 0; b < B; ++b) {
    int t = 0, id = 10 + b, li = 3 * b;
    while (t < T) {
      const int len = kLens[li++ % 10];
      for (int j = 0; j < len && t < T; ++j) seg[size_t(b) * T + t++] = id;
      id += (mode == Seg::kReused && li % 3 == 0) ? -2 : 1;
    }
  }
  return seg;
}

void expect_close_to_max(const std::vector<float>& got, const std::vector<float>& want,
                         const std::string& what) {
  float max_abs = 0.f;
  for (float w : want) max_abs = std::max(max_abs, std::fabs(w));
  expect_close(got, want, kAtol + kRtolOfMax * max_abs, 0.0f, what);
}

// Runs forward and backward on the GPU and the CPU and compares out, lse, dq, dk, dv.
void check_case(const AttentionShape& s, Seg seg_mode, uint32_t seed) {
  const std::string what = case_name(s, seg_mode);
  SCOPED_TRACE(what);
  const long W = long(s.Hq + 2 * s.Hkv) * s.D;
  const size_t n_qkv = size_t(s.B) * s.T * W, n_out = size_t(s.B) * s.T * s.Hq * s.D;
  const size_t n_lse = size_t(s.B) * s.Hq * s.T;
  const auto qkv = random_bf16_values(n_qkv, -2.0f, 2.0f, seed);
  const auto dout = random_bf16_values(n_out, -1.0f, 1.0f, seed + 1);
  std::vector<int32_t> seg;
  if (seg_mode != Seg::kNone) seg = make_segments(s.B, s.T, seg_mode);
  const int32_t* seg_host = seg.empty() ? nullptr : seg.data();

  std::vector<float> out_ref(n_out), lse_ref(n_lse), dqkv_ref(n_qkv);
  cpu::attention_forward(out_ref.data(), lse_ref.data(), qkv.data(), seg_host, s);
  cpu::attention_backward(dqkv_ref.data(), dout.data(), qkv.data(), out_ref.data(),
                          lse_ref.data(), seg_host, s);

  auto d_qkv = upload_bf16(qkv);
  auto d_dout = upload_bf16(dout);
  DeviceBuffer<int32_t> d_seg;
  if (!seg.empty()) d_seg = DeviceBuffer<int32_t>(seg);
  DeviceBuffer<bf16> d_out(n_out), d_dqkv(n_qkv);
  DeviceBuffer<float> d_lse(n_lse);
  DeviceBuffer<unsigned char> d_scratch(cuda::attention_backward_scratch_bytes(s));
  d_out.poison();
  d_lse.poison();
  d_dqkv.poison();
  d_scratch.poison();
  const int32_t* seg_dev = seg.empty() ? nullptr : d_seg.data();

  cuda::attention_forward(d_out.data(), d_lse.data(), d_qkv.data(), seg_dev, s, 0);
  cuda::attention_backward(d_dqkv.data(), d_dout.data(), d_qkv.data(), d_out.data(),
                           d_lse.data(), seg_dev, d_scratch.data(), s, 0);
  CUDA_CHECK(cudaDeviceSynchronize());

  expect_close_to_max(download_f32(d_out), out_ref, "out");
  expect_close(download_f32(d_lse), lse_ref, kLseAtol, 0.0f, "lse");

  // dqkv per part: dq (query heads), dk, dv.
  const auto dqkv = download_f32(d_dqkv);
  std::vector<float> got[3], want[3];
  for (size_t i = 0; i < n_qkv; ++i) {
    const long c = long(i % W);
    const int part = c < long(s.Hq) * s.D ? 0 : c < long(s.Hq + s.Hkv) * s.D ? 1 : 2;
    got[part].push_back(dqkv[i]);
    want[part].push_back(dqkv_ref[i]);
  }
  expect_close_to_max(got[0], want[0], "dq");
  expect_close_to_max(got[1], want[1], "dk");
  expect_close_to_max(got[2], want[2], "dv");
}

void check_head_dim(int D) {
  const int Ts[] = {1, 7, 64, 130, 256};
  const int heads[][2] = {{2, 2}, {4, 2}, {8, 1}};  // {Hq, Hkv}
  uint32_t seed = 1000 + D;
  for (int T : Ts)
    for (const auto& hh : heads)
      for (Seg seg : {Seg::kNone, Seg::kPacked, Seg::kReused}) {
        const int B = (hh[0] == 4 || T == 7) ? 2 : 1;
        check_case(AttentionShape{B, T, hh[0], hh[1], D}, seg, seed += 7);
      }
}

TEST(CudaAttention, MatchesCpuHeadDim64) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  check_head_dim(64);
}

TEST(CudaAttention, MatchesCpuHeadDim128) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  check_head_dim(128);
}

// Several segments inside one tile and segments longer than a tile, on longer rows (the
// visible-tile range scans cover several chunks of 1024 tokens at T = 2100).
TEST(CudaAttention, MatchesCpuLongPackedRow) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  check_case(AttentionShape{2, 515, 4, 1, 64}, Seg::kPacked, 77);
  check_case(AttentionShape{1, 300, 2, 2, 128}, Seg::kPacked, 78);
  check_case(AttentionShape{1, 2100, 2, 1, 64}, Seg::kReused, 79);
  check_case(AttentionShape{1, 2100, 2, 1, 128}, Seg::kPacked, 80);
}

// dK/dV are sums over query heads and tiles: two runs must agree bit for bit.
TEST(CudaAttention, BackwardIsDeterministic) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const AttentionShape s{2, 300, 8, 2, 64};
  const long W = long(s.Hq + 2 * s.Hkv) * s.D;
  const size_t n_qkv = size_t(s.B) * s.T * W, n_out = size_t(s.B) * s.T * s.Hq * s.D;
  auto d_qkv = upload_bf16(random_bf16_values(n_qkv, -2.0f, 2.0f, 5));
  auto d_dout = upload_bf16(random_bf16_values(n_out, -1.0f, 1.0f, 6));
  DeviceBuffer<int32_t> d_seg(make_segments(s.B, s.T, Seg::kPacked));
  DeviceBuffer<bf16> d_out(n_out), d_dqkv(n_qkv);
  DeviceBuffer<float> d_lse(size_t(s.B) * s.Hq * s.T);
  DeviceBuffer<unsigned char> d_scratch(cuda::attention_backward_scratch_bytes(s));
  cuda::attention_forward(d_out.data(), d_lse.data(), d_qkv.data(), d_seg.data(), s, 0);
  std::vector<bf16> first;
  for (int run = 0; run < 2; ++run) {
    d_dqkv.poison();
    cuda::attention_backward(d_dqkv.data(), d_dout.data(), d_qkv.data(), d_out.data(),
                             d_lse.data(), d_seg.data(), d_scratch.data(), s, 0);
    auto got = d_dqkv.download();
    if (run == 0)
      first = std::move(got);
    else
      expect_bitwise_equal(first, got, "dqkv");
  }
}

TEST(CudaAttention, UnsupportedHeadDimThrows) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const AttentionShape s{1, 8, 2, 2, 96};
  DeviceBuffer<bf16> d_qkv(size_t(8) * 6 * 96), d_out(size_t(8) * 2 * 96);
  DeviceBuffer<float> d_lse(16);
  EXPECT_THROW(cuda::attention_forward(d_out.data(), d_lse.data(), d_qkv.data(), nullptr, s, 0),
               flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
