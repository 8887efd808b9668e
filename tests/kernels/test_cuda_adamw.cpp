// CUDA AdamW (fp32 master/m/v, bf16 grads and working params) and global grad norm vs the CPU
// reference run per tensor range (weight decay on or off) on the same values.
// Tolerances:
//   fp32 master, m: abs 1e-6 + rel 1e-5, v (~1e-4): abs 1e-9 + rel 1e-5 (the same fp32 formula;
//     the GPU may contract a*b+c into one FMA, a few ulps);
//   bf16 working params: rel 1e-2 (= bf16(master): one bf16 ulp if master lands near a rounding
//     boundary);
//   sum of squares: rel 1e-5 (fp32 partial sums vs the CPU's double); norm/scale rel 1e-5;
//   determinism: two sum-of-squares runs are bitwise equal.
#ifdef FLAME_WITH_CUDA
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/adamw.h"
#include "core/error.h"
#include "tests/kernels/cuda_test_util.h"

namespace flame::test {
namespace {

using cuda::AdamWRange;

// Tensor table over n elements with boundaries that are not multiples of 8 (packs straddle
// them) and an uncovered tail of 3 elements (updated without decay).
std::vector<AdamWRange> make_ranges(long n) {
  std::vector<AdamWRange> r;
  const long cuts[] = {0, n / 3 + 1, n / 2 + 3, n - 3};
  for (int i = 0; i < 3; ++i) {
    if (cuts[i + 1] > cuts[i]) r.push_back({cuts[i], cuts[i + 1] - cuts[i], i % 2 == 0 ? 1 : 0});
  }
  return r;
}

struct State {
  std::vector<float> master, m, v, grads;
};

State random_state(long n, uint32_t seed) {
  State s;
  s.master = random_f32_values(n, -1.0f, 1.0f, seed);
  s.m = random_f32_values(n, -0.01f, 0.01f, seed + 1);
  s.v = random_f32_values(n, 0.0f, 1e-4f, seed + 2);
  s.grads = random_bf16_values(n, -0.1f, 0.1f, seed + 3);
  return s;
}

// CPU reference: elements [base, base + n) of the flat buffer, decay per range.
void cpu_update(State& s, long base, long n, const std::vector<AdamWRange>& ranges, float scale,
                const cpu::AdamWParams& p) {
  std::vector<float> wd(n, 0.0f);
  for (const auto& r : ranges)
    for (long i = r.offset; i < r.offset + r.size; ++i)
      if (i >= base && i < base + n && r.decay) wd[i - base] = p.weight_decay;
  for (long i = 0; i < n; ++i) {
    float g = s.grads[base + i] * scale;
    cpu::AdamWParams q = p;
    q.weight_decay = wd[i];
    cpu::adamw_update(&s.master[base + i], &g, &s.m[base + i], &s.v[base + i], 1, q);
  }
}

TEST(CudaAdamW, UpdateMatchesCpu) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const cpu::AdamWParams p{1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3};
  const cuda::AdamWConfig cfg{p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.step};
  for (long n : {1L, 7L, 1000L, 123457L}) {
    for (bool with_scale : {false, true}) {
      // base 0: the whole buffer (packed path); base 5: a shard starting mid-pack (scalar path)
      for (long base : {0L, 5L}) {
        if (base >= n) continue;
        const long len = n - base;
        const std::string what = "n=" + std::to_string(n) + " base=" + std::to_string(base) +
                                 (with_scale ? " scaled" : "");
        const auto ranges = make_ranges(n);
        State want = random_state(n, 121);
        const float scale = with_scale ? 0.5f : 1.0f;
        State init = want;
        cpu_update(want, base, len, ranges, scale, p);

        DeviceBuffer<float> master(init.master), m(init.m), v(init.v);
        auto grads = upload_bf16(init.grads);
        DeviceBuffer<bf16> params(n);
        params.poison();
        DeviceBuffer<AdamWRange> dranges(ranges);
        DeviceBuffer<float> dscale(std::vector<float>{scale});
        cuda::adamw_update(master.data() + base, params.data() + base, grads.data() + base,
                           m.data() + base, v.data() + base, len, base, dranges.data(),
                           int(ranges.size()), with_scale ? dscale.data() : nullptr, cfg, 0);
        auto slice = [&](const std::vector<float>& x) {
          return std::vector<float>(x.begin() + base, x.end());
        };
        expect_close(slice(master.download()), slice(want.master), 1e-6f, 1e-5f,
                     "master " + what);
        expect_close(slice(m.download()), slice(want.m), 1e-6f, 1e-5f, "m " + what);
        expect_close(slice(v.download()), slice(want.v), 1e-9f, 1e-5f, "v " + what);
        std::vector<float> want_params = slice(want.master);
        for (auto& x : want_params) x = round_bf16(x);
        expect_close(slice(download_f32(params)), want_params, 0.0f, 1e-2f, "params " + what);
      }
    }
  }
}

TEST(CudaAdamW, DecayFollowsTheRangeTable) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  // Zero gradients and moments: the Adam term is 0, so master changes only by decay.
  const long n = 64;
  const std::vector<AdamWRange> ranges = {{3, 10, 1}, {13, 20, 0}, {40, 11, 1}};
  std::vector<float> master(n, 1.0f), zeros(n, 0.0f);
  DeviceBuffer<float> dmaster(master), m(zeros), v(zeros);
  auto grads = upload_bf16(zeros);
  DeviceBuffer<AdamWRange> dranges(ranges);
  const cuda::AdamWConfig cfg{0.5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};
  cuda::adamw_update(dmaster.data(), nullptr, grads.data(), m.data(), v.data(), n, 0,
                     dranges.data(), int(ranges.size()), nullptr, cfg, 0);
  const auto got = dmaster.download();
  for (long i = 0; i < n; ++i) {
    const bool decay = (i >= 3 && i < 13) || (i >= 40 && i < 51);
    EXPECT_FLOAT_EQ(got[i], decay ? 1.0f - 0.5f * 0.1f : 1.0f) << "element " << i;
  }
}

TEST(CudaAdamW, GradNormAndClipScale) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  for (long n : {1L, 7L, 100003L, (1L << 22) + 9}) {
    for (int offset : {0, 1}) {
      const auto g = random_bf16_values(n + offset, -0.05f, 0.05f, 131);
      const double want_sq = cpu::sum_squares(g.data() + offset, n);
      const float want_norm = float(std::sqrt(want_sq));
      auto dg = upload_bf16(g);
      DeviceBuffer<float> scratch(cuda::sum_squares_scratch_floats()), out(3);
      float sums[2];
      for (int run = 0; run < 2; ++run) {
        out.poison();
        cuda::sum_squares(out.data(), dg.data() + offset, n, scratch.data(), 0);
        sums[run] = out.download()[0];
      }
      const std::string what = "n=" + std::to_string(n) + " offset=" + std::to_string(offset);
      EXPECT_NEAR(sums[0], want_sq, 1e-5 * want_sq) << "sum of squares " << what;
      EXPECT_EQ(0, std::memcmp(&sums[0], &sums[1], sizeof(float))) << "rerun " << what;

      for (float max_norm : {0.0f, 0.5f * want_norm, 2.0f * want_norm}) {
        out.poison();
        cuda::grad_norm_clip(out.data(), out.data() + 1, dg.data() + offset, n, max_norm,
                             scratch.data(), 0);
        const auto r = out.download();
        const float want_scale =
            max_norm > 0.0f ? std::min(1.0f, max_norm / (want_norm + 1e-6f)) : 1.0f;
        EXPECT_NEAR(r[0], want_norm, 1e-5 * want_norm) << "norm " << what;
        EXPECT_NEAR(r[1], want_scale, 1e-5 * want_scale) << "scale " << what
                                                          << " max_norm=" << max_norm;
      }
    }
  }
}

TEST(CudaAdamW, RejectsStepZero) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const cuda::AdamWConfig cfg{1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 0};
  EXPECT_THROW(cuda::adamw_update(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 0, nullptr, 0,
                                  nullptr, cfg, 0),
               flame::Error);
}

}  // namespace
}  // namespace flame::test
#endif  // FLAME_WITH_CUDA
