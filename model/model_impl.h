// Internal to model/*.cpp: where every parameter and activation lives in its flat buffer.
// Everything is an offset (in floats) rather than a pointer, so nothing dangles if the owning
// vectors move, and params/grads share one set of offsets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "model/param_layout.h"

namespace flame::model {

inline constexpr size_t kAbsent = kNoParam;  // tensor not present in this config

// Offsets of one block's tensors in params()/grads() (kAbsent when the config has none).
using LayerParams = LayerParamOffsets;

// Offsets into the activation arena of what one block's forward keeps for backward. Each buffer
// is sized for the allocated (B,T); a forward over (b,t) uses the first b*t rows, contiguous.
struct LayerActs {
  size_t ln1, ln1_mean, ln1_rstd;  // (N,C), (N), (N): norm1 output and statistics
  size_t qkv;                      // (N,QKV) after RoPE: the q,k,v attention actually used
  size_t atty, lse;                // (N,C) attention output (pre-projection), (b,Hq,t)
  size_t res2;                     // (N,C) residual after the attention branch
  size_t ln2, ln2_mean, ln2_rstd;  // (N,C), (N), (N)
  size_t fch;                      // (N,F2) MLP pre-activation
  size_t fch_act;                  // (N,F) MLP activation (gelu or silu(gate)*up)
  size_t res3;                     // (N,C) residual after the MLP branch = block output
};

// Dimensions (L, C, Hq, ...) and parameter offsets (wte, lp[l].qkv_w, ...) come from the shared
// layout (model/param_layout.h).
struct Model::Impl : ModelDims, ParamOffsets {
  // activation arena (one allocation) and its layout
  std::vector<float> arena;
  std::vector<LayerActs> la;
  size_t encoded = 0;                          // (N,C) embeddings = residual into block 0
  size_t lnf = 0, lnf_mean = 0, lnf_rstd = 0;  // (N,C), (N), (N)
  size_t logits = 0;                           // (N,V); overwritten by dlogits in backward
  size_t losses = 0;                           // (N)
  // backward scratch, reused by every block (gradients of activations are written, not kept)
  size_t dres = 0;   // (N,C) gradient of the residual stream
  size_t dln = 0;    // (N,C) gradient of a norm output
  size_t dmid = 0;   // (N,max(C,F)) gradient of the attention output or of the MLP activation
  size_t dwide = 0;  // (N,max(QKV,F2)) gradient of qkv or of the MLP pre-activation

  // inputs of the last forward, copied so backward does not depend on the caller's buffers
  std::vector<int32_t> tokens, pos, seg, targets;  // (B*T)
  std::vector<float> mask;                         // (B*T)
  bool has_mask = false;
  int b = 0, t = 0;
  bool has_targets = false;   // last forward computed the loss, backward may run
  bool logits_valid = false;  // false once backward has overwritten logits with dlogits

  float* act(size_t off) { return arena.data() + off; }
};

}  // namespace flame::model
