// Device helpers of the fused attention kernels (kernels/cuda/attention.cu): the bf16 tensor-core
// instruction mma.sync.m16n8k16 (fp32 accumulate) through inline PTX, loaders of its operand
// fragments from shared memory (ldmatrix), asynchronous global -> shared tile copies (cp.async),
// warp shuffles and block barriers.
//
// Fragment layouts of mma.m16n8k16 with bf16 operands (PTX ISA, "Matrix Fragments for
// mma.m16n8k16 with floating point type"); lane = 4*g + t (g = lane>>2 in 0..7, t = lane&3):
//   A (16x16, row major), 4 x b32 each holding two bf16 (lower 16 bits = smaller column):
//     a[0] = A[g  ][2t,2t+1]   a[1] = A[g+8][2t,2t+1]   a[2] = A[g][2t+8,+9]   a[3] = A[g+8][2t+8,+9]
//   B (16x8, k x n), 2 x b32:  b[0] = B[2t,2t+1][g]      b[1] = B[2t+8,2t+9][g]
//   C/D (16x8 fp32):           c[0],c[1] = C[g][2t,2t+1] c[2],c[3] = C[g+8][2t,2t+1]
// So the accumulators of two adjacent n-tiles (columns 16k..16k+15) are, repacked to bf16, exactly
// the A fragment of k-slice k of the next product (P@V, dS@K, ...): see acc_to_a().
//
// With FLAME_ATTN_EMULATE defined (tests/kernels/emu: a CPU emulator that runs these kernels on
// the host, one fiber per CUDA thread), the hardware primitives below and the launch macros at
// the end forward to ::flame_emu, which the including translation unit provides; nothing else in
// the kernels differs. Used by attention.cu and attention_decode.cu.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#ifndef FLAME_ATTN_EMULATE
#include "kernels/cuda_check.h"
#endif

#ifdef FLAME_ATTN_EMULATE
#define FLAME_ATTN_DEV inline
#define FLAME_ATTN_GLOBAL
#define FLAME_ATTN_BOUNDS(n)
#else
#define FLAME_ATTN_DEV __device__ __forceinline__
#define FLAME_ATTN_GLOBAL __global__
#define FLAME_ATTN_BOUNDS(n) __launch_bounds__(n)
#endif

namespace flame::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

FLAME_ATTN_DEV int imin(int a, int b) { return a < b ? a : b; }
FLAME_ATTN_DEV int imax(int a, int b) { return a > b ? a : b; }

// Dynamic shared memory of the block (16-byte aligned).
FLAME_ATTN_DEV unsigned char* dyn_smem() {
#ifdef FLAME_ATTN_EMULATE
  return ::flame_emu::smem();
#else
  extern __shared__ __align__(16) unsigned char flame_attn_smem[];
  return flame_attn_smem;
#endif
}

FLAME_ATTN_DEV void sync_block() {
#ifdef FLAME_ATTN_EMULATE
  ::flame_emu::sync_block();
#else
  __syncthreads();
#endif
}
// Barrier that also returns whether pred != 0 for any (or) / every (and) thread of the block.
FLAME_ATTN_DEV bool sync_block_or(int pred) {
#ifdef FLAME_ATTN_EMULATE
  return ::flame_emu::sync_block_or(pred);
#else
  return __syncthreads_or(pred) != 0;
#endif
}
FLAME_ATTN_DEV bool sync_block_and(int pred) {
#ifdef FLAME_ATTN_EMULATE
  return ::flame_emu::sync_block_and(pred);
#else
  return __syncthreads_and(pred) != 0;
#endif
}

// Value of `v` held by lane (lane ^ mask) of the warp; every lane of the warp must call it.
FLAME_ATTN_DEV float shfl_xor(float v, int mask) {
#ifdef FLAME_ATTN_EMULATE
  return ::flame_emu::shfl_xor(v, mask);
#else
  return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}

// c (16x8 fp32) += A (16x16 bf16) @ B (16x8 bf16); every lane of the warp must call it.
FLAME_ATTN_DEV void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef FLAME_ATTN_EMULATE
  ::flame_emu::mma_16816(c, a, b0, b1);
#else
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Two bf16 (round to nearest even) in one b32: lo in the lower 16 bits.
FLAME_ATTN_DEV uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}
FLAME_ATTN_DEV float bf16_lo(uint32_t u) {
  uint32_t bits = u << 16;
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}
FLAME_ATTN_DEV float bf16_hi(uint32_t u) {
  uint32_t bits = u & 0xffff0000u;
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}

// 4-byte load of two consecutive bf16 (p 4-byte aligned).
FLAME_ATTN_DEV uint32_t ld32(const uint16_t* p) {
#ifdef FLAME_ATTN_EMULATE
  uint32_t u;
  memcpy(&u, p, sizeof(u));
  return u;
#else
  return *reinterpret_cast<const uint32_t*>(p);
#endif
}
FLAME_ATTN_DEV void st32(uint16_t* p, uint32_t u) {
#ifdef FLAME_ATTN_EMULATE
  memcpy(p, &u, sizeof(u));
#else
  *reinterpret_cast<uint32_t*>(p) = u;
#endif
}
// Asynchronous 16-byte global -> shared copy (cp.async.cg, through L2 only): dst and src 16-byte
// aligned; when !valid nothing is read and dst is zero-filled (src must still be a valid address).
// Copies issued since the last commit form a group; wait_async<N>() returns once all but the N
// most recent groups of this thread have landed; a barrier then makes them visible to the block.
FLAME_ATTN_DEV void cp_async16(uint16_t* dst, const uint16_t* src, bool valid) {
#ifdef FLAME_ATTN_EMULATE
  ::flame_emu::cp_async16(dst, valid ? src : nullptr);
#else
  const uint32_t d = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
#endif
}
FLAME_ATTN_DEV void commit_async() {
#ifdef FLAME_ATTN_EMULATE
  ::flame_emu::cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
FLAME_ATTN_DEV void wait_async() {
#ifdef FLAME_ATTN_EMULATE
  ::flame_emu::cp_async_wait(N);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// ---- operand fragments from shared memory (bf16 stored as raw 16-bit words) ----
// Shared tiles are row major with a leading dimension `ld` (elements) padded so that the 8 rows a
// fragment load touches fall in different banks (ld/2 words = 4 mod 32 words: ld = D + 8); rows
// start on 16-byte boundaries (ldmatrix needs it).

// Fragments through ldmatrix (one instruction loads four 8x8 b16 matrices: lane l gives the
// address of row l&7 of matrix l>>3, each row 16 contiguous bytes; lane l receives of matrix i
// the elements (row l/4, cols 2(l%4), 2(l%4)+1), or with .trans (rows 2(l%4), 2(l%4)+1, col
// l/4)), or else through plain 32/16-bit shared loads (kUseLdmatrix = false: slower, kept as a
// cross-check; both must give identical fragments).
#ifndef FLAME_ATTN_USE_LDMATRIX
#define FLAME_ATTN_USE_LDMATRIX 1
#endif
constexpr bool kUseLdmatrix = FLAME_ATTN_USE_LDMATRIX != 0;

template <bool kTrans>
FLAME_ATTN_DEV void ldmatrix_x4(uint32_t (&r)[4], const uint16_t* row) {
#ifdef FLAME_ATTN_EMULATE
  ::flame_emu::ldmatrix_x4(r, row, kTrans);
#else
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  if constexpr (kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
#endif
}

// A (16x16) = M[r0 .. r0+15][k0 .. k0+15]
FLAME_ATTN_DEV void load_a(uint32_t (&a)[4], const uint16_t* M, int ld, int r0, int k0, int lane) {
  if constexpr (kUseLdmatrix) {
    // matrices: 0 rows r0, cols k0 | 1 rows r0+8 | 2 cols k0+8 | 3 rows r0+8, cols k0+8
    const int i = lane >> 3, rr = lane & 7;
    ldmatrix_x4<false>(a, M + (r0 + rr + (i & 1) * 8) * ld + k0 + (i >> 1) * 8);
  } else {
    const int g = lane >> 2, t = lane & 3;
    const uint16_t* p = M + (r0 + g) * ld + k0 + 2 * t;
    a[0] = ld32(p);
    a[1] = ld32(p + 8 * ld);
    a[2] = ld32(p + 8);
    a[3] = ld32(p + 8 * ld + 8);
  }
}
// B fragments of two adjacent n-tiles: b[0], b[1] of n-tile n0 and b[2], b[3] of n-tile n0+8,
// where B[k][n] = M[n][k] (M's rows are the n index, e.g. K in S = Q K^T), k in k0 .. k0+15.
FLAME_ATTN_DEV void load_b_nk(uint32_t (&b)[4], const uint16_t* M, int ld, int n0, int k0,
                              int lane) {
  if constexpr (kUseLdmatrix) {
    // matrices: 0 rows n0, cols k0 | 1 rows n0, cols k0+8 | 2 rows n0+8, cols k0 | 3 both +8
    const int i = lane >> 3, rr = lane & 7;
    ldmatrix_x4<false>(b, M + (n0 + rr + (i >> 1) * 8) * ld + k0 + (i & 1) * 8);
  } else {
    const int g = lane >> 2, t = lane & 3;
    const uint16_t* p = M + (n0 + g) * ld + k0 + 2 * t;
    b[0] = ld32(p);
    b[1] = ld32(p + 8);
    b[2] = ld32(p + 8 * ld);
    b[3] = ld32(p + 8 * ld + 8);
  }
}
// B fragments of two adjacent n-tiles (n0: b[0], b[1]; n0+8: b[2], b[3]) where B[k][n] =
// M[k][n] (M's rows are the k index, e.g. V in O = P V), k in k0 .. k0+15.
FLAME_ATTN_DEV void load_b_kn(uint32_t (&b)[4], const uint16_t* M, int ld, int k0, int n0,
                              int lane) {
  if constexpr (kUseLdmatrix) {
    // transposed matrices: 0 rows k0, cols n0 | 1 rows k0+8, cols n0 | 2 rows k0, cols n0+8 |
    // 3 rows k0+8, cols n0+8
    const int i = lane >> 3, rr = lane & 7;
    ldmatrix_x4<true>(b, M + (k0 + rr + (i & 1) * 8) * ld + n0 + (i >> 1) * 8);
  } else {
    const int g = lane >> 2, t = lane & 3;
    const uint16_t* p = M + (k0 + 2 * t) * ld + n0 + g;
    b[0] = uint32_t(p[0]) | (uint32_t(p[ld]) << 16);
    b[1] = uint32_t(p[8 * ld]) | (uint32_t(p[9 * ld]) << 16);
    b[2] = uint32_t(p[8]) | (uint32_t(p[ld + 8]) << 16);
    b[3] = uint32_t(p[8 * ld + 8]) | (uint32_t(p[9 * ld + 8]) << 16);
  }
}
// A fragment of k-slice kk from fp32 accumulators acc[n][4] (n-tiles of 8 columns): columns
// 16kk .. 16kk+15 are n-tiles 2kk and 2kk+1.
template <int N>
FLAME_ATTN_DEV void acc_to_a(uint32_t (&a)[4], const float (&acc)[N][4], int kk) {
  static_assert(N % 2 == 0, "k-slices take n-tiles in pairs (16 columns)");
  a[0] = pack_bf16(acc[2 * kk][0], acc[2 * kk][1]);
  a[1] = pack_bf16(acc[2 * kk][2], acc[2 * kk][3]);
  a[2] = pack_bf16(acc[2 * kk + 1][0], acc[2 * kk + 1][1]);
  a[3] = pack_bf16(acc[2 * kk + 1][2], acc[2 * kk + 1][3]);
}

// Asynchronous load of a ROWS x D tile of bf16 rows src + (r0 + r) * stride (rows >= T zero-
// filled) into shared dst (leading dimension ld); part of the caller's next commit_async() group.
// D % 8 == 0; src, stride*2 bytes and ld*2 bytes multiples of 16 bytes.
template <int ROWS, int D, int NT>
FLAME_ATTN_DEV void load_tile_async(uint16_t* dst, int ld, const uint16_t* src, int64_t stride,
                                    int r0, int T, int tid) {
  static_assert(D % 8 == 0, "rows are copied in 16-byte chunks of 8 bf16");
  static_assert(ROWS > 0 && NT % 32 == 0, "whole warps copy the tile");
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  for (int c = tid; c < ROWS * kChunks; c += NT) {
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const bool valid = r0 + r < T;
    cp_async16(dst + r * ld + col, valid ? src + int64_t(r0 + r) * stride + col : src, valid);
  }
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
