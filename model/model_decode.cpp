// Incremental decoding with a KV cache (model.h): the forward of model_forward.cpp for n new
// tokens of one sequence, whose attention reads the cached keys/values of every earlier token
// instead of recomputing them. Only the last token's logits are computed.
#include <algorithm>
#include <cstring>

#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/check.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "model/model_impl.h"

namespace flame::model {

namespace {

void norm(const ModelConfig& cfg, float* out, const float* inp, const float* w, const float* b,
          int N, int C) {
  std::vector<float> mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N));
  if (cfg.norm == Norm::layernorm)
    cpu::layernorm_forward(out, mean.data(), rstd.data(), inp, w, b, N, C, cfg.norm_eps);
  else
    cpu::rmsnorm_forward(out, rstd.data(), inp, w, N, C, cfg.norm_eps);
}

}  // namespace

KvCache Model::new_kv_cache(int max_len) const {
  FLAME_CHECK(max_len >= 1 && max_len <= cfg_.max_seq_len,
              "KV cache of " << max_len << " tokens (the model's max_seq_len is "
                             << cfg_.max_seq_len << ")");
  const Impl& m = *impl_;
  KvCache c;
  c.max_len = max_len;
  const size_t n = size_t(m.L) * size_t(max_len) * size_t(m.Hkv) * size_t(m.D);
  c.k.assign(n, 0.0f);
  c.v.assign(n, 0.0f);
  return c;
}

std::vector<float> Model::decode(KvCache& cache, const int32_t* tokens, int n) const {
  const Impl& m = *impl_;
  const int C = m.C, V = m.V, KV = m.Hkv * m.D, start = cache.len;
  FLAME_CHECK(tokens != nullptr && n >= 1, "decode: no tokens");
  FLAME_CHECK(start + n <= cache.max_len, "decode: " << start + n << " tokens exceed the KV cache ("
                                                     << cache.max_len << ")");
  FLAME_CHECK(cache.k.size() == size_t(m.L) * size_t(cache.max_len) * size_t(KV),
              "decode: the KV cache was made for another model");
  for (int i = 0; i < n; ++i)
    FLAME_CHECK(tokens[i] >= 0 && tokens[i] < V, "decode: token " << tokens[i] << " outside [0,"
                                                                  << V << ")");
  auto P = [&](size_t off) -> const float* {
    return off == kAbsent ? nullptr : params_.data() + off;
  };
  std::vector<int32_t> pos(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) pos[size_t(i)] = start + i;
  std::vector<float> x(size_t(n) * C), h(size_t(n) * C), qkv(size_t(n) * m.QKV),
      q(size_t(n) * m.Hq * m.D), att(size_t(n) * C), fch(size_t(n) * m.F2), act(size_t(n) * m.F);
  cpu::embedding_forward(x.data(), tokens, pos.data(), P(m.wte), P(m.wpe), n, C);

  for (int l = 0; l < m.L; ++l) {
    const LayerParams& p = m.lp[size_t(l)];
    float* kc = cache.k.data() + size_t(l) * size_t(cache.max_len) * KV;
    float* vc = cache.v.data() + size_t(l) * size_t(cache.max_len) * KV;
    // (n,C) -> (n,QKV): [q heads | k heads | v heads] per token, q and k rotated at their positions
    norm(cfg_, h.data(), x.data(), P(p.ln1_w), P(p.ln1_b), n, C);
    cpu::matmul_forward(qkv.data(), h.data(), P(p.qkv_w), P(p.qkv_b), n, C, m.QKV);
    if (cfg_.pos == PosEmb::rope)
      cpu::rope_forward(qkv.data(), pos.data(), n, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta);
    const int qw = m.Hq * m.D;
    for (int i = 0; i < n; ++i) {
      const float* row = qkv.data() + size_t(i) * m.QKV;
      std::memcpy(q.data() + size_t(i) * qw, row, sizeof(float) * size_t(qw));
      std::memcpy(kc + size_t(start + i) * KV, row + qw, sizeof(float) * size_t(KV));
      std::memcpy(vc + size_t(start + i) * KV, row + qw + KV, sizeof(float) * size_t(KV));
    }
    cpu::attention_decode(att.data(), q.data(), kc, vc, start, n, m.Hq, m.Hkv, m.D);
    cpu::matmul_forward(h.data(), att.data(), P(p.proj_w), P(p.proj_b), n, C, C);
    cpu::accumulate(x.data(), h.data(), long(n) * C);  // x = x + attention branch

    norm(cfg_, h.data(), x.data(), P(p.ln2_w), P(p.ln2_b), n, C);
    cpu::matmul_forward(fch.data(), h.data(), P(p.fc_w), P(p.fc_b), n, C, m.F2);
    if (cfg_.mlp == Mlp::swiglu)
      cpu::swiglu_forward(act.data(), fch.data(), n, m.F);
    else
      cpu::gelu_forward(act.data(), fch.data(), long(n) * m.F);
    cpu::matmul_forward(h.data(), act.data(), P(p.fcproj_w), P(p.fcproj_b), n, m.F, C);
    cpu::accumulate(x.data(), h.data(), long(n) * C);  // x = x + MLP branch
  }
  cache.len = start + n;

  // Final norm and the head for the last token only.
  const float* last = x.data() + size_t(n - 1) * C;
  norm(cfg_, h.data(), last, P(m.lnf_w), P(m.lnf_b), 1, C);
  std::vector<float> logits(static_cast<size_t>(V));
  const float* head = cfg_.tie_embeddings ? P(m.wte) : P(m.lm_head);
  cpu::matmul_forward(logits.data(), h.data(), head, nullptr, 1, C, V);
  return logits;
}

}  // namespace flame::model
