// Masked softmax cross-entropy, one row per token: loss = logsumexp(logits) - logits[target],
// with the max subtracted before exp and the exp-sum in double. Masked rows are skipped (loss 0,
// gradient 0). Backward recomputes the softmax row by row, so it can overwrite logits in place.
#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace flame::cpu {
namespace {

// log(sum_v exp(row[v])), stable.
double log_sum_exp(const float* row, int V) {
  float max_logit = row[0];
  for (int v = 1; v < V; ++v) max_logit = std::max(max_logit, row[v]);
  double sum = 0.0;  // float exp (each term is exact to an ulp), double sum over a large V
  for (int v = 0; v < V; ++v) sum += std::exp(row[v] - max_logit);
  return double(max_logit) + std::log(sum);
}

void check_targets(const int32_t* targets, const float* mask, int N, int V) {
  for (int n = 0; n < N; ++n) {
    if (mask && mask[n] == 0.0f) continue;  // masked rows may hold any filler id
    FLAME_CHECK(targets[n] >= 0 && targets[n] < V,
                "target " << targets[n] << " at row " << n << ", V=" << V);
  }
}

}  // namespace

float cross_entropy_forward(float* losses, const float* logits, const int32_t* targets,
                            const float* mask, int N, int V) {
  check_targets(targets, mask, N, V);
  double loss_sum = 0.0, mask_sum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : loss_sum, mask_sum) \
    if (long(N) * V > 32768)
  for (int n = 0; n < N; ++n) {
    const float weight = mask ? mask[n] : 1.0f;
    if (weight == 0.0f) {
      losses[n] = 0.0f;
      continue;
    }
    const float* row = logits + long(n) * V;  // (V)
    const double loss = log_sum_exp(row, V) - double(row[targets[n]]);
    losses[n] = float(loss);
    loss_sum += weight * loss;
    mask_sum += weight;
  }
  return mask_sum > 0.0 ? float(loss_sum / mask_sum) : 0.0f;
}

void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets,
                            const float* mask, int N, int V, float dloss, float norm) {
  check_targets(targets, mask, N, V);
#pragma omp parallel for schedule(static) if (long(N) * V > 32768)
  for (int n = 0; n < N; ++n) {
    const float* row = logits + long(n) * V;  // (V); may be the same memory as grad
    float* grad = dlogits + long(n) * V;      // (V)
    const float weight = mask ? mask[n] : 1.0f;
    if (weight == 0.0f || norm == 0.0f) {
      std::fill(grad, grad + V, 0.0f);
      continue;
    }
    const float lse = float(log_sum_exp(row, V));
    const float coeff = weight * dloss / norm;
    const int target = targets[n];
    // element v is read before it is written, so grad == row is safe
    for (int v = 0; v < V; ++v) grad[v] = coeff * std::exp(row[v] - lse);
    grad[target] -= coeff;
  }
}

}  // namespace flame::cpu
