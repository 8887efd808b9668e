// RMSNorm over the last dim: y = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps), the mean of
// squares accumulated in double. Backward per row: dx = rstd * (dn - xhat * mean(dn*xhat)),
// dn = dout*w; dw is reduced over rows in per-thread double buffers, then summed.
#include "kernels/rmsnorm.h"

#include <cmath>
#include <vector>

#include <omp.h>

namespace flame::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                     float eps) {
#pragma omp parallel for schedule(static) if (long(N) * C > 16384)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + long(n) * C;  // (C)
    float* y = out + long(n) * C;        // (C)
    double sq = 0.0;
    for (int c = 0; c < C; ++c) sq += double(x[c]) * x[c];
    const float r = float(1.0 / std::sqrt(sq / C + double(eps)));
    for (int c = 0; c < C; ++c) y[c] = x[c] * r * w[c];
    if (rstd) rstd[n] = r;
  }
}

void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int N, int C) {
  const bool parallel = long(N) * C > 16384;
  const int n_threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(size_t(n_threads) * C, 0.0);  // per-thread dw partial sums
#pragma omp parallel num_threads(n_threads)
  {
    double* dw_acc = partial.data() + size_t(omp_get_thread_num()) * C;  // (C)
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      const float* x = inp + long(n) * C;
      const float* g = dout + long(n) * C;
      float* dx = dinp + long(n) * C;
      const float r = rstd[n];
      double dn_xhat_sum = 0.0;
      for (int c = 0; c < C; ++c) {
        const float xhat = x[c] * r;
        dn_xhat_sum += double(g[c]) * w[c] * xhat;
        dw_acc[c] += double(g[c]) * xhat;
      }
      const float dn_xhat_mean = float(dn_xhat_sum / C);
      for (int c = 0; c < C; ++c) dx[c] += r * (g[c] * w[c] - x[c] * r * dn_xhat_mean);
    }
  }
  for (int c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int t = 0; t < n_threads; ++t) sum += partial[size_t(t) * C + c];
    dw[c] += float(sum);
  }
}

}  // namespace flame::cpu
