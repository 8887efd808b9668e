// Fused causal attention (flash-attention 2 style) with grouped KV heads and packed-segment
// masking, bf16 in/out, fp32 accumulation on the tensor cores: mma.sync.m16n8k16 through inline
// PTX (not WMMA: its accumulator layout is documented, so softmax and the P / dS repacking stay
// in registers), operands from shared memory through ldmatrix, tiles streamed global -> shared
// with cp.async, double-buffered (kernels/cuda/attention_common.cuh). Query t attends to key s iff
// s <= t and seg[s] == seg[t]; scale 1/sqrt(D).
//
// Forward: one block (4 warps) per (64-query tile, query head, row); each warp owns 16 query rows
//   and keeps their Q fragments, output accumulators and running max / sum in registers. The block
//   walks the visible 64-key tiles (prefetching the next while computing one): S = Q K^T, online
//   softmax in the log2 domain, O += P V with P repacked from the accumulators straight into A
//   fragments. Only the log-sum-exp per row (fp32) is saved.
// Backward (deterministic: no atomics, every sum in a fixed order), three kernels:
//   1. delta[b,h,t] = sum_d dO * O (fp32, the scratch buffer);
//   2. dK/dV: one block per (64-key tile, KV head, row), each warp owning 16 keys; it loops over
//      the query heads of the group and the visible query tiles at or after the key tile,
//      recomputes P^T = exp(K Q^T * scale - lse) and dP^T = V dO^T, dS^T = P^T (dP^T - delta),
//      and accumulates dV += P^T dO, dK += dS^T Q in registers;
//   3. dQ: one block per (64-query tile, query head, row), like the forward: recomputes P and dP
//      per key tile and accumulates dQ += dS K in registers.
// Masking: the loops run only over the tiles between the first key (last query) that the tile's
//   segment-id range [min, max] can see and the causal diagonal, found once per block with a scan
//   of seg; inside that range a tile is still skipped when none of its tokens is visible (segment
//   ids that come back later in a row), and per-element masks are applied only to tiles that are
//   not entirely visible (the diagonal, the end of the row, segment boundaries).
#include "kernels/cuda/attention_common.cuh"

#include <climits>
#include <cstdint>
#include <type_traits>

#include "kernels/attention.h"
#include "kernels/check.h"
#ifndef FLAME_ATTN_EMULATE
#include "kernels/cuda_check.h"
#endif

namespace flame::cuda::attn {

constexpr int kWarps = 4;             // every kernel: 4 warps = 128 threads
constexpr int kThreads = kWarps * 32;
constexpr int kTileQ = 16 * kWarps;   // query tile of the forward and dQ kernels: 16 rows a warp
constexpr int kTileK = 16 * kWarps;   // key tile of every kernel (dK/dV: 16 keys a warp)

// Query tile of the dK/dV kernel (its register budget: dK, dV accumulators of 16 x D per warp).
template <int D>
constexpr int kDkdvTileQ = D <= 64 ? 64 : 32;

struct Params {
  const uint16_t* qkv;  // (B,T,W) bf16
  const int32_t* seg;   // (B,T) or null
  const uint16_t* out;  // (B,T,Hq*D) bf16 (forward output; read by the backward)
  const uint16_t* dout; // (B,T,Hq*D) bf16
  const float* lse;     // (B,Hq,T)
  const float* delta;   // (B,Hq,T)
  uint16_t* out_w;      // forward: out written
  float* lse_w;         // forward: lse written
  uint16_t* dqkv;       // backward: (B,T,W) written
  float* delta_w;       // backward: delta written
  int T, Hq, Hkv, group;
  int64_t W;            // (Hq + 2*Hkv) * D: qkv / dqkv token stride
  float scale;          // 1/sqrt(D)
  float scale_log2;     // scale * log2(e)
};

// Shared memory (bytes): bf16 tiles with row stride D + 8, two stages for the streamed tiles,
// then the int / float per-token arrays.
template <int D>
constexpr int fwd_smem_bytes() {  // Q | K[2] | V[2] | segQ | segK | red
  return (kTileQ + 4 * kTileK) * (D + 8) * 2 + (kTileQ + kTileK + kThreads) * 4;
}
template <int D>
constexpr int dq_smem_bytes() {  // Q | dO | K[2] | V[2] | segQ | segK | red
  return (2 * kTileQ + 4 * kTileK) * (D + 8) * 2 + (kTileQ + kTileK + kThreads) * 4;
}
template <int D>
constexpr int dkdv_smem_bytes() {  // K | V | Q[2] | dO[2] | segK | segQ | lse | delta | red
  return (2 * kTileK + 4 * kDkdvTileQ<D>) * (D + 8) * 2 +
         (kTileK + 3 * kDkdvTileQ<D> + kThreads) * 4;
}

// Segment ids of a tile's tokens [r0, r0+ROWS) into sh (0 past T or without seg); per thread:
// `any`: some token r of its share has first <= r <= last, r < T and a segment id in
// [smin, smax]; `all`: every token of its share is < T with segment id == smin == smax.
template <int ROWS>
FLAME_ATTN_DEV void scan_tile_seg(int* sh, const int32_t* seg, int r0, int T, int first, int last,
                                  int smin, int smax, int tid, int& any, int& all) {
  any = 0;
  all = 1;
  for (int i = tid; i < ROWS; i += kThreads) {
    const int r = r0 + i;
    const int s = (seg && r < T) ? seg[r] : 0;
    sh[i] = s;
    if (r < T && r >= first && r <= last && s >= smin && s <= smax) any = 1;
    if (r >= T || s != smin || smin != smax) all = 0;
  }
}

// Smallest key j <= last with a segment id in [smin, smax] (0 without seg): no query whose
// segment id lies in [smin, smax] sees a key before it. `red`: kThreads ints of shared memory,
// written once. Contains a barrier; every thread gets the result. Each thread scans its keys
// j = tid + i*kThreads in ascending order, 8 independent loads at a time.
FLAME_ATTN_DEV int first_visible_key(const int32_t* seg, int last, int smin, int smax, int* red,
                                     int tid) {
  if (!seg) return 0;
  constexpr int kUnroll = 8;
  int first = last;
  for (int j0 = tid; j0 < last && first == last; j0 += kUnroll * kThreads) {
    int s[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = j0 + u * kThreads;
      s[u] = j < last ? seg[j] : 0;
    }
#pragma unroll
    for (int u = kUnroll - 1; u >= 0; --u) {  // keep the smallest hit
      const int j = j0 + u * kThreads;
      if (j < last && s[u] >= smin && s[u] <= smax) first = j;
    }
  }
  red[tid] = first;
  sync_block();
  int m = last;
  for (int i = 0; i < kThreads; ++i) m = imin(m, red[i]);
  return m;
}

// Largest query i in [first, T) with a segment id in [smin, smax] (T-1 without seg): no query
// after it sees a key whose segment id lies in [smin, smax]. Same contract as above (descending).
FLAME_ATTN_DEV int last_visible_query(const int32_t* seg, int first, int T, int smin, int smax,
                                      int* red, int tid) {
  if (!seg) return T - 1;
  constexpr int kUnroll = 8;
  int last = first;
  for (int i0 = T - 1 - tid; i0 > first && last == first; i0 -= kUnroll * kThreads) {
    int s[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 - u * kThreads;
      s[u] = i > first ? seg[i] : 0;
    }
#pragma unroll
    for (int u = kUnroll - 1; u >= 0; --u) {  // keep the largest hit
      const int i = i0 - u * kThreads;
      if (i > first && s[u] >= smin && s[u] <= smax) last = i;
    }
  }
  red[tid] = last;
  sync_block();
  int m = first;
  for (int i = 0; i < kThreads; ++i) m = imax(m, red[i]);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------
template <int D>
FLAME_ATTN_GLOBAL void FLAME_ATTN_BOUNDS(kThreads) attn_fwd_kernel(const Params p) {
  constexpr int LD = D + 8, BM = kTileQ, BN = kTileK;
  uint16_t* sQ = reinterpret_cast<uint16_t*>(dyn_smem());
  uint16_t* sK = sQ + BM * LD;      // stage s at sK + s * BN * LD
  uint16_t* sV = sK + 2 * BN * LD;  // stage s at sV + s * BN * LD
  int* sSegQ = reinterpret_cast<int*>(sV + 2 * BN * LD);
  int* sSegK = sSegQ + BM;
  int* sRed = sSegK + BN;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int qt = gridDim.x - 1 - blockIdx.x;  // heaviest (last) query tiles first
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / p.group;
  const int T = p.T, q0 = qt * BM, q_last = imin(q0 + BM, T) - 1;
  const int64_t tok0 = int64_t(b) * T;
  const uint16_t* q_src = p.qkv + tok0 * p.W + int64_t(h) * D;
  const uint16_t* k_src = p.qkv + tok0 * p.W + int64_t(p.Hq + kvh) * D;
  const uint16_t* v_src = k_src + int64_t(p.Hkv) * D;
  const int32_t* seg = p.seg ? p.seg + tok0 : nullptr;

  // Q tile (group 0); its segment ids and their range over the valid rows; the key tiles that
  // any of its queries may see: [kt_begin, kt_end]; the first K/V tile (group 1).
  load_tile_async<BM, D, kThreads>(sQ, LD, q_src, p.W, q0, T, tid);
  commit_async();
  {
    int any, all;
    scan_tile_seg<BM>(sSegQ, seg, q0, T, 0, T - 1, INT_MIN, INT_MAX, tid, any, all);
  }
  sync_block();
  int qmin = INT_MAX, qmax = INT_MIN;
  for (int i = 0; i <= q_last - q0; ++i) {
    qmin = imin(qmin, sSegQ[i]);
    qmax = imax(qmax, sSegQ[i]);
  }
  const int kt_begin = first_visible_key(seg, q_last, qmin, qmax, sRed, tid) / BN;
  const int kt_end = q_last / BN;
  load_tile_async<BN, D, kThreads>(sK, LD, k_src, p.W, kt_begin * BN, T, tid);
  load_tile_async<BN, D, kThreads>(sV, LD, v_src, p.W, kt_begin * BN, T, tid);
  commit_async();
  wait_async<1>();  // Q landed (this thread's part)
  sync_block();

  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) load_a(qf[kk], sQ, LD, warp * 16, kk * 16, lane);
  // This thread's two rows (accumulator rows g and g+8 of the warp's 16).
  const int qr_lo = q0 + warp * 16 + g, qr_hi = qr_lo + 8;
  const int seg_lo = sSegQ[warp * 16 + g], seg_hi = sSegQ[warp * 16 + g + 8];

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_lo = -INFINITY, m_hi = -INFINITY;  // running max of scaled scores (log2 units)
  float l_lo = 0.f, l_hi = 0.f;              // this lane's share of the running sums

  for (int kt = kt_begin; kt <= kt_end; ++kt) {
    const int k0 = kt * BN, stage = (kt - kt_begin) & 1;
    const uint16_t* cK = sK + stage * BN * LD;
    const uint16_t* cV = sV + stage * BN * LD;
    sync_block();  // the other stage and sSegK are no longer read (previous iteration)
    if (kt < kt_end) {  // prefetch the next K/V tile into the other stage
      load_tile_async<BN, D, kThreads>(sK + (stage ^ 1) * BN * LD, LD, k_src, p.W, k0 + BN, T,
                                       tid);
      load_tile_async<BN, D, kThreads>(sV + (stage ^ 1) * BN * LD, LD, v_src, p.W, k0 + BN, T,
                                       tid);
    }
    commit_async();  // (possibly empty: keeps one group per iteration)
    int any, all;
    scan_tile_seg<BN>(sSegK, seg, k0, T, 0, q_last, qmin, qmax, tid, any, all);
    wait_async<1>();  // this tile's K/V landed; the barriers below publish them
    if (!sync_block_or(any)) continue;  // no query of the tile sees any key of this tile
    // Entirely visible: every key <= every query, all keys < T, one segment for both tiles.
    const bool full = sync_block_and(all) && qmin == qmax && k0 + BN - 1 <= q0;

    float s[BN / 8][4];
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int n = 0; n < BN / 8; n += 2) {
        uint32_t bf[4];
        load_b_nk(bf, cK, LD, n * 8, kk * 16, lane);
        mma_16816(s[n], qf[kk], bf[0], bf[1]);
        mma_16816(s[n + 1], qf[kk], bf[2], bf[3]);
      }
    }
    float mx_lo = m_lo, mx_hi = m_hi;
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float v = s[n][i] * p.scale_log2;
        if (!full) {
          const int col = n * 8 + 2 * t4 + (i & 1);
          const int key = k0 + col;
          const int qr = i < 2 ? qr_lo : qr_hi;
          const int sq = i < 2 ? seg_lo : seg_hi;
          if (key > qr || key >= T || sSegK[col] != sq) v = -INFINITY;
        }
        s[n][i] = v;
      }
      mx_lo = fmaxf(mx_lo, fmaxf(s[n][0], s[n][1]));
      mx_hi = fmaxf(mx_hi, fmaxf(s[n][2], s[n][3]));
    }
    mx_lo = fmaxf(mx_lo, shfl_xor(mx_lo, 1));
    mx_lo = fmaxf(mx_lo, shfl_xor(mx_lo, 2));
    mx_hi = fmaxf(mx_hi, shfl_xor(mx_hi, 1));
    mx_hi = fmaxf(mx_hi, shfl_xor(mx_hi, 2));
    // A row that has seen no visible key yet keeps max -inf: subtract 0 instead (all p = 0).
    const float base_lo = mx_lo == -INFINITY ? 0.f : mx_lo;
    const float base_hi = mx_hi == -INFINITY ? 0.f : mx_hi;
    const float alpha_lo = exp2f(m_lo - base_lo), alpha_hi = exp2f(m_hi - base_hi);
    m_lo = mx_lo;
    m_hi = mx_hi;
    float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
      s[n][0] = exp2f(s[n][0] - base_lo);
      s[n][1] = exp2f(s[n][1] - base_lo);
      s[n][2] = exp2f(s[n][2] - base_hi);
      s[n][3] = exp2f(s[n][3] - base_hi);
      sum_lo += s[n][0] + s[n][1];
      sum_hi += s[n][2] + s[n][3];
    }
    l_lo = l_lo * alpha_lo + sum_lo;
    l_hi = l_hi * alpha_hi + sum_hi;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha_lo;
      o[n][1] *= alpha_lo;
      o[n][2] *= alpha_hi;
      o[n][3] *= alpha_hi;
    }
    // O += P V
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a[4];
      acc_to_a(a, s, kk);
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t bf[4];
        load_b_kn(bf, cV, LD, kk * 16, n * 8, lane);
        mma_16816(o[n], a, bf[0], bf[1]);
        mma_16816(o[n + 1], a, bf[2], bf[3]);
      }
    }
  }

  // Finish: full row sums, normalise, store out (bf16) and lse (natural log).
  l_lo += shfl_xor(l_lo, 1);
  l_lo += shfl_xor(l_lo, 2);
  l_hi += shfl_xor(l_hi, 1);
  l_hi += shfl_xor(l_hi, 2);
  const float inv_lo = l_lo > 0.f ? 1.f / l_lo : 0.f;
  const float inv_hi = l_hi > 0.f ? 1.f / l_hi : 0.f;
  const int64_t out_stride = int64_t(p.Hq) * D;
  uint16_t* out = p.out_w + tok0 * out_stride + int64_t(h) * D + 2 * t4;
  if (qr_lo < T) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      st32(out + qr_lo * out_stride + n * 8, pack_bf16(o[n][0] * inv_lo, o[n][1] * inv_lo));
  }
  if (qr_hi < T) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      st32(out + qr_hi * out_stride + n * 8, pack_bf16(o[n][2] * inv_hi, o[n][3] * inv_hi));
  }
  if (t4 == 0) {
    float* lse = p.lse_w + (int64_t(b) * p.Hq + h) * T;
    if (qr_lo < T) lse[qr_lo] = (m_lo + log2f(l_lo)) * kLn2;
    if (qr_hi < T) lse[qr_hi] = (m_hi + log2f(l_hi)) * kLn2;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward 1: delta = rowsum(dO * O), one warp per (token, query head)
// ---------------------------------------------------------------------------------------------
FLAME_ATTN_GLOBAL void FLAME_ATTN_BOUNDS(256) attn_bwd_delta_kernel(const Params p, int D,
                                                                    int64_t rows) {
  const int lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (r >= rows) return;  // whole warps leave together
  const int64_t bt = r / p.Hq;  // token index b*T + t
  const int h = int(r % p.Hq);
  const uint16_t* o = p.out + r * D;  // (B,T,Hq*D) == rows of D, row r = bt*Hq + h
  const uint16_t* g = p.dout + r * D;
  float acc = 0.f;
  for (int d = 2 * lane; d < D; d += 64) {
    const uint32_t ou = ld32(o + d), gu = ld32(g + d);
    acc += bf16_lo(ou) * bf16_lo(gu) + bf16_hi(ou) * bf16_hi(gu);
  }
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) acc += shfl_xor(acc, m);
  if (lane == 0) {
    const int64_t b = bt / p.T, t = bt % p.T;
    p.delta_w[(b * p.Hq + h) * p.T + t] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward 2: dK, dV of one key tile of one KV head, summed over its query heads
// ---------------------------------------------------------------------------------------------
template <int D>
FLAME_ATTN_GLOBAL void FLAME_ATTN_BOUNDS(kThreads) attn_bwd_dkdv_kernel(const Params p) {
  constexpr int LD = D + 8, BN = kTileK, BM = kDkdvTileQ<D>;
  uint16_t* sK = reinterpret_cast<uint16_t*>(dyn_smem());
  uint16_t* sV = sK + BN * LD;
  uint16_t* sQ = sV + BN * LD;      // stage s at sQ + s * BM * LD
  uint16_t* sG = sQ + 2 * BM * LD;  // dO tile, stage s at sG + s * BM * LD
  int* sSegK = reinterpret_cast<int*>(sG + 2 * BM * LD);
  int* sSegQ = sSegK + BN;
  float* sLse = reinterpret_cast<float*>(sSegQ + BM);  // lse * log2(e) of the query tile
  float* sDelta = sLse + BM;
  int* sRed = reinterpret_cast<int*>(sDelta + BM);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int kt = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int T = p.T, k0 = kt * BN, k_last = imin(k0 + BN, T) - 1;
  const int64_t tok0 = int64_t(b) * T;
  const int64_t out_stride = int64_t(p.Hq) * D;
  const uint16_t* k_src = p.qkv + tok0 * p.W + int64_t(p.Hq + kvh) * D;
  const uint16_t* v_src = k_src + int64_t(p.Hkv) * D;
  const int32_t* seg = p.seg ? p.seg + tok0 : nullptr;

  // K/V tile (group 0); its segment ids and their range; the query tiles that may see any of
  // its keys: [qt_begin, qt_end], visited for each query head of the group: n_it iterations.
  load_tile_async<BN, D, kThreads>(sK, LD, k_src, p.W, k0, T, tid);
  load_tile_async<BN, D, kThreads>(sV, LD, v_src, p.W, k0, T, tid);
  commit_async();
  {
    int any, all;
    scan_tile_seg<BN>(sSegK, seg, k0, T, 0, T - 1, INT_MIN, INT_MAX, tid, any, all);
  }
  sync_block();
  int kmin = INT_MAX, kmax = INT_MIN;
  for (int i = 0; i <= k_last - k0; ++i) {
    kmin = imin(kmin, sSegK[i]);
    kmax = imax(kmax, sSegK[i]);
  }
  const int qt_begin = k0 / BM;
  const int qt_end = last_visible_query(seg, k0, T, kmin, kmax, sRed, tid) / BM;
  const int n_qt = qt_end - qt_begin + 1, n_it = p.group * n_qt;
  auto q_src_of = [&](int it) {
    return p.qkv + tok0 * p.W + int64_t(kvh * p.group + it / n_qt) * D;
  };
  auto g_src_of = [&](int it) {
    return p.dout + tok0 * out_stride + int64_t(kvh * p.group + it / n_qt) * D;
  };
  load_tile_async<BM, D, kThreads>(sQ, LD, q_src_of(0), p.W, qt_begin * BM, T, tid);
  load_tile_async<BM, D, kThreads>(sG, LD, g_src_of(0), out_stride, qt_begin * BM, T, tid);
  commit_async();
  wait_async<1>();  // K/V landed (published by the barriers of the first iteration)

  // This thread's two keys (accumulator rows g and g+8 of the warp's 16).
  const int kc_lo = k0 + warp * 16 + g, kc_hi = kc_lo + 8;
  const int seg_lo = sSegK[warp * 16 + g], seg_hi = sSegK[warp * 16 + g + 8];

  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = 0.f;
    dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.f;
  }

  for (int it = 0; it < n_it; ++it) {
    const int h = kvh * p.group + it / n_qt, q0 = (qt_begin + it % n_qt) * BM;
    const int stage = it & 1;
    const uint16_t* cQ = sQ + stage * BM * LD;
    const uint16_t* cG = sG + stage * BM * LD;
    sync_block();  // the other stage and the per-query arrays are no longer read
    if (it + 1 < n_it) {  // prefetch the next (head, query tile) into the other stage
      const int q0n = (qt_begin + (it + 1) % n_qt) * BM;
      load_tile_async<BM, D, kThreads>(sQ + (stage ^ 1) * BM * LD, LD, q_src_of(it + 1), p.W,
                                       q0n, T, tid);
      load_tile_async<BM, D, kThreads>(sG + (stage ^ 1) * BM * LD, LD, g_src_of(it + 1),
                                       out_stride, q0n, T, tid);
    }
    commit_async();
    int any, all;
    scan_tile_seg<BM>(sSegQ, seg, q0, T, k0, T - 1, kmin, kmax, tid, any, all);
    const float* lse = p.lse + (int64_t(b) * p.Hq + h) * T;
    const float* delta = p.delta + (int64_t(b) * p.Hq + h) * T;
    for (int i = tid; i < BM; i += kThreads) {
      const int q = q0 + i;
      sLse[i] = q < T ? lse[q] * kLog2e : 0.f;
      sDelta[i] = q < T ? delta[q] : 0.f;
    }
    wait_async<1>();  // this iteration's Q/dO landed; the barriers below publish them
    if (!sync_block_or(any)) continue;  // no query of this tile sees a key of ours
    // Entirely visible: every key <= every query, all queries < T, one segment for both.
    const bool full = sync_block_and(all) && kmin == kmax && k0 + BN - 1 <= q0;

    // S^T = K Q^T and dP^T = V dO^T for the warp's 16 keys x BM queries.
    float st[BM / 8][4], dpt[BM / 8][4];
#pragma unroll
    for (int n = 0; n < BM / 8; ++n) {
      st[n][0] = st[n][1] = st[n][2] = st[n][3] = 0.f;
      dpt[n][0] = dpt[n][1] = dpt[n][2] = dpt[n][3] = 0.f;
    }
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t ka[4], va[4];
      load_a(ka, sK, LD, warp * 16, kk * 16, lane);
      load_a(va, sV, LD, warp * 16, kk * 16, lane);
#pragma unroll
      for (int n = 0; n < BM / 8; n += 2) {
        uint32_t bf[4];
        load_b_nk(bf, cQ, LD, n * 8, kk * 16, lane);
        mma_16816(st[n], ka, bf[0], bf[1]);
        mma_16816(st[n + 1], ka, bf[2], bf[3]);
        load_b_nk(bf, cG, LD, n * 8, kk * 16, lane);
        mma_16816(dpt[n], va, bf[0], bf[1]);
        mma_16816(dpt[n + 1], va, bf[2], bf[3]);
      }
    }
    // P^T = exp(S^T * scale - lse) where visible (else 0); dS^T = P^T (dP^T - delta).
#pragma unroll
    for (int n = 0; n < BM / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int col = n * 8 + 2 * t4 + (i & 1);  // query within the tile
        bool visible = full;
        if (!full) {
          const int q = q0 + col;
          const int kc = i < 2 ? kc_lo : kc_hi;
          const int sk = i < 2 ? seg_lo : seg_hi;
          visible = kc <= q && q < T && sSegQ[col] == sk;
        }
        const float pr = visible ? exp2f(st[n][i] * p.scale_log2 - sLse[col]) : 0.f;
        st[n][i] = pr;
        dpt[n][i] = pr * (dpt[n][i] - sDelta[col]);
      }
    }
    // dV += P^T dO, dK += dS^T Q (the scale is applied to dK at the end).
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) {
      uint32_t pa[4], da[4];
      acc_to_a(pa, st, kk);
      acc_to_a(da, dpt, kk);
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t bf[4];
        load_b_kn(bf, cG, LD, kk * 16, n * 8, lane);
        mma_16816(dv[n], pa, bf[0], bf[1]);
        mma_16816(dv[n + 1], pa, bf[2], bf[3]);
        load_b_kn(bf, cQ, LD, kk * 16, n * 8, lane);
        mma_16816(dk[n], da, bf[0], bf[1]);
        mma_16816(dk[n + 1], da, bf[2], bf[3]);
      }
    }
  }

  uint16_t* dk_dst = p.dqkv + tok0 * p.W + int64_t(p.Hq + kvh) * D + 2 * t4;
  uint16_t* dv_dst = dk_dst + int64_t(p.Hkv) * D;
  if (kc_lo < T) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      st32(dk_dst + kc_lo * p.W + n * 8, pack_bf16(dk[n][0] * p.scale, dk[n][1] * p.scale));
      st32(dv_dst + kc_lo * p.W + n * 8, pack_bf16(dv[n][0], dv[n][1]));
    }
  }
  if (kc_hi < T) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      st32(dk_dst + kc_hi * p.W + n * 8, pack_bf16(dk[n][2] * p.scale, dk[n][3] * p.scale));
      st32(dv_dst + kc_hi * p.W + n * 8, pack_bf16(dv[n][2], dv[n][3]));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward 3: dQ of one query tile of one query head
// ---------------------------------------------------------------------------------------------
template <int D>
FLAME_ATTN_GLOBAL void FLAME_ATTN_BOUNDS(kThreads) attn_bwd_dq_kernel(const Params p) {
  constexpr int LD = D + 8, BM = kTileQ, BN = kTileK;
  uint16_t* sQ = reinterpret_cast<uint16_t*>(dyn_smem());
  uint16_t* sG = sQ + BM * LD;      // dO tile
  uint16_t* sK = sG + BM * LD;      // stage s at sK + s * BN * LD
  uint16_t* sV = sK + 2 * BN * LD;  // stage s at sV + s * BN * LD
  int* sSegQ = reinterpret_cast<int*>(sV + 2 * BN * LD);
  int* sSegK = sSegQ + BM;
  int* sRed = sSegK + BN;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int qt = gridDim.x - 1 - blockIdx.x;  // heaviest (last) query tiles first
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / p.group;
  const int T = p.T, q0 = qt * BM, q_last = imin(q0 + BM, T) - 1;
  const int64_t tok0 = int64_t(b) * T;
  const int64_t out_stride = int64_t(p.Hq) * D;
  const uint16_t* q_src = p.qkv + tok0 * p.W + int64_t(h) * D;
  const uint16_t* g_src = p.dout + tok0 * out_stride + int64_t(h) * D;
  const uint16_t* k_src = p.qkv + tok0 * p.W + int64_t(p.Hq + kvh) * D;
  const uint16_t* v_src = k_src + int64_t(p.Hkv) * D;
  const int32_t* seg = p.seg ? p.seg + tok0 : nullptr;

  // Q and dO tiles (group 0), segment ids and range, visible key tiles, first K/V (group 1).
  load_tile_async<BM, D, kThreads>(sQ, LD, q_src, p.W, q0, T, tid);
  load_tile_async<BM, D, kThreads>(sG, LD, g_src, out_stride, q0, T, tid);
  commit_async();
  {
    int any, all;
    scan_tile_seg<BM>(sSegQ, seg, q0, T, 0, T - 1, INT_MIN, INT_MAX, tid, any, all);
  }
  sync_block();
  int qmin = INT_MAX, qmax = INT_MIN;
  for (int i = 0; i <= q_last - q0; ++i) {
    qmin = imin(qmin, sSegQ[i]);
    qmax = imax(qmax, sSegQ[i]);
  }
  const int kt_begin = first_visible_key(seg, q_last, qmin, qmax, sRed, tid) / BN;
  const int kt_end = q_last / BN;
  load_tile_async<BN, D, kThreads>(sK, LD, k_src, p.W, kt_begin * BN, T, tid);
  load_tile_async<BN, D, kThreads>(sV, LD, v_src, p.W, kt_begin * BN, T, tid);
  commit_async();
  wait_async<1>();  // Q, dO landed (published by the barriers of the first iteration)

  const int qr_lo = q0 + warp * 16 + g, qr_hi = qr_lo + 8;
  const int seg_lo = sSegQ[warp * 16 + g], seg_hi = sSegQ[warp * 16 + g + 8];
  const float* lse = p.lse + (int64_t(b) * p.Hq + h) * T;
  const float* delta = p.delta + (int64_t(b) * p.Hq + h) * T;
  const float lse_lo = qr_lo < T ? lse[qr_lo] * kLog2e : 0.f;
  const float lse_hi = qr_hi < T ? lse[qr_hi] * kLog2e : 0.f;
  const float delta_lo = qr_lo < T ? delta[qr_lo] : 0.f;
  const float delta_hi = qr_hi < T ? delta[qr_hi] : 0.f;

  float dq[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;

  for (int kt = kt_begin; kt <= kt_end; ++kt) {
    const int k0 = kt * BN, stage = (kt - kt_begin) & 1;
    const uint16_t* cK = sK + stage * BN * LD;
    const uint16_t* cV = sV + stage * BN * LD;
    sync_block();  // the other stage and sSegK are no longer read (previous iteration)
    if (kt < kt_end) {  // prefetch the next K/V tile into the other stage
      load_tile_async<BN, D, kThreads>(sK + (stage ^ 1) * BN * LD, LD, k_src, p.W, k0 + BN, T,
                                       tid);
      load_tile_async<BN, D, kThreads>(sV + (stage ^ 1) * BN * LD, LD, v_src, p.W, k0 + BN, T,
                                       tid);
    }
    commit_async();
    int any, all;
    scan_tile_seg<BN>(sSegK, seg, k0, T, 0, q_last, qmin, qmax, tid, any, all);
    wait_async<1>();  // this tile's K/V landed; the barriers below publish them
    if (!sync_block_or(any)) continue;
    const bool full = sync_block_and(all) && qmin == qmax && k0 + BN - 1 <= q0;

    // S = Q K^T and dP = dO V^T for the warp's 16 queries x BN keys.
    float s[BN / 8][4], dp[BN / 8][4];
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
      dp[n][0] = dp[n][1] = dp[n][2] = dp[n][3] = 0.f;
    }
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa[4], ga[4];
      load_a(qa, sQ, LD, warp * 16, kk * 16, lane);
      load_a(ga, sG, LD, warp * 16, kk * 16, lane);
#pragma unroll
      for (int n = 0; n < BN / 8; n += 2) {
        uint32_t bf[4];
        load_b_nk(bf, cK, LD, n * 8, kk * 16, lane);
        mma_16816(s[n], qa, bf[0], bf[1]);
        mma_16816(s[n + 1], qa, bf[2], bf[3]);
        load_b_nk(bf, cV, LD, n * 8, kk * 16, lane);
        mma_16816(dp[n], ga, bf[0], bf[1]);
        mma_16816(dp[n + 1], ga, bf[2], bf[3]);
      }
    }
    // dS = P (dP - delta), P = exp(S * scale - lse) where visible (else 0).
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        bool visible = full;
        if (!full) {
          const int col = n * 8 + 2 * t4 + (i & 1);
          const int key = k0 + col;
          const int qr = i < 2 ? qr_lo : qr_hi;
          const int sq = i < 2 ? seg_lo : seg_hi;
          visible = key <= qr && key < T && qr < T && sSegK[col] == sq;
        }
        const float lse_r = i < 2 ? lse_lo : lse_hi;
        const float delta_r = i < 2 ? delta_lo : delta_hi;
        const float pr = visible ? exp2f(s[n][i] * p.scale_log2 - lse_r) : 0.f;
        s[n][i] = pr * (dp[n][i] - delta_r);
      }
    }
    // dQ += dS K (the scale is applied at the end).
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a[4];
      acc_to_a(a, s, kk);
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t bf[4];
        load_b_kn(bf, cK, LD, kk * 16, n * 8, lane);
        mma_16816(dq[n], a, bf[0], bf[1]);
        mma_16816(dq[n + 1], a, bf[2], bf[3]);
      }
    }
  }

  uint16_t* dst = p.dqkv + tok0 * p.W + int64_t(h) * D + 2 * t4;
  if (qr_lo < T) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      st32(dst + qr_lo * p.W + n * 8, pack_bf16(dq[n][0] * p.scale, dq[n][1] * p.scale));
  }
  if (qr_hi < T) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      st32(dst + qr_hi * p.W + n * 8, pack_bf16(dq[n][2] * p.scale, dq[n][3] * p.scale));
  }
}

// ---------------------------------------------------------------------------------------------
// Launch helpers
// ---------------------------------------------------------------------------------------------

// Calls f(std::integral_constant<int, D>{}) for the instantiated head dims.
template <class F>
void dispatch_head_dim(int D, F&& f) {
  switch (D) {
    case 64:
      f(std::integral_constant<int, 64>{});
      break;
    case 128:
      f(std::integral_constant<int, 128>{});
      break;
    default:
      FLAME_CHECK(false, "CUDA attention supports head dims 64 and 128, got D=" << D);
  }
}

inline void check_args(const AttentionShape& s, std::initializer_list<const void*> ptrs) {
  FLAME_CHECK(s.B > 0 && s.T > 0 && s.D > 0, "B=" << s.B << " T=" << s.T << " D=" << s.D);
  FLAME_CHECK(s.Hkv > 0 && s.Hq > 0 && s.Hq % s.Hkv == 0, "Hq=" << s.Hq << " Hkv=" << s.Hkv);
  FLAME_CHECK(s.B <= 65535 && s.Hq <= 65535, "grid limits: B=" << s.B << " Hq=" << s.Hq);
  for (const void* ptr : ptrs)
    FLAME_CHECK(reinterpret_cast<uintptr_t>(ptr) % 16 == 0,
                "attention tensors must be 16-byte aligned");
}

inline Params make_params(const AttentionShape& s, const __nv_bfloat16* qkv, const int32_t* seg) {
  Params p{};
  p.qkv = reinterpret_cast<const uint16_t*>(qkv);
  p.seg = seg;
  p.T = s.T;
  p.Hq = s.Hq;
  p.Hkv = s.Hkv;
  p.group = s.Hq / s.Hkv;
  p.W = int64_t(s.Hq + 2 * s.Hkv) * s.D;
  p.scale = 1.0f / std::sqrt(float(s.D));
  p.scale_log2 = p.scale * kLog2e;
  return p;
}

}  // namespace flame::cuda::attn

// Kernel launch and its per-kernel shared-memory opt-in (over 48 KB), replaced in the emulator.
#ifdef FLAME_ATTN_EMULATE
#define FLAME_ATTN_SET_SMEM(kernel, bytes) ((void)0)
#define FLAME_ATTN_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::flame_emu::launch(grid, block, smem, [&] { kernel(__VA_ARGS__); })
#define FLAME_ATTN_CHECK_LAUNCH() ((void)0)
#else
#define FLAME_ATTN_SET_SMEM(kernel, bytes) \
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes))
#define FLAME_ATTN_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define FLAME_ATTN_CHECK_LAUNCH() CUDA_CHECK_LAUNCH()
#endif

namespace flame::cuda {

void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv,
                       const int32_t* seg, const AttentionShape& s, cudaStream_t stream) {
  using namespace attn;
  check_args(s, {out, qkv});
  Params p = make_params(s, qkv, seg);
  p.out_w = reinterpret_cast<uint16_t*>(out);
  p.lse_w = lse;
  const dim3 grid((s.T + kTileQ - 1) / kTileQ, s.Hq, s.B);
  dispatch_head_dim(s.D, [&](auto d) {
    constexpr int D = decltype(d)::value;
    constexpr int smem = fwd_smem_bytes<D>();
    FLAME_ATTN_SET_SMEM(attn_fwd_kernel<D>, smem);
    FLAME_ATTN_LAUNCH(attn_fwd_kernel<D>, grid, dim3(kThreads), smem, stream, p);
    FLAME_ATTN_CHECK_LAUNCH();
  });
}

size_t attention_backward_scratch_bytes(const AttentionShape& s) {
  return size_t(s.B) * s.Hq * s.T * sizeof(float);
}

void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout,
                        const __nv_bfloat16* qkv, const __nv_bfloat16* out, const float* lse,
                        const int32_t* seg, void* scratch, const AttentionShape& s,
                        cudaStream_t stream) {
  using namespace attn;
  check_args(s, {dqkv, dout, qkv, out, scratch});
  Params p = make_params(s, qkv, seg);
  p.out = reinterpret_cast<const uint16_t*>(out);
  p.dout = reinterpret_cast<const uint16_t*>(dout);
  p.lse = lse;
  p.delta = static_cast<const float*>(scratch);
  p.delta_w = static_cast<float*>(scratch);
  p.dqkv = reinterpret_cast<uint16_t*>(dqkv);
  dispatch_head_dim(s.D, [&](auto d) {
    constexpr int D = decltype(d)::value;
    const int64_t rows = int64_t(s.B) * s.T * s.Hq;
    constexpr int kDeltaWarps = 8;
    const dim3 delta_grid(unsigned((rows + kDeltaWarps - 1) / kDeltaWarps));
    FLAME_ATTN_LAUNCH(attn_bwd_delta_kernel, delta_grid, dim3(kDeltaWarps * 32), 0, stream, p, D,
                      rows);
    FLAME_ATTN_CHECK_LAUNCH();

    constexpr int smem_kv = dkdv_smem_bytes<D>();
    const dim3 grid_kv((s.T + kTileK - 1) / kTileK, s.Hkv, s.B);
    FLAME_ATTN_SET_SMEM(attn_bwd_dkdv_kernel<D>, smem_kv);
    FLAME_ATTN_LAUNCH(attn_bwd_dkdv_kernel<D>, grid_kv, dim3(kThreads), smem_kv, stream, p);
    FLAME_ATTN_CHECK_LAUNCH();

    constexpr int smem_q = dq_smem_bytes<D>();
    const dim3 grid_q((s.T + kTileQ - 1) / kTileQ, s.Hq, s.B);
    FLAME_ATTN_SET_SMEM(attn_bwd_dq_kernel<D>, smem_q);
    FLAME_ATTN_LAUNCH(attn_bwd_dq_kernel<D>, grid_q, dim3(kThreads), smem_q, stream, p);
    FLAME_ATTN_CHECK_LAUNCH();
  });
}

}  // namespace flame::cuda
