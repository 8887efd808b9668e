// Internal to model/model*.cpp: the buffers of a Model, where every parameter and activation lives
// in them, and the state of the last forward. Parameter offsets are in elements (shared by the
// act-type params/grads and the fp32 master/m/v buffers; model/param_layout.h), activation
// offsets in bytes (model/arena.h).
#pragma once
#include <cstdint>
#include <vector>

#include "model/arena.h"
#include "model/model.h"
#include "model/param_layout.h"

namespace flame::model {

struct Model::State : ModelDims, ParamOffsets {
  size_t act_bytes = 4;
  Buffer params, grads;  // (P) act type: working parameters and gradients
  Buffer master;         // (P) fp32 master weights; empty when params are fp32 (the CPU)
  Buffer m, v;           // (P) fp32 AdamW moments
  Buffer ranges;         // AdamWRange per tensor: weight decay or not
  int n_ranges = 0;
  Buffer arena;          // activations and inputs (model/arena.h)
  Arena a;

  // host staging of default inputs (no per-call allocation)
  std::vector<int32_t> h_pos, h_seg;
  // the last forward
  int b = 0, t = 0;
  bool has_mask = false, has_targets = false, logits_valid = false;

  void* act(size_t byte_off) const { return arena.as<unsigned char>(byte_off); }
  float* f32(size_t byte_off) const { return arena.as<float>(byte_off); }
  int32_t* i32(size_t byte_off) const { return arena.as<int32_t>(byte_off); }
  // A parameter (gradient) tensor by element offset; null when the config has none.
  const void* P(size_t off) const {
    return off == kNoParam ? nullptr : params.as<unsigned char>(off * act_bytes);
  }
  void* G(size_t off) const {
    return off == kNoParam ? nullptr : grads.as<unsigned char>(off * act_bytes);
  }
  // The fp32 master weights (the parameters themselves when they are fp32).
  float* master_f32() const { return master.data() ? master.as<float>() : params.as<float>(); }
};

}  // namespace flame::model
