// The one table of CUDA op cases, shared by the conformance test (tests/kernels/
// test_op_conformance.cpp: every case with `kTest` runs against the CPU reference) and the
// benchmark (bench/bench_ops.cu: every case with `kBench` is timed; `--all` times the test shapes
// too). Per op (OpSpec): the tolerance of each output by dtype, the pointer offsets (elements) the
// conformance test runs it at, and whether the benchmark rates it by bytes or by FLOPs. Per case
// (OpCase): the shape and variant flags; case_bytes() / case_flops() give the minimum DRAM
// traffic (each input read once, each output written once) and the arithmetic of the case.
// Host-only C++ (no CUDA needed), so the CPU test build can check the table itself.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/kernels/attention_decode_cases.h"

namespace flame::opcases {

enum class Op {
  embedding_fwd, embedding_bwd,
  layernorm_fwd, layernorm_residual_fwd, layernorm_bwd,
  rmsnorm_fwd, rmsnorm_residual_fwd, rmsnorm_bwd,
  matmul_fwd, matmul_fwd_gelu, matmul_bwd, matmul_bwd_dgelu,
  attention_fwd, attention_bwd, attention_decode, kv_cache_append,
  rope_fwd, rope_bwd,
  gelu_fwd, gelu_bwd, swiglu_fwd, swiglu_bwd,
  residual_fwd, accumulate,
  cross_entropy_fwd, cross_entropy_fwd_bwd,
  adamw, grad_norm,
  convert_f32_to_bf16, convert_bf16_to_f32,
  kCount
};

// Element-wise: |got - want| <= atol + rtol * |want|; with of_max, rtol multiplies max|want| over
// the whole output instead (attention: errors scale with the largest value of the tensor).
// A NaN matches only a NaN (outputs are poisoned with NaN before the launch).
struct Tol {
  float atol, rtol;
  bool of_max = false;
};
constexpr Tol kExact{0.0f, 0.0f};

// Tolerance of the outputs named `output` ("*" = every other output) of dtype `dtype`.
struct OutTol {
  const char* output;
  const char* dtype;  // "bf16" or "f32"
  Tol tol;
};

enum class Bound { memory, compute };

struct OpSpec {
  Op op;
  const char* name;
  std::vector<OutTol> tols;
  // Element offsets of every pointer the conformance test runs the op at: 0, and an offset that
  // takes the pointers off 16-byte alignment (1) where the op allows any alignment, or the
  // aligned-but-not-256-byte offset an op needing 16-byte alignment permits (attention: 8 bf16).
  std::vector<int> offsets;
  Bound bound;
  const char* why;  // note on the tolerances / offsets
};

// Shorthands for the tolerances used below.
constexpr Tol kBf16Norm{2e-2f, 2e-2f};   // bf16 result, fp32 sums in another order than the CPU
constexpr Tol kStats{1e-5f, 1e-4f};      // fp32 mean / rstd
constexpr Tol kBf16Point{1e-2f, 1e-2f};  // one bf16 rounding of fp32 pointwise math

inline const std::vector<OpSpec>& op_specs() {
  static const std::vector<OpSpec> specs = {
      {Op::embedding_fwd, "embedding_fwd", {{"*", "bf16", kExact}}, {0, 1}, Bound::memory,
       "one fp32 add of two bf16 values, one rounding, on both sides"},
      {Op::embedding_bwd, "embedding_bwd", {{"*", "bf16", kBf16Norm}}, {0, 1}, Bound::memory,
       "fp32 sums in another order, one bf16 rounding of the accumulated total"},
      {Op::layernorm_fwd, "layernorm_fwd", {{"*", "bf16", kBf16Norm}, {"*", "f32", kStats}},
       {0, 1}, Bound::memory, "offset 1: scalar path"},
      {Op::layernorm_residual_fwd, "layernorm_residual_fwd",
       {{"residual", "bf16", kExact}, {"*", "bf16", kBf16Norm}, {"*", "f32", kStats}}, {0, 1},
       Bound::memory, "residual: one fp32 add and one rounding on both sides"},
      {Op::layernorm_bwd, "layernorm_bwd", {{"*", "bf16", kBf16Norm}}, {0, 1}, Bound::memory,
       "dinp, dw, db accumulated into bf16"},
      {Op::rmsnorm_fwd, "rmsnorm_fwd", {{"*", "bf16", kBf16Norm}, {"*", "f32", kStats}}, {0, 1},
       Bound::memory, "offset 1: scalar path"},
      {Op::rmsnorm_residual_fwd, "rmsnorm_residual_fwd",
       {{"residual", "bf16", kExact}, {"*", "bf16", kBf16Norm}, {"*", "f32", kStats}}, {0, 1},
       Bound::memory, "residual exact"},
      {Op::rmsnorm_bwd, "rmsnorm_bwd", {{"*", "bf16", kBf16Norm}}, {0, 1}, Bound::memory, ""},
      // cuBLASLt picks its algorithm assuming 256-byte aligned pointers (no MIN_ALIGNMENT
      // preference is set in kernels/cuda/matmul.cu), so only offset 0 is a supported input.
      {Op::matmul_fwd, "matmul_fwd", {{"*", "bf16", kBf16Norm}}, {0}, Bound::compute,
       "fp32 accumulation in another order; magnitudes kept near 1"},
      {Op::matmul_fwd_gelu, "matmul_fwd_gelu", {{"*", "bf16", kBf16Norm}}, {0}, Bound::compute,
       "the fused epilogue may round the pre-activation first"},
      {Op::matmul_bwd, "matmul_bwd", {{"*", "bf16", kBf16Norm}}, {0}, Bound::compute, ""},
      {Op::matmul_bwd_dgelu, "matmul_bwd_dgelu", {{"*", "bf16", kBf16Norm}}, {0}, Bound::compute,
       ""},
      // Attention needs 16-byte aligned tensors: offset 8 elements (16 bytes bf16, 32 fp32).
      {Op::attention_fwd, "attention_fwd",
       {{"*", "bf16", {2e-2f, 2e-2f, true}}, {"*", "f32", {1e-3f, 0.0f}}}, {0, 8},
       Bound::compute, "P rounded to bf16 before P V; lse fp32"},
      {Op::attention_bwd, "attention_bwd", {{"*", "bf16", {2e-2f, 2e-2f, true}}}, {0, 8},
       Bound::compute, "P and dS rounded to bf16 before their products"},
      {Op::attention_decode, "attention_decode", {{"*", "bf16", kBf16Point}}, {0, 1},
       Bound::memory, "convex combinations of values in [-1,1]: one bf16 rounding + fp32 noise"},
      {Op::kv_cache_append, "kv_cache_append", {{"*", "bf16", kExact}}, {0, 1}, Bound::memory,
       "a plain copy; slots past the new tokens keep their NaN"},
      {Op::rope_fwd, "rope_fwd", {{"untouched", "bf16", kExact}, {"*", "bf16", kBf16Point}},
       {0, 1}, Bound::memory, "same double-precision angles; heads beyond H bit for bit"},
      {Op::rope_bwd, "rope_bwd", {{"untouched", "bf16", kExact}, {"*", "bf16", kBf16Point}},
       {0, 1}, Bound::memory, ""},
      {Op::gelu_fwd, "gelu_fwd", {{"*", "bf16", kBf16Point}}, {0, 1}, Bound::memory, ""},
      {Op::gelu_bwd, "gelu_bwd", {{"*", "bf16", kBf16Point}}, {0, 1}, Bound::memory, ""},
      {Op::swiglu_fwd, "swiglu_fwd", {{"*", "bf16", kBf16Point}}, {0, 1}, Bound::memory, ""},
      {Op::swiglu_bwd, "swiglu_bwd", {{"*", "bf16", kBf16Point}}, {0, 1}, Bound::memory, ""},
      {Op::residual_fwd, "residual_fwd", {{"*", "bf16", kExact}}, {0, 1}, Bound::memory,
       "fp32 add of two bf16 values, one rounding: the bits must agree"},
      {Op::accumulate, "accumulate", {{"*", "bf16", kExact}}, {0, 1}, Bound::memory, ""},
      // dlogits: softmax probabilities are ~1/V, so the absolute floor is 1e-6 * coeff (coeff =
      // dloss / norm = 1.5 / 4 in the test), far below any probability that matters.
      {Op::cross_entropy_fwd, "cross_entropy_fwd",
       {{"logits", "bf16", kExact}, {"*", "f32", {1e-4f, 1e-4f}}}, {0, 1}, Bound::memory,
       "fp32 exp-sum vs the CPU's double; logits untouched"},
      {Op::cross_entropy_fwd_bwd, "cross_entropy_fwd_bwd",
       {{"dlogits_masked", "bf16", kExact}, {"*", "bf16", {3.75e-7f, 2e-2f}},
        {"*", "f32", {1e-4f, 1e-4f}}},
       {0, 1}, Bound::memory, "masked rows exactly 0"},
      // Offset: a shard starting mid-pack (base 5 of the flat buffer), as under ZeRO-1.
      {Op::adamw, "adamw",
       {{"v", "f32", {1e-9f, 1e-5f}}, {"params", "bf16", {0.0f, 1e-2f}},
        {"*", "f32", {1e-6f, 1e-5f}}},
       {0, 5}, Bound::memory, "same fp32 formula, FMA contraction: a few ulps; v ~1e-4"},
      {Op::grad_norm, "grad_norm", {{"*", "f32", {0.0f, 1e-5f}}}, {0, 1}, Bound::memory,
       "fp32 partial sums vs the CPU's double"},
      {Op::convert_f32_to_bf16, "convert_f32_to_bf16", {{"*", "bf16", kExact}}, {0, 1},
       Bound::memory, "round to nearest even on both sides; NaN stays NaN"},
      {Op::convert_bf16_to_f32, "convert_bf16_to_f32", {{"*", "f32", kExact}}, {0, 1},
       Bound::memory, "exact"},
  };
  return specs;
}

inline const OpSpec& spec(Op op) {
  for (const OpSpec& s : op_specs())
    if (s.op == op) return s;
  static const OpSpec none{Op::kCount, "?", {}, {0}, Bound::memory, ""};
  return none;
}

// Tolerance for an output (first match by name, then "*", of that dtype).
inline Tol tolerance(Op op, const std::string& output, bool bf16) {
  const char* dt = bf16 ? "bf16" : "f32";
  for (const OutTol& t : spec(op).tols)
    if (output == t.output && std::string(dt) == t.dtype) return t.tol;
  for (const OutTol& t : spec(op).tols)
    if (std::string(t.output) == "*" && std::string(dt) == t.dtype) return t.tol;
  return kExact;
}

enum Where : int { kTest = 1, kBench = 2, kBoth = 3 };
enum class Seg : int { none, packed, reused };

// (B,T) segment ids: consecutive runs of odd lengths (different per row); `reused` also lets
// some ids come back later in the row (the reference treats equal ids as one example).
inline std::vector<int32_t> make_segments(int B, int T, Seg mode) {
  static const int kLens[] = {5, 1, 13, 37, 3, 71, 9, 129, 17, 31};
  std::vector<int32_t> seg(size_t(B) * T);
  for (int b = 0; b < B; ++b) {
    int t = 0, id = 10 + b, li = 3 * b;
    while (t < T) {
      const int len = kLens[li++ % 10];
      for (int j = 0; j < len && t < T; ++j) seg[size_t(b) * T + t++] = id;
      id += (mode == Seg::reused && li % 3 == 0) ? -2 : 1;
    }
  }
  return seg;
}


// One case. Fields an op does not use stay at their defaults; n is the element count of the
// flat ops (activations, residual, adamw, grad norm, convert).
struct OpCase {
  Op op;
  int where = kTest;
  long n = 0;
  int N = 0, C = 0, OC = 0, V = 0, F = 0;  // rows, channels, out channels, vocab, SwiGLU width
  int B = 0, T = 0, Hq = 0, Hkv = 0, D = 0, H = 0, extra = 0;  // attention / rope heads
  bool bias = false;       // matmul, layernorm
  bool pos = true;         // embedding: with the position table
  bool single_id = false;  // embedding_bwd: every row the same id (one long run)
  bool in_place = false;   // output aliases an input
  bool mask = false;       // cross_entropy: every third row masked
  bool scale = false;      // adamw: grad scale pointer
  Seg seg = Seg::none;     // attention segments
  int decode = -1;         // attention_decode / kv_cache_append: index into decode_cases()
  int rows = 0, cached = 0;  // decode bench: rows of the cache, tokens already cached per row
};

inline std::string case_name(const OpCase& c) {
  std::string s = spec(c.op).name;
  auto add = [&](const char* k, long v) {
    if (v) s += std::string("_") + k + std::to_string(v);
  };
  add("n", c.n);
  add("B", c.B);
  add("T", c.T);
  add("N", c.N);
  add("C", c.C);
  add("OC", c.OC);
  add("V", c.V);
  add("F", c.F);
  add("Hq", c.Hq);
  add("Hkv", c.Hkv);
  add("H", c.H);
  add("extra", c.extra);
  add("D", c.D);
  add("rows", c.rows);
  add("cached", c.cached);
  if (c.decode >= 0) s += "_case" + std::to_string(c.decode);
  if (c.bias) s += "_bias";
  if (c.op == Op::embedding_fwd || c.op == Op::embedding_bwd) s += c.pos ? "_pos" : "_nopos";
  if (c.single_id) s += "_oneid";
  if (c.in_place) s += "_inplace";
  if (c.mask) s += "_masked";
  if (c.scale) s += "_scaled";
  if (c.seg == Seg::packed) s += "_segpacked";
  if (c.seg == Seg::reused) s += "_segreused";
  return s;
}

constexpr int kEmbV = 50, kEmbMaxT = 16;  // test tables: a small vocabulary, ids repeat
constexpr int kBenchMaxT = 1024;          // the benchmark's position table (V = c.V)

inline std::vector<OpCase> build_op_cases() {
  std::vector<OpCase> v;
  auto add = [&](OpCase c) { v.push_back(c); };

  // ---- embedding: odd C (771), one row, long rows of one id (a 5000-row run) ----
  const int emb[][2] = {{1, 12}, {7, 768}, {33, 771}, {1000, 64}, {4096, 768}};
  for (Op op : {Op::embedding_fwd, Op::embedding_bwd})
    for (auto& s : emb)
      for (bool pos : {true, false}) add({.op = op, .N = s[0], .C = s[1], .pos = pos});
  for (int C : {768, 771})
    add({.op = Op::embedding_bwd, .N = 5000, .C = C, .single_id = true});
  add({.op = Op::embedding_fwd, .where = kBench, .N = 16384, .C = 768, .V = 50304});
  add({.op = Op::embedding_bwd, .where = kBench, .N = 16384, .C = 768, .V = 50304});

  // ---- layernorm: packed (768), scalar (12, 771), rows in registers (8, 768, 1000, 1024),
  // streamed (771, 4096: > 48 KB of shared memory in backward) ----
  const int ln[][2] = {{1, 12}, {7, 768}, {33, 771}, {64, 8}, {300, 1024}, {3, 1000}, {5, 4096}};
  for (auto& s : ln) {
    for (bool b : {true, false}) add({.op = Op::layernorm_fwd, .N = s[0], .C = s[1], .bias = b});
    for (bool ip : {false, true})
      add({.op = Op::layernorm_residual_fwd, .N = s[0], .C = s[1], .bias = true, .in_place = ip});
    add({.op = Op::layernorm_bwd, .N = s[0], .C = s[1], .bias = true});
  }
  for (Op op : {Op::layernorm_fwd, Op::layernorm_residual_fwd, Op::layernorm_bwd}) {
    add({.op = op, .where = kBench, .N = 16384, .C = 768, .bias = true});
    add({.op = op, .where = kBench, .N = 8192, .C = 4096, .bias = true});
  }

  // ---- rmsnorm: as layernorm, 8192 for the > 48 KB backward ----
  const int rms[][2] = {{1, 12}, {7, 768}, {33, 771}, {64, 8}, {300, 1024}, {3, 8192}};
  for (auto& s : rms) {
    add({.op = Op::rmsnorm_fwd, .N = s[0], .C = s[1]});
    for (bool ip : {false, true})
      add({.op = Op::rmsnorm_residual_fwd, .N = s[0], .C = s[1], .in_place = ip});
    add({.op = Op::rmsnorm_bwd, .N = s[0], .C = s[1]});
  }
  for (Op op : {Op::rmsnorm_fwd, Op::rmsnorm_residual_fwd, Op::rmsnorm_bwd}) {
    add({.op = op, .where = kBench, .N = 16384, .C = 768});
    add({.op = op, .where = kBench, .N = 8192, .C = 4096});
  }

  // ---- matmul: odd sizes (7x12x20, 33x771x100) and GPT-2-like ones; GELU needs OC % 8 == 0
  // (forward) or C % 8 == 0 (backward) ----
  const int mm[][3] = {{1, 8, 16}, {7, 12, 20}, {33, 771, 100}, {64, 768, 2304}, {128, 256, 1024}};
  for (auto& s : mm) {
    for (bool b : {true, false}) {
      add({.op = Op::matmul_fwd, .N = s[0], .C = s[1], .OC = s[2], .bias = b});
      if (s[2] % 8 == 0)
        add({.op = Op::matmul_fwd_gelu, .N = s[0], .C = s[1], .OC = s[2], .bias = b});
    }
    add({.op = Op::matmul_bwd, .N = s[0], .C = s[1], .OC = s[2], .bias = true});
    if (s[1] % 8 == 0) add({.op = Op::matmul_bwd_dgelu, .N = s[0], .C = s[1], .OC = s[2]});
  }
  add({.op = Op::matmul_fwd, .where = kBench, .N = 16384, .C = 768, .OC = 2304, .bias = true});
  add({.op = Op::matmul_fwd_gelu, .where = kBench, .N = 16384, .C = 768, .OC = 3072,
       .bias = true});
  add({.op = Op::matmul_bwd, .where = kBench, .N = 16384, .C = 768, .OC = 2304, .bias = true});
  add({.op = Op::matmul_bwd_dgelu, .where = kBench, .N = 16384, .C = 3072, .OC = 768});
  add({.op = Op::matmul_fwd, .where = kBench, .N = 8192, .C = 4096, .OC = 4096});

  // ---- attention: D 64 and 128, T in {1, 7, 64, 130, 256} (partial tiles, several tiles),
  // Hq == Hkv and grouped KV heads (4/2, 8/1), segments none / packed odd lengths / ids that come
  // back later in the row; long packed rows (several tiles per segment, 1024-token scans) ----
  for (Op op : {Op::attention_fwd, Op::attention_bwd}) {
    for (int D : {64, 128})
      for (int T : {1, 7, 64, 130, 256})
        for (auto hh : {std::pair{2, 2}, std::pair{4, 2}, std::pair{8, 1}})
          for (Seg sg : {Seg::none, Seg::packed, Seg::reused}) {
            const int B = (hh.first == 4 || T == 7) ? 2 : 1;
            add({.op = op, .B = B, .T = T, .Hq = hh.first, .Hkv = hh.second, .D = D, .seg = sg});
          }
    add({.op = op, .B = 2, .T = 515, .Hq = 4, .Hkv = 1, .D = 64, .seg = Seg::packed});
    add({.op = op, .B = 1, .T = 300, .Hq = 2, .Hkv = 2, .D = 128, .seg = Seg::packed});
    add({.op = op, .B = 1, .T = 2100, .Hq = 2, .Hkv = 1, .D = 64, .seg = Seg::reused});
    add({.op = op, .B = 1, .T = 2100, .Hq = 2, .Hkv = 1, .D = 128, .seg = Seg::packed});
    add({.op = op, .where = kBench, .B = 8, .T = 1024, .Hq = 12, .Hkv = 12, .D = 64});
    add({.op = op, .where = kBench, .B = 4, .T = 4096, .Hq = 16, .Hkv = 16, .D = 128});
  }

  // ---- decode against a KV cache: the problems of attention_decode_cases.h ----
  for (int i = 0; i < int(test::decode_cases().size()); ++i) {
    add({.op = Op::attention_decode, .decode = i});
    add({.op = Op::kv_cache_append, .decode = i});
  }
  // 64 rows decoding one token each against 4095 cached tokens, Llama-like heads.
  add({.op = Op::attention_decode, .where = kBench, .Hq = 32, .Hkv = 8, .D = 128, .rows = 64,
       .cached = 4095});
  add({.op = Op::kv_cache_append, .where = kBench, .Hq = 32, .Hkv = 8, .D = 128, .rows = 64,
       .cached = 4095});

  // ---- rope: D 2, 6 (odd half), 64, 128; extra heads after the rotated ones (the v part) ----
  const int rp[][4] = {{1, 1, 0, 2}, {7, 3, 1, 64}, {33, 6, 2, 128}, {5, 2, 1, 6}, {300, 4, 2, 64}};
  for (Op op : {Op::rope_fwd, Op::rope_bwd}) {
    for (auto& s : rp) add({.op = op, .N = s[0], .D = s[3], .H = s[1], .extra = s[2]});
    add({.op = op, .where = kBench, .N = 16384, .D = 64, .H = 24, .extra = 12});
    add({.op = op, .where = kBench, .N = 8192, .D = 128, .H = 40, .extra = 8});
  }

  // ---- activations ----
  for (Op op : {Op::gelu_fwd, Op::gelu_bwd}) {
    for (long n : {1L, 7L, 33L * 771, (1L << 20) + 5}) add({.op = op, .n = n});
    add({.op = op, .n = 1001, .in_place = true});
    add({.op = op, .where = kBench, .n = 16384L * 3072});
  }
  for (Op op : {Op::swiglu_fwd, Op::swiglu_bwd}) {
    for (int N : {1, 7, 33})
      for (int F : {8, 12, 768, 771}) add({.op = op, .N = N, .F = F});
    add({.op = op, .where = kBench, .N = 8192, .F = 11008});
  }

  // ---- residual ----
  for (long n : {1L, 7L, 33L, 4099L, (1L << 20) + 5}) add({.op = Op::residual_fwd, .n = n});
  for (long n : {1L, 13L, 100003L}) {
    add({.op = Op::residual_fwd, .n = n, .in_place = true});
    add({.op = Op::accumulate, .n = n});
  }
  add({.op = Op::residual_fwd, .where = kBench, .n = 16384L * 768});
  add({.op = Op::accumulate, .where = kBench, .n = 16384L * 768});

  // ---- cross-entropy: V 50304 (GPT-2's padded vocabulary), scalar-path V 7 and 771 ----
  const int ce[][2] = {{1, 7}, {7, 50304}, {33, 771}, {16, 4096}, {5, 8}};
  for (Op op : {Op::cross_entropy_fwd, Op::cross_entropy_fwd_bwd})
    for (auto& s : ce)
      for (bool m : {false, true}) add({.op = op, .N = s[0], .V = s[1], .mask = m});
  for (Op op : {Op::cross_entropy_fwd, Op::cross_entropy_fwd_bwd})
    add({.op = op, .where = kBench, .N = 16384, .V = 50304, .mask = true});

  // ---- optimizer ----
  for (long n : {1L, 7L, 1000L, 123457L})
    for (bool sc : {false, true}) add({.op = Op::adamw, .n = n, .scale = sc});
  add({.op = Op::adamw, .where = kBench, .n = 124475904L, .scale = true});
  for (long n : {1L, 7L, 100003L, (1L << 22) + 9}) add({.op = Op::grad_norm, .n = n});
  add({.op = Op::grad_norm, .where = kBench, .n = 124475904L});

  // ---- convert ----
  for (long n : {1L, 7L, 1000L, (1L << 20) + 3}) add({.op = Op::convert_f32_to_bf16, .n = n});
  for (long n : {1L, 9L, 65536L + 7}) add({.op = Op::convert_bf16_to_f32, .n = n});
  add({.op = Op::convert_f32_to_bf16, .where = kBench, .n = 1L << 27});
  add({.op = Op::convert_bf16_to_f32, .where = kBench, .n = 1L << 27});
  return v;
}

inline const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build_op_cases();
  return cases;
}

// Decode shape of a kBench decode case: every row takes one new token at position `cached`.
inline int decode_tokens(const OpCase& c) {
  if (c.decode >= 0) {
    int n = 0;
    for (int f : test::decode_cases()[size_t(c.decode)].fresh) n += f;
    return n;
  }
  return c.rows;
}

// Minimum DRAM traffic of one launch (bytes): inputs read once, outputs written once, accumulated
// outputs read and written. bf16 = 2 bytes, fp32 / int32 = 4.
inline double case_bytes(const OpCase& c) {
  const double NC = double(c.N) * c.C, n = double(c.n);
  switch (c.op) {
    case Op::embedding_fwd:  // tokens (+pos) in, a wte (+wpe) row per token, out
      return c.N * (c.pos ? 8.0 : 4.0) + NC * 2 * (c.pos ? 3 : 2);
    case Op::embedding_bwd: {  // dout, ids; each touched table row read + written once
      const double rows_wte = std::min<double>(c.N, c.V ? c.V : kEmbV);
      const double rows_wpe = c.pos ? std::min<double>(c.N, c.V ? kBenchMaxT : kEmbMaxT) : 0;
      return NC * 2 + c.N * (c.pos ? 8.0 : 4.0) + (rows_wte + rows_wpe) * c.C * 4;
    }
    case Op::layernorm_fwd:  // x, out, w, b, mean, rstd
      return NC * 4 + c.C * 4.0 + c.N * 8.0;
    case Op::rmsnorm_fwd:
      return NC * 4 + c.C * 2.0 + c.N * 4.0;
    case Op::layernorm_residual_fwd:  // resid, delta in; residual, out written
      return NC * 8 + c.C * 4.0 + c.N * 8.0;
    case Op::rmsnorm_residual_fwd:
      return NC * 8 + c.C * 2.0 + c.N * 4.0;
    case Op::layernorm_bwd:  // dout, x, dinp read + written; w, dw, db; mean, rstd
      return NC * 8 + c.C * 10.0 + c.N * 8.0;
    case Op::rmsnorm_bwd:
      return NC * 8 + c.C * 6.0 + c.N * 4.0;
    case Op::matmul_fwd:
    case Op::matmul_fwd_gelu:
      return (NC + double(c.OC) * c.C + double(c.N) * c.OC * (c.op == Op::matmul_fwd ? 1 : 2)) * 2;
    case Op::matmul_bwd:  // dout, inp, weight, dinp, dweight (read + write), dbias
      return (double(c.N) * c.OC + NC * 2 + double(c.OC) * c.C * 3 + c.OC * 2.0) * 2;
    case Op::matmul_bwd_dgelu:  // dout, weight, pre_gelu, dinp
      return (double(c.N) * c.OC + double(c.OC) * c.C + NC * 2) * 2;
    case Op::attention_fwd: {
      const double tok = double(c.B) * c.T;
      return tok * (c.Hq + 2 * c.Hkv) * c.D * 2 + tok * c.Hq * c.D * 2 + tok * c.Hq * 4;
    }
    case Op::attention_bwd: {
      const double tok = double(c.B) * c.T;
      return tok * (c.Hq + 2 * c.Hkv) * c.D * 4 + tok * c.Hq * c.D * 4 + tok * c.Hq * 8;
    }
    case Op::attention_decode: {  // each token's q, its row's keys and values up to it, out
      const double kv = double(c.Hkv) * c.D * 2 * 2;
      if (c.decode >= 0) {
        const auto& d = test::decode_cases()[size_t(c.decode)];
        double b = 0;
        for (size_t r = 0; r < d.cached.size(); ++r)
          for (int j = 0; j < d.fresh[r]; ++j) b += (d.cached[r] + j + 1) * kv;
        return b + decode_tokens(c) * double(d.Hq) * d.D * 4;
      }
      return c.rows * ((c.cached + 1) * kv + double(c.Hq) * c.D * 4);
    }
    case Op::kv_cache_append: {
      const int D = c.decode >= 0 ? test::decode_cases()[size_t(c.decode)].D : c.D;
      const int Hkv = c.decode >= 0 ? test::decode_cases()[size_t(c.decode)].Hkv : c.Hkv;
      return decode_tokens(c) * double(Hkv) * D * 2 * 2 * 2;
    }
    case Op::rope_fwd:
    case Op::rope_bwd:
      return double(c.N) * c.H * c.D * 4 + c.N * 4.0;
    case Op::gelu_fwd:
      return n * 4;
    case Op::gelu_bwd:
      return n * 6;
    case Op::swiglu_fwd:
      return double(c.N) * c.F * 6;
    case Op::swiglu_bwd:
      return double(c.N) * c.F * 10;
    case Op::residual_fwd:
    case Op::accumulate:
      return n * 6;
    case Op::cross_entropy_fwd:
      return double(c.N) * c.V * 2 + c.N * 12.0;
    case Op::cross_entropy_fwd_bwd:
      return double(c.N) * c.V * 4 + c.N * 12.0;
    case Op::adamw:  // master, m, v read + written, grad read, param written
      return n * 28;
    case Op::grad_norm:
      return n * 2;
    case Op::convert_f32_to_bf16:
    case Op::convert_bf16_to_f32:
      return n * 6;
    case Op::kCount:
      break;
  }
  return 0;
}

// Arithmetic of one launch (FLOPs) for the compute-bound ops; 0 for the others.
inline double case_flops(const OpCase& c) {
  const double mnk = double(c.N) * c.C * c.OC;
  // causal: about half the T x T scores are computed; 2 products (S = Q K^T, O = P V)
  const double attn_fwd = 2.0 * 2.0 * c.B * c.Hq * double(c.T) * c.T * c.D / 2.0;
  switch (c.op) {
    case Op::matmul_fwd:
    case Op::matmul_fwd_gelu:
      return 2 * mnk;
    case Op::matmul_bwd:  // dinp and dweight
      return 4 * mnk;
    case Op::matmul_bwd_dgelu:  // dinp only
      return 2 * mnk;
    case Op::attention_fwd:
      return attn_fwd;
    case Op::attention_bwd:  // the usual 2.5 x forward (the kernels recompute more)
      return 2.5 * attn_fwd;
    default:
      return 0;
  }
}

}  // namespace flame::opcases
