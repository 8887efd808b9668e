// AdamW over the whole flat parameter buffer in one launch, plus the global gradient norm.
// Update: grid-stride loop, 8 elements per iteration when every pointer is 16-byte aligned (the
// bf16 grads/params as one 16-byte pack, the fp32 master/m/v as two float4 each). The clip scale
// is read from device memory (written by clip_scale), so clipping needs no host round trip. Weight
// decay comes from a sorted table of tensor ranges (AdamWRange) searched by binary search once per
// pack; a pack that straddles a range boundary looks each element up. Bias corrections are
// computed once on the host in double, as the CPU reference does.
// Norm: pass 1 has a fixed number of blocks (a function of n only) each sum the squares of a
// fixed strided slice in fp32 (per-thread sums, then a block tree) into scratch[block]; pass 2,
// one block, sums the partials in a fixed tree order: bitwise reproducible.
#include "kernels/adamw.h"

#include <cmath>

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kNormBlocks = 1024;  // max pass-1 blocks = scratch floats (pass 2 reads them all)

struct AdamWScalars {
  float lr, beta1, beta2, eps, weight_decay;
  float m_correction, v_correction;  // 1 / (1 - beta^step)
};

// Index of the last range with offset <= gi, or -1.
__device__ __forceinline__ int find_range(const AdamWRange* ranges, int n_ranges, long gi) {
  int lo = 0, hi = n_ranges;  // answer in [lo - 1, hi - 1]
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (ranges[mid].offset <= gi)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

__device__ __forceinline__ bool decays(const AdamWRange* ranges, int r, long gi) {
  return r >= 0 && gi < ranges[r].offset + ranges[r].size && ranges[r].decay != 0;
}

template <int W>
__global__ void adamw_kernel(float* master, bf16* params, const bf16* grads, float* m, float* v,
                             long n, long base, const AdamWRange* ranges, int n_ranges,
                             const float* grad_scale, AdamWScalars s) {
  const float scale = grad_scale ? *grad_scale : 1.0f;
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    // Weight decay per element: one search for the pack, per element only across a boundary.
    float wd[V];
    const long gi = base + i;
    const int r = find_range(ranges, n_ranges, gi);
    if (r >= 0 && gi + V <= ranges[r].offset + ranges[r].size) {
      const float d = ranges[r].decay != 0 ? s.weight_decay : 0.0f;
#pragma unroll
      for (int k = 0; k < V; ++k) wd[k] = d;
    } else {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int rk = k == 0 ? r : find_range(ranges, n_ranges, gi + k);
        wd[k] = decays(ranges, rk, gi + k) ? s.weight_decay : 0.0f;
      }
    }
    float p[V], g[V], mm[V], vv[V];
    load_f32<V>(p, master + i);
    load_bf16<V>(g, grads + i);
    load_f32<V>(mm, m + i);
    load_f32<V>(vv, v + i);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float gk = g[k] * scale;
      mm[k] = s.beta1 * mm[k] + (1.0f - s.beta1) * gk;
      vv[k] = s.beta2 * vv[k] + (1.0f - s.beta2) * gk * gk;
      const float m_hat = mm[k] * s.m_correction;
      const float v_hat = vv[k] * s.v_correction;
      p[k] -= s.lr * (m_hat / (sqrtf(v_hat) + s.eps) + wd[k] * p[k]);
    }
    store_f32<V>(master + i, p);
    store_f32<V>(m + i, mm);
    store_f32<V>(v + i, vv);
    if (params) store_bf16<V>(params + i, p);
  });
}

// partial[blockIdx.x] = sum of x^2 over this block's grid-stride slice
template <int W>
__global__ void sum_squares_kernel(float* partial, const bf16* x, long n) {
  float acc = 0.0f;
  grid_stride_packs<W>(n, [&](long i, auto width) {
    constexpr int V = decltype(width)::value;
    float z[V];
    load_bf16<V>(z, x + i);
#pragma unroll
    for (int k = 0; k < V; ++k) acc += z[k] * z[k];
  });
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_partials_kernel(float* out, const float* partial, int n_partial) {
  float acc = 0.0f;
  for (int i = threadIdx.x; i < n_partial; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] = acc;
}

__global__ void clip_scale_kernel(float* norm_out, float* scale_out, const float* sumsq,
                                  float max_norm) {
  const float norm = sqrtf(sumsq[0]);
  if (norm_out) norm_out[0] = norm;
  // Like torch's clip_grad_norm_: min(1, max_norm / (norm + 1e-6)); a non-finite norm yields a
  // NaN scale on purpose (fminf alone would turn a NaN into 1 and hide the blow-up).
  float scale = 1.0f;
  if (max_norm > 0.0f) {
    scale = isfinite(norm) ? fminf(1.0f, max_norm / (norm + 1e-6f)) : CUDART_NAN_F;
  }
  if (scale_out) scale_out[0] = scale;
}

}  // namespace

void adamw_update(float* master, bf16* params, const bf16* grads, float* m, float* v, long n,
                  long base, const AdamWRange* ranges, int n_ranges, const float* grad_scale,
                  const AdamWConfig& cfg, cudaStream_t stream) {
  FLAME_CHECK(cfg.step >= 1, "AdamW step is 1-based, got " << cfg.step);
  FLAME_CHECK(n >= 0 && base >= 0, "n=" << n << " base=" << base);
  FLAME_CHECK(master && grads && m && v, "master, grads, m and v are required");
  FLAME_CHECK(n_ranges == 0 || ranges, "n_ranges=" << n_ranges << " but no range table");
  if (n == 0) return;
  AdamWScalars s{cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay,
                 float(1.0 / (1.0 - std::pow(double(cfg.beta1), cfg.step))),
                 float(1.0 / (1.0 - std::pow(double(cfg.beta2), cfg.step)))};
  dispatch_width(vector_width(8, master, params, grads, m, v), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    adamw_kernel<W><<<grid_for(n / W + 1, kThreads), kThreads, 0, stream>>>(
        master, params, grads, m, v, n, base, ranges, n_ranges, grad_scale, s);
  });
  CUDA_CHECK_LAUNCH();
}

size_t sum_squares_scratch_floats() { return kNormBlocks + 1; }  // partials + the sum

void sum_squares(float* out, const bf16* x, long n, float* scratch, cudaStream_t stream) {
  FLAME_CHECK(n >= 0 && out && scratch && (n == 0 || x), "n=" << n);
  if (n == 0) {
    CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float), stream));
    return;
  }
  // Blocks: a function of n only (never of the device), so the summation order is fixed.
  const unsigned blocks = grid_for(n, kThreads * 8, kNormBlocks);
  dispatch_width(vector_width(8, x), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    sum_squares_kernel<W><<<blocks, kThreads, 0, stream>>>(scratch, x, n);
  });
  CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<1, kThreads, 0, stream>>>(out, scratch, int(blocks));
  CUDA_CHECK_LAUNCH();
}

void clip_scale(float* norm_out, float* scale_out, const float* sumsq, float max_norm,
                cudaStream_t stream) {
  FLAME_CHECK(sumsq, "sumsq is required");
  clip_scale_kernel<<<1, 1, 0, stream>>>(norm_out, scale_out, sumsq, max_norm);
  CUDA_CHECK_LAUNCH();
}

void grad_norm_clip(float* norm_out, float* scale_out, const bf16* grads, long n, float max_norm,
                    float* scratch, cudaStream_t stream) {
  float* sumsq = scratch + kNormBlocks;
  sum_squares(sumsq, grads, n, scratch, stream);
  clip_scale(norm_out, scale_out, sumsq, max_norm, stream);
}

}  // namespace flame::cuda
