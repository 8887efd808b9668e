// Pointwise activations. GELU uses the tanh approximation of GPT-2,
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); SwiGLU splits each row into [gate | up] and
// returns silu(gate) * up. Backwards are the closed-form derivatives, evaluated pointwise.
#include "kernels/activations.h"

#include <cmath>

namespace flame::cpu {
namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluCubic = 0.044715f;

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace

void gelu_forward(float* out, const float* inp, long N) {
#pragma omp parallel for simd schedule(static) if (N > 65536)
  for (long i = 0; i < N; ++i) {
    const float x = inp[i];
    const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
    out[i] = 0.5f * x * (1.0f + std::tanh(u));
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, long N) {
#pragma omp parallel for simd schedule(static) if (N > 65536)
  for (long i = 0; i < N; ++i) {
    const float x = inp[i];
    const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
    const float th = std::tanh(u);
    const float du_dx = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
    // d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx
    const float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
    dinp[i] = dout[i] * grad;
  }
}

void swiglu_forward(float* out, const float* inp, int N, int F) {
#pragma omp parallel for schedule(static) if (long(N) * F > 65536)
  for (int n = 0; n < N; ++n) {
    const float* gate = inp + long(n) * 2 * F;  // (F)
    const float* up = gate + F;                 // (F)
    float* y = out + long(n) * F;               // (F)
    for (int f = 0; f < F; ++f) y[f] = gate[f] * sigmoid(gate[f]) * up[f];
  }
}

void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F) {
#pragma omp parallel for schedule(static) if (long(N) * F > 65536)
  for (int n = 0; n < N; ++n) {
    const float* gate = inp + long(n) * 2 * F;
    const float* up = gate + F;
    const float* g = dout + long(n) * F;
    float* dgate = dinp + long(n) * 2 * F;
    float* dup = dgate + F;
    for (int f = 0; f < F; ++f) {
      const float sig = sigmoid(gate[f]);
      const float silu = gate[f] * sig;
      // silu'(x) = sig(x) (1 + x (1 - sig(x)))
      dgate[f] = g[f] * up[f] * sig * (1.0f + gate[f] * (1.0f - sig));
      dup[f] = g[f] * silu;
    }
  }
}

void activation_forward(Activation kind, float* act, const float* fch, int N, int F) {
  switch (kind) {
    case Activation::gelu: return gelu_forward(act, fch, long(N) * F);
    case Activation::swiglu: return swiglu_forward(act, fch, N, F);
  }
}

void activation_backward(Activation kind, float* dfch, const float* fch, const float* dact, int N,
                         int F) {
  switch (kind) {
    case Activation::gelu: return gelu_backward(dfch, fch, dact, long(N) * F);
    case Activation::swiglu: return swiglu_backward(dfch, fch, dact, N, F);
  }
}

}  // namespace flame::cpu
