// Runs the CUDA KV-cache decode kernels (kernels/cuda/attention_decode.cu: kv_cache_append and
// attention_decode, unchanged apart from the primitives of attention_common.cuh) on the CPU
// through tests/kernels/emu/flame_emu.h and compares them with cpu::attention_decode, with the
// tolerance of the attention_decode cases of tests/kernels/op_cases.h. Needs no GPU: a check of
// the kernels' indexing (rows, positions, GQA heads, q read in place from qkv), the warp reductions
// and the online softmax, on the problems of tests/kernels/attention_decode_cases.h. Outputs are
// poisoned with NaN, so an unwritten element shows.
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
#include <vector>

#include "tests/kernels/attention_decode_cases.h"

namespace {

using bf16 = __nv_bfloat16;
using flame::test::DecodeCase;

std::vector<bf16> to_bf16(const std::vector<float>& x) {
  std::vector<bf16> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = __float2bfloat16_rn(x[i]);
  return out;
}

bool same_or_both_nan(float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Returns the number of elements out of tolerance (or appended wrongly).
long run_case(const DecodeCase& c, uint32_t seed) {
  const flame::test::DecodeProblem p = flame::test::make_decode_problem(c, seed);
  auto k_dev = to_bf16(p.kc), v_dev = to_bf16(p.vc), qkv_dev = to_bf16(p.qkv), q_dev = to_bf16(p.q);
  std::vector<bf16> out(size_t(p.n) * p.QW, __float2bfloat16_rn(std::nanf("")));
  flame::cuda::DecodeShape s{p.n, c.Hq, c.Hkv, c.D, p.rows, p.max_len};
  flame::cuda::kv_cache_append(k_dev.data(), v_dev.data(), qkv_dev.data(), p.row.data(),
                               p.pos.data(), s, nullptr);
  long bad = 0;
  for (size_t i = 0; i < p.kc.size(); ++i) {
    bad += !same_or_both_nan(__bfloat162float(k_dev[i]), p.kc_want[i]);
    bad += !same_or_both_nan(__bfloat162float(v_dev[i]), p.vc_want[i]);
  }
  if (c.q_in_qkv) s.q_stride = p.QKV;
  flame::cuda::attention_decode(out.data(), c.q_in_qkv ? qkv_dev.data() : q_dev.data(),
                                k_dev.data(), v_dev.data(), p.row.data(), p.pos.data(), s, nullptr);
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const float got = __bfloat162float(out[i]);
    const double err = std::fabs(double(got) - p.want[i]);
    if (std::isnan(got) || err > 1e-2 + 1e-2 * std::fabs(p.want[i])) ++bad;
    if (err > worst) worst = err;
  }
  std::printf("%s %s: max err %.1e, %ld bad\n", bad ? "FAIL" : "ok  ",
              flame::test::decode_case_name(c).c_str(), worst, bad);
  return bad;
}

}  // namespace

int main() {
  uint32_t seed = 500;  // the GPU test's seeds: the same problems
  long bad = 0;
  for (const DecodeCase& c : flame::test::decode_cases()) bad += run_case(c, seed += 10);
  std::printf("%s\n", bad ? "FAIL" : "all cases passed");
  return bad ? 1 : 0;
}
