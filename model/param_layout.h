// The flat parameter table of a config: every tensor's name, shape, offset and weight-decay flag,
// in the one order the CPU model, the CUDA model, checkpoints and the Hugging Face converters
// all share (docs/checkpoints.md lists it).
//   wte (V,C) | wpe (max_seq_len,C) [learned]
//   per block l: h.l.ln1.weight (C) | h.l.ln1.bias [layernorm && bias]
//     h.l.attn.qkv.weight ((Hq+2Hkv)*D, C) | h.l.attn.qkv.bias [bias || qkv_bias]
//     h.l.attn.proj.weight (C,C) | h.l.attn.proj.bias [bias]
//     h.l.ln2.weight | h.l.ln2.bias [layernorm && bias]
//     h.l.mlp.fc.weight (F2,C) | h.l.mlp.fc.bias [bias]      F2 = d_ff, or 2*d_ff for swiglu
//     h.l.mlp.proj.weight (C,d_ff) | h.l.mlp.proj.bias [bias]
//   ln_f.weight (C) | ln_f.bias [layernorm && bias] | lm_head.weight (V,C) [untied only]
// Decay: embeddings and linear weights yes; norm gains and every bias no.
#pragma once
#include <cstddef>
#include <vector>

#include "model/config.h"
#include "model/model.h"

namespace flame::model {

inline constexpr size_t kNoParam = ~size_t(0);  // tensor not present in this config

// Offsets of one block's tensors (kNoParam when absent).
struct LayerParamOffsets {
  size_t ln1_w, ln1_b;        // (C), (C)
  size_t qkv_w, qkv_b;        // ((Hq+2Hkv)*D, C), ((Hq+2Hkv)*D)
  size_t proj_w, proj_b;      // (C, C), (C)
  size_t ln2_w, ln2_b;        // (C), (C)
  size_t fc_w, fc_b;          // (F2, C), (F2) with F2 = d_ff, or 2*d_ff for swiglu [gate|up]
  size_t fcproj_w, fcproj_b;  // (C, d_ff), (C)
};

// Offsets of every tensor (the CPU and CUDA models' Impls derive from it).
struct ParamOffsets {
  size_t wte = kNoParam, wpe = kNoParam, lnf_w = kNoParam, lnf_b = kNoParam, lm_head = kNoParam;
  std::vector<LayerParamOffsets> lp;  // per block
};

// The sizes the forward and backward passes work with, derived from a config.
struct ModelDims {
  int L = 0, C = 0, Hq = 0, Hkv = 0, D = 0, QKV = 0, F = 0, F2 = 0, V = 0;
  static ModelDims of(const ModelConfig& cfg);  // QKV = (Hq+2Hkv)*D; F2 = 2F for swiglu
};

struct ParamLayout {
  std::vector<ParamInfo> info;  // in offset order
  size_t total = 0;             // parameters in all
  ParamOffsets offsets;
};

// The layout of cfg (not validated here: callers validate their config first).
ParamLayout make_param_layout(const ModelConfig& cfg);

}  // namespace flame::model
