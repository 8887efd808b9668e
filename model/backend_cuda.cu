// The CUDA backend: bf16 activations, working parameters and gradients (fp32 statistics, losses,
// master weights and moments), every op a launcher of kernels/cuda/ queued on one stream, GEMMs
// through cuBLASLt. It owns the stream, the GEMM context, one scratch buffer shared by the
// backward kernels (they run one after another on the stream) and the optimizer's device scalars.
// Fusions it offers: residual add + norm in one pass, GELU in the fc GEMM's epilogue (and its
// derivative in mlp.proj's input-gradient GEMM) when d_ff % 8 == 0, and softmax cross-entropy
// forward + backward in one kernel.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/activations.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/convert.h"
#include "kernels/cross_entropy.h"
#include "kernels/cuda_check.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "model/backend.h"

namespace flame::model {

namespace {

using bf16 = __nv_bfloat16;
const bf16* H(const void* p) { return static_cast<const bf16*>(p); }
bf16* H(void* p) { return static_cast<bf16*>(p); }

double sync_timeout_s() {
  static const double limit = [] {
    const char* e = std::getenv("FLAME_CUDA_SYNC_TIMEOUT_S");
    return e && *e ? std::atof(e) : 300.0;
  }();
  return limit;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    gemm_ = std::make_unique<cuda::GemmContext>();
    scalars_ = alloc(4 * sizeof(float));  // [0] mean loss, [1] grad norm, [2] clip scale
    CUDA_CHECK(cudaStreamCreate(&stream_));  // blocking w.r.t. the legacy default stream
  }
  ~CudaBackend() override {
    if (stream_) {
      cudaStreamSynchronize(stream_);  // destructors must not throw: unchecked
      cudaStreamDestroy(stream_);
    }
  }

  Device device() const override { return Device::cuda; }
  ActType act_dtype() const override { return ActType::bf16; }

  void prepare(const ModelConfig& cfg, int B, int T) override {
    const size_t need = backward_scratch_bytes(cfg, B, T);
    if (need > scratch_.bytes()) scratch_ = alloc(need);
  }

  Buffer alloc(size_t bytes) override {
    void* p = nullptr;
    if (bytes) CUDA_CHECK(cudaMalloc(&p, bytes));
    if (bytes) CUDA_CHECK(cudaMemset(p, 0, bytes));
    return Buffer(p, bytes, [](void* q) {
      if (q) cudaFree(q);  // no check: may run in a destructor
    });
  }
  void zero(void* p, size_t bytes) override {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    // From pageable memory: returns once the data is staged, so src may be reused at once.
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  }
  void download(void* dst, const void* src, size_t bytes) override {
    wait("download");
    // Into pageable memory: returns when the copy is done.
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  }
  void download_act(float* dst, const void* src, size_t n) override {
    std::vector<uint16_t> bits(n);
    download(bits.data(), src, n * sizeof(bf16));
    bf16_to_f32(dst, bits.data(), n);
  }
  void f32_to_act(void* dst, const float* src, size_t n) override {
    cuda::convert_f32_to_bf16(H(dst), src, long(n), stream_);
  }

  // Polls instead of cudaStreamSynchronize so that a hang is reported instead of waited on. A
  // hung kernel cannot be recovered in-process (every later CUDA call would wait for it too), so
  // after FLAME_CUDA_SYNC_TIMEOUT_S seconds (default 300; 0 waits forever) it says which call was
  // waiting and exits with status 124.
  void wait(const char* what) override {
    const double limit = sync_timeout_s();
    const auto t0 = std::chrono::steady_clock::now();
    for (long polls = 1;; ++polls) {
      const cudaError_t st = cudaStreamQuery(stream_);
      if (st == cudaSuccess) return;
      if (st != cudaErrorNotReady) {
        throw Error(std::string("CUDA backend, ") + what + ": CUDA error " +
                    cudaGetErrorName(st) + " (" + cudaGetErrorString(st) +
                    ") raised by a kernel queued since the last synchronisation (run with "
                    "CUDA_LAUNCH_BLOCKING=1 to attribute it to its launch)");
      }
      if (polls % 1024 == 0) {
        if (polls > 8192) std::this_thread::sleep_for(std::chrono::microseconds(20));
        const double waited =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (limit > 0 && waited > limit) {
          std::fflush(stdout);
          std::fprintf(stderr,
                       "flame: CUDA backend, %s: the GPU has not finished its queued work after "
                       "%.0f s: a kernel appears to hang. Exiting (status 124); "
                       "FLAME_CUDA_SYNC_TIMEOUT_S sets this limit, 0 waits forever.\n",
                       what, waited);
          std::fflush(stderr);
          std::_Exit(124);
        }
      }
    }
  }
  size_t own_bytes() const override {
    return scratch_.bytes() + scalars_.bytes() + gemm_->workspace_bytes();
  }
  int epilogue_fallbacks() const override { return gemm_->epilogue_fallbacks; }

  void embedding_forward(void* out, const int32_t* tok, const int32_t* pos, const void* wte,
                         const void* wpe, int N, int C) override {
    cuda::embedding_forward(H(out), tok, pos, H(wte), H(wpe), N, C, stream_);
  }
  // Deterministic: sorted by id, no atomics.
  void embedding_backward(void* dwte, void* dwpe, const void* dout, const int32_t* tok,
                          const int32_t* pos, int N, int C) override {
    cuda::embedding_backward(H(dwte), H(dwpe), H(dout), tok, pos, N, C, scratch_.data(),
                             scratch_.bytes(), stream_);
  }
  void norm_forward(Norm kind, void* out, float* mean, float* rstd, const void* inp,
                    const void* w, const void* b, int N, int C, float eps) override {
    if (kind == Norm::layernorm)
      cuda::layernorm_forward(H(out), mean, rstd, H(inp), H(w), H(b), N, C, eps, stream_);
    else
      cuda::rmsnorm_forward(H(out), rstd, H(inp), H(w), N, C, eps, stream_);
  }
  void norm_backward(Norm kind, void* dinp, void* dw, void* db, const void* dout,
                     const void* inp, const void* w, const float* mean, const float* rstd, int N,
                     int C) override {
    if (kind == Norm::layernorm)
      cuda::layernorm_backward(H(dinp), H(dw), H(db), fscratch(), H(dout), H(inp), H(w), mean,
                               rstd, N, C, stream_);
    else
      cuda::rmsnorm_backward(H(dinp), H(dw), fscratch(), H(dout), H(inp), H(w), rstd, N, C,
                             stream_);
  }
  void matmul_forward(void* out, const void* inp, const void* w, const void* b, int N, int C,
                      int OC) override {
    cuda::matmul_forward(*gemm_, H(out), nullptr, H(inp), H(w), H(b), N, C, OC, stream_);
  }
  void matmul_backward(void* dinp, void* dw, void* db, const void* dout, const void* inp,
                       const void* w, int N, int C, int OC) override {
    cuda::matmul_backward(*gemm_, H(dinp), H(dw), H(db), fscratch(), H(dout), H(inp), H(w),
                          nullptr, N, C, OC, stream_);
  }
  void rope_forward(void* x, const int32_t* pos, int N, int Hh, int D, long stride,
                    float theta) override {
    cuda::rope_forward(H(x), pos, N, Hh, D, stride, theta, stream_);
  }
  void rope_backward(void* dx, const int32_t* pos, int N, int Hh, int D, long stride,
                     float theta) override {
    cuda::rope_backward(H(dx), pos, N, Hh, D, stride, theta, stream_);
  }
  void attention_forward(void* out, float* lse, const void* qkv, const int32_t* seg,
                         const AttentionShape& s) override {
    cuda::attention_forward(H(out), lse, H(qkv), seg, s, stream_);
  }
  void attention_backward(void* dqkv, const void* dout, const void* qkv, const void* out,
                          const float* lse, const int32_t* seg, const AttentionShape& s) override {
    cuda::attention_backward(H(dqkv), H(dout), H(qkv), H(out), lse, seg, scratch_.data(), s,
                             stream_);
  }
  void kv_cache_append(void* kc, void* vc, const void* qkv, const int32_t* row,
                       const int32_t* pos, const DecodeShape& s) override {
    cuda::kv_cache_append(H(kc), H(vc), H(qkv), row, pos, s, stream_);
  }
  void attention_decode(void* out, const void* q, const void* kc, const void* vc,
                        const int32_t* row, const int32_t* pos, const DecodeShape& s) override {
    cuda::attention_decode(H(out), H(q), H(kc), H(vc), row, pos, s, stream_);
  }
  void activation_forward(Mlp kind, void* act, const void* fch, int N, int F) override {
    cuda::activation_forward(kind, H(act), H(fch), N, F, stream_);
  }
  void activation_backward(Mlp kind, void* dfch, const void* fch, const void* dact, int N,
                           int F) override {
    cuda::activation_backward(kind, H(dfch), H(fch), H(dact), N, F, stream_);
  }
  void add(void* out, const void* a, const void* b, long n) override {
    cuda::residual_forward(H(out), H(a), H(b), n, stream_);
  }
  float cross_entropy_forward(float* losses, const void* logits, const int32_t* targets,
                              const float* mask, int N, int V) override {
    cuda::cross_entropy_forward(losses, H(logits), targets, mask, N, V, stream_);
    cuda::cross_entropy_mean(scalars_.as<float>(), losses, mask, N, stream_);
    // Every kernel of the pass finishes here: an asynchronous fault surfaces now, naming forward.
    wait("forward");
    float loss = 0.0f;
    download(&loss, scalars_.as<float>(), sizeof(float));
    return loss;
  }
  // The loss normaliser is only known at backward, so this is the fused forward + backward kernel
  // (one more read of the logits than a backward alone, ~1% of a GPT-2 step).
  void cross_entropy_backward(void* logits, float* losses, const int32_t* targets,
                              const float* mask, int N, int V, float norm) override {
    cuda::cross_entropy_forward_backward(losses, H(logits), targets, mask, N, V, 1.0f, norm,
                                         stream_);
  }

  void grad_norm_clip(void* grads, long n, float max_norm) override {
    cuda::grad_norm_clip(scalars_.as<float>(4), scalars_.as<float>(8), H(grads), n, max_norm,
                         fscratch(), stream_);
  }
  double last_grad_norm() override {
    float norm = 0.0f;
    download(&norm, scalars_.as<float>(4), sizeof(float));
    return norm;
  }
  void adamw(float* master, void* params, const void* grads, float* m, float* v, long n,
             const AdamWRange* ranges, int n_ranges, const AdamWConfig& c) override {
    cuda::adamw_update(master, H(params), H(grads), m, v, n, 0, ranges, n_ranges,
                       scalars_.as<float>(8), c, stream_);
  }

  // GELU into the fc GEMM (GELU_AUX_BIAS keeps the pre-activation); cuBLASLt's aux matrix needs
  // a leading dim that is a multiple of 8.
  void mlp_up_forward(Mlp kind, void* act, void* fch, const void* inp, const void* w,
                      const void* b, int N, int C, int F) override {
    if (!fuse_gelu(kind, F)) return Backend::mlp_up_forward(kind, act, fch, inp, w, b, N, C, F);
    cuda::matmul_forward(*gemm_, H(act), H(fch), H(inp), H(w), H(b), N, C, F, stream_);
  }
  // The DGELU epilogue writes dfch straight from mlp.proj's input-gradient GEMM.
  void mlp_down_backward(Mlp kind, void* dfch, void* dact, void* dw, void* db, const void* dout,
                         const void* act, const void* w, const void* fch, int N, int F,
                         int C) override {
    if (!fuse_gelu(kind, F))
      return Backend::mlp_down_backward(kind, dfch, dact, dw, db, dout, act, w, fch, N, F, C);
    cuda::matmul_backward(*gemm_, H(dfch), H(dw), H(db), fscratch(), H(dout), H(act), H(w),
                          H(fch), N, F, C, stream_);
  }
  void norm_residual_forward(Norm kind, void* res_out, void* out, float* mean, float* rstd,
                             const void* resid, const void* delta, const void* w, const void* b,
                             int N, int C, float eps) override {
    if (kind == Norm::layernorm)
      cuda::layernorm_residual_forward(H(res_out), H(out), mean, rstd, H(resid), H(delta), H(w),
                                       H(b), N, C, eps, stream_);
    else
      cuda::rmsnorm_residual_forward(H(res_out), H(out), rstd, H(resid), H(delta), H(w), N, C,
                                     eps, stream_);
  }

 private:
  static bool fuse_gelu(Mlp kind, int F) { return kind == Mlp::gelu && F % 8 == 0; }
  float* fscratch() const { return scratch_.as<float>(); }

  // The largest scratch any backward kernel of a (B,T) micro-batch needs.
  static size_t backward_scratch_bytes(const ModelConfig& cfg, int B, int T) {
    const int N = B * T, C = cfg.d_model, D = cfg.head_dim();
    const int QKV = (cfg.n_head + 2 * cfg.n_kv_head) * D;
    const int F2 = is_gated(cfg.mlp) ? 2 * cfg.d_ff : cfg.d_ff;
    size_t need = cuda::sum_squares_scratch_floats() * sizeof(float);  // grad_norm_clip
    // Bias gradients (the LM head has none): qkv's also for qkv_bias alone (Qwen2).
    if (cfg.has_qkv_bias()) need = std::max(need, cuda::matmul_backward_scratch_bytes(N, QKV));
    if (cfg.bias)
      for (int oc : {C, F2}) need = std::max(need, cuda::matmul_backward_scratch_bytes(N, oc));
    need = std::max(need, cfg.norm == Norm::layernorm
                              ? cuda::layernorm_backward_scratch_bytes(N, C)
                              : cuda::rmsnorm_backward_scratch_bytes(N, C));
    need = std::max(need, cuda::attention_backward_scratch_bytes(
                              {B, T, cfg.n_head, cfg.n_kv_head, D}));
    need = std::max(need, cuda::embedding_backward_workspace_bytes(N));
    return need;
  }

  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::GemmContext> gemm_;
  Buffer scratch_, scalars_;
};

}  // namespace

bool cuda_device_present() { return cuda::device_available(); }
std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace flame::model
