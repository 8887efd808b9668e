// LayerNorm over the last dim. Forward: two-pass mean/variance in double per row (stable for
// rows with a large mean). Backward per row: dx = rstd * (dn - mean(dn) - xhat * mean(dn*xhat))
// with dn = dout*w; dw/db are reduced over rows in per-thread double buffers, then summed.
#include "kernels/layernorm.h"

#include <cmath>
#include <vector>

#include <omp.h>

namespace flame::cpu {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if (long(N) * C > 16384)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + long(n) * C;  // (C)
    float* y = out + long(n) * C;        // (C)
    double sum = 0.0;
    for (int c = 0; c < C; ++c) sum += x[c];
    const double mu = sum / C;
    double sq = 0.0;
    for (int c = 0; c < C; ++c) {
      const double d = x[c] - mu;
      sq += d * d;
    }
    const float r = float(1.0 / std::sqrt(sq / C + double(eps)));
    const float m = float(mu);
    for (int c = 0; c < C; ++c) {
      const float xhat = (x[c] - m) * r;
      y[c] = xhat * w[c] + (b ? b[c] : 0.0f);
    }
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = r;
  }
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int N, int C) {
  const bool parallel = long(N) * C > 16384;
  const int n_threads = parallel ? omp_get_max_threads() : 1;
  // Per-thread partial sums of dw and db (double), merged after the row loop: no races.
  std::vector<double> partial(size_t(n_threads) * 2 * C, 0.0);
#pragma omp parallel num_threads(n_threads)
  {
    double* dw_acc = partial.data() + size_t(omp_get_thread_num()) * 2 * C;  // (C)
    double* db_acc = dw_acc + C;                                              // (C)
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      const float* x = inp + long(n) * C;
      const float* g = dout + long(n) * C;
      float* dx = dinp + long(n) * C;
      const float m = mean[n], r = rstd[n];
      // row reductions: mean(dn) and mean(dn * xhat)
      double dn_sum = 0.0, dn_xhat_sum = 0.0;
      for (int c = 0; c < C; ++c) {
        const float xhat = (x[c] - m) * r;
        const float dn = g[c] * w[c];
        dn_sum += dn;
        dn_xhat_sum += double(dn) * xhat;
        dw_acc[c] += double(g[c]) * xhat;
        db_acc[c] += g[c];
      }
      const float dn_mean = float(dn_sum / C), dn_xhat_mean = float(dn_xhat_sum / C);
      for (int c = 0; c < C; ++c) {
        const float xhat = (x[c] - m) * r;
        dx[c] += r * (g[c] * w[c] - dn_mean - xhat * dn_xhat_mean);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    double dw_sum = 0.0, db_sum = 0.0;
    for (int t = 0; t < n_threads; ++t) {
      dw_sum += partial[size_t(t) * 2 * C + c];
      db_sum += partial[size_t(t) * 2 * C + C + c];
    }
    dw[c] += float(dw_sum);
    if (db) db[c] += float(db_sum);
  }
}

}  // namespace flame::cpu
