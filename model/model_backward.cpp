// Backward pass: the forward's ops in reverse, each through its *_backward kernel.
// Kernel conventions (kernels/README.md): parameter gradients accumulate (+=); activation
// gradients are written, except the norms' dinp which accumulates. The residual stream's
// gradient dres is therefore zeroed once and then only ever accumulated into by the norms and
// passed through unchanged by the residual additions (d(x + f(x)) = dres + f'(x)^T dres).
#include <algorithm>

#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/check.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "model/model_impl.h"

namespace flame::model {

namespace {

// dinp += norm'(inp)^T dout; dw += ; db += (layernorm with bias only)
void norm_backward(const ModelConfig& cfg, float* dinp, float* dw, float* db, const float* dout,
                   const float* inp, const float* w, const float* mean, const float* rstd, int N,
                   int C) {
  if (cfg.norm == Norm::layernorm)
    cpu::layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
  else
    cpu::rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
}

}  // namespace

void Model::backward(float loss_norm) {
  Impl& m = *impl_;
  FLAME_CHECK(m.has_targets && m.logits_valid,
              "backward() needs a preceding forward() with targets (once per forward)");
  FLAME_CHECK(loss_norm > 0.0f, "backward: loss_norm " << loss_norm << " must be positive");
  const int N = m.b * m.t, C = m.C, V = m.V;

  auto P = [&](size_t off) -> const float* {
    return off == kAbsent ? nullptr : params_.data() + off;
  };
  auto G = [&](size_t off) -> float* { return off == kAbsent ? nullptr : grads_.data() + off; };
  const int32_t* tok = m.tokens.data();
  const int32_t* ps = m.pos.data();
  const int32_t* sg = m.seg.data();

  // dlogits (N,V) overwrites logits in place: the (N,V) buffer is the largest activation.
  float* dlogits = m.act(m.logits);
  cpu::cross_entropy_backward(dlogits, dlogits, m.targets.data(),
                              m.has_mask ? m.mask.data() : nullptr, N, V, 1.0f, loss_norm);
  m.logits_valid = false;

  // LM head: dln = dlogits @ W; dW += dlogits^T lnf (into dwte when tied)
  float* dln = m.act(m.dln);    // (N,C)
  float* dres = m.act(m.dres);  // (N,C)
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  cpu::matmul_backward(dln, G(head), nullptr, dlogits, m.act(m.lnf), P(head), N, C, V);

  // final norm: dres is zeroed here, every later contribution accumulates into it
  std::fill(dres, dres + long(N) * C, 0.0f);
  const float* x_last = m.L > 0 ? m.act(m.la[m.L - 1].res3) : m.act(m.encoded);
  norm_backward(cfg_, dres, G(m.lnf_w), G(m.lnf_b), dln, x_last, P(m.lnf_w), m.act(m.lnf_mean),
                m.act(m.lnf_rstd), N, C);

  const cpu::AttentionShape shape{m.b, m.t, m.Hq, m.Hkv, m.D};
  float* dmid = m.act(m.dmid);    // (N,C) datty or (N,F) dact
  float* dwide = m.act(m.dwide);  // (N,QKV) dqkv or (N,F2) dfch
  for (int l = m.L - 1; l >= 0; --l) {
    const LayerParams& p = m.lp[l];
    const LayerActs& a = m.la[l];
    const float* x = l > 0 ? m.act(m.la[l - 1].res3) : m.act(m.encoded);  // block input

    // MLP branch; dres holds d(res3)
    cpu::matmul_backward(dmid, G(p.fcproj_w), G(p.fcproj_b), dres, m.act(a.fch_act), P(p.fcproj_w),
                         N, m.F, C);
    if (cfg_.mlp == Mlp::swiglu)
      cpu::swiglu_backward(dwide, m.act(a.fch), dmid, N, m.F);
    else
      cpu::gelu_backward(dwide, m.act(a.fch), dmid, long(N) * m.F);
    cpu::matmul_backward(dln, G(p.fc_w), G(p.fc_b), dwide, m.act(a.ln2), P(p.fc_w), N, C, m.F2);
    norm_backward(cfg_, dres, G(p.ln2_w), G(p.ln2_b), dln, m.act(a.res2), P(p.ln2_w),
                  m.act(a.ln2_mean), m.act(a.ln2_rstd), N, C);

    // attention branch; dres now holds d(res2)
    cpu::matmul_backward(dmid, G(p.proj_w), G(p.proj_b), dres, m.act(a.atty), P(p.proj_w), N, C, C);
    cpu::attention_backward(dwide, dmid, m.act(a.qkv), m.act(a.atty), m.act(a.lse), sg, shape);
    // gradient w.r.t. the rotated q,k -> w.r.t. the matmul output (inverse rotation)
    if (cfg_.pos == PosEmb::rope)
      cpu::rope_backward(dwide, ps, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta);
    cpu::matmul_backward(dln, G(p.qkv_w), G(p.qkv_b), dwide, m.act(a.ln1), P(p.qkv_w), N, C, m.QKV);
    norm_backward(cfg_, dres, G(p.ln1_w), G(p.ln1_b), dln, x, P(p.ln1_w), m.act(a.ln1_mean),
                  m.act(a.ln1_rstd), N, C);
  }

  // dres = d(encoded): scatter into the embedding tables
  cpu::embedding_backward(G(m.wte), G(m.wpe), dres, tok, ps, N, C);
}

}  // namespace flame::model
