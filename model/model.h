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

// Keys and values of the tokens decoded so far (Model::decode), per layer.
struct KvCache {
  int len = 0;              // tokens cached
  int max_len = 0;          // capacity
  std::vector<float> k, v;  // (L, max_len, Hkv*D): keys after RoPE, values
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

  // Incremental decoding with a KV cache (generation): decode() runs n tokens at positions
  // cache.len.. as one sequence, appends their keys/values and returns the logits of the last
  // one (V). Same result as forward() over the whole sequence, at O(len) cost per new token.
  // Uses its own buffers: forward()/backward() state is untouched.
  KvCache new_kv_cache(int max_len) const;  // max_len <= max_seq_len
  std::vector<float> decode(KvCache& cache, const int32_t* tokens, int n) const;
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
