// Rotary position embedding, rotate-half pairing (i, i + D/2) with angle pos * theta^(-2i/D).
// Per token the D/2 cos/sin values are computed once (in double, then rounded) and applied to
// all H heads; backward applies the transposed rotation, i.e. the rotation by -angle.
#include "kernels/rope.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace flame::cpu {
namespace {

// sign = +1 rotates by +angle (forward), -1 by -angle (backward: R^T = R(-angle)).
void rope_rotate(float* x, const int32_t* pos, int N, int H, int D, long stride, float theta,
                 float sign) {
  FLAME_CHECK(D % 2 == 0, "rope needs an even head dim, D=" << D);
  const int half = D / 2;
  std::vector<double> inv_freq(half);  // theta^(-2i/D)
  for (int i = 0; i < half; ++i) inv_freq[i] = std::pow(double(theta), -2.0 * i / D);
#pragma omp parallel if (long(N) * H * D > 32768)
  {
    std::vector<float> cos_a(half), sin_a(half);  // per-token table, shared by its H heads
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      for (int i = 0; i < half; ++i) {
        const double angle = double(pos[n]) * inv_freq[i];
        cos_a[i] = float(std::cos(angle));
        sin_a[i] = float(sign * std::sin(angle));
      }
      for (int h = 0; h < H; ++h) {
        float* lo = x + long(n) * stride + long(h) * D;  // (D/2) first halves
        float* hi = lo + half;                           // (D/2) their partners
        for (int i = 0; i < half; ++i) {
          const float a = lo[i], b = hi[i];
          lo[i] = a * cos_a[i] - b * sin_a[i];
          hi[i] = b * cos_a[i] + a * sin_a[i];
        }
      }
    }
  }
}

}  // namespace

void rope_forward(float* x, const int32_t* pos, int N, int H, int D, long stride, float theta) {
  rope_rotate(x, pos, N, H, D, stride, theta, 1.0f);
}

void rope_backward(float* dx, const int32_t* pos, int N, int H, int D, long stride, float theta) {
  rope_rotate(dx, pos, N, H, D, stride, theta, -1.0f);
}

}  // namespace flame::cpu
