// Runs the CUDA attention kernels (kernels/cuda/attention.cu, unchanged apart from the hardware
// primitives of kernels/cuda/attention_common.cuh) on the CPU through tests/kernels/emu/flame_emu.h
// and compares them with the fp32 CPU reference, with the tolerances of the attention cases of
// tests/kernels/op_cases.h. Needs no GPU: a check of the kernels' indexing, fragment layouts,
// masking, tile skipping and barriers before (or without) a device run.
// Built by CMake as `attention_emu` (host C++, when the CUDA headers are found) and run by ctest as
// AttentionEmu.QuickSchedule1/2. By hand, from the repo root:
//   g++ -std=c++20 -O2 -fopenmp -I. -I/usr/local/cuda/include -o /tmp/attention_emu
//       tests/kernels/emu/attention_emu.cpp kernels/cpu/attention.cpp   (one line)
//   /tmp/attention_emu [quick|full] [sched]
// (add -fsanitize=address,undefined for out-of-bounds checks; sched: see flame_emu.h).
#define FLAME_ATTN_EMULATE 1
#ifndef FLAME_WITH_CUDA
#define FLAME_WITH_CUDA 1
#endif
#include "tests/kernels/emu/flame_emu.h"
// The kernels and launchers, compiled for the emulator.
#include "kernels/cuda/attention.cu"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/kernels/op_cases.h"  // make_segments: the conformance test's segment layout

namespace {

using flame::cpu::AttentionShape;

uint16_t to_bf(float f) {
  const __nv_bfloat16 b = __float2bfloat16(f);
  uint16_t u;
  memcpy(&u, &b, 2);
  return u;
}
float from_bf(uint16_t u) {
  const uint32_t b = uint32_t(u) << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

// |got - want| <= atol + rtol_of_max * max|want|; NaN fails. Returns the number of failures.
long compare(const std::vector<float>& got, const std::vector<float>& want, double atol,
             double rtol_of_max, double* max_err) {
  double max_ref = 0;
  for (float w : want) max_ref = std::max(max_ref, double(std::fabs(w)));
  const double tol = atol + rtol_of_max * max_ref;
  long bad = 0;
  *max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) {
      ++bad;
      continue;
    }
    const double e = std::fabs(double(got[i]) - want[i]);
    *max_err = std::max(*max_err, e);
    if (e > tol) ++bad;
  }
  return bad;
}

bool run_case(const AttentionShape& s, int seg_mode, uint32_t seed) {
  const long W = long(s.Hq + 2 * s.Hkv) * s.D;
  const size_t n_qkv = size_t(s.B) * s.T * W, n_out = size_t(s.B) * s.T * s.Hq * s.D;
  const size_t n_lse = size_t(s.B) * s.Hq * s.T;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u2(-2.f, 2.f), u1(-1.f, 1.f);
  std::vector<uint16_t> qkv(n_qkv), dout(n_out);
  std::vector<float> qkv_f(n_qkv), dout_f(n_out);
  for (size_t i = 0; i < n_qkv; ++i) qkv_f[i] = from_bf(qkv[i] = to_bf(u2(rng)));
  for (size_t i = 0; i < n_out; ++i) dout_f[i] = from_bf(dout[i] = to_bf(u1(rng)));
  std::vector<int32_t> seg;
  if (seg_mode) seg = flame::opcases::make_segments(s.B, s.T, flame::opcases::Seg(seg_mode));
  const int32_t* segp = seg.empty() ? nullptr : seg.data();

  std::vector<float> out_ref(n_out), lse_ref(n_lse), dqkv_ref(n_qkv);
  flame::cpu::attention_forward(out_ref.data(), lse_ref.data(), qkv_f.data(), segp, s);
  flame::cpu::attention_backward(dqkv_ref.data(), dout_f.data(), qkv_f.data(), out_ref.data(),
                                 lse_ref.data(), segp, s);

  // Outputs poisoned (NaN); host "device" buffers (operator new: 16-byte aligned).
  std::vector<uint16_t> out(n_out, 0xffff), dqkv(n_qkv, 0xffff);
  std::vector<float> lse(n_lse, NAN), scratch(flame::cuda::attention_backward_scratch_bytes(s) / 4,
                                              NAN);
  using bf16 = __nv_bfloat16;
  flame::cuda::attention_forward(reinterpret_cast<bf16*>(out.data()), lse.data(),
                                 reinterpret_cast<const bf16*>(qkv.data()), segp, s, nullptr);
  flame::cuda::attention_backward(
      reinterpret_cast<bf16*>(dqkv.data()), reinterpret_cast<const bf16*>(dout.data()),
      reinterpret_cast<const bf16*>(qkv.data()), reinterpret_cast<const bf16*>(out.data()),
      lse.data(), segp, scratch.data(), s, nullptr);

  std::vector<float> out_f(n_out);
  for (size_t i = 0; i < n_out; ++i) out_f[i] = from_bf(out[i]);
  std::vector<float> got[3], want[3];
  for (size_t i = 0; i < n_qkv; ++i) {
    const long c = long(i % W);
    const int part = c < long(s.Hq) * s.D ? 0 : c < long(s.Hq + s.Hkv) * s.D ? 1 : 2;
    got[part].push_back(from_bf(dqkv[i]));
    want[part].push_back(dqkv_ref[i]);
  }
  // FNV-1a of the bf16 outputs: identical across scheduling modes and fragment-loader variants.
  uint64_t hash = 1469598103934665603ull;
  for (const auto* v : {&out, &dqkv})
    for (uint16_t x : *v) hash = (hash ^ x) * 1099511628211ull;
  double e_out, e_lse, e_d[3];
  long bad = compare(out_f, out_ref, 2e-2, 2e-2, &e_out);
  bad += compare(lse, lse_ref, 1e-3, 0, &e_lse);
  for (int i = 0; i < 3; ++i) bad += compare(got[i], want[i], 2e-2, 2e-2, &e_d[i]);
  std::printf("%s B=%d T=%d Hq=%d Hkv=%d D=%d seg=%d: max err out %.1e lse %.1e dq %.1e "
              "dk %.1e dv %.1e, %ld out of tolerance, hash %016llx\n",
              bad ? "FAIL" : "ok  ", s.B, s.T, s.Hq, s.Hkv, s.D, seg_mode, e_out, e_lse, e_d[0],
              e_d[1], e_d[2], bad, (unsigned long long)hash);
  std::fflush(stdout);
  return bad == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "quick";
  if (argc > 2) flame_emu::g_shuffle_seed = unsigned(std::atoi(argv[2]));
  int failed = 0, total = 0;
  auto run = [&](AttentionShape s, int seg, uint32_t seed) {
    ++total;
    if (!run_case(s, seg, seed)) ++failed;
  };
  if (mode == "full") {  // the attention matrix of tests/kernels/op_cases.h
    for (int D : {64, 128}) {
      uint32_t seed = 1000 + D;
      for (int T : {1, 7, 64, 130, 256})
        for (auto hh : {std::pair{2, 2}, std::pair{4, 2}, std::pair{8, 1}})
          for (int seg : {0, 1, 2}) {
            const int B = (hh.first == 4 || T == 7) ? 2 : 1;
            run(AttentionShape{B, T, hh.first, hh.second, D}, seg, seed += 7);
          }
    }
    run(AttentionShape{2, 515, 4, 1, 64}, 1, 77);
    run(AttentionShape{1, 300, 2, 2, 128}, 1, 78);
    run(AttentionShape{1, 2100, 2, 1, 64}, 2, 79);
    run(AttentionShape{1, 2100, 2, 1, 64}, 1, 80);
  } else {
    run(AttentionShape{2, 7, 2, 2, 64}, 0, 1);
    run(AttentionShape{1, 1, 2, 1, 64}, 0, 2);
    run(AttentionShape{2, 130, 4, 2, 64}, 1, 3);
    run(AttentionShape{1, 256, 2, 1, 64}, 2, 4);
    run(AttentionShape{1, 64, 2, 2, 128}, 1, 5);
    run(AttentionShape{1, 130, 8, 1, 128}, 0, 6);
    run(AttentionShape{1, 200, 2, 2, 128}, 2, 7);
    run(AttentionShape{1, 2100, 1, 1, 64}, 1, 8);  // visible-range scans over several chunks
  }
  std::printf("%d of %d cases passed (%ld mma emulated)\n", total - failed, total,
              flame_emu::g_mma_count);
  return failed ? 1 : 0;
}
