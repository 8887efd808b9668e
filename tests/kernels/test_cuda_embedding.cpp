// CUDA token + position embedding vs the fp32 CPU reference on the same bf16 tables.
// Tolerances:
//   forward out (bf16): exact (one fp32 add of two bf16 values, one rounding, on both sides);
//   backward dwte, dwpe (bf16, accumulated): abs 2e-2 + rel 2e-2 (fp32 sums in a different order,
//     one bf16 rounding of the total);
//   determinism: two backward runs are bitwise equal.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/embedding.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

constexpr float kAtol = 2e-2f, kRtol = 2e-2f;
constexpr int kV = 50, kMaxT = 16;  // a small vocabulary: ids repeat, runs are long

struct Shape {
  int N, C;
};
const Shape kShapes[] = {{1, 12}, {7, 768}, {33, 771}, {1000, 64}, {4096, 768}};

std::string name(const Shape& s) {
  return "N=" + std::to_string(s.N) + " C=" + std::to_string(s.C);
}

TEST(CudaEmbedding, Forward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (bool with_pos : {true, false}) {
      const auto tokens = random_ints(s.N, 0, kV, 81);
      const auto pos = random_ints(s.N, 0, kMaxT, 82);
      const auto wte = random_bf16_values(size_t(kV) * s.C, -1.0f, 1.0f, 83);
      const auto wpe = random_bf16_values(size_t(kMaxT) * s.C, -1.0f, 1.0f, 84);
      std::vector<float> want(size_t(s.N) * s.C);
      cpu::embedding_forward(want.data(), tokens.data(), pos.data(), wte.data(),
                             with_pos ? wpe.data() : nullptr, s.N, s.C);
      for (auto& v : want) v = round_bf16(v);

      DeviceBuffer<int32_t> dtok(tokens), dpos(pos);
      auto dwte = upload_bf16(wte), dwpe = upload_bf16(wpe);
      DeviceBuffer<bf16> out(size_t(s.N) * s.C);
      out.poison();
      cuda::embedding_forward(out.data(), dtok.data(), dpos.data(), dwte.data(),
                              with_pos ? dwpe.data() : nullptr, s.N, s.C, 0);
      expect_close(download_f32(out), want, 0.0f, 0.0f,
                   "embedding_forward " + name(s) + (with_pos ? "" : " no pos"));
    }
  }
}

void check_backward(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos, int C,
                    bool with_pos, const std::string& what) {
  const int N = int(tokens.size());
  const auto dout = random_bf16_values(size_t(N) * C, -1.0f, 1.0f, 91);
  const auto dwte0 = random_bf16_values(size_t(kV) * C, -1.0f, 1.0f, 92);
  const auto dwpe0 = random_bf16_values(size_t(kMaxT) * C, -1.0f, 1.0f, 93);
  std::vector<float> want_wte = dwte0, want_wpe = dwpe0;
  cpu::embedding_backward(want_wte.data(), with_pos ? want_wpe.data() : nullptr, dout.data(),
                          tokens.data(), pos.data(), N, C);

  DeviceBuffer<int32_t> dtok(tokens), dpos(pos);
  auto ddout = upload_bf16(dout);
  DeviceBuffer<char> ws(cuda::embedding_backward_workspace_bytes(N));
  ws.poison();
  std::vector<float> runs[2][2];
  for (int run = 0; run < 2; ++run) {
    auto dwte = upload_bf16(dwte0), dwpe = upload_bf16(dwpe0);
    cuda::embedding_backward(dwte.data(), with_pos ? dwpe.data() : nullptr, ddout.data(),
                             dtok.data(), dpos.data(), N, C, ws.data(), ws.size(), 0);
    runs[run][0] = download_f32(dwte);
    runs[run][1] = download_f32(dwpe);
  }
  expect_close(runs[0][0], want_wte, kAtol, kRtol, "dwte " + what);
  // without pos the dwpe table must be untouched
  expect_close(runs[0][1], want_wpe, kAtol, kRtol, "dwpe " + what);
  for (int k = 0; k < 2; ++k) expect_bitwise_equal(runs[0][k], runs[1][k], "rerun " + what);
}

TEST(CudaEmbedding, BackwardMatchesCpuAndIsDeterministic) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (const Shape& s : kShapes) {
    for (bool with_pos : {true, false}) {
      check_backward(random_ints(s.N, 0, kV, 94), random_ints(s.N, 0, kMaxT, 95), s.C, with_pos,
                     name(s) + (with_pos ? "" : " no pos"));
    }
  }
}

TEST(CudaEmbedding, BackwardLongRuns) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  // One id for every row (e.g. padding): a single run of 5000 rows shared by 8 warps; and
  // positions restarting per "example" as the packer emits them.
  const int N = 5000;
  std::vector<int32_t> tokens(N, 7), pos(N);
  for (int n = 0; n < N; ++n) pos[n] = n % 11;
  check_backward(tokens, pos, 768, true, "single run N=5000");
  check_backward(tokens, pos, 771, true, "single run N=5000 C=771");
}

TEST(CudaEmbedding, BackwardRefusesSmallWorkspace) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int N = 64, C = 8;
  DeviceBuffer<int32_t> tok(std::vector<int32_t>(N, 0));
  DeviceBuffer<bf16> dout(size_t(N) * C), dwte(size_t(kV) * C);
  const size_t need = cuda::embedding_backward_workspace_bytes(N);
  DeviceBuffer<char> ws(need - 1);
  EXPECT_THROW(cuda::embedding_backward(dwte.data(), nullptr, dout.data(), tok.data(), nullptr, N,
                                        C, ws.data(), ws.size(), 0),
               flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
