// Fused softmax cross-entropy with a loss mask, one block per row of bf16 logits, fp32 math.
// Pass 1: each thread keeps a running max m and exp-sum s rescaled to m (online softmax) over its
// slice of the row, read in 16-byte packs when V % 8 == 0; the block then takes the max M of the
// m's and the sum of s * exp(m - M), giving lse = M + log(S). loss = lse - logit[target]; the
// target logit is read by thread 0 BEFORE the block reductions, whose barriers order it before
// any pass-2 write, so the in-place gradient cannot clobber it.
// Pass 2 (forward_backward only): re-reads the row (L2; a row is ~100 KB for V = 50K) and
// overwrites it with coeff * (exp(x - lse) - [v == target]), coeff = mask * dloss / norm.
// Probabilities are never stored; traffic is one read (plus the L2 re-read) and one write.
#include "kernels/cross_entropy.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 1024;  // 2 rows per SM in flight: their re-read stays in L2

template <int W, bool kBackward>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_kernel(float* losses, bf16* logits, const int32_t* targets, const float* mask,
                         int V, float dloss, float norm) {
  const long row = blockIdx.x;
  bf16* x = logits + row * V;  // (V)
  const float weight = mask ? mask[row] : 1.0f;
  if (weight == 0.0f) {  // block-uniform: masked rows contribute nothing
    if (threadIdx.x == 0) losses[row] = 0.0f;
    if constexpr (kBackward) {
      const float zero[W] = {};
      for (int v = threadIdx.x * W; v < V; v += blockDim.x * W) store_bf16<W>(x + v, zero);
    }
    return;
  }
  const int target = targets[row];
  const bool valid = target >= 0 && target < V;
  float target_logit = 0.0f;
  if (threadIdx.x == 0 && valid) target_logit = to_f32(x[target]);

  float m = -CUDART_INF_F, s = 0.0f;
  for (int v = threadIdx.x * W; v < V; v += blockDim.x * W) {
    float z[W];
    load_bf16<W>(z, x + v);
    float pack_max = z[0];
#pragma unroll
    for (int k = 1; k < W; ++k) pack_max = fmaxf(pack_max, z[k]);
    if (pack_max > m) {  // rescale the running sum to the new max (exp(-inf) = 0 on the first)
      s *= expf(m - pack_max);
      m = pack_max;
    }
    if (m != -CUDART_INF_F) {  // an all -inf prefix contributes nothing (and would give NaN)
#pragma unroll
      for (int k = 0; k < W; ++k) s += expf(z[k] - m);
    }
  }
  const float row_max = block_max(m);
  const float row_sum = block_sum(m == -CUDART_INF_F ? 0.0f : s * expf(m - row_max));
  const float lse = row_max + logf(row_sum);
  if (threadIdx.x == 0) losses[row] = valid ? lse - target_logit : CUDART_NAN_F;

  if constexpr (kBackward) {
    const float coeff = norm == 0.0f ? 0.0f : weight * dloss / norm;
    for (int v = threadIdx.x * W; v < V; v += blockDim.x * W) {
      float z[W];
      load_bf16<W>(z, x + v);
#pragma unroll
      for (int k = 0; k < W; ++k) {
        z[k] = coeff * expf(z[k] - lse);
        if (v + k == target) z[k] -= coeff;
      }
      store_bf16<W>(x + v, z);
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    mean_kernel(float* mean_out, const float* losses, const float* mask, int N) {
  float loss_sum = 0.0f, mask_sum = 0.0f;
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    const float w = mask ? mask[n] : 1.0f;
    if (w != 0.0f) {  // masked losses are 0 anyway; skipping keeps a NaN filler out
      loss_sum += w * losses[n];
      mask_sum += w;
    }
  }
  loss_sum = block_sum(loss_sum);
  mask_sum = block_sum(mask_sum);
  if (threadIdx.x == 0) mean_out[0] = mask_sum > 0.0f ? loss_sum / mask_sum : 0.0f;
}

template <bool kBackward>
void launch(float* losses, bf16* logits, const int32_t* targets, const float* mask, int N, int V,
            float dloss, float norm, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && V > 0, "N=" << N << " V=" << V);
  FLAME_CHECK(losses && logits && targets, "losses, logits and targets are required");
  if (N == 0) return;
  dispatch_width(vector_width(V, logits), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    cross_entropy_kernel<W, kBackward><<<unsigned(N), kThreads, 0, stream>>>(
        losses, logits, targets, mask, V, dloss, norm);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void cross_entropy_forward(float* losses, const bf16* logits, const int32_t* targets,
                           const float* mask, int N, int V, cudaStream_t stream) {
  // The forward-only instantiation never writes logits.
  launch<false>(losses, const_cast<bf16*>(logits), targets, mask, N, V, 0.0f, 0.0f, stream);
}

void cross_entropy_forward_backward(float* losses, bf16* logits, const int32_t* targets,
                                    const float* mask, int N, int V, float dloss, float norm,
                                    cudaStream_t stream) {
  launch<true>(losses, logits, targets, mask, N, V, dloss, norm, stream);
}

void cross_entropy_mean(float* mean_out, const float* losses, const float* mask, int N,
                        cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && mean_out && losses, "N=" << N);
  mean_kernel<<<1, kThreads, 0, stream>>>(mean_out, losses, mask, N);
  CUDA_CHECK_LAUNCH();
}

}  // namespace flame::cuda
