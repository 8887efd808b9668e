// LayerNorm on bf16 rows with fp32 statistics and arithmetic.
// Forward: one warp per row. Pass 1 reads the row (for the fused variant: forms resid + delta,
// rounds it to bf16 and stores it as the residual output, so the statistics are those of the
// values backward will read) and sums it; pass 2 re-reads it for the variance around the mean
// (two-pass, like the CPU reference: no cancellation for rows with a large mean); pass 3 writes
// y = (x - mean) * rstd * w + b. Rows of up to 1024 columns with packed accesses (4 chunks of 8
// per lane) stay in registers between the passes (dispatch_row_chunks); wider rows are re-read,
// hitting L1/L2 (a row is a few KB), each lane re-reading only the addresses it wrote itself, so
// the fused in-place case needs no fence. Both variants sum in the same order: same bits.
// Backward: one warp per row, rows dealt round-robin over a fixed grid. Per row: pass 1 forms
// mean(dn) and mean(dn * xhat) (dn = dout * w) and adds dout * xhat, dout into the warp's own
// fp32 shared-memory rows (a lane owns its channels: no races, no atomics); pass 2 accumulates
// dx = rstd (dn - mean(dn) - xhat mean(dn * xhat)) into dinp (dout and inp kept in registers
// from pass 1 when the row fits, as in the forward). Then each block folds its warps in
// warp order into one fp32 partial row of scratch, and add_column_partials sums those rows in
// block order into dw, db: deterministic.
#include "kernels/layernorm.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kFwdThreads = 256;  // 8 rows per block

// K > 0 (C <= 32 W K): the row is read once and kept in registers for the variance and the
// output; K = 0: it is re-read (from L1/L2) in each pass.
template <int W, int K, bool kResidual>
__global__ void layernorm_forward_kernel(bf16* out, float* mean, float* rstd, bf16* residual_out,
                                         const bf16* inp, const bf16* delta, const bf16* w,
                                         const bf16* b, int N, int C, float eps) {
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= N) return;  // warp-uniform, and this kernel has no block-wide barrier
  const long off = long(row) * C;
  float xs[K > 0 ? K : 1][W];  // (K,W) this lane's share of the row (K > 0)

  float sum = 0.0f;
  for_row_chunks<W, K>(C, lane, [&](int i, int c) {
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
    for (int k = 0; k < W; ++k) {
      sum += x[k];
      if constexpr (K > 0) xs[i][k] = x[k];
    }
  });
  const float mu = warp_sum(sum) / C;

  const bf16* x_row = (kResidual ? residual_out : inp) + off;  // (C) the normalised values
  auto row_chunk = [&](float(&x)[W], int i, int c) {
    if constexpr (K > 0) {
#pragma unroll
      for (int k = 0; k < W; ++k) x[k] = xs[i][k];
    } else {
      load_bf16<W>(x, x_row + c);
    }
  };
  float sq = 0.0f;
  for_row_chunks<W, K>(C, lane, [&](int i, int c) {
    float x[W];
    row_chunk(x, i, c);
#pragma unroll
    for (int k = 0; k < W; ++k) {
      const float d = x[k] - mu;
      sq += d * d;
    }
  });
  const float rs = rsqrtf(warp_sum(sq) / C + eps);

  for_row_chunks<W, K>(C, lane, [&](int i, int c) {
    float x[W], wt[W], bias[W];
    row_chunk(x, i, c);
    load_bf16<W>(wt, w + c);
    if (b) {
      load_bf16<W>(bias, b + c);
    } else {
#pragma unroll
      for (int k = 0; k < W; ++k) bias[k] = 0.0f;
    }
#pragma unroll
    for (int k = 0; k < W; ++k) x[k] = (x[k] - mu) * rs * wt[k] + bias[k];
    store_bf16<W>(out + off + c, x);
  });
  if (lane == 0) {
    if (mean) mean[row] = mu;
    if (rstd) rstd[row] = rs;
  }
}

// scratch (gridDim.x, 2, C): per block [dw partial (C) | db partial (C)]. K > 0: dout and inp of
// the row are kept in registers between the two passes.
template <int W, int K>
__global__ void layernorm_backward_kernel(bf16* dinp, float* scratch, const bf16* dout,
                                          const bf16* inp, const bf16* w, const float* mean,
                                          const float* rstd, int N, int C) {
  extern __shared__ float4 smem_f4[];  // float4: 16-byte alignment for the packed accesses
  float* smem = reinterpret_cast<float*>(smem_f4);  // (warps, 2, C)
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = threadIdx.x; i < warps * 2 * C; i += blockDim.x) smem[i] = 0.0f;
  __syncthreads();
  float* dw_acc = smem + size_t(warp) * 2 * C;  // (C) this warp's sum of dout * xhat
  float* db_acc = dw_acc + C;                   // (C) this warp's sum of dout

  const int total_warps = gridDim.x * warps;
  for (int row = blockIdx.x * warps + warp; row < N; row += total_warps) {
    const long off = long(row) * C;
    const float mu = mean[row], rs = rstd[row];
    float gs[K > 0 ? K : 1][W], xs[K > 0 ? K : 1][W];  // (K,W) dout, inp of the row (K > 0)
    float dn_sum = 0.0f, dn_xhat_sum = 0.0f;
    for_row_chunks<W, K>(C, lane, [&](int i, int c) {
      float g[W], x[W], wt[W], acc_w[W], acc_b[W];
      load_bf16<W>(g, dout + off + c);
      load_bf16<W>(x, inp + off + c);
      load_bf16<W>(wt, w + c);
      load_f32<W>(acc_w, dw_acc + c);
      load_f32<W>(acc_b, db_acc + c);
#pragma unroll
      for (int k = 0; k < W; ++k) {
        const float xhat = (x[k] - mu) * rs;
        const float dn = g[k] * wt[k];
        dn_sum += dn;
        dn_xhat_sum += dn * xhat;
        acc_w[k] += g[k] * xhat;
        acc_b[k] += g[k];
        if constexpr (K > 0) {
          gs[i][k] = g[k];
          xs[i][k] = x[k];
        }
      }
      store_f32<W>(dw_acc + c, acc_w);
      store_f32<W>(db_acc + c, acc_b);
    });
    const float dn_mean = warp_sum(dn_sum) / C;
    const float dn_xhat_mean = warp_sum(dn_xhat_sum) / C;
    for_row_chunks<W, K>(C, lane, [&](int i, int c) {
      float g[W], x[W], wt[W], d[W];
      if constexpr (K > 0) {
#pragma unroll
        for (int k = 0; k < W; ++k) {
          g[k] = gs[i][k];
          x[k] = xs[i][k];
        }
      } else {
        load_bf16<W>(g, dout + off + c);
        load_bf16<W>(x, inp + off + c);
      }
      load_bf16<W>(wt, w + c);
      load_bf16<W>(d, dinp + off + c);
#pragma unroll
      for (int k = 0; k < W; ++k) {
        const float xhat = (x[k] - mu) * rs;
        d[k] += rs * (g[k] * wt[k] - dn_mean - xhat * dn_xhat_mean);
      }
      store_bf16<W>(dinp + off + c, d);
    });
  }
  __syncthreads();
  float* partial = scratch + size_t(blockIdx.x) * 2 * C;
  for (int i = threadIdx.x; i < 2 * C; i += blockDim.x) {
    float s = 0.0f;
    for (int k = 0; k < warps; ++k) s += smem[size_t(k) * 2 * C + i];
    partial[i] = s;
  }
}

void launch_forward(bf16* residual_out, bf16* out, float* mean, float* rstd, const bf16* inp,
                    const bf16* delta, const bf16* w, const bf16* b, int N, int C, float eps,
                    cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0, "N=" << N << " C=" << C);
  FLAME_CHECK(out && inp && w, "out, inp and w are required");
  if (N == 0) return;
  const bool residual = residual_out != nullptr;
  FLAME_CHECK(!residual || delta, "the fused residual forward needs delta");
  const int width = vector_width(C, out, residual_out, inp, delta, w, b);
  const unsigned blocks = unsigned((long(N) + kFwdThreads / 32 - 1) / (kFwdThreads / 32));
  dispatch_width(width, [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    dispatch_row_chunks(C, W, [&](auto kc) {
      constexpr int K = decltype(kc)::value;
      dispatch_bool(residual, [&](auto rc) {
        constexpr bool kResidual = decltype(rc)::value;
        layernorm_forward_kernel<W, K, kResidual><<<blocks, kFwdThreads, 0, stream>>>(
            out, mean, rstd, residual_out, inp, delta, w, b, N, C, eps);
      });
    });
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* w,
                       const bf16* b, int N, int C, float eps, cudaStream_t stream) {
  launch_forward(nullptr, out, mean, rstd, inp, nullptr, w, b, N, C, eps, stream);
}

void layernorm_residual_forward(bf16* residual_out, bf16* out, float* mean, float* rstd,
                                const bf16* resid, const bf16* delta, const bf16* w,
                                const bf16* b, int N, int C, float eps, cudaStream_t stream) {
  FLAME_CHECK(residual_out, "residual_out is required");
  launch_forward(residual_out, out, mean, rstd, resid, delta, w, b, N, C, eps, stream);
}

size_t layernorm_backward_scratch_bytes(int N, int C) {
  const NormBackwardShape s = norm_backward_shape(N, C, 2);
  return size_t(s.blocks) * 2 * size_t(C) * sizeof(float);
}

void layernorm_backward(bf16* dinp, bf16* dw, bf16* db, float* scratch, const bf16* dout,
                        const bf16* inp, const bf16* w, const float* mean, const float* rstd,
                        int N, int C, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0, "N=" << N << " C=" << C);
  FLAME_CHECK(dinp && dw && scratch && dout && inp && w && mean && rstd,
              "layernorm_backward: only db may be null");
  if (N == 0) return;
  const NormBackwardShape s = norm_backward_shape(N, C, 2);
  const int width = vector_width(C, dinp, dout, inp, w);
  dispatch_width(width, [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    dispatch_row_chunks(C, W, [&](auto kc) {
      constexpr int K = decltype(kc)::value;
      if (s.smem_bytes > 48 * 1024) {
        CUDA_CHECK(cudaFuncSetAttribute(layernorm_backward_kernel<W, K>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        int(s.smem_bytes)));
      }
      layernorm_backward_kernel<W, K><<<s.blocks, s.warps * 32, s.smem_bytes, stream>>>(
          dinp, scratch, dout, inp, w, mean, rstd, N, C);
    });
  });
  CUDA_CHECK_LAUNCH();
  add_column_partials(dw, scratch, s.blocks, 2L * C, C, stream);
  if (db) add_column_partials(db, scratch + C, s.blocks, 2L * C, C, stream);
}

}  // namespace flame::cuda
