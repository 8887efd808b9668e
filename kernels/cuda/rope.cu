// Rotary position embedding in place on bf16, rotate-half pairing (i, i + D/2), angle
// pos * theta^(-2i/D) (kernels/rope.h). One thread per (token n, frequency i): the angle, its
// cos and sin are computed once in double (rounded to float, exactly as the CPU reference does,
// so large positions keep their phase) and applied in fp32 to pair i of all H heads of the token.
// Consecutive threads take consecutive i, so a warp's accesses to each head are contiguous.
// Backward applies the transposed rotation, i.e. the rotation by -angle.
#include "kernels/rope.h"

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void rope_kernel(bf16* x, const int32_t* pos, int N, int H, int D, long stride,
                            float theta, float sign) {
  const int half = D / 2;
  const long idx = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= long(N) * half) return;
  const long n = idx / half;
  const int i = int(idx % half);
  const double inv_freq = pow(double(theta), -2.0 * i / D);
  const double angle = double(pos[n]) * inv_freq;
  double s, c;
  sincos(angle, &s, &c);
  const float cos_a = float(c), sin_a = float(sign * s);
  bf16* token = x + n * stride;
  for (int h = 0; h < H; ++h) {
    bf16* lo = token + long(h) * D + i;  // element i of head h
    bf16* hi = lo + half;                // its partner i + D/2
    const float a = to_f32(*lo), b = to_f32(*hi);
    *lo = to_bf16(a * cos_a - b * sin_a);
    *hi = to_bf16(b * cos_a + a * sin_a);
  }
}

void launch(bf16* x, const int32_t* pos, int N, int H, int D, long stride, float theta,
            float sign, cudaStream_t stream) {
  FLAME_CHECK(D > 0 && D % 2 == 0, "rope needs an even head dim, D=" << D);
  FLAME_CHECK(N >= 0 && H >= 0 && stride >= long(H) * D,
              "N=" << N << " H=" << H << " D=" << D << " stride=" << stride);
  const long threads = long(N) * (D / 2);
  if (threads == 0 || H == 0) return;
  const long blocks = (threads + kThreads - 1) / kThreads;
  FLAME_CHECK(blocks <= 0x7fffffffL, "rope grid too large");
  rope_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(x, pos, N, H, D, stride, theta, sign);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void rope_forward(bf16* x, const int32_t* pos, int N, int H, int D, long stride, float theta,
                  cudaStream_t stream) {
  launch(x, pos, N, H, D, stride, theta, 1.0f, stream);
}

void rope_backward(bf16* dx, const int32_t* pos, int N, int H, int D, long stride, float theta,
                   cudaStream_t stream) {
  launch(dx, pos, N, H, D, stride, theta, -1.0f, stream);
}

}  // namespace flame::cuda
