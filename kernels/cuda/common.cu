// Second stage of the deterministic column reductions: the first stage (norm backward, bias
// gradient) leaves P rows of fp32 partial sums; here they are added per column in a fixed order
// and the total is accumulated into the bf16 gradient with a single rounding.
// Block (32 columns x 32 row-lanes): lane ty sums rows ty, ty + 32, ... of its column (a warp
// reads 32 consecutive columns: coalesced), then the 32 lane sums are added in ty order. The
// order depends only on P, never on timing: deterministic.
#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kCols = 32, kLanes = 32;

__global__ void __launch_bounds__(kCols * kLanes)
    add_column_partials_kernel(bf16* dst, const float* partial, int P, long stride, int C) {
  __shared__ float lane_sums[kLanes][kCols + 1];  // +1: no bank conflicts on the column read
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  const int c = blockIdx.x * kCols + tx;
  float sum = 0.0f;
  if (c < C)
    for (int p = ty; p < P; p += kLanes) sum += partial[p * stride + c];
  lane_sums[ty][tx] = sum;
  __syncthreads();
  if (ty == 0 && c < C) {
    float total = 0.0f;
    for (int k = 0; k < kLanes; ++k) total += lane_sums[k][tx];
    dst[c] = to_bf16(to_f32(dst[c]) + total);
  }
}

}  // namespace

void add_column_partials(bf16* dst, const float* partial, int P, long stride, int C,
                         cudaStream_t stream) {
  if (C <= 0) return;
  add_column_partials_kernel<<<(C + kCols - 1) / kCols, kCols * kLanes, 0, stream>>>(
      dst, partial, P, stride, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace flame::cuda
