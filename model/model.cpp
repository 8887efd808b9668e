// Model construction (parameter layout, allocations), weight init and transfer, the optimizer
// step and logits access, all through the backend. The forward pass is in model_forward.cpp, the
// backward pass in model_backward.cpp, KV-cache decoding in model_decode.cpp.
//
// Parameters live in one flat buffer laid out by model/param_layout.h (gradients, master weights
// and moments use the same element offsets). Blocks are contiguous so a bucketed gradient
// all-reduce can start on the last blocks while backward is still working on the first ones.
#include "model/model.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "model/model_state.h"

namespace flame::model {

size_t ParamInfo::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

Model::Model(const ModelConfig& cfg, int B, int T, Device device)
    : cfg_(cfg), device_(device), B_(B), T_(T) {
  validate(cfg_);
  FLAME_CHECK(B > 0 && T > 0, "micro-batch (B,T) = (" << B << "," << T << ") must be positive");
  FLAME_CHECK(T <= cfg_.max_seq_len,
              "sequence length T=" << T << " exceeds model.max_seq_len=" << cfg_.max_seq_len);
  backend_ = make_backend(device, cfg_, B, T);
  Backend& be = *backend_;

  s_ = std::make_unique<State>();
  State& s = *s_;
  ParamLayout pl = make_param_layout(cfg_);
  info_ = std::move(pl.info);
  n_params_ = pl.total;
  static_cast<ParamOffsets&>(s) = std::move(pl.offsets);
  static_cast<ModelDims&>(s) = ModelDims::of(cfg_);
  s.act_bytes = be.act_bytes();

  const size_t P = n_params_;
  s.params = be.alloc(P * s.act_bytes);
  s.grads = be.alloc(P * s.act_bytes);
  if (be.act_dtype() != ActType::f32) s.master = be.alloc(P * sizeof(float));
  s.m = be.alloc(P * sizeof(float));
  s.v = be.alloc(P * sizeof(float));
  std::vector<AdamWRange> ranges;
  for (const ParamInfo& p : info_)
    ranges.push_back({int64_t(p.offset), int64_t(p.numel()), p.decay ? 1 : 0});
  s.n_ranges = int(ranges.size());
  s.ranges = be.alloc(ranges.size() * sizeof(AdamWRange));
  be.upload(s.ranges.data(), ranges.data(), ranges.size() * sizeof(AdamWRange));

  const size_t N = size_t(B) * T;
  s.a = plan_arena(s, N, s.act_bytes);
  s.arena = be.alloc(s.a.bytes);
  s.h_pos.assign(N, 0);
  s.h_seg.assign(N, 0);
  be.wait("Model construction");
}

Model::~Model() = default;

const ParamInfo& Model::param(const std::string& name) const {
  for (const ParamInfo& p : info_)
    if (p.name == name) return p;
  throw Error("model has no parameter named '" + name + "'");
}

void Model::init_weights(uint64_t seed) {
  std::vector<float> w(n_params_);
  const float std_base = 0.02f;
  // Residual-branch output projections are scaled down so the residual stream's variance does
  // not grow with depth (GPT-2: 1/sqrt(number of residual additions)).
  const float std_resid = 0.02f / std::sqrt(2.0f * cfg_.n_layer);
  for (const ParamInfo& p : info_) {
    float* t = w.data() + p.offset;
    const long n = long(p.numel());
    if (p.name.ends_with(".bias")) {
      std::fill(t, t + n, 0.0f);
      continue;
    }
    if (!p.decay) {  // what is left without decay: the ln1/ln2/ln_f gains
      std::fill(t, t + n, 1.0f);
      continue;
    }
    const float sd = (p.name.ends_with("attn.proj.weight") || p.name.ends_with("mlp.proj.weight"))
                         ? std_resid
                         : std_base;
    // The stream of a tensor is keyed by its name, so adding or reordering tensors in a future
    // layout does not change the init of the others.
    const uint64_t key = splitmix_finalize(seed ^ fnv1a(p.name));
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; ++i) t[i] = float(sd * normal_at(key, uint64_t(i)));
  }
  load_params(w.data());
}

void Model::load_params(const float* host_fp32) {
  FLAME_CHECK(host_fp32 != nullptr, "load_params: null pointer");
  State& s = *s_;
  const size_t P = n_params_;
  backend_->upload(s.master_f32(), host_fp32, P * sizeof(float));
  backend_->f32_to_act(s.params.data(), s.master_f32(), P);
  backend_->zero(s.m.data(), P * sizeof(float));
  backend_->zero(s.v.data(), P * sizeof(float));
  backend_->wait("load_params");
}

void Model::download_params(float* host_fp32) const {
  FLAME_CHECK(host_fp32 != nullptr, "download_params: null pointer");
  backend_->download(host_fp32, s_->master_f32(), n_params_ * sizeof(float));
}

void Model::download_grads(float* host_fp32) const {
  FLAME_CHECK(host_fp32 != nullptr, "download_grads: null pointer");
  backend_->download_act(host_fp32, s_->grads.data(), n_params_);
}

void Model::download_moments(float* m_host, float* v_host) const {
  FLAME_CHECK(m_host && v_host, "download_moments: null pointer");
  backend_->download(m_host, s_->m.data(), n_params_ * sizeof(float));
  backend_->download(v_host, s_->v.data(), n_params_ * sizeof(float));
}

void Model::load_moments(const float* m_host, const float* v_host) {
  FLAME_CHECK(m_host && v_host, "load_moments: null pointer");
  backend_->upload(s_->m.data(), m_host, n_params_ * sizeof(float));
  backend_->upload(s_->v.data(), v_host, n_params_ * sizeof(float));
  backend_->wait("load_moments");
}

void Model::zero_grad() { backend_->zero(s_->grads.data(), n_params_ * s_->act_bytes); }

void Model::optimizer_step(const OptimStep& o) {
  FLAME_CHECK(o.step >= 1, "optimizer_step: the step is 1-based, got " << o.step);
  State& s = *s_;
  backend_->grad_norm_clip(s.grads.data(), long(n_params_), o.max_norm);
  const AdamWConfig ac{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.step};
  backend_->adamw(s.master_f32(), s.master.data() ? s.params.data() : nullptr, s.grads.data(),
                  s.m.as<float>(), s.v.as<float>(), long(n_params_),
                  s.ranges.as<AdamWRange>(), s.n_ranges, ac);
}

double Model::last_grad_norm() { return backend_->last_grad_norm(); }

void Model::check_last_forward(bool need_logits, const char* what) const {
  FLAME_CHECK(s_->b > 0, "" << what << ": no forward has run yet");
  if (need_logits)
    FLAME_CHECK(s_->logits_valid,
                "" << what
                   << ": the last forward's logits are gone (backward() reuses their buffer for "
                      "dlogits, decode() the whole arena); read them before either");
}

std::vector<float> Model::logits_host() const {
  check_last_forward(true, "logits_host()");
  const State& s = *s_;
  std::vector<float> out(size_t(s.b) * s.t * s.V);
  backend_->download_act(out.data(), s.act(s.a.logits), out.size());
  return out;
}

void Model::logits_row(int i, float* out) const {
  check_last_forward(true, "logits_row()");
  const State& s = *s_;
  FLAME_CHECK(i >= 0 && i < s.b * s.t,
              "logits_row(" << i << "): the last forward had " << s.b * s.t << " rows");
  FLAME_CHECK(out != nullptr, "logits_row: null pointer");
  backend_->download_act(out, s.arena.as<unsigned char>(s.a.logits + size_t(i) * s.V * s.act_bytes),
                         size_t(s.V));
}

float* Model::host_view(const Buffer& b, const char* what) const {
  FLAME_CHECK(device_ == Device::cpu, "" << what << " is a host view of the CPU model's buffers; "
                                              "on " << name(device_)
                                              << " use download_params/load_params/logits_row");
  return b.as<float>();
}

float* Model::params() { return host_view(s_->params, "params()"); }
const float* Model::params() const { return host_view(s_->params, "params()"); }
float* Model::grads() { return host_view(s_->grads, "grads()"); }
const float* Model::logits() const {
  check_last_forward(true, "logits()");
  return host_view(s_->arena, "logits()") + s_->a.logits / sizeof(float);
}

void Model::synchronize() const { backend_->wait("synchronize"); }

size_t Model::device_bytes() const {
  const State& s = *s_;
  return s.params.bytes() + s.grads.bytes() + s.master.bytes() + s.m.bytes() + s.v.bytes() +
         s.ranges.bytes() + s.arena.bytes() + backend_->own_bytes();
}

int Model::epilogue_fallbacks() const { return backend_->epilogue_fallbacks(); }

}  // namespace flame::model
