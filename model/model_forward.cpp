// Forward pass: embeddings -> L pre-norm blocks -> final norm -> logits -> masked cross-entropy.
//   x = x + attn.proj(attention(rope(qkv(norm1(x)))))
//   x = x + mlp.proj(act(mlp.fc(norm2(x))))
// Every intermediate backward needs is written to its own slice of the activation arena.
#include <algorithm>
#include <cstring>

#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/check.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "model/model_impl.h"

namespace flame::model {

namespace {

// norm(inp) -> out; mean is unused (and left alone) for rmsnorm.
void norm_forward(const ModelConfig& cfg, float* out, float* mean, float* rstd, const float* inp,
                  const float* w, const float* b, int N, int C) {
  if (cfg.norm == Norm::layernorm)
    cpu::layernorm_forward(out, mean, rstd, inp, w, b, N, C, cfg.norm_eps);
  else
    cpu::rmsnorm_forward(out, rstd, inp, w, N, C, cfg.norm_eps);
}

}  // namespace

float Model::forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg,
                     const int32_t* targets, const float* mask, int b, int t) {
  Impl& m = *impl_;
  FLAME_CHECK(b >= 1 && b <= B_ && t >= 1 && t <= T_,
              "forward over (b,t) = (" << b << "," << t
                                       << ") but the model was allocated for (B,T) = (" << B_ << ","
                                       << T_ << ")");
  FLAME_CHECK(tokens != nullptr, "forward: tokens is null");
  const int N = b * t, C = m.C, V = m.V;
  // Until this forward completes, neither logits() nor backward() may use the arena: a forward
  // that throws half-way must not leave the previous state looking valid.
  m.logits_valid = false;
  m.has_targets = false;

  // Keep private copies of the inputs: backward needs them after the caller's buffers may be
  // gone. A null pos means 0..t-1 per row; a null seg means one segment per row.
  std::memcpy(m.tokens.data(), tokens, sizeof(int32_t) * N);
  if (pos) {
    std::memcpy(m.pos.data(), pos, sizeof(int32_t) * N);
  } else {
    for (int i = 0; i < N; ++i) m.pos[i] = i % t;
  }
  if (seg)
    std::memcpy(m.seg.data(), seg, sizeof(int32_t) * N);
  else
    std::fill(m.seg.begin(), m.seg.begin() + N, 0);
  m.has_mask = mask != nullptr;
  if (targets) std::memcpy(m.targets.data(), targets, sizeof(int32_t) * N);
  if (mask) std::memcpy(m.mask.data(), mask, sizeof(float) * N);
  m.b = b;
  m.t = t;
  // Out-of-range ids would read outside the tables: fail with the position instead.
  const int pos_limit = cfg_.pos == PosEmb::learned ? cfg_.max_seq_len : INT32_MAX;
  for (int i = 0; i < N; ++i) {
    FLAME_CHECK(m.tokens[i] >= 0 && m.tokens[i] < V, "token " << m.tokens[i] << " at (" << i / t
                                                              << "," << i % t << ") outside [0,"
                                                              << V << ")");
    FLAME_CHECK(m.pos[i] >= 0 && m.pos[i] < pos_limit,
                "position " << m.pos[i] << " at (" << i / t << "," << i % t
                            << ") outside [0,max_seq_len=" << cfg_.max_seq_len << ")");
  }

  auto P = [&](size_t off) -> const float* {
    return off == kAbsent ? nullptr : params_.data() + off;
  };
  const int32_t* tok = m.tokens.data();
  const int32_t* ps = m.pos.data();
  const int32_t* sg = m.seg.data();

  // (N,C) token (+ learned position) embeddings
  float* x = m.act(m.encoded);
  cpu::embedding_forward(x, tok, ps, P(m.wte), P(m.wpe), N, C);

  const cpu::AttentionShape shape{b, t, m.Hq, m.Hkv, m.D};
  for (int l = 0; l < m.L; ++l) {
    const LayerParams& p = m.lp[l];
    const LayerActs& a = m.la[l];
    float* ln1 = m.act(a.ln1);      // (N,C)
    float* qkv = m.act(a.qkv);      // (N,QKV)
    float* atty = m.act(a.atty);    // (N,C)
    float* res2 = m.act(a.res2);    // (N,C)
    float* ln2 = m.act(a.ln2);      // (N,C)
    float* fch = m.act(a.fch);      // (N,F2)
    float* act = m.act(a.fch_act);  // (N,F)
    float* res3 = m.act(a.res3);    // (N,C)

    // attention branch
    norm_forward(cfg_, ln1, m.act(a.ln1_mean), m.act(a.ln1_rstd), x, P(p.ln1_w), P(p.ln1_b), N, C);
    cpu::matmul_forward(qkv, ln1, P(p.qkv_w), P(p.qkv_b), N, C, m.QKV);
    // Rotate q and k heads (the first Hq+Hkv heads of each token) in place; v stays as is.
    if (cfg_.pos == PosEmb::rope)
      cpu::rope_forward(qkv, ps, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta);
    cpu::attention_forward(atty, m.act(a.lse), qkv, sg, shape);
    // res2 = x + proj(atty): the projection is written straight into res2, then x added.
    cpu::matmul_forward(res2, atty, P(p.proj_w), P(p.proj_b), N, C, C);
    cpu::accumulate(res2, x, long(N) * C);

    // MLP branch
    norm_forward(cfg_, ln2, m.act(a.ln2_mean), m.act(a.ln2_rstd), res2, P(p.ln2_w), P(p.ln2_b), N,
                 C);
    cpu::matmul_forward(fch, ln2, P(p.fc_w), P(p.fc_b), N, C, m.F2);
    if (cfg_.mlp == Mlp::swiglu)
      cpu::swiglu_forward(act, fch, N, m.F);
    else
      cpu::gelu_forward(act, fch, long(N) * m.F);
    cpu::matmul_forward(res3, act, P(p.fcproj_w), P(p.fcproj_b), N, m.F, C);
    cpu::accumulate(res3, res2, long(N) * C);

    x = res3;
  }

  // final norm and the LM head (tied: wte (V,C) is the head's weight)
  float* lnf = m.act(m.lnf);
  norm_forward(cfg_, lnf, m.act(m.lnf_mean), m.act(m.lnf_rstd), x, P(m.lnf_w), P(m.lnf_b), N, C);
  float* logits = m.act(m.logits);  // (N,V)
  const float* head = cfg_.tie_embeddings ? P(m.wte) : P(m.lm_head);
  cpu::matmul_forward(logits, lnf, head, nullptr, N, C, V);
  m.logits_valid = true;

  if (!targets) return 0.0f;
  const float loss = cpu::cross_entropy_forward(m.act(m.losses), logits, m.targets.data(),
                                                m.has_mask ? m.mask.data() : nullptr, N, V);
  m.has_targets = true;  // after the kernel's target check: a bad target leaves nothing to undo
  return loss;
}

}  // namespace flame::model
