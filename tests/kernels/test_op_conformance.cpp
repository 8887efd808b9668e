// CUDA op conformance: every kTest case of the op table (tests/kernels/op_cases.h) runs on the GPU
// against the fp32 CPU reference on the same bf16-representable random inputs, at each pointer
// offset its OpSpec lists, with every output poisoned (all bits set: NaN) before the launch, and
// twice: the two runs must agree bit for bit (determinism). One test per op. Tolerances come from the table, per
// op, output and dtype. Then the edge cases that are not shape cases (argument checks that must
// throw, in-place and degenerate inputs), and checks of the table itself (CPU only).
// GPU tests GTEST_SKIP() without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "tests/kernels/op_cases.h"

#ifdef FLAME_WITH_CUDA
#include "kernels/activations.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "core/error.h"
#include "kernels/convert.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "tests/kernels/cuda_test_util.h"
#endif

namespace flame::opcases {
// gtest prints a failing parameter with this.
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << case_name(c); }
inline void PrintTo(Op op, std::ostream* os) { *os << spec(op).name; }
}  // namespace flame::opcases

namespace flame::test {
namespace {

using namespace flame::opcases;

// ---- the table itself (no device needed) ----

TEST(OpTable, EveryOpHasASpecTestCasesAndABenchCase) {
  for (int i = 0; i < int(Op::kCount); ++i) {
    const Op op = Op(i);
    EXPECT_EQ(spec(op).op, op) << "op " << i << " has no OpSpec";
    EXPECT_FALSE(spec(op).tols.empty()) << spec(op).name << ": no tolerance";
    EXPECT_FALSE(spec(op).offsets.empty()) << spec(op).name;
    EXPECT_EQ(spec(op).offsets.front(), 0) << spec(op).name << ": offset 0 must be tested";
    int tests = 0, benches = 0;
    for (const OpCase& c : op_cases()) {
      if (c.op != op) continue;
      tests += (c.where & kTest) != 0;
      benches += (c.where & kBench) != 0;
    }
    EXPECT_GT(tests, 0) << spec(op).name << ": no test case";
    EXPECT_GT(benches, 0) << spec(op).name << ": no benchmark case";
  }
}

TEST(OpTable, CaseNamesAreUniqueAndBenchCasesMoveBytes) {
  std::set<std::string> names;
  for (const OpCase& c : op_cases()) {
    const std::string n = case_name(c);
    EXPECT_TRUE(names.insert(n + (c.where == kBench ? "_bench" : "")).second) << "duplicate " << n;
    for (char ch : n) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << n;
    EXPECT_GT(case_bytes(c), 0.0) << n;
    if (spec(c.op).bound == Bound::compute) {
      EXPECT_GT(case_flops(c), 0.0) << n;
    }
  }
}

TEST(OpTable, ToleranceLookupPrefersTheNamedOutput) {
  EXPECT_EQ(tolerance(Op::layernorm_residual_fwd, "residual", true).atol, 0.0f);
  EXPECT_EQ(tolerance(Op::layernorm_residual_fwd, "out", true).atol, 2e-2f);
  EXPECT_EQ(tolerance(Op::layernorm_residual_fwd, "mean", false).atol, 1e-5f);
  EXPECT_TRUE(tolerance(Op::attention_fwd, "out", true).of_max);
}

#ifdef FLAME_WITH_CUDA

std::vector<OpCase> cases_where(int where) {
  std::vector<OpCase> out;
  for (const OpCase& c : op_cases())
    if (c.where & where) out.push_back(c);
  return out;
}

// ---- device buffers at an element offset ----

template <class T>
struct Buf {
  DeviceBuffer<T> b;
  int off = 0;
  T* p() { return b.data() + off; }
};

Buf<bf16> dev_bf16(const std::vector<float>& x, int off) {
  std::vector<bf16> h(size_t(off) + x.size(), to_bf16(0.0f));
  for (size_t i = 0; i < x.size(); ++i) h[off + i] = to_bf16(x[i]);
  return {DeviceBuffer<bf16>(h), off};
}
template <class T>
Buf<T> dev(const std::vector<T>& x, int off) {
  std::vector<T> h(size_t(off) + x.size(), T(0));
  std::copy(x.begin(), x.end(), h.begin() + off);
  return {DeviceBuffer<T>(h), off};
}
template <class T>
Buf<T> poisoned(size_t n, int off) {
  Buf<T> b{DeviceBuffer<T>(n + off), off};
  b.b.poison();
  return b;
}
std::vector<float> host(const Buf<bf16>& b) {
  auto v = download_f32(b.b);
  return std::vector<float>(v.begin() + b.off, v.end());
}
std::vector<float> host(const Buf<float>& b) {
  auto v = b.b.download();
  return std::vector<float>(v.begin() + b.off, v.end());
}
std::vector<float> rounded(std::vector<float> v) {
  for (auto& x : v) x = round_bf16(x);
  return v;
}

struct Out {
  std::string name;
  bool bf16;
  std::vector<float> v;
};
using Outs = std::vector<Out>;
struct Result {
  Outs want, got[2];
};

// Runs the device part twice (fresh inputs each time: several ops accumulate or work in place).
template <class F>
Result twice(Outs want, F&& device) {
  Result r;
  r.want = std::move(want);
  r.got[0] = device();
  r.got[1] = device();
  return r;
}

// |got - want| <= atol + rtol * |want| (rtol * max|want| with of_max); NaN matches only NaN.
void expect_match(Op op, const Out& got, const Out& want) {
  ASSERT_EQ(got.v.size(), want.v.size()) << want.name;
  const Tol t = tolerance(op, want.name, want.bf16);
  double max_want = 0;
  for (float w : want.v)
    if (std::isfinite(w)) max_want = std::max(max_want, double(std::fabs(w)));
  const double atol = t.atol + (t.of_max ? t.rtol * max_want : 0.0);
  const double rtol = t.of_max ? 0.0 : t.rtol;
  size_t bad = 0, worst = 0;
  double worst_excess = -1, max_err = 0;
  for (size_t i = 0; i < got.v.size(); ++i) {
    const double g = got.v[i], w = want.v[i];
    if (std::isnan(g) || std::isnan(w)) {
      if (!(std::isnan(g) && std::isnan(w)) && bad++ == 0) worst = i;
      continue;
    }
    const double err = g == w ? 0.0 : std::fabs(g - w);  // inf == inf
    const double excess = err - (atol + rtol * std::fabs(w));
    max_err = std::max(max_err, err);
    if (excess > 0) ++bad;
    if (excess > worst_excess) worst_excess = excess, worst = i;
  }
  EXPECT_EQ(bad, 0u) << want.name << " (" << (want.bf16 ? "bf16" : "f32") << ", atol " << atol
                     << " rtol " << rtol << "): " << bad << " of " << got.v.size()
                     << " elements out of tolerance, max abs error " << max_err << "; e.g. ["
                     << worst << "] got " << got.v[worst] << " want " << want.v[worst];
}

// ---- one runner per op: reference outputs and two device runs ----

Result run_embedding_fwd(const OpCase& c, int off) {
  const auto tokens = random_ints(c.N, 0, kEmbV, 81), pos = random_ints(c.N, 0, kEmbMaxT, 82);
  const auto wte = random_bf16_values(size_t(kEmbV) * c.C, -1, 1, 83);
  const auto wpe = random_bf16_values(size_t(kEmbMaxT) * c.C, -1, 1, 84);
  std::vector<float> want(size_t(c.N) * c.C);
  cpu::embedding_forward(want.data(), tokens.data(), pos.data(), wte.data(),
                         c.pos ? wpe.data() : nullptr, c.N, c.C);
  return twice({{"out", true, rounded(want)}}, [&]() -> Outs {
    auto dtok = dev(tokens, off), dpos = dev(pos, off);
    auto dwte = dev_bf16(wte, off), dwpe = dev_bf16(wpe, off);
    auto out = poisoned<bf16>(want.size(), off);
    cuda::embedding_forward(out.p(), dtok.p(), dpos.p(), dwte.p(), c.pos ? dwpe.p() : nullptr, c.N,
                            c.C, 0);
    return {{"out", true, host(out)}};
  });
}

Result run_embedding_bwd(const OpCase& c, int off) {
  std::vector<int32_t> tokens, pos;
  if (c.single_id) {  // one id for every row (padding): one run over 8 warps; packed positions
    tokens.assign(c.N, 7);
    for (int n = 0; n < c.N; ++n) pos.push_back(n % 11);
  } else {
    tokens = random_ints(c.N, 0, kEmbV, 94);
    pos = random_ints(c.N, 0, kEmbMaxT, 95);
  }
  const auto dout = random_bf16_values(size_t(c.N) * c.C, -1, 1, 91);
  const auto dwte0 = random_bf16_values(size_t(kEmbV) * c.C, -1, 1, 92);
  const auto dwpe0 = random_bf16_values(size_t(kEmbMaxT) * c.C, -1, 1, 93);
  std::vector<float> wte = dwte0, wpe = dwpe0;  // without pos, dwpe stays untouched
  cpu::embedding_backward(wte.data(), c.pos ? wpe.data() : nullptr, dout.data(), tokens.data(),
                          pos.data(), c.N, c.C);
  DeviceBuffer<char> ws(cuda::embedding_backward_workspace_bytes(c.N));
  return twice({{"dwte", true, wte}, {"dwpe", true, wpe}}, [&]() -> Outs {
    ws.poison();
    auto dtok = dev(tokens, off), dpos = dev(pos, off);
    auto ddout = dev_bf16(dout, off);
    auto dwte = dev_bf16(dwte0, off), dwpe = dev_bf16(dwpe0, off);
    cuda::embedding_backward(dwte.p(), c.pos ? dwpe.p() : nullptr, ddout.p(), dtok.p(), dpos.p(),
                             c.N, c.C, ws.data(), ws.size(), 0);
    return {{"dwte", true, host(dwte)}, {"dwpe", true, host(dwpe)}};
  });
}

constexpr float kEps = 1e-5f;

// layernorm (rms = false) or rmsnorm forward, optionally fused with the residual add.
Result run_norm_fwd(const OpCase& c, int off, bool rms, bool residual) {
  const size_t nc = size_t(c.N) * c.C;
  // layernorm: a large mean (two-pass statistics matter)
  const auto a = random_bf16_values(nc, rms ? -2.0f : (residual ? 1.0f : 2.0f),
                                    rms ? 2.0f : (residual ? 3.0f : 4.0f), 41);
  const auto d = random_bf16_values(nc, -1, 1, 45);
  const auto w = random_bf16_values(c.C, 0.5f, 1.5f, 42);
  const auto b = random_bf16_values(c.C, -0.5f, 0.5f, 43);
  std::vector<float> x = a;
  if (residual)
    for (size_t i = 0; i < nc; ++i) x[i] = round_bf16(a[i] + d[i]);
  std::vector<float> out(nc), mean(c.N), rstd(c.N);
  if (rms)
    cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), c.N, c.C, kEps);
  else
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                           c.bias ? b.data() : nullptr, c.N, c.C, kEps);
  // rmsnorm in place also passes rstd = null (optional output)
  const bool with_rstd = !(rms && c.in_place);
  Outs want = {{"out", true, out}};
  if (!rms) want.push_back({"mean", false, mean});
  if (with_rstd) want.push_back({"rstd", false, rstd});
  if (residual) want.push_back({"residual", true, x});
  return twice(want, [&]() -> Outs {
    auto da = dev_bf16(a, off), dd = dev_bf16(d, off), dw = dev_bf16(w, off),
         db = dev_bf16(b, off);
    auto dout = poisoned<bf16>(nc, off), dres = poisoned<bf16>(nc, off);
    auto dmean = poisoned<float>(c.N, off), drstd = poisoned<float>(c.N, off);
    bf16* res = c.in_place ? da.p() : dres.p();  // in place: residual += delta
    float* rstd_p = with_rstd ? drstd.p() : nullptr;
    if (rms && residual)
      cuda::rmsnorm_residual_forward(res, dout.p(), rstd_p, da.p(), dd.p(), dw.p(), c.N, c.C, kEps,
                                     0);
    else if (rms)
      cuda::rmsnorm_forward(dout.p(), rstd_p, da.p(), dw.p(), c.N, c.C, kEps, 0);
    else if (residual)
      cuda::layernorm_residual_forward(res, dout.p(), dmean.p(), rstd_p, da.p(), dd.p(), dw.p(),
                                       c.bias ? db.p() : nullptr, c.N, c.C, kEps, 0);
    else
      cuda::layernorm_forward(dout.p(), dmean.p(), rstd_p, da.p(), dw.p(),
                              c.bias ? db.p() : nullptr, c.N, c.C, kEps, 0);
    Outs got = {{"out", true, host(dout)}};
    if (!rms) got.push_back({"mean", false, host(dmean)});
    if (with_rstd) got.push_back({"rstd", false, host(drstd)});
    if (residual) got.push_back({"residual", true, host(c.in_place ? da : dres)});
    return got;
  });
}

Result run_norm_bwd(const OpCase& c, int off, bool rms) {
  const size_t nc = size_t(c.N) * c.C;
  const auto x = random_bf16_values(nc, rms ? -2.0f : 1.0f, rms ? 2.0f : 3.0f, 51);
  const auto w = random_bf16_values(c.C, 0.5f, 1.5f, 52);
  const auto g = random_bf16_values(nc, -1, 1, 53);
  const auto dinp0 = random_bf16_values(nc, -1, 1, 54);
  const auto dw0 = random_bf16_values(c.C, -1, 1, 55);
  const auto db0 = random_bf16_values(c.C, -1, 1, 56);
  // statistics from the CPU forward, fed to both backwards
  std::vector<float> y(nc), mean(c.N), rstd(c.N);
  std::vector<float> dinp = dinp0, dw = dw0, db = db0;
  if (rms) {
    cpu::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), c.N, c.C, kEps);
    cpu::rmsnorm_backward(dinp.data(), dw.data(), g.data(), x.data(), w.data(), rstd.data(), c.N,
                          c.C);
  } else {
    cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr, c.N,
                           c.C, kEps);
    cpu::layernorm_backward(dinp.data(), dw.data(), db.data(), g.data(), x.data(), w.data(),
                            mean.data(), rstd.data(), c.N, c.C);
  }
  Outs want = {{"dinp", true, dinp}, {"dw", true, dw}};
  if (!rms) want.push_back({"db", true, db});
  const size_t scratch_bytes = rms ? cuda::rmsnorm_backward_scratch_bytes(c.N, c.C)
                                   : cuda::layernorm_backward_scratch_bytes(c.N, c.C);
  DeviceBuffer<float> scratch(scratch_bytes / 4);
  return twice(want, [&]() -> Outs {
    scratch.poison();  // every partial the reduction reads must be written first
    auto dx = dev_bf16(x, off), dwt = dev_bf16(w, off), dg = dev_bf16(g, off);
    auto dmean = dev(mean, off), drstd = dev(rstd, off);
    auto ddinp = dev_bf16(dinp0, off), ddw = dev_bf16(dw0, off), ddb = dev_bf16(db0, off);
    if (rms)
      cuda::rmsnorm_backward(ddinp.p(), ddw.p(), scratch.data(), dg.p(), dx.p(), dwt.p(),
                             drstd.p(), c.N, c.C, 0);
    else
      cuda::layernorm_backward(ddinp.p(), ddw.p(), ddb.p(), scratch.data(), dg.p(), dx.p(),
                               dwt.p(), dmean.p(), drstd.p(), c.N, c.C, 0);
    Outs got = {{"dinp", true, host(ddinp)}, {"dw", true, host(ddw)}};
    if (!rms) got.push_back({"db", true, host(ddb)});
    return got;
  });
}

// Inputs scaled so every product sum has magnitude ~1: weights ~ U(-1,1) * 1.7 / sqrt(C).
struct MatmulData {
  std::vector<float> inp, weight, bias;
  MatmulData(const OpCase& c, uint32_t seed) {
    const float ws = 1.7f / std::sqrt(float(c.C));
    inp = random_bf16_values(size_t(c.N) * c.C, -1, 1, seed);
    weight = random_bf16_values(size_t(c.OC) * c.C, -ws, ws, seed + 1);
    bias = random_bf16_values(c.OC, -0.5f, 0.5f, seed + 2);
  }
};

void note_fallbacks(const cuda::GemmContext& ctx, const OpCase& c) {
  // Not a failure (the unfused path gives the same result), but the device run should know.
  if (ctx.epilogue_fallbacks)
    std::printf("note: %s: %d epilogue fallbacks\n", case_name(c).c_str(), ctx.epilogue_fallbacks);
}

Result run_matmul_fwd(const OpCase& c, int off, bool gelu) {
  const MatmulData d(c, gelu ? 151 : 141);
  const size_t no = size_t(c.N) * c.OC;
  std::vector<float> pre(no), out(no);
  cpu::matmul_forward(pre.data(), d.inp.data(), d.weight.data(), c.bias ? d.bias.data() : nullptr,
                      c.N, c.C, c.OC);
  Outs want = {{"out", true, pre}};
  if (gelu) {
    cpu::gelu_forward(out.data(), pre.data(), long(no));
    want = {{"out", true, out}, {"pre_gelu", true, pre}};
  }
  cuda::GemmContext ctx;
  Result r = twice(want, [&]() -> Outs {
    auto dinp = dev_bf16(d.inp, off), dw = dev_bf16(d.weight, off), db = dev_bf16(d.bias, off);
    auto dout = poisoned<bf16>(no, off), dpre = poisoned<bf16>(no, off);
    cuda::matmul_forward(ctx, dout.p(), gelu ? dpre.p() : nullptr, dinp.p(), dw.p(),
                         c.bias ? db.p() : nullptr, c.N, c.C, c.OC, 0);
    Outs got = {{"out", true, host(dout)}};
    if (gelu) got.push_back({"pre_gelu", true, host(dpre)});
    return got;
  });
  note_fallbacks(ctx, c);
  return r;
}

Result run_matmul_bwd(const OpCase& c, int off, bool dgelu) {
  const MatmulData d(c, dgelu ? 171 : 161);
  const size_t nc = size_t(c.N) * c.C;
  const auto dout = random_bf16_values(size_t(c.N) * c.OC, -1, 1, 164);
  const auto dw0 = random_bf16_values(size_t(c.OC) * c.C, -1, 1, 165);
  const auto db0 = random_bf16_values(c.OC, -1, 1, 166);
  // dgelu: the layer's input is gelu(pre), pre ~ U(-3, 3)
  const auto pre = random_bf16_values(nc, -3, 3, 172);
  std::vector<float> dinp(nc), dw = dw0, db = db0;
  Outs want;
  if (dgelu) {
    std::vector<float> dact(nc);
    cpu::matmul_backward(dact.data(), nullptr, nullptr, dout.data(), d.inp.data(),
                         d.weight.data(), c.N, c.C, c.OC);
    cpu::gelu_backward(dinp.data(), pre.data(), dact.data(), long(nc));
    want = {{"dinp", true, dinp}};
  } else {
    cpu::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), d.inp.data(),
                         d.weight.data(), c.N, c.C, c.OC);
    want = {{"dinp", true, dinp}, {"dweight", true, dw}, {"dbias", true, db}};
  }
  cuda::GemmContext ctx;
  DeviceBuffer<float> scratch(cuda::matmul_backward_scratch_bytes(c.N, c.OC) / 4);
  Result r = twice(want, [&]() -> Outs {
    scratch.poison();
    auto din = dev_bf16(d.inp, off), dwt = dev_bf16(d.weight, off), ddout = dev_bf16(dout, off);
    auto dpre = dev_bf16(pre, off);
    auto ddinp = poisoned<bf16>(nc, off);
    auto ddw = dev_bf16(dw0, off), ddb = dev_bf16(db0, off);
    if (dgelu) {
      cuda::matmul_backward(ctx, ddinp.p(), nullptr, nullptr, nullptr, ddout.p(), nullptr,
                            dwt.p(), dpre.p(), c.N, c.C, c.OC, 0);
      return {{"dinp", true, host(ddinp)}};
    }
    cuda::matmul_backward(ctx, ddinp.p(), ddw.p(), ddb.p(), scratch.data(), ddout.p(), din.p(),
                          dwt.p(), nullptr, c.N, c.C, c.OC, 0);
    return {{"dinp", true, host(ddinp)}, {"dweight", true, host(ddw)}, {"dbias", true, host(ddb)}};
  });
  note_fallbacks(ctx, c);
  return r;
}

// dqkv (B,T,W) split into its query, key and value heads.
Outs split_qkv(const std::vector<float>& dqkv, const OpCase& c) {
  const long W = long(c.Hq + 2 * c.Hkv) * c.D;
  Outs parts = {{"dq", true, {}}, {"dk", true, {}}, {"dv", true, {}}};
  for (size_t i = 0; i < dqkv.size(); ++i) {
    const long col = long(i % W);
    parts[col < long(c.Hq) * c.D ? 0 : col < long(c.Hq + c.Hkv) * c.D ? 1 : 2].v.push_back(
        dqkv[i]);
  }
  return parts;
}

Result run_attention(const OpCase& c, int off, bool backward) {
  const cpu::AttentionShape s{c.B, c.T, c.Hq, c.Hkv, c.D};
  const uint32_t seed = 1000 + 7 * uint32_t(c.T + c.Hq * 13 + c.D + int(c.seg) * 101);
  const long W = long(c.Hq + 2 * c.Hkv) * c.D;
  const size_t n_qkv = size_t(c.B) * c.T * W, n_out = size_t(c.B) * c.T * c.Hq * c.D;
  const size_t n_lse = size_t(c.B) * c.Hq * c.T;
  const auto qkv = random_bf16_values(n_qkv, -2, 2, seed);
  const auto dout = random_bf16_values(n_out, -1, 1, seed + 1);
  std::vector<int32_t> seg;
  if (c.seg != Seg::none) seg = make_segments(c.B, c.T, c.seg);
  const int32_t* seg_host = seg.empty() ? nullptr : seg.data();
  std::vector<float> out(n_out), lse(n_lse), dqkv(n_qkv);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), seg_host, s);
  if (backward)
    cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(),
                            seg_host, s);
  auto d_qkv = dev_bf16(qkv, off), d_dout = dev_bf16(dout, off);
  auto d_seg = dev(seg.empty() ? std::vector<int32_t>{0} : seg, off);
  const int32_t* seg_dev = seg.empty() ? nullptr : d_seg.p();
  auto d_out = poisoned<bf16>(n_out, off);
  auto d_lse = poisoned<float>(n_lse, off);
  DeviceBuffer<unsigned char> scratch(cuda::attention_backward_scratch_bytes(s));
  if (!backward)
    return twice({{"out", true, out}, {"lse", false, lse}}, [&]() -> Outs {
      d_out.b.poison();
      d_lse.b.poison();
      cuda::attention_forward(d_out.p(), d_lse.p(), d_qkv.p(), seg_dev, s, 0);
      return {{"out", true, host(d_out)}, {"lse", false, host(d_lse)}};
    });
  // the backward reads the GPU forward's out and lse
  cuda::attention_forward(d_out.p(), d_lse.p(), d_qkv.p(), seg_dev, s, 0);
  return twice(split_qkv(dqkv, c), [&]() -> Outs {
    auto d_dqkv = poisoned<bf16>(n_qkv, off);
    scratch.poison();
    cuda::attention_backward(d_dqkv.p(), d_dout.p(), d_qkv.p(), d_out.p(), d_lse.p(), seg_dev,
                             scratch.data(), s, 0);
    return split_qkv(host(d_dqkv), c);
  });
}

// Decode problems of attention_decode_cases.h (shared with the CPU emulation of the kernels).
Result run_decode(const OpCase& c, int off, bool append) {
  const DecodeCase& dc = decode_cases()[size_t(c.decode)];
  const DecodeProblem p = make_decode_problem(dc, 500 + 10 * uint32_t(c.decode));
  cuda::DecodeShape s{p.n, dc.Hq, dc.Hkv, dc.D, p.rows, p.max_len};
  if (append)  // the caches after the append, NaN past each row's new tokens
    return twice({{"kcache", true, p.kc_want}, {"vcache", true, p.vc_want}}, [&]() -> Outs {
      auto k = dev_bf16(p.kc, off), v = dev_bf16(p.vc, off), qkv = dev_bf16(p.qkv, off);
      auto row = dev(p.row, off), pos = dev(p.pos, off);
      cuda::kv_cache_append(k.p(), v.p(), qkv.p(), row.p(), pos.p(), s, 0);
      return {{"kcache", true, host(k)}, {"vcache", true, host(v)}};
    });
  if (dc.q_in_qkv) s.q_stride = p.QKV;
  return twice({{"out", true, p.want}}, [&]() -> Outs {
    auto k = dev_bf16(p.kc_want, off), v = dev_bf16(p.vc_want, off);
    auto q = dev_bf16(dc.q_in_qkv ? p.qkv : p.q, off);
    auto row = dev(p.row, off), pos = dev(p.pos, off);
    auto out = poisoned<bf16>(size_t(p.n) * p.QW, off);
    cuda::attention_decode(out.p(), q.p(), k.p(), v.p(), row.p(), pos.p(), s, 0);
    return {{"out", true, host(out)}};
  });
}

Result run_rope(const OpCase& c, int off, bool backward) {
  constexpr float kTheta = 10000.0f;
  const long stride = long(c.H + c.extra) * c.D;
  const size_t n = size_t(c.N) * stride;
  const auto x = random_bf16_values(n, -1, 1, 101);
  const auto pos = random_ints(c.N, 0, 8192, 102);  // large positions: angle precision
  std::vector<float> want = x;
  if (backward)
    cpu::rope_backward(want.data(), pos.data(), c.N, c.H, c.D, stride, kTheta);
  else
    cpu::rope_forward(want.data(), pos.data(), c.N, c.H, c.D, stride, kTheta);
  // rotated heads, and the heads beyond H (the v part of qkv), which must stay untouched
  auto split = [&](const std::vector<float>& v) {
    Outs o = {{"rotated", true, {}}, {"untouched", true, {}}};
    for (size_t i = 0; i < n; ++i) o[long(i % stride) < long(c.H) * c.D ? 0 : 1].v.push_back(v[i]);
    return o;
  };
  return twice(split(want), [&]() -> Outs {
    auto dx = dev_bf16(x, off);
    auto dpos = dev(pos, off);
    if (backward)
      cuda::rope_backward(dx.p(), dpos.p(), c.N, c.H, c.D, stride, kTheta, 0);
    else
      cuda::rope_forward(dx.p(), dpos.p(), c.N, c.H, c.D, stride, kTheta, 0);
    return split(host(dx));
  });
}

Result run_gelu(const OpCase& c, int off, bool backward) {
  const long n = c.n;
  const auto x = random_bf16_values(n, -5, 5, 21), g = random_bf16_values(n, -2, 2, 22);
  std::vector<float> want(n);
  if (backward)
    cpu::gelu_backward(want.data(), x.data(), g.data(), n);
  else
    cpu::gelu_forward(want.data(), x.data(), n);
  const char* name = backward ? "dinp" : "out";
  return twice({{name, true, want}}, [&]() -> Outs {
    auto dx = dev_bf16(x, off), dg = dev_bf16(g, off);
    auto y = poisoned<bf16>(n, off);
    // in place: out aliases inp (forward), dinp aliases dout (backward)
    auto& dst = c.in_place ? (backward ? dg : dx) : y;
    if (backward)
      cuda::gelu_backward(dst.p(), dx.p(), dg.p(), n, 0);
    else
      cuda::gelu_forward(dst.p(), dx.p(), n, 0);
    return {{name, true, host(dst)}};
  });
}

Result run_swiglu(const OpCase& c, int off, bool backward) {
  const size_t n_in = size_t(c.N) * 2 * c.F, n_out = size_t(c.N) * c.F;
  const auto x = random_bf16_values(n_in, -5, 5, 31), g = random_bf16_values(n_out, -2, 2, 32);
  std::vector<float> want(backward ? n_in : n_out);
  if (backward)
    cpu::swiglu_backward(want.data(), x.data(), g.data(), c.N, c.F);
  else
    cpu::swiglu_forward(want.data(), x.data(), c.N, c.F);
  const char* name = backward ? "dinp" : "out";
  return twice({{name, true, want}}, [&]() -> Outs {
    auto dx = dev_bf16(x, off), dg = dev_bf16(g, off);
    auto y = poisoned<bf16>(want.size(), off);
    if (backward)
      cuda::swiglu_backward(y.p(), dx.p(), dg.p(), c.N, c.F, 0);
    else
      cuda::swiglu_forward(y.p(), dx.p(), c.N, c.F, 0);
    return {{name, true, host(y)}};
  });
}

Result run_residual(const OpCase& c, int off, bool acc) {
  const auto a = random_bf16_values(c.n, -4, 4, 1), b = random_bf16_values(c.n, -4, 4, 2);
  std::vector<float> want(c.n);
  for (long i = 0; i < c.n; ++i) want[i] = round_bf16(a[i] + b[i]);
  return twice({{"out", true, want}}, [&]() -> Outs {
    auto da = dev_bf16(a, off), db = dev_bf16(b, off);
    auto out = poisoned<bf16>(c.n, off);
    if (acc) {
      cuda::accumulate(da.p(), db.p(), c.n, 0);
      return {{"out", true, host(da)}};
    }
    auto& dst = c.in_place ? da : out;  // in place: out aliases a
    cuda::residual_forward(dst.p(), da.p(), db.p(), c.n, 0);
    return {{"out", true, host(dst)}};
  });
}

Result run_cross_entropy(const OpCase& c, int off, bool fused) {
  const size_t nv = size_t(c.N) * c.V;
  const auto logits = random_bf16_values(nv, -8, 8, fused ? 113 : 111);
  const auto targets = random_ints(c.N, 0, c.V, fused ? 114 : 112);
  std::vector<float> mask(c.N, 1.0f);
  if (c.mask)
    for (int n = 0; n < c.N; ++n) mask[n] = n % 3 == 1 ? 0.0f : 1.0f;
  const float* hmask = c.mask ? mask.data() : nullptr;
  const float dloss = 1.5f, norm = 4.0f;  // coeff = mask * 0.375
  std::vector<float> losses(c.N), grad(nv);
  const float mean = cpu::cross_entropy_forward(losses.data(), logits.data(), targets.data(),
                                                hmask, c.N, c.V);
  // dlogits of unmasked rows, and of masked rows (exactly 0)
  auto split = [&](const std::vector<float>& g) {
    Outs o = {{"dlogits", true, {}}, {"dlogits_masked", true, {}}};
    for (size_t i = 0; i < nv; ++i) o[mask[i / c.V] == 0.0f ? 1 : 0].v.push_back(g[i]);
    return o;
  };
  Outs want = {{"losses", false, losses}};
  if (fused) {
    cpu::cross_entropy_backward(grad.data(), logits.data(), targets.data(), hmask, c.N, c.V,
                                dloss, norm);
    for (Out& o : split(grad)) want.push_back(o);
  } else {
    want.push_back({"mean", false, {mean}});
    want.push_back({"logits", true, logits});  // the forward-only kernel leaves them untouched
  }
  return twice(want, [&]() -> Outs {
    auto dlog = dev_bf16(logits, off);
    auto dtg = dev(targets, off);
    auto dmask = dev(mask, off);
    auto dlosses = poisoned<float>(c.N, off), dmean = poisoned<float>(1, off);
    const float* mp = c.mask ? dmask.p() : nullptr;
    Outs got;
    if (fused) {
      cuda::cross_entropy_forward_backward(dlosses.p(), dlog.p(), dtg.p(), mp, c.N, c.V, dloss,
                                           norm, 0);
      got = {{"losses", false, host(dlosses)}};
      for (Out& o : split(host(dlog))) got.push_back(o);
    } else {
      cuda::cross_entropy_forward(dlosses.p(), dlog.p(), dtg.p(), mp, c.N, c.V, 0);
      cuda::cross_entropy_mean(dmean.p(), dlosses.p(), mp, c.N, 0);
      got = {{"losses", false, host(dlosses)},
             {"mean", false, host(dmean)},
             {"logits", true, host(dlog)}};
    }
    return got;
  });
}

// Tensor table over n elements with boundaries that are not multiples of 8 (packs straddle
// them) and an uncovered tail of 3 elements (updated without decay).
std::vector<cuda::AdamWRange> make_ranges(long n) {
  std::vector<cuda::AdamWRange> r;
  const long cuts[] = {0, n / 3 + 1, n / 2 + 3, n - 3};
  for (int i = 0; i < 3; ++i)
    if (cuts[i + 1] > cuts[i]) r.push_back({cuts[i], cuts[i + 1] - cuts[i], i % 2 == 0 ? 1 : 0});
  return r;
}

// off = base: elements [base, n) of the flat buffer, i.e. a shard starting mid-pack.
Result run_adamw(const OpCase& c, int off) {
  const long n = c.n, base = off;
  if (base >= n) return {};
  const cpu::AdamWParams p{1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3};
  const cuda::AdamWConfig cfg{p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.step};
  const auto ranges = make_ranges(n);
  const auto master0 = random_f32_values(n, -1, 1, 121);
  const auto m0 = random_f32_values(n, -0.01f, 0.01f, 122);
  const auto v0 = random_f32_values(n, 0, 1e-4f, 123);
  const auto grads = random_bf16_values(n, -0.1f, 0.1f, 124);
  const float scale = c.scale ? 0.5f : 1.0f;
  std::vector<float> master = master0, m = m0, v = v0;
  for (long i = base; i < n; ++i) {  // the CPU reference per element, decay from the table
    cpu::AdamWParams q = p;
    q.weight_decay = 0;
    for (const auto& r : ranges)
      if (i >= r.offset && i < r.offset + r.size && r.decay) q.weight_decay = p.weight_decay;
    float g = grads[i] * scale;
    cpu::adamw_update(&master[i], &g, &m[i], &v[i], 1, q);
  }
  auto tail = [&](const std::vector<float>& x) {
    return std::vector<float>(x.begin() + base, x.end());
  };
  Outs want = {{"master", false, tail(master)},
               {"m", false, tail(m)},
               {"v", false, tail(v)},
               {"params", true, rounded(tail(master))}};
  DeviceBuffer<cuda::AdamWRange> dranges(ranges);
  DeviceBuffer<float> dscale(std::vector<float>{scale});
  return twice(want, [&]() -> Outs {
    DeviceBuffer<float> dmaster(master0), dm(m0), dv(v0);
    auto dgrads = upload_bf16(grads);
    DeviceBuffer<bf16> params(n);
    params.poison();
    cuda::adamw_update(dmaster.data() + base, params.data() + base, dgrads.data() + base,
                       dm.data() + base, dv.data() + base, n - base, base, dranges.data(),
                       int(ranges.size()), c.scale ? dscale.data() : nullptr, cfg, 0);
    return {{"master", false, tail(dmaster.download())},
            {"m", false, tail(dm.download())},
            {"v", false, tail(dv.download())},
            {"params", true, tail(download_f32(params))}};
  });
}

Result run_grad_norm(const OpCase& c, int off) {
  const auto g = random_bf16_values(c.n, -0.05f, 0.05f, 131);
  const double sq = cpu::sum_squares(g.data(), c.n);
  const float norm = float(std::sqrt(sq));
  const float max_norms[] = {0.0f, 0.5f * norm, 2.0f * norm};
  std::vector<float> clip;  // (norm, scale) per max_norm
  for (float mx : max_norms)
    for (float x : {norm, mx > 0 ? std::min(1.0f, mx / (norm + 1e-6f)) : 1.0f}) clip.push_back(x);
  DeviceBuffer<float> scratch(cuda::sum_squares_scratch_floats());
  return twice({{"sumsq", false, {float(sq)}}, {"norm_scale", false, clip}}, [&]() -> Outs {
    auto dg = dev_bf16(g, off);
    auto out = poisoned<float>(1, off), ns = poisoned<float>(2 * 3, off);
    cuda::sum_squares(out.p(), dg.p(), c.n, scratch.data(), 0);
    for (int k = 0; k < 3; ++k)
      cuda::grad_norm_clip(ns.p() + 2 * k, ns.p() + 2 * k + 1, dg.p(), c.n, max_norms[k],
                           scratch.data(), 0);
    return {{"sumsq", false, host(out)}, {"norm_scale", false, host(ns)}};
  });
}

Result run_convert(const OpCase& c, int off, bool to_bf16_dir) {
  if (!to_bf16_dir) {
    const auto x = random_bf16_values(c.n, -1e4f, 1e4f, 12);
    return twice({{"out", false, x}}, [&]() -> Outs {
      auto in = dev_bf16(x, off);
      auto out = poisoned<float>(c.n, off);
      cuda::convert_bf16_to_f32(out.p(), in.p(), c.n, 0);
      return {{"out", false, host(out)}};
    });
  }
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f,
                           1.0f + 1.0f / 256,          // exact tie: rounds to even (1.0)
                           1.0f + 3.0f / 256,          // exact tie: rounds up to even
                           1.0f + 1.0f / 256 + 1e-7f,  // just above the tie: rounds up
                           3.0e38f, 3.4e38f,           // the latter rounds to inf
                           1e-40f, -1e-42f,            // subnormals
                           inf, -inf, std::nanf("")};
  auto x = random_f32_values(c.n, -1000, 1000, 11);
  for (size_t i = 0; i < std::size(special) && i < x.size(); ++i) x[i] = special[i];
  std::vector<float> want(c.n);
  for (long i = 0; i < c.n; ++i) want[i] = bf16_bits_to_f32(f32_to_bf16_bits(x[i]));
  return twice({{"out", true, want}}, [&]() -> Outs {
    auto in = dev(x, off);
    auto out = poisoned<bf16>(c.n, off);
    cuda::convert_f32_to_bf16(out.p(), in.p(), c.n, 0);
    return {{"out", true, host(out)}};
  });
}

Result run_case(const OpCase& c, int off) {
  switch (c.op) {
    case Op::embedding_fwd: return run_embedding_fwd(c, off);
    case Op::embedding_bwd: return run_embedding_bwd(c, off);
    case Op::layernorm_fwd: return run_norm_fwd(c, off, false, false);
    case Op::layernorm_residual_fwd: return run_norm_fwd(c, off, false, true);
    case Op::layernorm_bwd: return run_norm_bwd(c, off, false);
    case Op::rmsnorm_fwd: return run_norm_fwd(c, off, true, false);
    case Op::rmsnorm_residual_fwd: return run_norm_fwd(c, off, true, true);
    case Op::rmsnorm_bwd: return run_norm_bwd(c, off, true);
    case Op::matmul_fwd: return run_matmul_fwd(c, off, false);
    case Op::matmul_fwd_gelu: return run_matmul_fwd(c, off, true);
    case Op::matmul_bwd: return run_matmul_bwd(c, off, false);
    case Op::matmul_bwd_dgelu: return run_matmul_bwd(c, off, true);
    case Op::attention_fwd: return run_attention(c, off, false);
    case Op::attention_bwd: return run_attention(c, off, true);
    case Op::attention_decode: return run_decode(c, off, false);
    case Op::kv_cache_append: return run_decode(c, off, true);
    case Op::rope_fwd: return run_rope(c, off, false);
    case Op::rope_bwd: return run_rope(c, off, true);
    case Op::gelu_fwd: return run_gelu(c, off, false);
    case Op::gelu_bwd: return run_gelu(c, off, true);
    case Op::swiglu_fwd: return run_swiglu(c, off, false);
    case Op::swiglu_bwd: return run_swiglu(c, off, true);
    case Op::residual_fwd: return run_residual(c, off, false);
    case Op::accumulate: return run_residual(c, off, true);
    case Op::cross_entropy_fwd: return run_cross_entropy(c, off, false);
    case Op::cross_entropy_fwd_bwd: return run_cross_entropy(c, off, true);
    case Op::adamw: return run_adamw(c, off);
    case Op::grad_norm: return run_grad_norm(c, off);
    case Op::convert_f32_to_bf16: return run_convert(c, off, true);
    case Op::convert_bf16_to_f32: return run_convert(c, off, false);
    case Op::kCount: break;
  }
  ADD_FAILURE() << "no runner for " << case_name(c);
  return {};
}

// One test per op (ctest starts one process per test: per case would be ~400 processes), over
// all its kTest cases. FLAME_OP_CASES=SUBSTR keeps only the cases whose name contains SUBSTR
// (e.g. the sanitizer runs of tools/device_check.sh take FLAME_OP_CASES=_D64).
class OpConformance : public ::testing::TestWithParam<Op> {};

TEST_P(OpConformance, MatchesCpuPoisonedAlignedAndDeterministic) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const char* only = std::getenv("FLAME_OP_CASES");
  int compared = 0;
  for (const OpCase& c : cases_where(kTest)) {
    if (c.op != GetParam()) continue;
    if (only && case_name(c).find(only) == std::string::npos) continue;
    for (int off : spec(c.op).offsets) {
      SCOPED_TRACE(case_name(c) + " offset=" + std::to_string(off));
      const Result r = run_case(c, off);
      ASSERT_EQ(r.got[0].size(), r.want.size());
      ASSERT_EQ(r.got[1].size(), r.want.size());
      for (size_t i = 0; i < r.want.size(); ++i) {
        ASSERT_EQ(r.got[0][i].name, r.want[i].name);
        expect_match(c.op, r.got[0][i], r.want[i]);
        const auto& a = r.got[0][i].v;
        const auto& b = r.got[1][i].v;
        ASSERT_EQ(a.size(), b.size());
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
            << r.want[i].name << ": two runs differ (not deterministic)";
        ++compared;
      }
      if (HasFatalFailure()) return;
    }
  }
  if (!only) {
    EXPECT_GT(compared, 0) << "nothing compared";
  }
}

std::vector<Op> all_ops() {
  std::vector<Op> ops;
  for (int i = 0; i < int(Op::kCount); ++i) ops.push_back(Op(i));
  return ops;
}

INSTANTIATE_TEST_SUITE_P(Cuda, OpConformance, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<Op>& info) {
                           return std::string(spec(info.param).name);
                         });

// ---- edge cases that are not shape cases ----

TEST(CudaOpEdge, NormBackwardsRefuseTooWideRows) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  // 2 x C fp32 per warp must fit in shared memory: C = 30000 needs 240 KB.
  EXPECT_THROW(cuda::layernorm_backward_scratch_bytes(4, 30000), flame::Error);
  EXPECT_THROW(cuda::rmsnorm_backward_scratch_bytes(4, 60000), flame::Error);
}

TEST(CudaOpEdge, EmbeddingBackwardRefusesSmallWorkspace) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int N = 64, C = 8;
  DeviceBuffer<int32_t> tok(std::vector<int32_t>(N, 0));
  DeviceBuffer<bf16> dout(size_t(N) * C), dwte(size_t(kEmbV) * C);
  DeviceBuffer<char> ws(cuda::embedding_backward_workspace_bytes(N) - 1);
  EXPECT_THROW(cuda::embedding_backward(dwte.data(), nullptr, dout.data(), tok.data(), nullptr, N,
                                        C, ws.data(), ws.size(), 0),
               flame::Error);
}

TEST(CudaOpEdge, MatmulGeluEpilogueRefusesUnalignedWidth) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  cuda::GemmContext ctx;
  DeviceBuffer<bf16> out(7 * 20), pre(7 * 20), inp(7 * 12), w(20 * 12);
  EXPECT_THROW(cuda::matmul_forward(ctx, out.data(), pre.data(), inp.data(), w.data(), nullptr, 7,
                                    12, 20, 0),
               flame::Error);
}

TEST(CudaOpEdge, AttentionUnsupportedHeadDimThrows) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const cpu::AttentionShape s{1, 8, 2, 2, 96};
  DeviceBuffer<bf16> qkv(size_t(8) * 6 * 96), out(size_t(8) * 2 * 96);
  DeviceBuffer<float> lse(16);
  EXPECT_THROW(cuda::attention_forward(out.data(), lse.data(), qkv.data(), nullptr, s, 0),
               flame::Error);
}

// The shape checks run on the host before any launch: no device needed.
TEST(CudaOpEdge, AttentionDecodeRejectsBadShapesBeforeLaunching) {
  for (const cuda::DecodeShape& s :
       {cuda::DecodeShape{1, 1, 1, 16, 1, 4}, cuda::DecodeShape{1, 1, 1, 48, 1, 4},
        cuda::DecodeShape{1, 1, 1, 288, 1, 4}, cuda::DecodeShape{1, 3, 2, 64, 1, 4}}) {
    EXPECT_THROW(cuda::attention_decode(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, s, 0),
                 flame::Error)
        << "D=" << s.D << " Hq=" << s.Hq << " Hkv=" << s.Hkv;
    EXPECT_THROW(cuda::kv_cache_append(nullptr, nullptr, nullptr, nullptr, nullptr, s, 0),
                 flame::Error);
  }
}

TEST(CudaOpEdge, RopeRefusesOddHeadDimAndBackwardInvertsForward) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_THROW(cuda::rope_forward(nullptr, nullptr, 1, 1, 7, 7, 10000.0f, 0), flame::Error);
  const int N = 64, H = 4, D = 128;
  const long stride = long(H) * D;
  const auto x = random_bf16_values(size_t(N) * stride, -1, 1, 103);
  DeviceBuffer<int32_t> pos(random_ints(N, 0, 2048, 104));
  auto dx = upload_bf16(x);
  cuda::rope_forward(dx.data(), pos.data(), N, H, D, stride, 10000.0f, 0);
  cuda::rope_backward(dx.data(), pos.data(), N, H, D, stride, 10000.0f, 0);
  // two roundings
  expect_close(download_f32(dx), x, 2e-2f, 2e-2f, "rope backward(forward(x))");
}

TEST(CudaOpEdge, CrossEntropyZeroNormAndAllMasked) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const int N = 3, V = 64;
  auto buf = upload_bf16(random_bf16_values(size_t(N) * V, -4, 4, 115));
  DeviceBuffer<int32_t> targets(random_ints(N, 0, V, 116));
  DeviceBuffer<float> losses(N);
  cuda::cross_entropy_forward_backward(losses.data(), buf.data(), targets.data(), nullptr, N, V,
                                       1.0f, 0.0f, 0);
  expect_close(download_f32(buf), std::vector<float>(size_t(N) * V, 0.0f), 0.0f, 0.0f,
               "dlogits with norm 0");
  DeviceBuffer<float> zeros(std::vector<float>(5, 0.0f)), mask(std::vector<float>(5, 0.0f));
  DeviceBuffer<float> mean(1);
  mean.poison();
  cuda::cross_entropy_mean(mean.data(), zeros.data(), mask.data(), 5, 0);
  EXPECT_EQ(mean.download()[0], 0.0f) << "mean with everything masked";
}

TEST(CudaOpEdge, AdamWDecayFollowsTheRangeTableAndRejectsStepZero) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  const cuda::AdamWConfig bad{1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 0};
  EXPECT_THROW(cuda::adamw_update(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 0, nullptr, 0,
                                  nullptr, bad, 0),
               flame::Error);
  // Zero gradients and moments: the Adam term is 0, so master changes only by decay.
  const long n = 64;
  const std::vector<cuda::AdamWRange> ranges = {{3, 10, 1}, {13, 20, 0}, {40, 11, 1}};
  std::vector<float> zeros(n, 0.0f);
  DeviceBuffer<float> master(std::vector<float>(n, 1.0f)), m(zeros), v(zeros);
  auto grads = upload_bf16(zeros);
  DeviceBuffer<cuda::AdamWRange> dranges(ranges);
  const cuda::AdamWConfig cfg{0.5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};
  cuda::adamw_update(master.data(), nullptr, grads.data(), m.data(), v.data(), n, 0,
                     dranges.data(), int(ranges.size()), nullptr, cfg, 0);
  const auto got = master.download();
  for (long i = 0; i < n; ++i) {
    const bool decay = (i >= 3 && i < 13) || (i >= 40 && i < 51);
    EXPECT_FLOAT_EQ(got[i], decay ? 1.0f - 0.5f * 0.1f : 1.0f) << "element " << i;
  }
}

TEST(CudaOpEdge, ConvertEmptyIsANoOp) {
  if (!flame::cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_NO_THROW(cuda::convert_f32_to_bf16(nullptr, nullptr, 0, 0));
  EXPECT_NO_THROW(cuda::convert_bf16_to_f32(nullptr, nullptr, 0, 0));
}

#endif  // FLAME_WITH_CUDA

}  // namespace
}  // namespace flame::test
