// CUDA residual add / accumulate vs exact host arithmetic.
// Tolerance: exact (0). Both sides add two bf16 values in fp32 (IEEE round to nearest) and round
// once to bf16 (nearest even), so the bits must agree.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include "kernels/residual.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

std::vector<float> added(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = round_bf16(a[i] + b[i]);
  return out;
}

TEST(CudaResidual, ForwardMatchesHost) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (long n : {1L, 7L, 33L, 4099L, (1L << 20) + 5}) {
    // offset 1 element: the pointers lose 16-byte alignment, so the scalar path runs too
    for (int offset : {0, 1}) {
      const auto a = random_bf16_values(n + offset, -4.0f, 4.0f, 1);
      const auto b = random_bf16_values(n + offset, -4.0f, 4.0f, 2);
      auto da = upload_bf16(a), db = upload_bf16(b);
      DeviceBuffer<bf16> out(n + offset);
      out.poison();
      cuda::residual_forward(out.data() + offset, da.data() + offset, db.data() + offset, n, 0);
      auto got = download_f32(out);
      const auto want = added(a, b);
      got.erase(got.begin(), got.begin() + offset);
      expect_close(got, std::vector<float>(want.begin() + offset, want.end()), 0.0f, 0.0f,
                   "residual_forward n=" + std::to_string(n) + " offset=" + std::to_string(offset));
    }
  }
}

TEST(CudaResidual, ForwardInPlaceAndAccumulate) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (long n : {1L, 13L, 100003L}) {
    const auto a = random_bf16_values(n, -4.0f, 4.0f, 3);
    const auto b = random_bf16_values(n, -4.0f, 4.0f, 4);
    const auto want = added(a, b);
    auto da = upload_bf16(a), db = upload_bf16(b);
    cuda::residual_forward(da.data(), da.data(), db.data(), n, 0);  // out aliases a
    expect_close(download_f32(da), want, 0.0f, 0.0f, "residual_forward in place");
    auto acc = upload_bf16(a);
    cuda::accumulate(acc.data(), db.data(), n, 0);
    expect_close(download_f32(acc), want, 0.0f, 0.0f, "accumulate n=" + std::to_string(n));
  }
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
