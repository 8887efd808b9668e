// Attention of new tokens against a KV cache (kernels/attention.h), for batched greedy decoding.
// One warp per (token i, query head h); the lanes split the head dim D (D/32 contiguous elements
// each, 1..8). The warp walks the keys 0..pos[i] of row[i]'s cache four at a time: four partial
// dot products per lane, reduced together by butterfly shuffles (four independent chains keep the
// shuffle unit busy instead of waiting on one), then an online softmax in fp32 (running max m,
// normaliser l, unnormalised output acc rescaled by exp(m_old - m_new)), so each key and value
// is read once. Decode is bound by reading the cache: no shared memory, no tensor cores.
// kv_cache_append copies the k and v heads of the new tokens' qkv rows into their cache slots.
// Written against the primitives of attention_common.cuh, so tests/kernels/emu runs this exact
// code on the CPU (AttentionDecodeEmu).
#include "kernels/cuda/attention_common.cuh"

#include <cmath>

#include "kernels/attention.h"
#include "core/error.h"

namespace flame::cuda {
namespace {

using bf16 = __nv_bfloat16;
using attn::shfl_xor;
FLAME_ATTN_DEV float to_f32(bf16 x) { return __bfloat162float(x); }
FLAME_ATTN_DEV bf16 to_bf16(float x) { return __float2bfloat16_rn(x); }

constexpr int kWarpsPerBlock = 4;
constexpr int kKeysPerStep = 4;
constexpr int kMaxD = 256;

struct DecodeParams {
  bf16* out;             // (n, Hq*D)
  const bf16* q;         // (n, q_stride), the Hq heads first
  const bf16* kcache;    // (rows, max_len, Hkv*D)
  const bf16* vcache;    // (rows, max_len, Hkv*D)
  const int32_t* row;    // (n)
  const int32_t* pos;    // (n)
  int n, Hq, Hkv, max_len;
  long q_stride;
  float scale_log2;  // log2(e) / sqrt(D): scores go through exp2
};

// E = D / 32 elements per lane.
template <int E>
FLAME_ATTN_GLOBAL void FLAME_ATTN_BOUNDS(kWarpsPerBlock * 32)
    attention_decode_kernel(const DecodeParams p) {
  constexpr int D = 32 * E;
  const int lane = threadIdx.x % 32;
  const long task = long(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;  // (token, head)
  if (task >= long(p.n) * p.Hq) return;  // whole warps only: the shuffles below stay full-warp
  const int i = int(task / p.Hq), h = int(task % p.Hq);
  const int kvh = h / (p.Hq / p.Hkv);
  const long kv_width = long(p.Hkv) * D;
  const long base = (long(p.row[i]) * p.max_len) * kv_width + long(kvh) * D + lane * E;
  const bf16* kp = p.kcache + base;
  const bf16* vp = p.vcache + base;
  const int n_keys = p.pos[i] + 1;

  float q[E], acc[E];
  const bf16* qp = p.q + long(i) * p.q_stride + long(h) * D + lane * E;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    q[e] = to_f32(qp[e]) * p.scale_log2;  // scores come out in log2 units
    acc[e] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;

  for (int j0 = 0; j0 < n_keys; j0 += kKeysPerStep) {
    float s[kKeysPerStep];
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      s[u] = 0.0f;
      if (j0 + u < n_keys) {  // uniform over the warp
        const bf16* k = kp + long(j0 + u) * kv_width;
#pragma unroll
        for (int e = 0; e < E; ++e) s[u] += q[e] * to_f32(k[e]);
      }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
#pragma unroll
      for (int u = 0; u < kKeysPerStep; ++u) s[u] += shfl_xor(s[u], offset);
    }
    float m_new = m;
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u)
      if (j0 + u < n_keys) m_new = fmaxf(m_new, s[u]);
    const float corr = exp2f(m - m_new);  // 0 on the first step (m = -inf)
    l *= corr;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] *= corr;
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      if (j0 + u < n_keys) {
        const float w = exp2f(s[u] - m_new);
        l += w;
        const bf16* v = vp + long(j0 + u) * kv_width;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[e] += w * to_f32(v[e]);
      }
    }
    m = m_new;
  }
  bf16* op = p.out + long(i) * p.Hq * D + long(h) * D + lane * E;
  const float inv_l = 1.0f / l;  // l >= 1: the maximum's own weight is exp2(0)
#pragma unroll
  for (int e = 0; e < E; ++e) op[e] = to_bf16(acc[e] * inv_l);
}

template <int E>
void launch_decode(const DecodeParams& p, cudaStream_t stream) {
  const long warps = long(p.n) * p.Hq;
  const long blocks = (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
  FLAME_CHECK(blocks <= 0x7fffffffL, "attention_decode: grid too large (n=" << p.n << ")");
  FLAME_ATTN_LAUNCH(attention_decode_kernel<E>, dim3(unsigned(blocks)), dim3(kWarpsPerBlock * 32),
                    0, stream, p);
  FLAME_ATTN_CHECK_LAUNCH();
}

// One thread per element of the n new tokens' k and v heads: (n, Hkv*D) each.
FLAME_ATTN_GLOBAL void kv_cache_append_kernel(bf16* kcache, bf16* vcache, const bf16* qkv,
                                       const int32_t* row, const int32_t* pos, long n,
                                       int kv_width, long q_width, int max_len) {
  const long idx = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * kv_width) return;
  const long i = idx / kv_width;
  const int c = int(idx % kv_width);
  const bf16* src = qkv + i * (q_width + 2 * kv_width) + q_width + c;  // k head element
  const long dst = (long(row[i]) * max_len + pos[i]) * kv_width + c;
  kcache[dst] = src[0];
  vcache[dst] = src[kv_width];
}

void check_shape(const DecodeShape& s, const char* what) {
  FLAME_CHECK(s.n >= 0 && s.Hq >= 1 && s.Hkv >= 1 && s.Hq % s.Hkv == 0 && s.rows >= 1 &&
                  s.max_len >= 1,
              "" << what << ": bad shape n=" << s.n << " Hq=" << s.Hq << " Hkv=" << s.Hkv
                   << " rows=" << s.rows << " max_len=" << s.max_len);
  FLAME_CHECK(s.D >= 32 && s.D <= kMaxD && s.D % 32 == 0,
              "" << what << ": head dim D=" << s.D << " must be a multiple of 32 in [32," << kMaxD
                   << "]");
}

}  // namespace

void attention_decode(bf16* out, const bf16* q, const bf16* kcache, const bf16* vcache,
                      const int32_t* row, const int32_t* pos, const DecodeShape& s,
                      cudaStream_t stream) {
  check_shape(s, "attention_decode");
  const long q_stride = s.q_stride > 0 ? s.q_stride : long(s.Hq) * s.D;
  FLAME_CHECK(q_stride >= long(s.Hq) * s.D,
              "attention_decode: q_stride " << q_stride << " < Hq*D = " << s.Hq * s.D);
  if (s.n == 0) return;
  const float scale_log2 = 1.4426950408889634f / std::sqrt(float(s.D));
  const DecodeParams p{out, q, kcache, vcache, row, pos, s.n, s.Hq, s.Hkv, s.max_len, q_stride,
                       scale_log2};
  switch (s.D / 32) {
    case 1: launch_decode<1>(p, stream); break;
    case 2: launch_decode<2>(p, stream); break;
    case 3: launch_decode<3>(p, stream); break;
    case 4: launch_decode<4>(p, stream); break;
    case 5: launch_decode<5>(p, stream); break;
    case 6: launch_decode<6>(p, stream); break;
    case 7: launch_decode<7>(p, stream); break;
    default: launch_decode<8>(p, stream); break;
  }
}

void kv_cache_append(bf16* kcache, bf16* vcache, const bf16* qkv, const int32_t* row,
                     const int32_t* pos, const DecodeShape& s, cudaStream_t stream) {
  check_shape(s, "kv_cache_append");
  if (s.n == 0) return;
  const int kv_width = s.Hkv * s.D;
  constexpr int kThreads = 256;
  const long blocks = (long(s.n) * kv_width + kThreads - 1) / kThreads;
  FLAME_CHECK(blocks <= 0x7fffffffL, "kv_cache_append: grid too large (n=" << s.n << ")");
  FLAME_ATTN_LAUNCH(kv_cache_append_kernel, dim3(unsigned(blocks)), dim3(kThreads), 0, stream,
                    kcache, vcache, qkv, row, pos, long(s.n), kv_width, long(s.Hq) * s.D,
                    s.max_len);
  FLAME_ATTN_CHECK_LAUNCH();
}

}  // namespace flame::cuda
