// Backward pass: the forward's ops in reverse, each through its backward op.
// Op conventions (kernels/README.md): parameter gradients accumulate (+=); activation gradients
// are written, except the norms' dinp which accumulates. The residual stream's gradient dres is
// therefore zeroed once and then only ever accumulated into by the norms and passed through
// unchanged by the residual additions (d(x + f(x)) = dres + f'(x)^T dres).
#include "core/error.h"
#include "model/model_state.h"

namespace flame::model {

void Model::backward(float loss_norm) {
  State& m = *s_;
  Backend& be = *backend_;
  FLAME_CHECK(m.has_targets && m.logits_valid,
              "backward() needs a preceding forward() with targets (once per forward)");
  FLAME_CHECK(loss_norm > 0.0f, "backward: loss_norm " << loss_norm << " must be positive");
  const int N = m.b * m.t, C = m.C, V = m.V;
  const int32_t* pos_d = m.i32(m.a.pos);
  const int32_t* seg_d = m.i32(m.a.seg);

  // dinp += norm'(inp)^T dout; dw +=; db += (layernorm with bias only)
  auto norm_backward = [&](void* dinp, const void* dout, const void* inp, size_t w, size_t bias,
                           const float* mean, const float* rstd) {
    be.norm_backward(cfg_.norm, dinp, m.G(w), m.G(bias), dout, inp, m.P(w), mean, rstd, N, C);
  };

  // dlogits (N,V) overwrite the logits in place (the largest activation)
  void* dlogits = m.act(m.a.logits);
  be.cross_entropy_backward(dlogits, m.f32(m.a.losses), m.i32(m.a.targets),
                            m.has_mask ? m.f32(m.a.mask) : nullptr, N, V, loss_norm);
  m.logits_valid = false;
  m.has_targets = false;  // once per forward: the logits are gone

  // LM head: dln = dlogits @ W; dW += dlogits^T lnf (into dwte when tied)
  void* dln = m.act(m.a.dln);    // (N,C)
  void* dres = m.act(m.a.dres);  // (N,C)
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  be.matmul_backward(dln, m.G(head), nullptr, dlogits, m.act(m.a.lnf), m.P(head), N, C, V);

  // final norm: dres is zeroed here, every later contribution accumulates into it
  be.zero(dres, size_t(N) * C * m.act_bytes);
  const void* x_last = m.L > 0 ? m.act(m.a.la[size_t(m.L) - 1].res3) : m.act(m.a.encoded);
  norm_backward(dres, dln, x_last, m.lnf_w, m.lnf_b, m.f32(m.a.lnf_mean), m.f32(m.a.lnf_rstd));

  const AttentionShape shape{m.b, m.t, m.Hq, m.Hkv, m.D};
  void* dmid = m.act(m.a.dmid);    // (N,C) datty or (N,F) dact
  void* dwide = m.act(m.a.dwide);  // (N,QKV) dqkv or (N,F2) dfch
  for (int l = m.L - 1; l >= 0; --l) {
    const LayerParamOffsets& p = m.lp[size_t(l)];
    const LayerActs& a = m.a.la[size_t(l)];
    const void* x = l > 0 ? m.act(m.a.la[size_t(l) - 1].res3) : m.act(m.a.encoded);  // input

    // MLP branch; dres holds d(res3). dwide <- d(fch)
    be.mlp_down_backward(cfg_.mlp, dwide, dmid, m.G(p.fcproj_w), m.G(p.fcproj_b), dres,
                         m.act(a.fch_act), m.P(p.fcproj_w), m.act(a.fch), N, m.F, C);
    be.matmul_backward(dln, m.G(p.fc_w), m.G(p.fc_b), dwide, m.act(a.ln2), m.P(p.fc_w), N, C,
                       m.F2);
    norm_backward(dres, dln, m.act(a.res2), p.ln2_w, p.ln2_b, m.f32(a.ln2_mean),
                  m.f32(a.ln2_rstd));

    // attention branch; dres now holds d(res2)
    be.matmul_backward(dmid, m.G(p.proj_w), m.G(p.proj_b), dres, m.act(a.atty), m.P(p.proj_w), N,
                       C, C);
    be.attention_backward(dwide, dmid, m.act(a.qkv), m.act(a.atty), m.f32(a.lse), seg_d, shape);
    // gradient w.r.t. the rotated q,k -> w.r.t. the matmul output (inverse rotation)
    if (cfg_.pos == PosEmb::rope)
      be.rope_backward(dwide, pos_d, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta);
    be.matmul_backward(dln, m.G(p.qkv_w), m.G(p.qkv_b), dwide, m.act(a.ln1), m.P(p.qkv_w), N, C,
                       m.QKV);
    norm_backward(dres, dln, x, p.ln1_w, p.ln1_b, m.f32(a.ln1_mean), m.f32(a.ln1_rstd));
  }

  // dres = d(encoded): scatter into the embedding tables
  be.embedding_backward(m.G(m.wte), m.G(m.wpe), dres, m.i32(m.a.tokens), pos_d, N, C);
}

}  // namespace flame::model
