// The CPU backend: fp32 everywhere, host memory, every op the CPU reference kernel of
// kernels/cpu/ (run at once, no queue). Fusions are the interface's compositions of plain ops.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/activations.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "model/backend.h"

namespace flame::model {

namespace {

const float* F(const void* p) { return static_cast<const float*>(p); }
float* F(void* p) { return static_cast<float*>(p); }

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu; }
  ActType act_dtype() const override { return ActType::f32; }
  void prepare(const ModelConfig&, int, int) override {}

  Buffer alloc(size_t bytes) override {
    // 64-byte aligned (cache lines, AVX-512 loads); at least one line so data() is never null.
    const size_t rounded = (std::max<size_t>(bytes, 1) + 63) & ~size_t(63);
    void* p = std::aligned_alloc(64, rounded);
    FLAME_CHECK(p != nullptr, "out of host memory allocating " << bytes << " bytes");
    std::memset(p, 0, rounded);
    return Buffer(p, bytes, [](void* q) { std::free(q); });
  }
  void zero(void* p, size_t bytes) override { std::memset(p, 0, bytes); }
  void upload(void* dst, const void* src, size_t bytes) override {
    if (dst != src) std::memmove(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override {
    if (dst != src) std::memmove(dst, src, bytes);
  }
  void download_act(float* dst, const void* src, size_t n) override {
    download(dst, src, n * sizeof(float));
  }
  void f32_to_act(void* dst, const float* src, size_t n) override {
    upload(dst, src, n * sizeof(float));
  }
  void wait(const char*) override {}

  void embedding_forward(void* out, const int32_t* tok, const int32_t* pos, const void* wte,
                         const void* wpe, int N, int C) override {
    cpu::embedding_forward(F(out), tok, pos, F(wte), F(wpe), N, C);
  }
  void embedding_backward(void* dwte, void* dwpe, const void* dout, const int32_t* tok,
                          const int32_t* pos, int N, int C) override {
    cpu::embedding_backward(F(dwte), F(dwpe), F(dout), tok, pos, N, C);
  }
  void norm_forward(Norm kind, void* out, float* mean, float* rstd, const void* inp,
                    const void* w, const void* b, int N, int C, float eps) override {
    if (kind == Norm::layernorm)
      cpu::layernorm_forward(F(out), mean, rstd, F(inp), F(w), F(b), N, C, eps);
    else
      cpu::rmsnorm_forward(F(out), rstd, F(inp), F(w), N, C, eps);
  }
  void norm_backward(Norm kind, void* dinp, void* dw, void* db, const void* dout,
                     const void* inp, const void* w, const float* mean, const float* rstd, int N,
                     int C) override {
    if (kind == Norm::layernorm)
      cpu::layernorm_backward(F(dinp), F(dw), F(db), F(dout), F(inp), F(w), mean, rstd, N, C);
    else
      cpu::rmsnorm_backward(F(dinp), F(dw), F(dout), F(inp), F(w), rstd, N, C);
  }
  void matmul_forward(void* out, const void* inp, const void* w, const void* b, int N, int C,
                      int OC) override {
    cpu::matmul_forward(F(out), F(inp), F(w), F(b), N, C, OC);
  }
  void matmul_backward(void* dinp, void* dw, void* db, const void* dout, const void* inp,
                       const void* w, int N, int C, int OC) override {
    cpu::matmul_backward(F(dinp), F(dw), F(db), F(dout), F(inp), F(w), N, C, OC);
  }
  void rope_forward(void* x, const int32_t* pos, int N, int H, int D, long stride,
                    float theta) override {
    cpu::rope_forward(F(x), pos, N, H, D, stride, theta);
  }
  void rope_backward(void* dx, const int32_t* pos, int N, int H, int D, long stride,
                     float theta) override {
    cpu::rope_backward(F(dx), pos, N, H, D, stride, theta);
  }
  void attention_forward(void* out, float* lse, const void* qkv, const int32_t* seg,
                         const AttentionShape& s) override {
    cpu::attention_forward(F(out), lse, F(qkv), seg, s);
  }
  void attention_backward(void* dqkv, const void* dout, const void* qkv, const void* out,
                          const float* lse, const int32_t* seg, const AttentionShape& s) override {
    cpu::attention_backward(F(dqkv), F(dout), F(qkv), F(out), lse, seg, s);
  }
  void kv_cache_append(void* kc, void* vc, const void* qkv, const int32_t* row,
                       const int32_t* pos, const DecodeShape& s) override {
    cpu::kv_cache_append(F(kc), F(vc), F(qkv), row, pos, s);
  }
  void attention_decode(void* out, const void* q, const void* kc, const void* vc,
                        const int32_t* row, const int32_t* pos, const DecodeShape& s) override {
    cpu::attention_decode(F(out), F(q), F(kc), F(vc), row, pos, s);
  }
  void activation_forward(Mlp kind, void* act, const void* fch, int N, int F_) override {
    cpu::activation_forward(kind, F(act), F(fch), N, F_);
  }
  void activation_backward(Mlp kind, void* dfch, const void* fch, const void* dact, int N,
                           int F_) override {
    cpu::activation_backward(kind, F(dfch), F(fch), F(dact), N, F_);
  }
  void add(void* out, const void* a, const void* b, long n) override {
    cpu::residual_forward(F(out), F(a), F(b), n);
  }
  float cross_entropy_forward(float* losses, const void* logits, const int32_t* targets,
                              const float* mask, int N, int V) override {
    return cpu::cross_entropy_forward(losses, F(logits), targets, mask, N, V);
  }
  void cross_entropy_backward(void* logits, float*, const int32_t* targets, const float* mask,
                              int N, int V, float norm) override {
    cpu::cross_entropy_backward(F(logits), F(logits), targets, mask, N, V, 1.0f, norm);
  }

  // Clipping scales the gradients in place (the factor in double, from the double norm).
  void grad_norm_clip(void* grads, long n, float max_norm) override {
    norm_ = std::sqrt(cpu::sum_squares(F(grads), n));
    if (max_norm > 0 && norm_ > max_norm) cpu::scale_inplace(F(grads), n, float(max_norm / norm_));
  }
  double last_grad_norm() override { return norm_; }
  void adamw(float* master, void* params, const void* grads, float* m, float* v, long n,
             const AdamWRange* ranges, int n_ranges, const AdamWConfig& c) override {
    FLAME_CHECK(params == nullptr, "the CPU backend keeps no separate working parameters");
    for (int i = 0; i < n_ranges; ++i) {
      const AdamWRange& r = ranges[i];
      FLAME_CHECK(r.offset >= 0 && r.offset + r.size <= n, "adamw: range outside the buffer");
      const cpu::AdamWParams ap{c.lr, c.beta1, c.beta2, c.eps, r.decay ? c.weight_decay : 0.0f,
                                c.step};
      cpu::adamw_update(master + r.offset, F(grads) + r.offset, m + r.offset, v + r.offset,
                        long(r.size), ap);
    }
  }

 private:
  double norm_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace flame::model
