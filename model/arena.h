// The activation arena: every tensor the forward keeps for backward, the backward's scratch and
// the int32/fp32 inputs of a micro-batch, as one table (arena.cpp) that every backend sizes from.
// Offsets are in bytes into one allocation; each slice is 256-byte aligned (the packed 16-byte
// accesses of the CUDA kernels hold for every slice). A forward over (b,t) uses the first b*t rows.
#pragma once
#include <cstddef>
#include <vector>

#include "model/backend.h"
#include "model/param_layout.h"

namespace flame::model {

// What one block's forward keeps for backward.
struct LayerActs {
  size_t ln1, ln1_mean, ln1_rstd;  // (N,C) act, (N) f32, (N) f32: norm1 output and statistics
  size_t qkv;                      // (N,QKV) act after RoPE: the q,k,v attention actually used
  size_t atty, lse;                // (N,C) attention output (pre-projection), (b,Hq,t) f32
  size_t res2;                     // (N,C) residual after the attention branch
  size_t ln2, ln2_mean, ln2_rstd;  // (N,C), (N), (N)
  size_t fch;                      // (N,F2) MLP pre-activation
  size_t fch_act;                  // (N,F) MLP activation (gelu or silu(gate)*up)
  size_t res3;                     // (N,C) residual after the MLP branch = block output
};

struct Arena {
  std::vector<LayerActs> la;                   // per block
  size_t encoded = 0;                          // (N,C) embeddings = residual into block 0
  size_t lnf = 0, lnf_mean = 0, lnf_rstd = 0;  // (N,C), (N), (N)
  size_t logits = 0;                           // (N,V) act; dlogits after backward
  size_t losses = 0;                           // (N) f32
  size_t delta = 0;  // (N,C) a branch's output projection, before the residual add
  size_t dres = 0;   // (N,C) gradient of the residual stream
  size_t dln = 0;    // (N,C) gradient of a norm output
  size_t dmid = 0;   // (N,max(C,F)) gradient of the attention output / MLP activation
  size_t dwide = 0;  // (N,max(QKV,F2)) gradient of qkv / MLP pre-activation
  size_t tokens = 0, pos = 0, seg = 0, targets = 0;  // (N) int32
  size_t mask = 0;                                   // (N) f32
  size_t bytes = 0;                                  // the whole arena
};

// The arena of a model with dims d for N rows, activations of act_bytes bytes per element.
Arena plan_arena(const ModelDims& d, size_t N, size_t act_bytes);

}  // namespace flame::model
