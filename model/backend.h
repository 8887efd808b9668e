// The backend interface: one set of op signatures the decoder (model/model_*.cpp) and its
// optimizer are written against once, implemented by the CPU fp32 reference (backend_cpu.cpp) and
// by CUDA bf16 (backend_cuda.cu). A backend owns what an op needs besides its tensors: the element
// type of activations, parameters and gradients, the stream, scratch memory and library handles.
//
// Pointers passed to ops are backend memory (Buffer): host memory on the CPU, device memory on a
// GPU. `act` tensors (void*) hold the backend's element type (act_dtype: fp32 on the CPU, bf16 on
// CUDA); statistics, losses, masks, AdamW state and master weights are always fp32; ids int32.
// Ops queue their work and return (the CPU runs it at once); only the calls documented as
// "waits" synchronize with the host.
//
// Fusions are capabilities: the non-pure virtuals in the "fused" block have a default that
// composes the plain ops, and a backend overrides them where it has a faster kernel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/adamw.h"      // AdamWConfig, AdamWRange
#include "kernels/attention.h"  // AttentionShape, DecodeShape
#include "model/config.h"

namespace flame::model {

using cpu::AttentionShape;
using cpu::DecodeShape;

enum class Device { cpu, cuda };
enum class ActType { f32, bf16 };

// "cpu" | "cuda" <-> Device (parse throws flame::Error naming the value).
Device parse_device(const std::string& s);
const char* name(Device d);
inline size_t act_type_bytes(ActType t) { return t == ActType::bf16 ? 2 : 4; }

// A block of backend memory, freed with the last copy of the handle.
class Buffer {
 public:
  Buffer() = default;
  Buffer(void* p, size_t bytes, void (*release)(void*)) : p_(p, release), bytes_(bytes) {}
  void* data() const { return p_.get(); }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<unsigned char*>(p_.get()) + byte_offset);
  }

 private:
  std::shared_ptr<void> p_;
  size_t bytes_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual ActType act_dtype() const = 0;  // activations, working parameters, gradients
  size_t act_bytes() const { return act_type_bytes(act_dtype()); }

  // Sizes scratch memory for a model with micro-batches up to (B,T) (called by make_backend).
  virtual void prepare(const ModelConfig& cfg, int B, int T) = 0;

  // ---- memory
  virtual Buffer alloc(size_t bytes) = 0;  // zero-filled
  virtual void zero(void* p, size_t bytes) = 0;
  // host -> backend memory; `src` may be reused as soon as the call returns.
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  // backend memory -> host (waits).
  virtual void download(void* dst, const void* src, size_t bytes) = 0;
  // host fp32 (n) = the act tensor src (n) (waits; exact).
  virtual void download_act(float* dst, const void* src, size_t n) = 0;
  // act (n) = fp32 (n), both backend memory (round to nearest even); a no-op when they alias.
  virtual void f32_to_act(void* dst, const float* src, size_t n) = 0;
  // Waits for the queued work; an error raised by any of it throws flame::Error naming `what`.
  virtual void wait(const char* what) = 0;
  // Device memory held by the backend itself (scratch, workspaces), in bytes.
  virtual size_t own_bytes() const { return 0; }
  // Fused epilogues that fell back to the unfused path so far (CUDA GEMMs).
  virtual int epilogue_fallbacks() const { return 0; }

  // ---- plain ops (shapes as in kernels/<op>.h; "+=" where the op accumulates)
  // out (N,C) = wte[tok] (+ wpe[pos] when wpe)
  virtual void embedding_forward(void* out, const int32_t* tok, const int32_t* pos,
                                 const void* wte, const void* wpe, int N, int C) = 0;
  // dwte += scatter(dout), dwpe += (when wpe)
  virtual void embedding_backward(void* dwte, void* dwpe, const void* dout, const int32_t* tok,
                                  const int32_t* pos, int N, int C) = 0;
  // out (N,C) = norm(inp); mean (N) unused for rmsnorm; b null for rmsnorm / no bias
  virtual void norm_forward(Norm kind, void* out, float* mean, float* rstd, const void* inp,
                            const void* w, const void* b, int N, int C, float eps) = 0;
  // dinp += norm'^T dout; dw +=; db += (layernorm with bias)
  virtual void norm_backward(Norm kind, void* dinp, void* dw, void* db, const void* dout,
                             const void* inp, const void* w, const float* mean,
                             const float* rstd, int N, int C) = 0;
  // out (N,OC) = inp (N,C) w^T (w (OC,C)) + b
  virtual void matmul_forward(void* out, const void* inp, const void* w, const void* b, int N,
                              int C, int OC) = 0;
  // dinp (N,C) written; dw (OC,C) +=; db (OC) += (when db)
  virtual void matmul_backward(void* dinp, void* dw, void* db, const void* dout, const void* inp,
                               const void* w, int N, int C, int OC) = 0;
  // in place over the first H heads (D each) of every row (stride elements apart)
  virtual void rope_forward(void* x, const int32_t* pos, int N, int H, int D, long stride,
                            float theta) = 0;
  virtual void rope_backward(void* dx, const int32_t* pos, int N, int H, int D, long stride,
                             float theta) = 0;
  // qkv (B,T,QKV) -> out (B,T,Hq*D), lse (B,Hq,T)
  virtual void attention_forward(void* out, float* lse, const void* qkv, const int32_t* seg,
                                 const AttentionShape& s) = 0;
  // dqkv (B,T,QKV) written
  virtual void attention_backward(void* dqkv, const void* dout, const void* qkv, const void* out,
                                  const float* lse, const int32_t* seg,
                                  const AttentionShape& s) = 0;
  // KV cache (rows, max_len, Hkv*D) per layer, act dtype
  virtual void kv_cache_append(void* kc, void* vc, const void* qkv, const int32_t* row,
                               const int32_t* pos, const DecodeShape& s) = 0;
  virtual void attention_decode(void* out, const void* q, const void* kc, const void* vc,
                                const int32_t* row, const int32_t* pos,
                                const DecodeShape& s) = 0;
  // act (N,F) = gelu(fch (N,F)) or silu(gate) * up of fch (N,2F)
  virtual void activation_forward(Mlp kind, void* act, const void* fch, int N, int F) = 0;
  // dfch written from dact (N,F)
  virtual void activation_backward(Mlp kind, void* dfch, const void* fch, const void* dact, int N,
                                   int F) = 0;
  // out (n) = a + b (out may alias neither)
  virtual void add(void* out, const void* a, const void* b, long n) = 0;
  // losses (N) and the mean over the mask (null = all ones) of logits (N,V) (waits).
  virtual float cross_entropy_forward(float* losses, const void* logits, const int32_t* targets,
                                      const float* mask, int N, int V) = 0;
  // logits (N,V) overwritten by dlogits = (softmax - onehot) * mask / norm
  virtual void cross_entropy_backward(void* logits, float* losses, const int32_t* targets,
                                      const float* mask, int N, int V, float norm) = 0;

  // ---- optimizer: one step = grad_norm_clip then adamw, with no host round trip between them
  // Global L2 norm of grads (n) and the clip factor (1 when max_norm <= 0), kept in the backend
  // for adamw; grads may be scaled in place.
  virtual void grad_norm_clip(void* grads, long n, float max_norm) = 0;
  virtual double last_grad_norm() = 0;  // the norm of the last grad_norm_clip (waits)
  // master (n) fp32 -= AdamW(grads * clip factor); params (act) = master's working copy (null
  // when the master weights are the parameters); ranges: per-tensor weight-decay flags.
  virtual void adamw(float* master, void* params, const void* grads, float* m, float* v, long n,
                     const AdamWRange* ranges, int n_ranges, const AdamWConfig& cfg) = 0;

  // ---- fused (capabilities; the defaults compose the plain ops)
  // res_out (N,C) = resid + delta; out = norm(res_out)
  virtual void norm_residual_forward(Norm kind, void* res_out, void* out, float* mean,
                                     float* rstd, const void* resid, const void* delta,
                                     const void* w, const void* b, int N, int C, float eps);
  // fch (N,F2) = inp (N,C) w^T + b; act (N,F) = activation(fch)
  virtual void mlp_up_forward(Mlp kind, void* act, void* fch, const void* inp, const void* w,
                              const void* b, int N, int C, int F);
  // From dout (N,C) of act (N,F) @ w^T (w (C,F)): dw +=, db +=, dfch (N,F2) written; dact
  // (N,F) is scratch a backend may skip.
  virtual void mlp_down_backward(Mlp kind, void* dfch, void* dact, void* dw, void* db,
                                 const void* dout, const void* act, const void* w,
                                 const void* fch, int N, int F, int C);
};

// A backend for `device` ready for cfg and micro-batches up to (B,T): the config is checked
// against what the device's kernels support first, before any device is touched (throws
// flame::Error naming the limit, or when this build or machine has no such device).
std::unique_ptr<Backend> make_backend(Device device, const ModelConfig& cfg, int B, int T);
// Whether make_backend(device) can succeed here (a built backend and, for cuda, a device).
bool backend_available(Device device);
// Whether this binary was built with the backend for `device` (no device needed).
bool backend_built(Device device);

}  // namespace flame::model
