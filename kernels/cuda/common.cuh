// Shared device helpers for the CUDA kernels (include from .cu files only):
// - bf16 <-> fp32 conversion and packed accesses: W = 8 moves 8 bf16 (16 bytes, one vector
//   instruction) or 8 floats (two float4) at once, W = 1 is the scalar fallback; the launcher
//   picks W (vector_width) from the alignment of every pointer and the row length;
// - fp32 warp and block reductions (butterfly shuffles: every lane ends with the same bits, and
//   the order is fixed, so results are deterministic);
// - dispatch_bool / dispatch_width / dispatch_row_chunks: map a runtime choice onto a template
//   parameter, so a kernel is written once and the launcher instantiates the variants;
// - grid_stride_packs: the elementwise loop shape shared by all pointwise kernels;
// - add_column_partials: the deterministic second stage of every column reduction.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math_constants.h>

#include <cstdint>
#include <type_traits>

#include "core/error.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda_check.h"

namespace flame::cuda {

using bf16 = __nv_bfloat16;

// ---------------------------------------------------------------------------------------------
// Host-side launch helpers

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// 8 when every pointer is 16-byte aligned (nullptr counts as aligned) and the row length (or any
// stride the kernel walks in) is a multiple of 8 elements, else 1.
template <class... Ptrs>
inline int vector_width(long row_len, const Ptrs*... ptrs) {
  bool ok = row_len % 8 == 0;
  ((ok = ok && aligned16(ptrs)), ...);
  return ok ? 8 : 1;
}

// f(std::true_type{}) or f(std::false_type{}): inside f, `decltype(flag)::value` is a constant.
template <class F>
inline void dispatch_bool(bool b, F&& f) {
  if (b)
    f(std::true_type{});
  else
    f(std::false_type{});
}

// f(std::integral_constant<int, 8>{}) when width == 8, else the scalar variant (width 1).
template <class F>
inline void dispatch_width(int width, F&& f) {
  if (width == 8)
    f(std::integral_constant<int, 8>{});
  else
    f(std::integral_constant<int, 1>{});
}

// Row kernels that keep a whole row in registers (one warp per row, each lane K chunks of W
// elements): f(std::integral_constant<int, K>{}) with K = the chunks a lane needs for C columns
// when that is at most 4, else K = 0 (the kernel's streaming loop, any C).
template <class F>
inline void dispatch_row_chunks(int C, int width, F&& f) {
  const int k = (C + 32 * width - 1) / (32 * width);
  switch (k) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    default: f(std::integral_constant<int, 0>{});
  }
}

// Calls f(i, c) for chunk i of this lane's share of a row: columns c .. c+W-1, c = (32 i + lane) W
// (the order of the streaming loop, so both variants sum in the same order). K > 0: at most K
// chunks, unrolled, so per-chunk register arrays indexed by i stay in registers.
template <int W, int K, class F>
__device__ __forceinline__ void for_row_chunks(int C, int lane, F&& f) {
  if constexpr (K > 0) {
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const int c = (i * 32 + lane) * W;
      if (c < C) f(i, c);
    }
  } else {
    for (int i = 0, c = lane * W; c < C; ++i, c += 32 * W) f(i, c);
  }
}

// Blocks for a grid-stride loop over `work` items with `threads` per block, capped (the loop
// covers the rest); at least 1.
inline unsigned grid_for(long work, int threads, long max_blocks = 8192) {
  long blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return unsigned(blocks);
}

// ---------------------------------------------------------------------------------------------
// Conversions and packed loads/stores

__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 to_bf16(float x) { return __float2bfloat16_rn(x); }
// The value x takes once stored as bf16 (round to nearest even).
__device__ __forceinline__ float round_bf16(float x) { return to_f32(to_bf16(x)); }

// dst[0..W) = src[0..W) as fp32. W == 8 needs src 16-byte aligned.
template <int W>
__device__ __forceinline__ void load_bf16(float (&dst)[W], const bf16* src) {
  if constexpr (W == 8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(src);
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(pairs[k]);  // .x is the lower address
      dst[2 * k] = f.x;
      dst[2 * k + 1] = f.y;
    }
  } else {
    static_assert(W == 1, "packed accesses are 8 or 1 elements wide");
    dst[0] = to_f32(*src);
  }
}

// dst[0..W) = bf16(src[0..W)). W == 8 needs dst 16-byte aligned.
template <int W>
__device__ __forceinline__ void store_bf16(bf16* dst, const float (&src)[W]) {
  if constexpr (W == 8) {
    uint4 raw;
    __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) pairs[k] = __floats2bfloat162_rn(src[2 * k], src[2 * k + 1]);
    *reinterpret_cast<uint4*>(dst) = raw;
  } else {
    static_assert(W == 1, "packed accesses are 8 or 1 elements wide");
    *dst = to_bf16(src[0]);
  }
}

// fp32 counterparts (global or shared memory). W == 8 needs 16-byte alignment.
template <int W>
__device__ __forceinline__ void load_f32(float (&dst)[W], const float* src) {
  if constexpr (W == 8) {
    const float4 a = reinterpret_cast<const float4*>(src)[0];
    const float4 b = reinterpret_cast<const float4*>(src)[1];
    dst[0] = a.x, dst[1] = a.y, dst[2] = a.z, dst[3] = a.w;
    dst[4] = b.x, dst[5] = b.y, dst[6] = b.z, dst[7] = b.w;
  } else {
    static_assert(W == 1, "packed accesses are 8 or 1 elements wide");
    dst[0] = *src;
  }
}

template <int W>
__device__ __forceinline__ void store_f32(float* dst, const float (&src)[W]) {
  if constexpr (W == 8) {
    reinterpret_cast<float4*>(dst)[0] = make_float4(src[0], src[1], src[2], src[3]);
    reinterpret_cast<float4*>(dst)[1] = make_float4(src[4], src[5], src[6], src[7]);
  } else {
    static_assert(W == 1, "packed accesses are 8 or 1 elements wide");
    *dst = src[0];
  }
}

// ---------------------------------------------------------------------------------------------
// Reductions (fp32). Butterfly (xor) shuffles: a + b == b + a bit for bit, so every lane ends
// with the identical value, and the combination order depends only on lane ids: deterministic.

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the whole block, returned to every thread. Every thread of the block must call it
// (it synchronizes); blockDim.x must be a multiple of 32. Safe to call repeatedly: the leading
// __syncthreads keeps a new call from overwriting partials a previous call is still reading.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  return warp_sum(lane < n_warps ? partial[lane] : 0.0f);
}

__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  return warp_max(lane < n_warps ? partial[lane] : -CUDART_INF_F);
}

// ---------------------------------------------------------------------------------------------
// Elementwise loop: the first n - n % W elements in packs of W (body(i, width) handles
// [i, i + width) with width a std::integral_constant), then the tail one element at a time.
template <int W, class Body>
__device__ __forceinline__ void grid_stride_packs(long n, Body&& body) {
  const long tid = long(blockIdx.x) * blockDim.x + threadIdx.x;
  const long stride = long(gridDim.x) * blockDim.x;
  const long n_vec = n / W * W;
  for (long i = tid * W; i < n_vec; i += stride * W) body(i, std::integral_constant<int, W>{});
  if constexpr (W > 1) {
    for (long i = n_vec + tid; i < n; i += stride) body(i, std::integral_constant<int, 1>{});
  }
}

// ---------------------------------------------------------------------------------------------
// Launch shape of the norm backward kernels (LayerNorm, RMSNorm): each warp keeps K fp32 rows of
// C partial sums (K = 2 for dw and db, 1 for dw) in shared memory. The shape is a function of
// (N, C) only, never of the device, so the fp32 summation order, hence the bits of dw and db,
// are the same on every GPU.
struct NormBackwardShape {
  int warps;          // warps per block (<= 8)
  int blocks;         // grid size = number of fp32 partial rows in scratch (<= 512)
  size_t smem_bytes;  // dynamic shared memory per block
};

constexpr size_t kNormSmemTarget = 96 * 1024;  // several blocks per SM for C up to ~1.5K
constexpr size_t kNormSmemMax = 200 * 1024;    // under the 227 KB opt-in limit of sm_90
constexpr int kNormMaxBlocks = 512;

inline NormBackwardShape norm_backward_shape(int N, int C, int K) {
  const size_t per_warp = size_t(K) * size_t(C) * sizeof(float);
  FLAME_CHECK(per_warp <= kNormSmemMax,
              "norm backward keeps " << K << " x C fp32 per warp in shared memory; C=" << C
                                     << " is too large (max " << kNormSmemMax / (4 * K) << ")");
  size_t warps = kNormSmemTarget / per_warp;
  warps = warps < 1 ? 1 : warps > 8 ? 8 : warps;
  long blocks = (long(N) + long(warps) - 1) / long(warps);
  blocks = blocks < 1 ? 1 : blocks > kNormMaxBlocks ? kNormMaxBlocks : blocks;
  return {int(warps), int(blocks), warps * per_warp};
}

// ---------------------------------------------------------------------------------------------
// dst (C) bf16 += sum_{p < P} partial[p * stride + c], summed in fp32 in an order fixed by P
// alone: the second, deterministic stage of the column reductions (norm weight gradients, bias
// gradients). Defined in common.cu.
void add_column_partials(bf16* dst, const float* partial, int P, long stride, int C,
                         cudaStream_t stream);

}  // namespace flame::cuda
