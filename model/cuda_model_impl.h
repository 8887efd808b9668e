// Internal to model/cuda_model*.cu: where every parameter and activation of a CudaModel lives.
// Parameter offsets are in elements (shared by the bf16 params/grads and the fp32 master/m/v
// buffers, and equal to the CPU Model's offsets); activation offsets are in bytes into one arena
// that holds bf16 tensors, fp32 statistics and the int32 inputs, each slice 256-byte aligned (the
// packed 16-byte accesses of the kernels and the attention's alignment requirement hold for every
// slice).
#pragma once
#ifdef FLAME_WITH_CUDA

#include <cuda_bf16.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/adamw.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/matmul.h"
#include "model/cuda_model.h"
#include "model/param_layout.h"

namespace flame::model {

using bf16 = __nv_bfloat16;
inline constexpr size_t kNoTensor = kNoParam;  // tensor not present in this config

// Element offsets of one block's parameters (kNoTensor when absent): the shared layout's.
using CudaLayerParams = LayerParamOffsets;

// Byte offsets of what one block's forward keeps for backward (first b*t rows are used).
struct CudaLayerActs {
  size_t ln1, ln1_mean, ln1_rstd;  // (N,C) bf16, (N) f32, (N) f32: norm1 output and statistics
  size_t qkv;                      // (N,QKV) bf16 after RoPE
  size_t atty, lse;                // (N,C) bf16 attention output, (b,Hq,t) f32
  size_t res2;                     // (N,C) bf16 residual after the attention branch
  size_t ln2, ln2_mean, ln2_rstd;  // (N,C) bf16, (N), (N)
  size_t fch;                      // (N,F2) bf16 MLP pre-activation
  size_t fch_act;                  // (N,F) bf16 MLP activation
  size_t res3;                     // (N,C) bf16 block output
};

// Dimensions (L, C, Hq, ...) and parameter element offsets (wte, lp[l].qkv_w, ...) come from the
// layout the CPU model uses (model/param_layout.h).
struct CudaModel::Impl : ModelDims, ParamOffsets {
  // GELU fused into the fc GEMM (forward: GELU_AUX_BIAS; backward: DGELU into mlp.proj's dinp);
  // cuBLASLt's aux matrix needs a leading dim that is a multiple of 8, so only when F % 8 == 0.
  bool fuse_gelu = false;

  // device memory
  cuda::DeviceBuffer<bf16> params, grads;       // (P) working copy and gradients
  cuda::DeviceBuffer<float> master, m, v;       // (P) fp32 master weights and AdamW moments
  cuda::DeviceBuffer<cuda::AdamWRange> ranges;  // one per tensor: weight decay or not
  int n_ranges = 0;
  cuda::DeviceBuffer<unsigned char> arena;    // activations and inputs
  cuda::DeviceBuffer<unsigned char> scratch;  // backward kernels' scratch, grad-norm partials
  size_t scratch_bytes = 0;
  cuda::DeviceBuffer<float> scalars;  // [0] mean loss, [1] grad norm, [2] clip scale
  std::unique_ptr<cuda::GemmContext> gemm;

  // arena layout (byte offsets)
  std::vector<CudaLayerActs> la;
  size_t encoded = 0;                          // (N,C) embeddings = residual into block 0
  size_t lnf = 0, lnf_mean = 0, lnf_rstd = 0;  // (N,C), (N), (N)
  size_t logits = 0;                           // (N,V) bf16; dlogits after backward
  size_t losses = 0;                           // (N) f32
  size_t delta = 0;  // (N,C) a branch's output projection, before the fused residual add
  size_t dres = 0;   // (N,C) gradient of the residual stream
  size_t dln = 0;    // (N,C) gradient of a norm output
  size_t dmid = 0;   // (N,max(C,F)) gradient of the attention output / MLP activation
  size_t dwide = 0;  // (N,max(QKV,F2)) gradient of qkv / MLP pre-activation
  size_t tokens = 0, pos = 0, seg = 0, targets = 0, mask = 0;  // (N) int32 / f32 (mask)

  // host staging for default inputs (no per-call allocation)
  std::vector<int32_t> h_pos, h_seg;
  // state of the last forward
  int b = 0, t = 0;
  bool has_mask = false, has_targets = false, logits_valid = false;

  bf16* bf(size_t off) { return reinterpret_cast<bf16*>(arena.data() + off); }
  float* f32(size_t off) { return reinterpret_cast<float*>(arena.data() + off); }
  int32_t* i32(size_t off) { return reinterpret_cast<int32_t*>(arena.data() + off); }
  const bf16* P(size_t off) const { return off == kNoTensor ? nullptr : params.data() + off; }
  bf16* G(size_t off) { return off == kNoTensor ? nullptr : grads.data() + off; }

  // Scratch bytes the backward of a (b,t) micro-batch needs: the largest of the per-kernel needs
  // (the kernels run one after another on one stream, so they share one buffer).
  size_t backward_scratch_bytes(const ModelConfig& cfg, int b, int t) const;

  // Forward pieces shared by forward() and decode() (cuda_model_pass.cu), over n rows, queued on
  // s. w, bias: parameter offsets. out (n,C) = norm(inp) (mean unused for rmsnorm):
  void norm(const ModelConfig& cfg, bf16* out, float* mean, float* rstd, const bf16* inp, size_t w,
            size_t bias, int n, cudaStream_t s);
  // res_out (n,C) = resid + delta, out (n,C) = norm(res_out):
  void norm_residual(const ModelConfig& cfg, bf16* res_out, bf16* out, float* mean, float* rstd,
                     const bf16* resid, const bf16* delta, size_t w, size_t bias, int n,
                     cudaStream_t s);
  // delta (n,C) = mlp.proj(act(mlp.fc(ln2))), keeping fch (n,F2) and act (n,F) for backward:
  void mlp_forward(const ModelConfig& cfg, bf16* delta, bf16* act, bf16* fch, const bf16* ln2,
                   const CudaLayerParams& p, int n, cudaStream_t s);
};

// bf16 bit patterns -> fp32 on the host (exact): downloads of bf16 device tensors.
inline void bf16_to_f32_host(float* out, const uint16_t* in, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(in[i]) << 16;
    std::memcpy(out + i, &u, 4);
  }
}

}  // namespace flame::model

#endif  // FLAME_WITH_CUDA
