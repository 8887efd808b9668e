// CudaModel forward and backward: the CPU Model's op sequence (model_forward.cpp,
// model_backward.cpp) through the CUDA launchers, with three fusions the launchers offer:
// - residual add + next norm: a branch's output projection goes to a scratch (N,C) buffer and
//   layernorm/rmsnorm_residual_forward writes both the new residual stream and its normalised
//   copy in one pass (the norm of block l+1's input is therefore computed at the end of block l,
//   and the last block's feeds ln_f);
// - GELU into the fc GEMM (cuBLASLt GELU_AUX_BIAS epilogue keeps the pre-activation) and its
//   derivative into mlp.proj's input-gradient GEMM (DGELU epilogue), when d_ff % 8 == 0;
// - softmax cross-entropy forward + backward in one kernel that overwrites the logits with their
//   gradient. The loss normaliser is only known at backward(), so forward() runs the loss-only
//   kernel and backward() the fused one (one extra read of the logits, ~1% of a GPT-2 step).
// Kernel conventions as on the CPU: parameter gradients accumulate, activation gradients are
// written, except the norms' dinp which accumulates into the residual gradient dres.
#include <algorithm>
#include <climits>

#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/check.h"
#include "kernels/cross_entropy.h"
#include "kernels/cuda_check.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "model/cuda_model.h"
#include "model/cuda_model_impl.h"

namespace flame::model {

void CudaModel::Impl::norm(const ModelConfig& cfg, bf16* out, float* mean, float* rstd,
                           const bf16* inp, size_t w, size_t bias, int n, cudaStream_t s) {
  if (cfg.norm == Norm::layernorm)
    cuda::layernorm_forward(out, mean, rstd, inp, P(w), P(bias), n, C, cfg.norm_eps, s);
  else
    cuda::rmsnorm_forward(out, rstd, inp, P(w), n, C, cfg.norm_eps, s);
}

void CudaModel::Impl::norm_residual(const ModelConfig& cfg, bf16* res_out, bf16* out, float* mean,
                                    float* rstd, const bf16* resid, const bf16* delta, size_t w,
                                    size_t bias, int n, cudaStream_t s) {
  if (cfg.norm == Norm::layernorm)
    cuda::layernorm_residual_forward(res_out, out, mean, rstd, resid, delta, P(w), P(bias), n, C,
                                     cfg.norm_eps, s);
  else
    cuda::rmsnorm_residual_forward(res_out, out, rstd, resid, delta, P(w), n, C, cfg.norm_eps, s);
}

void CudaModel::Impl::mlp_forward(const ModelConfig& cfg, bf16* delta, bf16* act, bf16* fch,
                                  const bf16* ln2, const CudaLayerParams& p, int n,
                                  cudaStream_t s) {
  if (fuse_gelu) {
    cuda::matmul_forward(*gemm, act, fch, ln2, P(p.fc_w), P(p.fc_b), n, C, F, s);
  } else {
    cuda::matmul_forward(*gemm, fch, nullptr, ln2, P(p.fc_w), P(p.fc_b), n, C, F2, s);
    if (cfg.mlp == Mlp::swiglu)
      cuda::swiglu_forward(act, fch, n, F, s);
    else
      cuda::gelu_forward(act, fch, long(n) * F, s);
  }
  cuda::matmul_forward(*gemm, delta, nullptr, act, P(p.fcproj_w), P(p.fcproj_b), n, F, C, s);
}

float CudaModel::forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg,
                         const int32_t* targets, const float* mask, int b, int t) {
  Impl& m = *impl_;
  FLAME_CHECK(b >= 1 && b <= B_ && t >= 1 && t <= T_,
              "forward over (b,t) = (" << b << "," << t
                                       << ") but the model was allocated for (B,T) = (" << B_ << ","
                                       << T_ << ")");
  FLAME_CHECK(tokens != nullptr, "forward: tokens is null");
  const int N = b * t, C = m.C, V = m.V;
  const cudaStream_t s = stream_;
  // Until this forward completes, neither the logits nor backward() may be used: a forward that
  // throws half-way must not leave the previous state looking valid.
  m.logits_valid = false;
  m.has_targets = false;

  // ---- inputs: defaults, host-side range checks (a bad id would read outside a table on the
  // device, or turn the loss into NaN), then the copies to the device.
  if (!pos)
    for (int i = 0; i < N; ++i) m.h_pos[i] = i % t;
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
  // Copies from pageable memory wait for the stream anyway; waiting here first reports an error
  // or a hang of the previously queued work (backward, optimizer) instead of blocking in a copy.
  wait("forward (work queued before it)");
  // Each copy returns once its data is staged, so the caller's arrays may be reused as soon as
  // forward() returns.
  auto upload = [&](size_t off, const void* src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(m.arena.data() + off, src, bytes, cudaMemcpyHostToDevice, s));
  };
  const size_t ids_bytes = size_t(N) * sizeof(int32_t);
  upload(m.tokens, tokens, ids_bytes);
  upload(m.pos, hpos, ids_bytes);
  upload(m.seg, hseg, ids_bytes);
  if (targets) upload(m.targets, targets, ids_bytes);
  if (mask) upload(m.mask, mask, size_t(N) * sizeof(float));
  m.has_mask = mask != nullptr;
  m.b = b;
  m.t = t;
  const int32_t* tok_d = m.i32(m.tokens);
  const int32_t* pos_d = m.i32(m.pos);
  const int32_t* seg_d = m.i32(m.seg);
  const int32_t* tgt_d = m.i32(m.targets);
  const float* mask_d = m.has_mask ? m.f32(m.mask) : nullptr;

  // out = norm(inp); res_out = resid + delta, out = norm(res_out) (over the N rows)
  auto norm = [&](bf16* out, float* mean, float* rstd, const bf16* inp, size_t w, size_t bias) {
    m.norm(cfg_, out, mean, rstd, inp, w, bias, N, s);
  };
  auto norm_residual = [&](bf16* res_out, bf16* out, float* mean, float* rstd, const bf16* resid,
                           const bf16* delta, size_t w, size_t bias) {
    m.norm_residual(cfg_, res_out, out, mean, rstd, resid, delta, w, bias, N, s);
  };
  cuda::GemmContext& gemm = *m.gemm;

  // (N,C) token (+ learned position) embeddings, and block 0's norm1
  bf16* x = m.bf(m.encoded);
  cuda::embedding_forward(x, tok_d, pos_d, m.P(m.wte), m.P(m.wpe), N, C, s);
  if (m.L > 0)
    norm(m.bf(m.la[0].ln1), m.f32(m.la[0].ln1_mean), m.f32(m.la[0].ln1_rstd), x, m.lp[0].ln1_w,
         m.lp[0].ln1_b);
  else
    norm(m.bf(m.lnf), m.f32(m.lnf_mean), m.f32(m.lnf_rstd), x, m.lnf_w, m.lnf_b);

  const cuda::AttentionShape shape{b, t, m.Hq, m.Hkv, m.D};
  bf16* delta = m.bf(m.delta);  // (N,C)
  for (int l = 0; l < m.L; ++l) {
    const CudaLayerParams& p = m.lp[l];
    const CudaLayerActs& a = m.la[l];
    bf16* ln1 = m.bf(a.ln1);      // (N,C), written by the previous step
    bf16* qkv = m.bf(a.qkv);      // (N,QKV)
    bf16* atty = m.bf(a.atty);    // (N,C)
    bf16* res2 = m.bf(a.res2);    // (N,C)
    bf16* ln2 = m.bf(a.ln2);      // (N,C)
    bf16* fch = m.bf(a.fch);      // (N,F2)
    bf16* act = m.bf(a.fch_act);  // (N,F)
    bf16* res3 = m.bf(a.res3);    // (N,C)

    // attention branch: res2 = x + proj(attention(rope(qkv(ln1)))), ln2 = norm2(res2)
    cuda::matmul_forward(gemm, qkv, nullptr, ln1, m.P(p.qkv_w), m.P(p.qkv_b), N, C, m.QKV, s);
    // Rotate the q and k heads (the first Hq+Hkv heads of each token) in place; v as is.
    if (cfg_.pos == PosEmb::rope)
      cuda::rope_forward(qkv, pos_d, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta, s);
    cuda::attention_forward(atty, m.f32(a.lse), qkv, seg_d, shape, s);
    cuda::matmul_forward(gemm, delta, nullptr, atty, m.P(p.proj_w), m.P(p.proj_b), N, C, C, s);
    norm_residual(res2, ln2, m.f32(a.ln2_mean), m.f32(a.ln2_rstd), x, delta, p.ln2_w, p.ln2_b);

    // MLP branch: res3 = res2 + proj(act(fc(ln2))), then the next norm of res3
    m.mlp_forward(cfg_, delta, act, fch, ln2, p, N, s);
    if (l + 1 < m.L) {
      const CudaLayerActs& next = m.la[l + 1];
      norm_residual(res3, m.bf(next.ln1), m.f32(next.ln1_mean), m.f32(next.ln1_rstd), res2, delta,
                    m.lp[l + 1].ln1_w, m.lp[l + 1].ln1_b);
    } else {
      norm_residual(res3, m.bf(m.lnf), m.f32(m.lnf_mean), m.f32(m.lnf_rstd), res2, delta, m.lnf_w,
                    m.lnf_b);
    }
    x = res3;
  }

  // LM head (tied: wte (V,C) is the head's weight) -> (N,V) logits
  bf16* logits = m.bf(m.logits);
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  cuda::matmul_forward(gemm, logits, nullptr, m.bf(m.lnf), m.P(head), nullptr, N, C, V, s);
  if (!targets) {
    m.logits_valid = true;  // queued; logits_host() waits for them
    return 0.0f;
  }

  float* losses = m.f32(m.losses);
  cuda::cross_entropy_forward(losses, logits, tgt_d, mask_d, N, V, s);
  cuda::cross_entropy_mean(m.scalars.data(), losses, mask_d, N, s);
  // Every kernel of the pass finishes here: an asynchronous fault surfaces now, naming forward.
  wait("forward");
  float loss = 0.0f;
  CUDA_CHECK(cudaMemcpyAsync(&loss, m.scalars.data(), sizeof(float), cudaMemcpyDeviceToHost, s));
  m.logits_valid = true;
  m.has_targets = true;
  return loss;
}

void CudaModel::backward(float loss_norm) {
  Impl& m = *impl_;
  FLAME_CHECK(m.has_targets && m.logits_valid,
              "backward() needs a preceding forward() with targets (once per forward)");
  FLAME_CHECK(loss_norm > 0.0f, "backward: loss_norm " << loss_norm << " must be positive");
  const int N = m.b * m.t, C = m.C, V = m.V;
  const cudaStream_t s = stream_;
  const size_t need = m.backward_scratch_bytes(cfg_, m.b, m.t);
  FLAME_CHECK(need <= m.scratch_bytes, "backward over (b,t) = (" << m.b << "," << m.t << ") needs "
                                                                 << need << " scratch bytes, "
                                                                 << m.scratch_bytes
                                                                 << " were allocated");
  void* scratch = m.scratch.data();
  float* fscratch = reinterpret_cast<float*>(scratch);
  cuda::GemmContext& gemm = *m.gemm;
  const int32_t* tok_d = m.i32(m.tokens);
  const int32_t* pos_d = m.i32(m.pos);
  const int32_t* seg_d = m.i32(m.seg);
  const float* mask_d = m.has_mask ? m.f32(m.mask) : nullptr;
  const bool layernorm = cfg_.norm == Norm::layernorm;

  // dinp += norm'(inp)^T dout; dw +=; db += (layernorm with bias only)
  auto norm_backward = [&](bf16* dinp, const bf16* dout, const bf16* inp, size_t w, size_t bias,
                           const float* mean, const float* rstd) {
    if (layernorm)
      cuda::layernorm_backward(dinp, m.G(w), m.G(bias), fscratch, dout, inp, m.P(w), mean, rstd, N,
                               C, s);
    else
      cuda::rmsnorm_backward(dinp, m.G(w), fscratch, dout, inp, m.P(w), rstd, N, C, s);
  };

  // dlogits (N,V) overwrite the logits in place (the largest activation)
  bf16* dlogits = m.bf(m.logits);
  cuda::cross_entropy_forward_backward(m.f32(m.losses), dlogits, m.i32(m.targets), mask_d, N, V,
                                       1.0f, loss_norm, s);
  m.logits_valid = false;
  m.has_targets = false;  // once per forward: the logits are gone

  // LM head: dln = dlogits @ W; dW += dlogits^T lnf (into dwte when tied)
  bf16* dln = m.bf(m.dln);    // (N,C)
  bf16* dres = m.bf(m.dres);  // (N,C)
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  cuda::matmul_backward(gemm, dln, m.G(head), nullptr, fscratch, dlogits, m.bf(m.lnf), m.P(head),
                        nullptr, N, C, V, s);

  // final norm: dres is zeroed here, every later contribution accumulates into it
  CUDA_CHECK(cudaMemsetAsync(dres, 0, size_t(N) * C * sizeof(bf16), s));
  const bf16* x_last = m.L > 0 ? m.bf(m.la[m.L - 1].res3) : m.bf(m.encoded);
  norm_backward(dres, dln, x_last, m.lnf_w, m.lnf_b, m.f32(m.lnf_mean), m.f32(m.lnf_rstd));

  const cuda::AttentionShape shape{m.b, m.t, m.Hq, m.Hkv, m.D};
  bf16* dmid = m.bf(m.dmid);    // (N,C) datty or (N,F) dact
  bf16* dwide = m.bf(m.dwide);  // (N,QKV) dqkv or (N,F2) dfch
  for (int l = m.L - 1; l >= 0; --l) {
    const CudaLayerParams& p = m.lp[l];
    const CudaLayerActs& a = m.la[l];
    const bf16* x = l > 0 ? m.bf(m.la[l - 1].res3) : m.bf(m.encoded);  // block input
    const bf16* fch = m.bf(a.fch);

    // MLP branch; dres holds d(res3). dwide <- d(fch)
    if (m.fuse_gelu) {
      cuda::matmul_backward(gemm, dwide, m.G(p.fcproj_w), m.G(p.fcproj_b), fscratch, dres,
                            m.bf(a.fch_act), m.P(p.fcproj_w), fch, N, m.F, C, s);
    } else {
      cuda::matmul_backward(gemm, dmid, m.G(p.fcproj_w), m.G(p.fcproj_b), fscratch, dres,
                            m.bf(a.fch_act), m.P(p.fcproj_w), nullptr, N, m.F, C, s);
      if (cfg_.mlp == Mlp::swiglu)
        cuda::swiglu_backward(dwide, fch, dmid, N, m.F, s);
      else
        cuda::gelu_backward(dwide, fch, dmid, long(N) * m.F, s);
    }
    cuda::matmul_backward(gemm, dln, m.G(p.fc_w), m.G(p.fc_b), fscratch, dwide, m.bf(a.ln2),
                          m.P(p.fc_w), nullptr, N, C, m.F2, s);
    norm_backward(dres, dln, m.bf(a.res2), p.ln2_w, p.ln2_b, m.f32(a.ln2_mean), m.f32(a.ln2_rstd));

    // attention branch; dres now holds d(res2)
    cuda::matmul_backward(gemm, dmid, m.G(p.proj_w), m.G(p.proj_b), fscratch, dres, m.bf(a.atty),
                          m.P(p.proj_w), nullptr, N, C, C, s);
    cuda::attention_backward(dwide, dmid, m.bf(a.qkv), m.bf(a.atty), m.f32(a.lse), seg_d, scratch,
                             shape, s);
    // gradient w.r.t. the rotated q,k -> w.r.t. the GEMM output (inverse rotation)
    if (cfg_.pos == PosEmb::rope)
      cuda::rope_backward(dwide, pos_d, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta, s);
    cuda::matmul_backward(gemm, dln, m.G(p.qkv_w), m.G(p.qkv_b), fscratch, dwide, m.bf(a.ln1),
                          m.P(p.qkv_w), nullptr, N, C, m.QKV, s);
    norm_backward(dres, dln, x, p.ln1_w, p.ln1_b, m.f32(a.ln1_mean), m.f32(a.ln1_rstd));
  }

  // dres = d(encoded): scatter into the embedding tables (deterministic, sorted by id)
  cuda::embedding_backward(m.G(m.wte), m.G(m.wpe), dres, tok_d, pos_d, N, C, scratch,
                           m.scratch_bytes, s);
}

}  // namespace flame::model
