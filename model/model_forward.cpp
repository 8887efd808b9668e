// Forward pass: embeddings -> L pre-norm blocks -> final norm -> logits -> masked cross-entropy.
//   x = x + attn.proj(attention(rope(qkv(norm1(x)))))
//   x = x + mlp.proj(act(mlp.fc(norm2(x))))
// Each branch's output projection goes to `delta` and norm_residual_forward writes the new
// residual stream and its normalised copy together (one pass where the backend fuses them), so
// the norm of block l+1's input is computed at the end of block l and the last block's feeds
// ln_f. Every intermediate backward needs is written to its own slice of the activation arena.
#include <algorithm>
#include <climits>

#include "core/error.h"
#include "model/model_state.h"

namespace flame::model {

float Model::forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg,
                     const int32_t* targets, const float* mask, int b, int t) {
  State& m = *s_;
  Backend& be = *backend_;
  FLAME_CHECK(b >= 1 && b <= B_ && t >= 1 && t <= T_,
              "forward over (b,t) = (" << b << "," << t
                                       << ") but the model was allocated for (B,T) = (" << B_ << ","
                                       << T_ << ")");
  FLAME_CHECK(tokens != nullptr, "forward: tokens is null");
  const int N = b * t, C = m.C, V = m.V;
  // Until this forward completes, neither the logits nor backward() may be used: a forward that
  // throws half-way must not leave the previous state looking valid.
  m.logits_valid = false;
  m.has_targets = false;

  // ---- inputs: defaults, host-side range checks (a bad id would read outside a table, or turn
  // the loss into NaN), then the copies into the arena.
  if (!pos)
    for (int i = 0; i < N; ++i) m.h_pos[size_t(i)] = i % t;
  if (!seg) std::fill(m.h_seg.begin(), m.h_seg.begin() + N, 0);
  const int32_t* hpos = pos ? pos : m.h_pos.data();
  const int32_t* hseg = seg ? seg : m.h_seg.data();
  const int pos_limit = cfg_.pos == PosEmb::learned ? cfg_.max_seq_len : INT_MAX;
  for (int i = 0; i < N; ++i) {
    FLAME_CHECK(tokens[i] >= 0 && tokens[i] < V, "token " << tokens[i] << " at (" << i / t << ","
                                                          << i % t << ") outside [0," << V << ")");
    FLAME_CHECK(hpos[i] >= 0 && hpos[i] < pos_limit,
                "position " << hpos[i] << " at (" << i / t << "," << i % t
                            << ") outside [0,max_seq_len=" << cfg_.max_seq_len << ")");
    if (targets)
      FLAME_CHECK(targets[i] >= 0 && targets[i] < V, "target " << targets[i] << " at (" << i / t
                                                               << "," << i % t << ") outside [0,"
                                                               << V << ")");
  }
  // Waiting first reports an error or a hang of the previously queued work (backward, optimizer)
  // here, naming it, instead of in a copy.
  be.wait("forward (work queued before it)");
  const size_t ids_bytes = size_t(N) * sizeof(int32_t);
  be.upload(m.i32(m.a.tokens), tokens, ids_bytes);
  be.upload(m.i32(m.a.pos), hpos, ids_bytes);
  be.upload(m.i32(m.a.seg), hseg, ids_bytes);
  if (targets) be.upload(m.i32(m.a.targets), targets, ids_bytes);
  if (mask) be.upload(m.f32(m.a.mask), mask, size_t(N) * sizeof(float));
  m.has_mask = mask != nullptr;
  m.b = b;
  m.t = t;
  const int32_t* pos_d = m.i32(m.a.pos);
  const int32_t* seg_d = m.i32(m.a.seg);

  auto norm = [&](void* out, float* mean, float* rstd, const void* inp, size_t w, size_t bias) {
    be.norm_forward(cfg_.norm, out, mean, rstd, inp, m.P(w), m.P(bias), N, C, cfg_.norm_eps);
  };
  auto norm_residual = [&](void* res_out, void* out, float* mean, float* rstd, const void* resid,
                           const void* delta, size_t w, size_t bias) {
    be.norm_residual_forward(cfg_.norm, res_out, out, mean, rstd, resid, delta, m.P(w),
                             m.P(bias), N, C, cfg_.norm_eps);
  };

  // (N,C) token (+ learned position) embeddings, and block 0's norm1 (ln_f without blocks)
  void* x = m.act(m.a.encoded);
  be.embedding_forward(x, m.i32(m.a.tokens), pos_d, m.P(m.wte), m.P(m.wpe), N, C);
  if (m.L > 0)
    norm(m.act(m.a.la[0].ln1), m.f32(m.a.la[0].ln1_mean), m.f32(m.a.la[0].ln1_rstd), x,
         m.lp[0].ln1_w, m.lp[0].ln1_b);
  else
    norm(m.act(m.a.lnf), m.f32(m.a.lnf_mean), m.f32(m.a.lnf_rstd), x, m.lnf_w, m.lnf_b);

  const AttentionShape shape{b, t, m.Hq, m.Hkv, m.D};
  void* delta = m.act(m.a.delta);  // (N,C)
  for (int l = 0; l < m.L; ++l) {
    const LayerParamOffsets& p = m.lp[size_t(l)];
    const LayerActs& a = m.a.la[size_t(l)];
    void* qkv = m.act(a.qkv);    // (N,QKV)
    void* atty = m.act(a.atty);  // (N,C)
    void* res2 = m.act(a.res2);  // (N,C)
    void* ln2 = m.act(a.ln2);    // (N,C)
    void* res3 = m.act(a.res3);  // (N,C)

    // attention branch: res2 = x + proj(attention(rope(qkv(ln1)))), ln2 = norm2(res2)
    be.matmul_forward(qkv, m.act(a.ln1), m.P(p.qkv_w), m.P(p.qkv_b), N, C, m.QKV);
    // Rotate the q and k heads (the first Hq+Hkv heads of each token) in place; v as is.
    if (cfg_.pos == PosEmb::rope)
      be.rope_forward(qkv, pos_d, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta);
    be.attention_forward(atty, m.f32(a.lse), qkv, seg_d, shape);
    be.matmul_forward(delta, atty, m.P(p.proj_w), m.P(p.proj_b), N, C, C);
    norm_residual(res2, ln2, m.f32(a.ln2_mean), m.f32(a.ln2_rstd), x, delta, p.ln2_w, p.ln2_b);

    // MLP branch: res3 = res2 + proj(act(fc(ln2))), then the next norm of res3
    be.mlp_up_forward(cfg_.mlp, m.act(a.fch_act), m.act(a.fch), ln2, m.P(p.fc_w), m.P(p.fc_b), N,
                      C, m.F);
    be.matmul_forward(delta, m.act(a.fch_act), m.P(p.fcproj_w), m.P(p.fcproj_b), N, m.F, C);
    if (l + 1 < m.L) {
      const LayerActs& next = m.a.la[size_t(l) + 1];
      norm_residual(res3, m.act(next.ln1), m.f32(next.ln1_mean), m.f32(next.ln1_rstd), res2,
                    delta, m.lp[size_t(l) + 1].ln1_w, m.lp[size_t(l) + 1].ln1_b);
    } else {
      norm_residual(res3, m.act(m.a.lnf), m.f32(m.a.lnf_mean), m.f32(m.a.lnf_rstd), res2, delta,
                    m.lnf_w, m.lnf_b);
    }
    x = res3;
  }

  // LM head (tied: wte (V,C) is the head's weight) -> (N,V) logits
  void* logits = m.act(m.a.logits);
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  be.matmul_forward(logits, m.act(m.a.lnf), m.P(head), nullptr, N, C, V);
  if (!targets) {
    m.logits_valid = true;  // queued; logits_row()/logits_host() wait for them
    return 0.0f;
  }
  const float loss =
      be.cross_entropy_forward(m.f32(m.a.losses), logits, m.i32(m.a.targets),
                               m.has_mask ? m.f32(m.a.mask) : nullptr, N, V);
  m.logits_valid = true;
  m.has_targets = true;  // after the loss: a failure leaves nothing to undo
  return loss;
}

}  // namespace flame::model
