// The config-driven decoder, written once over the backend interface (model/backend.h): flat
// parameter and gradient buffers, an activation arena sized for one micro-batch (B,T), explicit
// forward and backward (no autograd), KV-cache decoding and the AdamW step, on the CPU (fp32
// throughout) or on a CUDA GPU (bf16 working parameters, gradients and activations; fp32 master
// weights, AdamW moments, norm and softmax statistics and losses).
//
// Everything is allocated once in the constructor; a training step allocates nothing and waits
// for the device only where a value comes back to the host (the loss, the gradient norm, logits,
// downloads).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/config.h"

namespace flame::model {

// One named parameter tensor inside the flat buffer.
struct ParamInfo {
  std::string name;            // e.g. "h.3.attn.qkv.weight" (docs/architecture.md)
  size_t offset = 0;           // in elements, into the flat parameter/gradient buffers
  std::vector<int64_t> shape;  // e.g. {3*C, C} for a linear weight (out, in)
  bool decay = true;           // weight decay applies (false for norms, biases)
  size_t numel() const;
};

// Keys and values of the tokens Model::decode has run, for up to `rows` sequences decoded
// together, in the model's backend memory. Made by Model::new_kv_cache.
struct KvCache {
  int rows = 0, max_len = 0;
  std::vector<int> len;  // (rows) tokens cached per row; set an entry to 0 to reuse the row
  Buffer k, v;           // (L, rows, max_len, Hkv*D) act dtype: keys after RoPE, values
};

// One optimizer step's hyper-parameters.
struct OptimStep {
  float lr, beta1, beta2, eps, weight_decay;
  int step;        // 1-based, for bias correction
  float max_norm;  // global grad-norm clip; <= 0 disables
};

class Model {
 public:
  // Allocates parameters, gradients, optimizer state and activations for cfg and micro-batches
  // up to (B,T) on `device`. Throws flame::Error on an invalid config, a config the backend
  // cannot run (e.g. a CUDA attention head dim) or a failed allocation.
  Model(const ModelConfig& cfg, int B, int T, Device device = Device::cpu);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  Device device() const { return device_; }
  int max_B() const { return B_; }
  int max_T() const { return T_; }
  size_t num_params() const { return n_params_; }
  const std::vector<ParamInfo>& param_info() const { return info_; }
  const ParamInfo& param(const std::string& name) const;  // throws if unknown

  // GPT-2 init: N(0, 0.02) weights, residual output projections N(0, 0.02/sqrt(2*n_layer)),
  // zero biases, unit norm gains. Deterministic in seed, the same on every device.
  void init_weights(uint64_t seed);
  // Parameters (num_params() fp32, ParamInfo layout): sets the master weights and their working
  // copy, and resets the AdamW moments (a new set of weights starts a new run).
  void load_params(const float* host_fp32);
  void download_params(float* host_fp32) const;  // the master weights
  void download_grads(float* host_fp32) const;   // the gradients, converted (exactly) to fp32
  // The fp32 AdamW moments (checkpoints); load_moments after load_params restores a run.
  void download_moments(float* m_host, float* v_host) const;
  void load_moments(const float* m_host, const float* v_host);

  // Forward over a (b,t) micro-batch (b <= max_B, t <= max_T), host arrays (b,t) row-major.
  // pos: position within the example (null = 0..t-1 per row); seg: segment id, attention stays
  // inside a segment (null = one per row); mask null = all ones. Ids are checked on the host (a
  // bad one throws, naming its position). With targets: returns the mean masked cross-entropy
  // (waits) and keeps what backward needs; without: returns 0 and only computes the logits.
  float forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg,
                const int32_t* targets, const float* mask, int b, int t);
  // Backward of the last forward with targets: grads += d(loss_sum / loss_norm)/dparams where
  // loss_sum is the masked sum of token losses of this micro-batch. loss_norm = unmasked token
  // count over the whole optimizer step (so accumulated micro-batches average correctly).
  // Overwrites the logits with their gradient.
  void backward(float loss_norm);
  void zero_grad();

  // Global grad-norm clip folded into one AdamW step over the flat buffer, on the device (no
  // host round trip); weight decay applies to the tensors with ParamInfo::decay.
  void optimizer_step(const OptimStep& s);
  // The gradient norm the last optimizer_step measured (before clipping; waits).
  double last_grad_norm();

  // Logits of the last forward, (b,t,V) fp32 (waits). Not after backward or decode.
  std::vector<float> logits_host() const;
  // Logits of flattened token row i in [0, b*t) of the last forward: out (V) fp32 (waits).
  void logits_row(int i, float* out) const;

  // Incremental decoding (greedy generation) of up to `rows` sequences at once:
  // rows <= max_B(), max_len <= config().max_seq_len.
  KvCache new_kv_cache(int rows, int max_len) const;
  // new_tokens has one entry per cache row: row r's tokens go at positions len[r].. (an empty
  // entry leaves the row as it is). All of them run as one batch of N <= max_B()*max_T() tokens
  // through the forward's ops, their keys/values are appended and len advances. Returns (rows,V)
  // fp32: the logits after each row's last new token (zeros for rows not advanced); waits. Uses
  // the activation arena as scratch: the last forward's logits and backward() are gone.
  std::vector<float> decode(KvCache& cache, const std::vector<std::vector<int32_t>>& new_tokens);
  // One sequence (row 0 of the cache): the logits (V) after the last of its n new tokens.
  std::vector<float> decode(KvCache& cache, const int32_t* tokens, int n);

  // Host views of the fp32 buffers, CPU device only (they live in host memory there): tests and
  // tools that poke single weights. Throw flame::Error on another device.
  float* params();
  const float* params() const;
  float* grads();
  const float* logits() const;  // (b,t,V) of the last forward

  void synchronize() const;  // waits for the queued work
  size_t device_bytes() const;  // memory this model and its backend allocated
  int epilogue_fallbacks() const;
  Backend& backend() const { return *backend_; }

  struct State;  // buffers, layout and last-forward state (model/model_state.h)

 private:
  ModelConfig cfg_;
  Device device_;
  int B_, T_;
  size_t n_params_ = 0;
  std::vector<ParamInfo> info_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<State> s_;

  void check_last_forward(bool need_logits, const char* what) const;
  float* host_view(const Buffer& b, const char* what) const;
};

}  // namespace flame::model
