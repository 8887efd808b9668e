// AdamW with decoupled weight decay: moments updated in fp32, bias corrections 1 - beta^step
// computed once in double, then p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p).
// sum_squares (for gradient-norm clipping) reduces in double; scale_inplace applies the clip.
#include "kernels/adamw.h"

#include <cmath>

#include "core/error.h"

namespace flame::cpu {

void adamw_update(float* params, const float* grads, float* m, float* v, long n,
                  const AdamWParams& p) {
  FLAME_CHECK(p.step >= 1, "AdamW step is 1-based, got " << p.step);
  const float m_correction = float(1.0 / (1.0 - std::pow(double(p.beta1), p.step)));
  const float v_correction = float(1.0 / (1.0 - std::pow(double(p.beta2), p.step)));
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (long i = 0; i < n; ++i) {
    const float g = grads[i];
    const float m_new = p.beta1 * m[i] + (1.0f - p.beta1) * g;
    const float v_new = p.beta2 * v[i] + (1.0f - p.beta2) * g * g;
    m[i] = m_new;
    v[i] = v_new;
    const float m_hat = m_new * m_correction;
    const float v_hat = v_new * v_correction;
    params[i] -= p.lr * (m_hat / (std::sqrt(v_hat) + p.eps) + p.weight_decay * params[i]);
  }
}

double sum_squares(const float* x, long n) {
  double sum = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : sum) if (n > 65536)
  for (long i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  return sum;
}

void scale_inplace(float* x, long n, float s) {
#pragma omp parallel for simd schedule(static) if (n > 262144)
  for (long i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace flame::cpu
