// The config-driven decoder on one CUDA device: the same parameters (names, order, offsets) as
// the CPU Model (model/model.h), so weights move between the two by offset, with the GPU precision
// recipe of docs/DESIGN.md: bf16 working parameters, gradients and activations; fp32 master
// weights and AdamW moments; fp32 norm statistics, softmax statistics and losses.
//
// Everything is allocated once in the constructor (flat parameter/gradient/master/moment buffers,
// one activation arena sized for (B,T), one scratch buffer shared by the backward kernels), and
// every kernel is queued on one stream: a training step does no cudaMalloc and synchronizes only
// where a value comes back to the host (the loss, the gradient norm, downloads).
//
// Host-only header (plain C++): test and tool sources compiled by the host compiler include it.
#pragma once
#ifdef FLAME_WITH_CUDA

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/device_buffer.h"
#include "model/config.h"
#include "model/model.h"

namespace flame::model {

// Keys and values of the tokens CudaModel::decode has run, for up to `rows` sequences decoded
// together (greedy generation of a batch). Owns its device memory; made by new_kv_cache.
struct CudaKvCache {
  int rows = 0, max_len = 0;
  std::vector<int> len;  // (rows) tokens cached per row; set an entry to 0 to reuse the row
  cuda::DeviceBuffer<__nv_bfloat16> k, v;  // (L, rows, max_len, Hkv*D) bf16: keys after RoPE
};

class CudaModel {
 public:
  // Allocates everything for cfg and micro-batches up to (B,T) on the current CUDA device.
  // Throws flame::Error on an invalid config, a head dim the CUDA attention does not support
  // (64 and 128 only), or a failed allocation (the message names the CUDA error).
  CudaModel(const ModelConfig& cfg, int B, int T);
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  // The parameter table of cfg, identical to Model(cfg, ...).param_info(). Needs no device.
  static std::vector<ParamInfo> layout(const ModelConfig& cfg);

  const ModelConfig& config() const { return cfg_; }
  int max_B() const { return B_; }
  int max_T() const { return T_; }
  size_t num_params() const { return n_params_; }
  const std::vector<ParamInfo>& param_info() const { return info_; }
  const ParamInfo& param(const std::string& name) const;  // throws if unknown

  // Parameters (num_params() floats, ParamInfo layout): sets the fp32 master weights and their
  // bf16 working copy, and resets the AdamW moments (a new set of weights starts a new run).
  void load_params(const float* host_fp32);
  // The fp32 master weights.
  void download_params(float* host_fp32) const;
  // The bf16 gradients, converted (exactly) to fp32.
  void download_grads(float* host_fp32) const;
  // The fp32 AdamW moments (checkpoints); load_moments after load_params restores a run.
  void download_moments(float* m_host, float* v_host) const;
  void load_moments(const float* m_host, const float* v_host);

  // Forward over a (b,t) micro-batch, same contract as Model::forward: host arrays (b,t)
  // row-major, copied to the device on the stream; pos null = 0..t-1 per row, seg null = one
  // segment per row, mask null = all ones. Ids are checked on the host (a bad one throws, naming
  // its position). With targets: returns the mean masked cross-entropy (fp32; waits for the
  // device) and keeps what backward needs. Without: returns 0 and only computes the logits (does
  // not wait).
  float forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg,
                const int32_t* targets, const float* mask, int b, int t);
  // grads += d(loss_sum / loss_norm)/dparams for the last forward with targets (as
  // Model::backward). Overwrites the logits with their gradient. Queued, does not wait.
  void backward(float loss_norm);
  void zero_grad();

  // Global L2 norm of the gradients (fp32 accumulation; waits for the device).
  float grad_norm();
  // One AdamW step over the whole flat buffer: grads are multiplied by clip_scale first (pass
  // max_norm / norm to clip), weight decay applies to the tensors with ParamInfo::decay. Updates
  // the fp32 master weights and moments and refreshes the bf16 working copy. step is 1-based.
  void adamw_step(float lr, float beta1, float beta2, float eps, float weight_decay, int step,
                  float clip_scale = 1.0f);

  // Logits of the last forward, (b,t,V) fp32 (waits). Like Model::logits(), not after backward.
  std::vector<float> logits_host() const;
  // Logits of flattened token row i in [0, b*t) of the last forward: out (V) fp32 (waits).
  // Scoring reads the next-token distribution at one position per example: a V-float copy
  // instead of the whole (b,t,V) block.
  void logits_row(int i, float* out) const;

  // Incremental decoding (greedy generation), the GPU counterpart of Model::decode for several
  // sequences at once. new_kv_cache: rows <= max_B(), max_len <= config().max_seq_len.
  CudaKvCache new_kv_cache(int rows, int max_len) const;
  // new_tokens has one entry per cache row: row r's tokens go at positions len[r].. (an empty
  // entry leaves the row as it is). All of them run as one batch of N tokens (N <= max_B()*max_T(),
  // the arena's rows) through the forward's ops, their keys/values are appended and len advances.
  // Returns (rows, V) fp32: the logits after each row's last new token (zeros for rows not
  // advanced); waits for the device. Ids and capacities are checked on the host (flame::Error).
  // Uses the activation arena as scratch: the last forward's logits and backward() are gone
  // (they throw until the next forward).
  std::vector<float> decode(CudaKvCache& cache,
                            const std::vector<std::vector<int32_t>>& new_tokens);

  cudaStream_t stream() const { return stream_; }
  // Waits for the queued work (see wait() below for errors and hangs).
  void synchronize() const;
  // Device memory this model allocated (parameters, optimizer state, arena, scratch, cuBLASLt
  // workspace), in bytes.
  size_t device_bytes() const;
  // Fused GEMM epilogues that fell back to the unfused path so far (see kernels/matmul.h).
  int epilogue_fallbacks() const;

 private:
  struct Impl;  // device buffers, offsets, the GEMM context (model/cuda_model_impl.h)
  ModelConfig cfg_;
  int B_, T_;
  size_t n_params_ = 0;
  std::vector<ParamInfo> info_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Impl> impl_;

  void check_last_forward(bool need_logits, const char* what) const;
  // Every wait for the device goes through here. A device error raised by any queued kernel
  // throws flame::Error naming `what` and the CUDA error. A hang (a kernel that never finishes)
  // cannot be recovered in-process (every later CUDA call would wait for it too), so after
  // FLAME_CUDA_SYNC_TIMEOUT_S seconds (default 300; 0 waits forever) it prints which call was
  // waiting and exits the process with status 124.
  void wait(const char* what) const;
};

}  // namespace flame::model

#endif  // FLAME_WITH_CUDA
