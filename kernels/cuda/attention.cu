// Fused causal attention (flash-attention 2 style) with grouped KV heads and packed-segment
// masking, bf16 in/out, fp32 accumulation on the tensor cores: mma.sync.m16n8k16 through inline
// PTX (not WMMA: its accumulator layout is documented, so softmax and the P / dS repacking stay
// in registers), operands from shared memory through ldmatrix, tiles streamed global -> shared
// with cp.async, double-buffered (kernels/cuda/attention_common.cuh). Query t attends to key s iff
// s <= t and seg[s] == seg[t]; scale 1/sqrt(D).
//
// Forward: one block (4 warps) per (128-query tile, query head, row); each warp owns 32 query rows
//   (two 16-row m-tiles, see FwdTile) and keeps their output accumulators and running max / sum
//   in registers (and their Q fragments at D = 64; at D = 128 they are reloaded). The block
//   walks the visible 64-key tiles (prefetching the next while computing one): S = Q K^T, online
//   softmax in the log2 domain, O += P V with P repacked from the accumulators straight into A
//   fragments. Only the log-sum-exp per row (fp32) is saved.
// Backward (deterministic: no atomics, every sum in a fixed order), three kernels:
//   1. delta[b,h,t] = sum_d dO * O (fp32, the scratch buffer);
//   2. dK/dV: one block per (key tile, KV head, row), each warp owning 32 keys at D = 64 and 16
//      at D = 128 (DkdvTile); it loops over the query heads of the group and the visible query
//      tiles at or after the key tile, recomputes P^T = exp(K Q^T * scale - lse) and
//      dP^T = V dO^T, dS^T = P^T (dP^T - delta), and accumulates dV += P^T dO, dK += dS^T Q in
//      registers;
//   3. dQ: one block per (128-query tile, query head, row), like the forward: recomputes P and dP
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
#include "core/error.h"

namespace flame::cuda::attn {

constexpr int kWarps = 4;             // every kernel: 4 warps = 128 threads
constexpr int kThreads = kWarps * 32;

// Tiles. A warp owns MT m-tiles of 16 rows (queries in the forward and dQ kernels): every K / V
// fragment it loads from shared memory (one ldmatrix) then feeds 2*MT mma instead of 2. With
// MT = 1 the kernels were bound by shared-memory bandwidth (an ldmatrix.x4 moves 512 bytes per
// 2 x 4096 flops); MT = 2 halves that traffic per flop, as flash-attention 2's 128-row tiles do.
// The register budget sets the rest: fp32 accumulators of MT*16 x D (output / dQ) plus the score
// tile(s) of MT*16 x BN per warp must stay under 255 registers a thread.
template <int D>
struct FwdTile {
  static constexpr int MT = 2;                    // 16-row m-tiles per warp
  static constexpr int BM = 16 * MT * kWarps;     // query tile: 128
  static constexpr int BN = 64;                   // key tile
  static constexpr bool kQInRegs = D <= 64;       // D=128: Q fragments reloaded per key tile
};
template <int D>
struct DqTile {
  static constexpr int MT = 2;
  static constexpr int BM = 16 * MT * kWarps;     // query tile: 128
  static constexpr int BN = 32;                   // key tile: S and dP are 2 score tiles
};
// dK/dV: a warp owns MT m-tiles of 16 keys; its dK and dV accumulators (2 x MT*16 x D fp32)
// leave room for MT = 2 only at D = 64.
template <int D>
struct DkdvTile {
  static constexpr int MT = D <= 64 ? 2 : 1;
  static constexpr int BN = 16 * MT * kWarps;     // key tile: 128 (D=64) or 64
  static constexpr int BM = 32;                   // query tile: S^T and dP^T are 2 score tiles
};

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
  using F = FwdTile<D>;
  return (F::BM + 4 * F::BN) * (D + 8) * 2 + (F::BM + F::BN + kThreads) * 4;
}
template <int D>
constexpr int dq_smem_bytes() {  // Q | dO | K[2] | V[2] | segQ | segK | red
  using F = DqTile<D>;
  return (2 * F::BM + 4 * F::BN) * (D + 8) * 2 + (F::BM + F::BN + kThreads) * 4;
}
template <int D>
constexpr int dkdv_smem_bytes() {  // K | V | Q[2] | dO[2] | segK | segQ | lse | delta | red
  using F = DkdvTile<D>;
  return (2 * F::BN + 4 * F::BM) * (D + 8) * 2 + (F::BN + 3 * F::BM + kThreads) * 4;
}

// ---- compile-time checks of the tiling (they generate no code) ----
// Opt-in dynamic shared memory per block on sm_90 (H100 / H200): 227 KiB.
constexpr int kMaxSmemPerBlockSm90 = 227 * 1024;

template <int D>
constexpr bool check_tiling() {
  using F = FwdTile<D>;
  using Q = DqTile<D>;
  using K = DkdvTile<D>;
  static_assert(D == 64 || D == 128, "instantiated head dims are 64 and 128 (dispatch_head_dim)");
  // D: whole 16-wide k-slices of Q K^T, and pairs of 8-wide n-tiles of P V (load_b_kn).
  static_assert(D % 16 == 0, "head dim must be a multiple of 16");
  // Shared rows of D + 8 bf16: 16-byte aligned (cp.async, ldmatrix) and (D+8)/2 words = 4 mod 32
  // so the 8 rows of one ldmatrix fall in different banks.
  static_assert(((D + 8) * 2) % 16 == 0 && ((D + 8) / 2) % 32 == 4, "padded row stride");
  // A warp owns MT m-tiles of 16 rows, row0 = warp * 16 * MT: the warps tile the block's rows.
  static_assert(16 * F::MT * kWarps == F::BM, "forward: rows per warp * warps == query tile");
  static_assert(16 * Q::MT * kWarps == Q::BM, "dQ: rows per warp * warps == query tile");
  static_assert(16 * K::MT * kWarps == K::BN, "dK/dV: keys per warp * warps == key tile");
  // The other tile dimension is walked in pairs of 8-wide n-tiles and 16-wide k-slices.
  static_assert(F::BN % 16 == 0 && Q::BN % 16 == 0 && K::BM % 16 == 0,
                "streamed tiles: whole 16-row k-slices");
  static_assert(kThreads == 32 * kWarps, "one block = kWarps warps");
  // The bf16 tiles come first; the int / float arrays after them stay 16-byte aligned.
  static_assert(((F::BM + 4 * F::BN) * (D + 8) * 2) % 16 == 0, "forward smem layout");
  static_assert(((2 * Q::BM + 4 * Q::BN) * (D + 8) * 2) % 16 == 0, "dQ smem layout");
  static_assert(((2 * K::BN + 4 * K::BM) * (D + 8) * 2) % 16 == 0, "dK/dV smem layout");
  // What cudaFuncSetAttribute(MaxDynamicSharedMemorySize) is given must fit one block on sm_90.
  static_assert(fwd_smem_bytes<D>() <= kMaxSmemPerBlockSm90, "forward shared memory > 227 KiB");
  static_assert(dq_smem_bytes<D>() <= kMaxSmemPerBlockSm90, "dQ shared memory > 227 KiB");
  static_assert(dkdv_smem_bytes<D>() <= kMaxSmemPerBlockSm90, "dK/dV shared memory > 227 KiB");
  return true;
}
static_assert(check_tiling<64>() && check_tiling<128>());

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
  using F = FwdTile<D>;
  constexpr int LD = D + 8, BM = F::BM, BN = F::BN, MT = F::MT;
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

  // The warp's rows: m-tile mt covers rows row0 + 16 mt .. + 15 of the tile; this thread holds
  // accumulator rows g (r = 0) and g + 8 (r = 1) of each m-tile.
  const int row0 = warp * 16 * MT;
  uint32_t qf[F::kQInRegs ? MT : 1][F::kQInRegs ? D / 16 : 1][4];
  if constexpr (F::kQInRegs) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) load_a(qf[mt][kk], sQ, LD, row0 + mt * 16, kk * 16, lane);
  }
  int qrow[MT][2], qseg[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      qrow[mt][r] = q0 + row0 + mt * 16 + g + 8 * r;
      qseg[mt][r] = sSegQ[row0 + mt * 16 + g + 8 * r];
    }

  float o[MT][D / 8][4];
  float m_run[MT][2], l_run[MT][2];  // running max of scaled scores (log2 units); lane's sums
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
    m_run[mt][0] = m_run[mt][1] = -INFINITY;
    l_run[mt][0] = l_run[mt][1] = 0.f;
  }

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

    // S = Q K^T: each K fragment feeds the MT m-tiles.
    float s[MT][BN / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < BN / 8; ++n) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (F::kQInRegs) {
#pragma unroll
          for (int i = 0; i < 4; ++i) qa[mt][i] = qf[mt][kk][i];
        } else {
          load_a(qa[mt], sQ, LD, row0 + mt * 16, kk * 16, lane);
        }
      }
#pragma unroll
      for (int n = 0; n < BN / 8; n += 2) {
        uint32_t bf[4];
        load_b_nk(bf, cK, LD, n * 8, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(s[mt][n], qa[mt], bf[0], bf[1]);
          mma_16816(s[mt][n + 1], qa[mt], bf[2], bf[3]);
        }
      }
    }
    // Online softmax per row (log2 domain); accumulator element i is row r = i / 2.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      float mx[2] = {m_run[mt][0], m_run[mt][1]};
#pragma unroll
      for (int n = 0; n < BN / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float v = s[mt][n][i] * p.scale_log2;
          if (!full) {
            const int col = n * 8 + 2 * t4 + (i & 1);
            const int key = k0 + col;
            if (key > qrow[mt][i >> 1] || key >= T || sSegK[col] != qseg[mt][i >> 1])
              v = -INFINITY;
          }
          s[mt][n][i] = v;
          mx[i >> 1] = fmaxf(mx[i >> 1], v);
        }
      }
      float base[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 1));
        mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 2));
        // A row that has seen no visible key yet keeps max -inf: subtract 0 instead (all p = 0).
        base[r] = mx[r] == -INFINITY ? 0.f : mx[r];
      }
      const float alpha[2] = {exp2f(m_run[mt][0] - base[0]), exp2f(m_run[mt][1] - base[1])};
      float sum[2] = {0.f, 0.f};
#pragma unroll
      for (int n = 0; n < BN / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          s[mt][n][i] = exp2f(s[mt][n][i] - base[i >> 1]);
          sum[i >> 1] += s[mt][n][i];
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        m_run[mt][r] = mx[r];
        l_run[mt][r] = l_run[mt][r] * alpha[r] + sum[r];
      }
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[mt][n][0] *= alpha[0];
        o[mt][n][1] *= alpha[0];
        o[mt][n][2] *= alpha[1];
        o[mt][n][3] *= alpha[1];
      }
    }
    // O += P V, P repacked from the accumulators; each V fragment feeds the MT m-tiles.
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) acc_to_a(a[mt], s[mt], kk);
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t bf[4];
        load_b_kn(bf, cV, LD, kk * 16, n * 8, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(o[mt][n], a[mt], bf[0], bf[1]);
          mma_16816(o[mt][n + 1], a[mt], bf[2], bf[3]);
        }
      }
    }
  }

  // Finish: full row sums, normalise, store out (bf16) and lse (natural log).
  const int64_t out_stride = int64_t(p.Hq) * D;
  uint16_t* out = p.out_w + tok0 * out_stride + int64_t(h) * D + 2 * t4;
  float* lse = p.lse_w + (int64_t(b) * p.Hq + h) * T;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = l_run[mt][r];
      l += shfl_xor(l, 1);
      l += shfl_xor(l, 2);
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int q = qrow[mt][r];
      if (q >= T) continue;
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        st32(out + q * out_stride + n * 8,
             pack_bf16(o[mt][n][2 * r] * inv, o[mt][n][2 * r + 1] * inv));
      if (t4 == 0) lse[q] = (m_run[mt][r] + log2f(l)) * kLn2;
    }
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
  using F = DkdvTile<D>;
  constexpr int LD = D + 8, BN = F::BN, BM = F::BM, MT = F::MT;
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

  // The warp's keys: m-tile mt covers keys row0 + 16 mt .. + 15 of the tile; this thread holds
  // accumulator rows g (r = 0) and g + 8 (r = 1) of each.
  const int row0 = warp * 16 * MT;
  int kcol[MT][2], kseg[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      kcol[mt][r] = k0 + row0 + mt * 16 + g + 8 * r;
      kseg[mt][r] = sSegK[row0 + mt * 16 + g + 8 * r];
    }

  float dk[MT][D / 8][4], dv[MT][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) dk[mt][n][i] = dv[mt][n][i] = 0.f;

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

    // S^T = K Q^T and dP^T = V dO^T for the warp's MT*16 keys x BM queries: each Q / dO
    // fragment feeds the MT m-tiles.
    float st[MT][BM / 8][4], dpt[MT][BM / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < BM / 8; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) st[mt][n][i] = dpt[mt][n][i] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t ka[MT][4], va[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        load_a(ka[mt], sK, LD, row0 + mt * 16, kk * 16, lane);
        load_a(va[mt], sV, LD, row0 + mt * 16, kk * 16, lane);
      }
#pragma unroll
      for (int n = 0; n < BM / 8; n += 2) {
        uint32_t bf[4];
        load_b_nk(bf, cQ, LD, n * 8, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(st[mt][n], ka[mt], bf[0], bf[1]);
          mma_16816(st[mt][n + 1], ka[mt], bf[2], bf[3]);
        }
        load_b_nk(bf, cG, LD, n * 8, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(dpt[mt][n], va[mt], bf[0], bf[1]);
          mma_16816(dpt[mt][n + 1], va[mt], bf[2], bf[3]);
        }
      }
    }
    // P^T = exp(S^T * scale - lse) where visible (else 0); dS^T = P^T (dP^T - delta).
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < BM / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int col = n * 8 + 2 * t4 + (i & 1);  // query within the tile
          bool visible = full;
          if (!full) {
            const int q = q0 + col;
            visible = kcol[mt][i >> 1] <= q && q < T && sSegQ[col] == kseg[mt][i >> 1];
          }
          const float pr = visible ? exp2f(st[mt][n][i] * p.scale_log2 - sLse[col]) : 0.f;
          st[mt][n][i] = pr;
          dpt[mt][n][i] = pr * (dpt[mt][n][i] - sDelta[col]);
        }
      }
    // dV += P^T dO, dK += dS^T Q (the scale is applied to dK at the end).
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) {
      uint32_t pa[MT][4], da[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        acc_to_a(pa[mt], st[mt], kk);
        acc_to_a(da[mt], dpt[mt], kk);
      }
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t bf[4];
        load_b_kn(bf, cG, LD, kk * 16, n * 8, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(dv[mt][n], pa[mt], bf[0], bf[1]);
          mma_16816(dv[mt][n + 1], pa[mt], bf[2], bf[3]);
        }
        load_b_kn(bf, cQ, LD, kk * 16, n * 8, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(dk[mt][n], da[mt], bf[0], bf[1]);
          mma_16816(dk[mt][n + 1], da[mt], bf[2], bf[3]);
        }
      }
    }
  }

  uint16_t* dk_dst = p.dqkv + tok0 * p.W + int64_t(p.Hq + kvh) * D + 2 * t4;
  uint16_t* dv_dst = dk_dst + int64_t(p.Hkv) * D;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int kc = kcol[mt][r];
      if (kc >= T) continue;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        st32(dk_dst + kc * p.W + n * 8,
             pack_bf16(dk[mt][n][2 * r] * p.scale, dk[mt][n][2 * r + 1] * p.scale));
        st32(dv_dst + kc * p.W + n * 8, pack_bf16(dv[mt][n][2 * r], dv[mt][n][2 * r + 1]));
      }
    }
}

// ---------------------------------------------------------------------------------------------
// Backward 3: dQ of one query tile of one query head
// ---------------------------------------------------------------------------------------------
template <int D>
FLAME_ATTN_GLOBAL void FLAME_ATTN_BOUNDS(kThreads) attn_bwd_dq_kernel(const Params p) {
  using F = DqTile<D>;
  constexpr int LD = D + 8, BM = F::BM, BN = F::BN, MT = F::MT;
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

  // The warp's rows as in the forward: m-tile mt, accumulator row r (g or g + 8).
  const int row0 = warp * 16 * MT;
  const float* lse = p.lse + (int64_t(b) * p.Hq + h) * T;
  const float* delta = p.delta + (int64_t(b) * p.Hq + h) * T;
  int qrow[MT][2], qseg[MT][2];
  float lse_r[MT][2], delta_r[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int q = q0 + row0 + mt * 16 + g + 8 * r;
      qrow[mt][r] = q;
      qseg[mt][r] = sSegQ[row0 + mt * 16 + g + 8 * r];
      lse_r[mt][r] = q < T ? lse[q] * kLog2e : 0.f;
      delta_r[mt][r] = q < T ? delta[q] : 0.f;
    }

  float dq[MT][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int n = 0; n < D / 8; ++n) dq[mt][n][0] = dq[mt][n][1] = dq[mt][n][2] = dq[mt][n][3] = 0.f;

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

    // S = Q K^T and dP = dO V^T for the warp's MT*16 queries x BN keys: each K / V fragment
    // feeds the MT m-tiles.
    float s[MT][BN / 8][4], dp[MT][BN / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < BN / 8; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) s[mt][n][i] = dp[mt][n][i] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa[MT][4], ga[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        load_a(qa[mt], sQ, LD, row0 + mt * 16, kk * 16, lane);
        load_a(ga[mt], sG, LD, row0 + mt * 16, kk * 16, lane);
      }
#pragma unroll
      for (int n = 0; n < BN / 8; n += 2) {
        uint32_t bf[4];
        load_b_nk(bf, cK, LD, n * 8, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(s[mt][n], qa[mt], bf[0], bf[1]);
          mma_16816(s[mt][n + 1], qa[mt], bf[2], bf[3]);
        }
        load_b_nk(bf, cV, LD, n * 8, kk * 16, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(dp[mt][n], ga[mt], bf[0], bf[1]);
          mma_16816(dp[mt][n + 1], ga[mt], bf[2], bf[3]);
        }
      }
    }
    // dS = P (dP - delta), P = exp(S * scale - lse) where visible (else 0).
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < BN / 8; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int r = i >> 1;
          bool visible = full;
          if (!full) {
            const int col = n * 8 + 2 * t4 + (i & 1);
            const int key = k0 + col;
            visible = key <= qrow[mt][r] && key < T && qrow[mt][r] < T && sSegK[col] == qseg[mt][r];
          }
          const float pr = visible ? exp2f(s[mt][n][i] * p.scale_log2 - lse_r[mt][r]) : 0.f;
          s[mt][n][i] = pr * (dp[mt][n][i] - delta_r[mt][r]);
        }
      }
    // dQ += dS K (the scale is applied at the end).
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) acc_to_a(a[mt], s[mt], kk);
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t bf[4];
        load_b_kn(bf, cK, LD, kk * 16, n * 8, lane);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_16816(dq[mt][n], a[mt], bf[0], bf[1]);
          mma_16816(dq[mt][n + 1], a[mt], bf[2], bf[3]);
        }
      }
    }
  }

  uint16_t* dst = p.dqkv + tok0 * p.W + int64_t(h) * D + 2 * t4;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int q = qrow[mt][r];
      if (q >= T) continue;
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        st32(dst + q * p.W + n * 8,
             pack_bf16(dq[mt][n][2 * r] * p.scale, dq[mt][n][2 * r + 1] * p.scale));
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


namespace flame::cuda {

void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv,
                       const int32_t* seg, const AttentionShape& s, cudaStream_t stream) {
  using namespace attn;
  check_args(s, {out, qkv});
  Params p = make_params(s, qkv, seg);
  p.out_w = reinterpret_cast<uint16_t*>(out);
  p.lse_w = lse;
  dispatch_head_dim(s.D, [&](auto d) {
    constexpr int D = decltype(d)::value;
    constexpr int smem = fwd_smem_bytes<D>();
    static_assert(smem <= kMaxSmemPerBlockSm90, "forward: dynamic shared memory over the limit");
    const dim3 grid((s.T + FwdTile<D>::BM - 1) / FwdTile<D>::BM, s.Hq, s.B);
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
    static_assert(smem_kv <= kMaxSmemPerBlockSm90, "dK/dV: dynamic shared memory over the limit");
    const dim3 grid_kv((s.T + DkdvTile<D>::BN - 1) / DkdvTile<D>::BN, s.Hkv, s.B);
    FLAME_ATTN_SET_SMEM(attn_bwd_dkdv_kernel<D>, smem_kv);
    FLAME_ATTN_LAUNCH(attn_bwd_dkdv_kernel<D>, grid_kv, dim3(kThreads), smem_kv, stream, p);
    FLAME_ATTN_CHECK_LAUNCH();

    constexpr int smem_q = dq_smem_bytes<D>();
    static_assert(smem_q <= kMaxSmemPerBlockSm90, "dQ: dynamic shared memory over the limit");
    const dim3 grid_q((s.T + DqTile<D>::BM - 1) / DqTile<D>::BM, s.Hq, s.B);
    FLAME_ATTN_SET_SMEM(attn_bwd_dq_kernel<D>, smem_q);
    FLAME_ATTN_LAUNCH(attn_bwd_dq_kernel<D>, grid_q, dim3(kThreads), smem_q, stream, p);
    FLAME_ATTN_CHECK_LAUNCH();
  });
}

}  // namespace flame::cuda
