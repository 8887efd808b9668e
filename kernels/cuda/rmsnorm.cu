// RMSNorm on bf16 rows with fp32 rstd and arithmetic; same structure as layernorm.cu.
// Forward: one warp per row; pass 1 (fused variant: forms resid + delta, rounds it to bf16 and
// stores it as the residual output) sums x^2; pass 2 re-reads the row (L1/L2; each lane re-reads
// only what it wrote) and writes y = x * rstd * w.
// Backward: one warp per row over a fixed grid; pass 1 forms mean(dn * xhat) (dn = dout * w,
// xhat = x * rstd) and adds dout * xhat into the warp's own fp32 shared-memory row; pass 2
// accumulates dx = rstd (dn - xhat mean(dn * xhat)) into dinp. Blocks fold their warps in order
// into one partial row of scratch; add_column_partials sums the rows in block order into dw:
// deterministic.
#include "kernels/rmsnorm.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kFwdThreads = 256;  // 8 rows per block

template <int W, bool kResidual>
__global__ void rmsnorm_forward_kernel(bf16* out, float* rstd, bf16* residual_out,
                                       const bf16* inp, const bf16* delta, const bf16* w, int N,
                                       int C, float eps) {
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= N) return;  // warp-uniform, and this kernel has no block-wide barrier
  const long off = long(row) * C;

  float sq = 0.0f;
  for (int c = lane * W; c < C; c += 32 * W) {
    float x[W];
    load_bf16<W>(x, inp + off + c);
    if constexpr (kResidual) {
      float d[W];
      load_bf16<W>(d, delta + off + c);
#pragma unroll
      for (int k = 0; k < W; ++k) x[k] = round_bf16(x[k] + d[k]);
      store_bf16<W>(residual_out + off + c, x);
    }
#pragma unroll
    for (int k = 0; k < W; ++k) sq += x[k] * x[k];
  }
  const float rs = rsqrtf(warp_sum(sq) / C + eps);

  const bf16* x_row = (kResidual ? residual_out : inp) + off;  // (C) the normalised values
  for (int c = lane * W; c < C; c += 32 * W) {
    float x[W], wt[W];
    load_bf16<W>(x, x_row + c);
    load_bf16<W>(wt, w + c);
#pragma unroll
    for (int k = 0; k < W; ++k) x[k] = x[k] * rs * wt[k];
    store_bf16<W>(out + off + c, x);
  }
  if (lane == 0 && rstd) rstd[row] = rs;
}

// scratch (gridDim.x, C): per block dw partial
template <int W>
__global__ void rmsnorm_backward_kernel(bf16* dinp, float* scratch, const bf16* dout,
                                        const bf16* inp, const bf16* w, const float* rstd, int N,
                                        int C) {
  extern __shared__ float4 smem_f4[];  // float4: 16-byte alignment for the packed accesses
  float* smem = reinterpret_cast<float*>(smem_f4);  // (warps, C)
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = threadIdx.x; i < warps * C; i += blockDim.x) smem[i] = 0.0f;
  __syncthreads();
  float* dw_acc = smem + size_t(warp) * C;  // (C) this warp's sum of dout * xhat

  const int total_warps = gridDim.x * warps;
  for (int row = blockIdx.x * warps + warp; row < N; row += total_warps) {
    const long off = long(row) * C;
    const float rs = rstd[row];
    float dn_xhat_sum = 0.0f;
    for (int c = lane * W; c < C; c += 32 * W) {
      float g[W], x[W], wt[W], acc[W];
      load_bf16<W>(g, dout + off + c);
      load_bf16<W>(x, inp + off + c);
      load_bf16<W>(wt, w + c);
      load_f32<W>(acc, dw_acc + c);
#pragma unroll
      for (int k = 0; k < W; ++k) {
        const float xhat = x[k] * rs;
        dn_xhat_sum += g[k] * wt[k] * xhat;
        acc[k] += g[k] * xhat;
      }
      store_f32<W>(dw_acc + c, acc);
    }
    const float dn_xhat_mean = warp_sum(dn_xhat_sum) / C;
    for (int c = lane * W; c < C; c += 32 * W) {
      float g[W], x[W], wt[W], d[W];
      load_bf16<W>(g, dout + off + c);
      load_bf16<W>(x, inp + off + c);
      load_bf16<W>(wt, w + c);
      load_bf16<W>(d, dinp + off + c);
#pragma unroll
      for (int k = 0; k < W; ++k) d[k] += rs * (g[k] * wt[k] - x[k] * rs * dn_xhat_mean);
      store_bf16<W>(dinp + off + c, d);
    }
  }
  __syncthreads();
  float* partial = scratch + size_t(blockIdx.x) * C;
  for (int i = threadIdx.x; i < C; i += blockDim.x) {
    float s = 0.0f;
    for (int k = 0; k < warps; ++k) s += smem[size_t(k) * C + i];
    partial[i] = s;
  }
}

void launch_forward(bf16* residual_out, bf16* out, float* rstd, const bf16* inp,
                    const bf16* delta, const bf16* w, int N, int C, float eps,
                    cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0, "N=" << N << " C=" << C);
  FLAME_CHECK(out && inp && w, "out, inp and w are required");
  if (N == 0) return;
  const bool residual = residual_out != nullptr;
  FLAME_CHECK(!residual || delta, "the fused residual forward needs delta");
  const int width = vector_width(C, out, residual_out, inp, delta, w);
  const unsigned blocks = unsigned((long(N) + kFwdThreads / 32 - 1) / (kFwdThreads / 32));
  dispatch_width(width, [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    dispatch_bool(residual, [&](auto rc) {
      constexpr bool kResidual = decltype(rc)::value;
      rmsnorm_forward_kernel<W, kResidual><<<blocks, kFwdThreads, 0, stream>>>(
          out, rstd, residual_out, inp, delta, w, N, C, eps);
    });
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void rmsnorm_forward(bf16* out, float* rstd, const bf16* inp, const bf16* w, int N, int C,
                     float eps, cudaStream_t stream) {
  launch_forward(nullptr, out, rstd, inp, nullptr, w, N, C, eps, stream);
}

void rmsnorm_residual_forward(bf16* residual_out, bf16* out, float* rstd, const bf16* resid,
                              const bf16* delta, const bf16* w, int N, int C, float eps,
                              cudaStream_t stream) {
  FLAME_CHECK(residual_out, "residual_out is required");
  launch_forward(residual_out, out, rstd, resid, delta, w, N, C, eps, stream);
}

size_t rmsnorm_backward_scratch_bytes(int N, int C) {
  const NormBackwardShape s = norm_backward_shape(N, C, 1);
  return size_t(s.blocks) * size_t(C) * sizeof(float);
}

void rmsnorm_backward(bf16* dinp, bf16* dw, float* scratch, const bf16* dout, const bf16* inp,
                      const bf16* w, const float* rstd, int N, int C, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0, "N=" << N << " C=" << C);
  FLAME_CHECK(dinp && dw && scratch && dout && inp && w && rstd,
              "rmsnorm_backward: every pointer is required");
  if (N == 0) return;
  const NormBackwardShape s = norm_backward_shape(N, C, 1);
  const int width = vector_width(C, dinp, dout, inp, w);
  dispatch_width(width, [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    if (s.smem_bytes > 48 * 1024) {
      CUDA_CHECK(cudaFuncSetAttribute(rmsnorm_backward_kernel<W>,
                                      cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      int(s.smem_bytes)));
    }
    rmsnorm_backward_kernel<W><<<s.blocks, s.warps * 32, s.smem_bytes, stream>>>(
        dinp, scratch, dout, inp, w, rstd, N, C);
  });
  CUDA_CHECK_LAUNCH();
  add_column_partials(dw, scratch, s.blocks, long(C), C, stream);
}

}  // namespace flame::cuda
