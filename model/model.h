// The config-driven decoder: flat parameter and gradient buffers, an activation arena sized for
// one micro-batch (B,T), explicit forward and backward (no autograd), CPU backend (fp32).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace flame::model {

// One named parameter tensor inside the flat buffer.
struct ParamInfo {
  std::string name;            // e.g. "h.3.attn.qkv.weight" (docs/architecture.md)
  size_t offset = 0;           // in floats, into params()/grads()
  std::vector<int64_t> shape;  // e.g. {3*C, C} for a linear weight (out, in)
  bool decay = true;           // weight decay applies (false for norms, biases)
  size_t numel() const;
};

class Model {
 public:
  // Allocates parameters and gradients for cfg and activations for micro-batches up to (B,T).
  Model(const ModelConfig& cfg, int B, int T);
  const ModelConfig& config() const { return cfg_; }
  int max_B() const { return B_; }
  int max_T() const { return T_; }

  // GPT-2 init: N(0, 0.02) weights, residual output projections N(0, 0.02/sqrt(2*n_layer)),
  // zero biases, unit norm gains. Deterministic in seed.
  void init_weights(uint64_t seed);

  // Forward over a (b,t) micro-batch (b <= max_B, t <= max_T), arrays (b,t) row-major.
  // pos: position within the example; seg: segment id (attention stays inside a segment).
  // When targets != nullptr returns the mean masked cross-entropy (mask null = all ones) and
  // keeps what backward needs; otherwise returns 0 and only computes logits.
  float forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg,
                const int32_t* targets, const float* mask, int b, int t);
  // Backward of the last forward with targets: grads += d(loss_sum / loss_norm)/dparams where
  // loss_sum is the masked sum of token losses of this micro-batch. loss_norm = unmasked token
  // count over the whole optimizer step (so accumulated micro-batches average correctly).
  void backward(float loss_norm);

  const float* logits() const;  // (b,t,V) of the last forward
  void zero_grad();

  size_t num_params() const { return n_params_; }
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const std::vector<ParamInfo>& param_info() const { return info_; }
  const ParamInfo& param(const std::string& name) const;  // throws if unknown

 private:
  ModelConfig cfg_;
  int B_, T_;
  size_t n_params_ = 0;
  std::vector<float> params_, grads_;
  std::vector<ParamInfo> info_;
  // activation arena + per-layer views, saved inputs of the last forward (implementation)
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace flame::model
