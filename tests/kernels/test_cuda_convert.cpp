// CUDA fp32 <-> bf16 conversion vs the host's bit-exact round to nearest even.
// Tolerance: exact bits for finite values and infinities (both sides implement RNE); NaN inputs
// only need to stay NaN (the payload is not specified).
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/convert.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

TEST(CudaConvert, F32ToBf16RoundsToNearestEven) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> special = {0.0f, -0.0f, 1.0f, -1.0f,
                                1.0f + 1.0f / 256,          // exact tie: rounds to even (1.0)
                                1.0f + 3.0f / 256,          // exact tie: rounds up to even
                                1.0f + 1.0f / 256 + 1e-7f,  // just above the tie: rounds up
                                3.0e38f, 3.4e38f,           // the latter rounds to inf
                                1e-40f, -1e-42f,            // subnormals
                                inf, -inf, std::nanf("")};
  for (long n : {1L, 7L, 1000L, (1L << 20) + 3}) {
    for (int offset : {0, 1}) {
      auto x = random_f32_values(n + offset, -1000.0f, 1000.0f, 11);
      for (size_t i = 0; i < special.size() && i < x.size(); ++i) x[i] = special[i];
      DeviceBuffer<float> in(x);
      DeviceBuffer<bf16> out(n + offset);
      out.poison();
      cuda::convert_f32_to_bf16(out.data() + offset, in.data() + offset, n, 0);
      const auto got = out.download();
      size_t bad = 0, first = 0;
      for (long i = offset; i < n + offset; ++i) {
        const uint16_t g = static_cast<__nv_bfloat16_raw>(got[i]).x;
        const bool ok = std::isnan(x[i]) ? std::isnan(bf16_bits_to_f32(g))
                                         : g == f32_to_bf16_bits(x[i]);
        if (!ok && bad++ == 0) first = i;
      }
      EXPECT_EQ(bad, 0u) << "n=" << n << " offset=" << offset << " first bad at " << first
                         << " (x=" << x[first] << ")";
    }
  }
}

TEST(CudaConvert, Bf16ToF32IsExact) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (long n : {1L, 9L, 65536L + 7}) {
    for (int offset : {0, 1}) {
      const auto x = random_bf16_values(n + offset, -1e4f, 1e4f, 12);
      auto in = upload_bf16(x);
      DeviceBuffer<float> out(n + offset);
      out.poison();
      cuda::convert_bf16_to_f32(out.data() + offset, in.data() + offset, n, 0);
      auto got = out.download();
      expect_close(std::vector<float>(got.begin() + offset, got.end()),
                   std::vector<float>(x.begin() + offset, x.end()), 0.0f, 0.0f,
                   "bf16->f32 n=" + std::to_string(n));
    }
  }
}

TEST(CudaConvert, EmptyIsANoOp) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_NO_THROW(cuda::convert_f32_to_bf16(nullptr, nullptr, 0, 0));
  EXPECT_NO_THROW(cuda::convert_bf16_to_f32(nullptr, nullptr, 0, 0));
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
