// Model construction: the flat parameter layout, the activation arena, weight init, accessors.
// The forward pass is in model_forward.cpp, the backward pass in model_backward.cpp.
//
// Parameters live in one flat buffer laid out by model/param_layout.h (grads() uses the same
// offsets). Blocks are contiguous so a bucketed gradient all-reduce can start on the last blocks
// while backward is still working on the first ones.
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kernels/check.h"
#include "model/model_impl.h"

namespace flame::model {

size_t ParamInfo::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

namespace {

// splitmix64 finaliser (Steele et al.): a strong 64-bit mix, cheap enough to call per element.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

// The n-th output of a splitmix64 stream started at `key`: random access, so every element can
// be drawn independently (and in parallel) and the values never depend on the thread count.
inline uint64_t splitmix_at(uint64_t key, uint64_t n) { return mix64(key + (n + 1) * kGolden); }

// Uniform in the open interval (0,1) from the top 53 bits.
inline double to_unit(uint64_t r) { return (double(r >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

// Standard normal number n of stream `key` (Box-Muller, cosine branch only).
inline double normal_at(uint64_t key, uint64_t n) {
  const double u1 = to_unit(splitmix_at(key, 2 * n));
  const double u2 = to_unit(splitmix_at(key, 2 * n + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// FNV-1a: the stream of a tensor is keyed by its name, so adding or reordering tensors in a
// future layout does not change the init of the others.
uint64_t hash_name(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

size_t align16(size_t n) { return (n + 15) & ~size_t(15); }  // 64-byte aligned slices

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

Model::Model(const ModelConfig& cfg, int B, int T) : cfg_(cfg), B_(B), T_(T) {
  validate(cfg_);
  FLAME_CHECK(B > 0 && T > 0, "micro-batch (B,T) = (" << B << "," << T << ") must be positive");
  FLAME_CHECK(T <= cfg_.max_seq_len,
              "sequence length T=" << T << " exceeds model.max_seq_len=" << cfg_.max_seq_len);
  impl_ = std::make_shared<Impl>();
  Impl& m = *impl_;
  static_cast<ModelDims&>(m) = ModelDims::of(cfg_);
  const int64_t C = m.C, V = m.V;

  // ---- parameters (one layout for every consumer: model/param_layout.h)
  ParamLayout pl = make_param_layout(cfg_);
  info_ = std::move(pl.info);
  n_params_ = pl.total;
  static_cast<ParamOffsets&>(m) = std::move(pl.offsets);
  params_.assign(n_params_, 0.0f);
  grads_.assign(n_params_, 0.0f);

  // ---- activation arena, sized for N = B*T rows
  const size_t N = size_t(B) * T;
  size_t top = 0;
  auto take = [&](size_t n_floats) {
    const size_t off = top;
    top += align16(n_floats);
    return off;
  };
  m.encoded = take(N * C);
  m.la.resize(m.L);
  for (int l = 0; l < m.L; ++l) {
    LayerActs& a = m.la[l];
    a.ln1 = take(N * C);
    a.ln1_mean = take(N);
    a.ln1_rstd = take(N);
    a.qkv = take(N * m.QKV);
    a.atty = take(N * C);
    a.lse = take(N * m.Hq);
    a.res2 = take(N * C);
    a.ln2 = take(N * C);
    a.ln2_mean = take(N);
    a.ln2_rstd = take(N);
    a.fch = take(N * m.F2);
    // gelu keeps its own output; for swiglu likewise (the product is not recoverable from fch
    // without recomputing silu, and it is the input of mlp.proj's weight gradient).
    a.fch_act = take(N * m.F);
    a.res3 = take(N * C);
  }
  m.lnf = take(N * C);
  m.lnf_mean = take(N);
  m.lnf_rstd = take(N);
  m.logits = take(N * V);
  m.losses = take(N);
  m.dres = take(N * C);
  m.dln = take(N * C);
  m.dmid = take(N * std::max(m.C, m.F));
  m.dwide = take(N * std::max(m.QKV, m.F2));
  m.arena.assign(top, 0.0f);

  m.tokens.assign(N, 0);
  m.pos.assign(N, 0);
  m.seg.assign(N, 0);
  m.targets.assign(N, 0);
  m.mask.assign(N, 0.0f);
}

void Model::init_weights(uint64_t seed) {
  const float std_base = 0.02f;
  // Residual-branch output projections are scaled down so the residual stream's variance does
  // not grow with depth (GPT-2: 1/sqrt(number of residual additions)).
  const float std_resid = 0.02f / std::sqrt(2.0f * cfg_.n_layer);
  for (const ParamInfo& p : info_) {
    float* w = params_.data() + p.offset;
    const long n = long(p.numel());
    if (ends_with(p.name, ".bias")) {
      std::fill(w, w + n, 0.0f);
      continue;
    }
    if (!p.decay) {  // what is left without decay: the ln1/ln2/ln_f gains
      std::fill(w, w + n, 1.0f);
      continue;
    }
    const float sd = (ends_with(p.name, "attn.proj.weight") || ends_with(p.name, "mlp.proj.weight"))
                         ? std_resid
                         : std_base;
    const uint64_t key = mix64(seed ^ hash_name(p.name));
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; ++i) w[i] = float(sd * normal_at(key, uint64_t(i)));
  }
}

const float* Model::logits() const {
  FLAME_CHECK(impl_->b > 0, "logits(): no forward has run yet");
  FLAME_CHECK(impl_->logits_valid,
              "logits(): backward() reuses the logits buffer for dlogits; read logits before "
              "calling backward");
  return impl_->arena.data() + impl_->logits;
}

void Model::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

const ParamInfo& Model::param(const std::string& name) const {
  for (const ParamInfo& p : info_)
    if (p.name == name) return p;
  throw Error("model has no parameter named '" + name + "'");
}

}  // namespace flame::model
