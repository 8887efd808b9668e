// CudaModel construction (parameter layout, allocations), weight and gradient transfer, the
// optimizer step and logits access. The forward and backward passes are in cuda_model_pass.cu.
//
// The parameter layout is built exactly as Model's (model/model.cpp: same names, order, shapes,
// decay flags, offsets), so a checkpoint or a CPU-initialised model loads by offset; the test
// suite compares the two tables.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/check.h"
#include "kernels/convert.h"
#include "kernels/cuda_check.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "model/cuda_model.h"
#include "model/cuda_model_impl.h"

namespace flame::model {

std::vector<ParamInfo> CudaModel::layout(const ModelConfig& cfg) {
  validate(cfg);
  return make_param_layout(cfg).info;
}

size_t CudaModel::Impl::backward_scratch_bytes(const ModelConfig& cfg, int b, int t) const {
  const int N = b * t;
  size_t need = cuda::sum_squares_scratch_floats() * sizeof(float);  // grad_norm
  // Bias gradients (the LM head has none): qkv's also for qkv_bias alone (Qwen2).
  if (cfg.has_qkv_bias()) need = std::max(need, cuda::matmul_backward_scratch_bytes(N, QKV));
  if (cfg.bias) {
    for (int oc : {C, F2}) need = std::max(need, cuda::matmul_backward_scratch_bytes(N, oc));
  }
  need = std::max(need, cfg.norm == Norm::layernorm ? cuda::layernorm_backward_scratch_bytes(N, C)
                                                    : cuda::rmsnorm_backward_scratch_bytes(N, C));
  need = std::max(need, cuda::attention_backward_scratch_bytes({b, t, Hq, Hkv, D}));
  need = std::max(need, cuda::embedding_backward_workspace_bytes(N));
  return need;
}

CudaModel::CudaModel(const ModelConfig& cfg, int B, int T) : cfg_(cfg), B_(B), T_(T) {
  validate(cfg_);
  FLAME_CHECK(B > 0 && T > 0, "micro-batch (B,T) = (" << B << "," << T << ") must be positive");
  FLAME_CHECK(T <= cfg_.max_seq_len,
              "sequence length T=" << T << " exceeds model.max_seq_len=" << cfg_.max_seq_len);
  FLAME_CHECK(cfg_.head_dim() == 64 || cfg_.head_dim() == 128,
              "the CUDA attention kernels support head_dim 64 and 128 only; this model has "
              "d_model/n_head = "
                  << cfg_.d_model << "/" << cfg_.n_head << " = " << cfg_.head_dim()
                  << " (use device: cpu, or change n_head)");

  impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  ParamLayout o = make_param_layout(cfg_);  // the CPU model's layout (model/param_layout.h)
  info_ = std::move(o.info);
  n_params_ = o.total;
  static_cast<ParamOffsets&>(m) = std::move(o.offsets);
  static_cast<ModelDims&>(m) = ModelDims::of(cfg_);
  m.fuse_gelu = cfg_.mlp == Mlp::gelu && m.F % 8 == 0;

  // ---- parameters and optimizer state. Synchronous calls on the legacy stream: the stream is
  // created last, so a failed allocation leaves nothing behind (members free themselves).
  const size_t P = n_params_;
  m.params = cuda::DeviceBuffer<bf16>(P);
  m.grads = cuda::DeviceBuffer<bf16>(P);
  m.master = cuda::DeviceBuffer<float>(P);
  m.m = cuda::DeviceBuffer<float>(P);
  m.v = cuda::DeviceBuffer<float>(P);
  m.params.zero();
  m.grads.zero();
  m.master.zero();
  m.m.zero();
  m.v.zero();
  std::vector<cuda::AdamWRange> ranges;
  for (const ParamInfo& p : info_)
    ranges.push_back({int64_t(p.offset), int64_t(p.numel()), p.decay ? 1 : 0});
  m.n_ranges = int(ranges.size());
  m.ranges = cuda::DeviceBuffer<cuda::AdamWRange>(ranges);

  // ---- activation arena, sized for N = B*T rows; 256-byte aligned slices
  const size_t N = size_t(B) * T, C = m.C;
  size_t top = 0;
  auto take = [&](size_t bytes) {
    const size_t off = top;
    top += (bytes + 255) & ~size_t(255);
    return off;
  };
  auto take_bf16 = [&](size_t n) { return take(n * sizeof(bf16)); };
  auto take_f32 = [&](size_t n) { return take(n * sizeof(float)); };
  m.encoded = take_bf16(N * C);
  m.la.resize(m.L);
  for (int l = 0; l < m.L; ++l) {
    CudaLayerActs& a = m.la[l];
    a.ln1 = take_bf16(N * C);
    a.ln1_mean = take_f32(N);
    a.ln1_rstd = take_f32(N);
    a.qkv = take_bf16(N * m.QKV);
    a.atty = take_bf16(N * C);
    a.lse = take_f32(N * m.Hq);
    a.res2 = take_bf16(N * C);
    a.ln2 = take_bf16(N * C);
    a.ln2_mean = take_f32(N);
    a.ln2_rstd = take_f32(N);
    a.fch = take_bf16(N * m.F2);
    a.fch_act = take_bf16(N * m.F);
    a.res3 = take_bf16(N * C);
  }
  m.lnf = take_bf16(N * C);
  m.lnf_mean = take_f32(N);
  m.lnf_rstd = take_f32(N);
  m.logits = take_bf16(N * m.V);
  m.losses = take_f32(N);
  m.delta = take_bf16(N * C);
  m.dres = take_bf16(N * C);
  m.dln = take_bf16(N * C);
  m.dmid = take_bf16(N * std::max(m.C, m.F));
  m.dwide = take_bf16(N * std::max(m.QKV, m.F2));
  m.tokens = take(N * sizeof(int32_t));
  m.pos = take(N * sizeof(int32_t));
  m.seg = take(N * sizeof(int32_t));
  m.targets = take(N * sizeof(int32_t));
  m.mask = take_f32(N);
  m.arena = cuda::DeviceBuffer<unsigned char>(top);
  // Zeroed once so that nothing ever reads uninitialised memory (e.g. the unused rows).
  m.arena.zero();

  m.scratch_bytes = m.backward_scratch_bytes(cfg_, B, T);
  m.scratch = cuda::DeviceBuffer<unsigned char>(m.scratch_bytes);
  m.scalars = cuda::DeviceBuffer<float>(4);
  m.scalars.zero();
  m.gemm = std::make_unique<cuda::GemmContext>();

  m.h_pos.assign(N, 0);
  m.h_seg.assign(N, 0);

  CUDA_CHECK(cudaDeviceSynchronize());     // the zero fills above, and any earlier sticky error
  CUDA_CHECK(cudaStreamCreate(&stream_));  // blocking w.r.t. the legacy default stream
}

CudaModel::~CudaModel() {
  if (stream_) {
    cudaStreamSynchronize(stream_);  // destructors must not throw: unchecked
    cudaStreamDestroy(stream_);
  }
}

const ParamInfo& CudaModel::param(const std::string& name) const {
  for (const ParamInfo& p : info_)
    if (p.name == name) return p;
  throw Error("model has no parameter named '" + name + "'");
}

namespace {

double sync_timeout_s() {
  static const double limit = [] {
    const char* e = std::getenv("FLAME_CUDA_SYNC_TIMEOUT_S");
    return e && *e ? std::atof(e) : 300.0;
  }();
  return limit;
}

}  // namespace

void CudaModel::wait(const char* what) const {
  // Poll instead of cudaStreamSynchronize so that a hang is reported instead of waited on.
  // Busy-polling costs one CPU core while the GPU works, as a spinning synchronize does.
  const double limit = sync_timeout_s();
  const auto t0 = std::chrono::steady_clock::now();
  for (long polls = 1;; ++polls) {
    const cudaError_t st = cudaStreamQuery(stream_);
    if (st == cudaSuccess) return;
    if (st != cudaErrorNotReady) {
      throw Error(std::string("CudaModel::") + what + ": CUDA error " + cudaGetErrorName(st) +
                  " (" + cudaGetErrorString(st) +
                  ") raised by a kernel queued since the last synchronisation (run with "
                  "CUDA_LAUNCH_BLOCKING=1 to attribute it to its launch)");
    }
    if (polls % 1024 == 0) {
      if (polls > 8192) std::this_thread::sleep_for(std::chrono::microseconds(20));
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (limit > 0 && waited > limit) {
        std::fflush(stdout);
        std::fprintf(stderr,
                     "flame: CudaModel::%s: the GPU has not finished its queued work after %.0f "
                     "s: a kernel appears to hang. Exiting (status 124); "
                     "FLAME_CUDA_SYNC_TIMEOUT_S sets this limit, 0 waits forever.\n",
                     what, waited);
        std::fflush(stderr);
        std::_Exit(124);
      }
    }
  }
}

void CudaModel::synchronize() const { wait("synchronize"); }

void CudaModel::load_params(const float* host_fp32) {
  FLAME_CHECK(host_fp32 != nullptr, "load_params: null pointer");
  Impl& m = *impl_;
  const size_t P = n_params_;
  CUDA_CHECK(cudaMemcpyAsync(m.master.data(), host_fp32, P * sizeof(float), cudaMemcpyHostToDevice,
                             stream_));
  cuda::convert_f32_to_bf16(m.params.data(), m.master.data(), long(P), stream_);
  CUDA_CHECK(cudaMemsetAsync(m.m.data(), 0, P * sizeof(float), stream_));
  CUDA_CHECK(cudaMemsetAsync(m.v.data(), 0, P * sizeof(float), stream_));
  wait("load_params");
}

void CudaModel::download_params(float* host_fp32) const {
  FLAME_CHECK(host_fp32 != nullptr, "download_params: null pointer");
  wait("download_params");
  // Into pageable memory: returns when the copy is done.
  CUDA_CHECK(cudaMemcpyAsync(host_fp32, impl_->master.data(), n_params_ * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_));
}

void CudaModel::download_moments(float* m_host, float* v_host) const {
  FLAME_CHECK(m_host && v_host, "download_moments: null pointer");
  wait("download_moments");
  // Into pageable memory: each call returns when its copy is done.
  CUDA_CHECK(cudaMemcpyAsync(m_host, impl_->m.data(), n_params_ * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaMemcpyAsync(v_host, impl_->v.data(), n_params_ * sizeof(float),
                             cudaMemcpyDeviceToHost, stream_));
}

void CudaModel::load_moments(const float* m_host, const float* v_host) {
  FLAME_CHECK(m_host && v_host, "load_moments: null pointer");
  CUDA_CHECK(cudaMemcpyAsync(impl_->m.data(), m_host, n_params_ * sizeof(float),
                             cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaMemcpyAsync(impl_->v.data(), v_host, n_params_ * sizeof(float),
                             cudaMemcpyHostToDevice, stream_));
  wait("load_moments");
}

void CudaModel::download_grads(float* host_fp32) const {
  FLAME_CHECK(host_fp32 != nullptr, "download_grads: null pointer");
  std::vector<uint16_t> bits(n_params_);
  wait("download_grads");
  CUDA_CHECK(cudaMemcpyAsync(bits.data(), impl_->grads.data(), n_params_ * sizeof(bf16),
                             cudaMemcpyDeviceToHost, stream_));
  bf16_to_f32_host(host_fp32, bits.data(), n_params_);
}

void CudaModel::zero_grad() {
  CUDA_CHECK(cudaMemsetAsync(impl_->grads.data(), 0, n_params_ * sizeof(bf16), stream_));
}

float CudaModel::grad_norm() {
  Impl& m = *impl_;
  float* norm_d = m.scalars.data() + 1;
  cuda::grad_norm_clip(norm_d, nullptr, m.grads.data(), long(n_params_), 0.0f,
                       reinterpret_cast<float*>(m.scratch.data()), stream_);
  wait("grad_norm");
  float norm = 0.0f;
  CUDA_CHECK(cudaMemcpyAsync(&norm, norm_d, sizeof(float), cudaMemcpyDeviceToHost, stream_));
  return norm;
}

void CudaModel::adamw_step(float lr, float beta1, float beta2, float eps, float weight_decay,
                           int step, float clip_scale) {
  FLAME_CHECK(std::isfinite(clip_scale) && clip_scale >= 0.0f,
              "adamw_step: clip_scale " << clip_scale << " must be finite and >= 0");
  Impl& m = *impl_;
  const float* scale_d = nullptr;
  if (clip_scale != 1.0f) {
    // From pageable memory: cudaMemcpyAsync returns once the value is staged, so the local
    // may go out of scope; the kernel reads it from device memory (no host round trip).
    CUDA_CHECK(cudaMemcpyAsync(m.scalars.data() + 2, &clip_scale, sizeof(float),
                               cudaMemcpyHostToDevice, stream_));
    scale_d = m.scalars.data() + 2;
  }
  const cuda::AdamWConfig ac{lr, beta1, beta2, eps, weight_decay, step};
  cuda::adamw_update(m.master.data(), m.params.data(), m.grads.data(), m.m.data(), m.v.data(),
                     long(n_params_), 0, m.ranges.data(), m.n_ranges, scale_d, ac, stream_);
}

void CudaModel::check_last_forward(bool need_logits, const char* what) const {
  FLAME_CHECK(impl_->b > 0, "" << what << ": no forward has run yet");
  if (need_logits)
    FLAME_CHECK(impl_->logits_valid,
                "" << what
                   << ": the last forward's logits are gone (backward() reuses their buffer for "
                      "dlogits, decode() the whole arena); read them before either");
}

std::vector<float> CudaModel::logits_host() const {
  check_last_forward(true, "logits_host()");
  const Impl& m = *impl_;
  const size_t n = size_t(m.b) * m.t * m.V;
  std::vector<uint16_t> bits(n);
  wait("logits_host");
  CUDA_CHECK(cudaMemcpyAsync(bits.data(), m.arena.data() + m.logits, n * sizeof(bf16),
                             cudaMemcpyDeviceToHost, stream_));
  std::vector<float> out(n);
  bf16_to_f32_host(out.data(), bits.data(), n);
  return out;
}

void CudaModel::logits_row(int i, float* out) const {
  check_last_forward(true, "logits_row()");
  const Impl& m = *impl_;
  FLAME_CHECK(i >= 0 && i < m.b * m.t,
              "logits_row(" << i << "): the last forward had " << m.b * m.t << " rows");
  FLAME_CHECK(out != nullptr, "logits_row: null pointer");
  std::vector<uint16_t> bits(m.V);
  wait("logits_row");
  CUDA_CHECK(cudaMemcpyAsync(bits.data(),
                             m.arena.data() + m.logits + size_t(i) * m.V * sizeof(bf16),
                             size_t(m.V) * sizeof(bf16), cudaMemcpyDeviceToHost, stream_));
  bf16_to_f32_host(out, bits.data(), size_t(m.V));
}

size_t CudaModel::device_bytes() const {
  const Impl& m = *impl_;
  return m.params.bytes() + m.grads.bytes() + m.master.bytes() + m.m.bytes() + m.v.bytes() +
         m.ranges.bytes() + m.arena.bytes() + m.scratch.bytes() + m.scalars.bytes() +
         m.gemm->workspace_bytes();
}

int CudaModel::epilogue_fallbacks() const { return impl_->gemm->epilogue_fallbacks; }

}  // namespace flame::model
