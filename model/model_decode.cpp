// Incremental decoding with a KV cache (model.h): the forward of model_forward.cpp for the new
// tokens of several sequences at once, flattened into one (N,C) batch. Each token carries its
// cache row and position; after the qkv projection and RoPE its keys/values are appended to its
// row and the decode attention reads the row's cache instead of recomputing earlier tokens. No
// backward follows, so every layer reuses layer 0's activation slices as scratch, and only the
// rows' last tokens go through the LM head.
#include <algorithm>
#include <string>

#include "core/error.h"
#include "model/model_state.h"

namespace flame::model {

KvCache Model::new_kv_cache(int rows, int max_len) const {
  FLAME_CHECK(rows >= 1 && rows <= B_, "KV cache of " << rows
                                                      << " rows: the model was allocated for "
                                                         "max_B = "
                                                      << B_ << " rows per batch");
  FLAME_CHECK(max_len >= 1 && max_len <= cfg_.max_seq_len,
              "KV cache of " << max_len << " tokens per row (the model's max_seq_len is "
                             << cfg_.max_seq_len << ")");
  const State& m = *s_;
  KvCache c;
  c.rows = rows;
  c.max_len = max_len;
  c.len.assign(size_t(rows), 0);
  const size_t bytes = size_t(m.L) * rows * max_len * size_t(m.Hkv) * m.D * m.act_bytes;
  // Never read before written (attention stops at each token's position), but zeroed (alloc)
  // so that a bug shows up as wrong numbers rather than as whatever the allocation held.
  c.k = backend_->alloc(bytes);
  c.v = backend_->alloc(bytes);
  return c;
}

std::vector<float> Model::decode(KvCache& cache, const int32_t* tokens, int n) {
  FLAME_CHECK(tokens != nullptr && n >= 1, "decode: no tokens");
  std::vector<std::vector<int32_t>> feed(size_t(cache.rows));
  FLAME_CHECK(!feed.empty(), "decode: the KV cache has no rows");
  feed[0].assign(tokens, tokens + n);
  std::vector<float> out = decode(cache, feed);
  out.resize(size_t(s_->V));  // row 0
  return out;
}

std::vector<float> Model::decode(KvCache& cache,
                                 const std::vector<std::vector<int32_t>>& new_tokens) {
  State& m = *s_;
  Backend& be = *backend_;
  const int C = m.C, V = m.V, KV = m.Hkv * m.D, rows = cache.rows;
  const size_t layer_cache_bytes = size_t(rows) * cache.max_len * KV * m.act_bytes;
  FLAME_CHECK(cache.k.bytes() == size_t(m.L) * layer_cache_bytes &&
                  cache.len.size() == size_t(rows),
              "decode: the KV cache was made for another model");
  FLAME_CHECK(int(new_tokens.size()) == rows, "decode: " << new_tokens.size()
                                                         << " token lists for a cache of " << rows
                                                         << " rows (one per row, empty = skip)");

  // ---- host-side inputs and checks: token i of the batch, its row and position; the batch row
  // of each advanced row's last token.
  std::vector<int32_t> tokens, pos, row, last;
  std::vector<int> last_row;  // cache row of each entry of `last`
  for (int r = 0; r < rows; ++r) {
    const auto& nt = new_tokens[size_t(r)];
    if (nt.empty()) continue;
    const int start = cache.len[size_t(r)];
    FLAME_CHECK(start >= 0 && start + int(nt.size()) <= cache.max_len,
                "decode: row " << r << " would hold " << start + nt.size()
                               << " tokens, the KV cache holds " << cache.max_len << " per row");
    for (size_t j = 0; j < nt.size(); ++j) {
      FLAME_CHECK(nt[j] >= 0 && nt[j] < V, "decode: token " << nt[j] << " (row " << r << ", new "
                                                            << j << ") outside [0," << V << ")");
      tokens.push_back(nt[j]);
      pos.push_back(start + int(j));
      row.push_back(r);
    }
    last.push_back(int32_t(tokens.size()) - 1);
    last_row.push_back(r);
  }
  const int N = int(tokens.size()), R = int(last.size());
  std::vector<float> out(size_t(rows) * V, 0.0f);
  if (N == 0) return out;
  FLAME_CHECK(N <= B_ * T_, "decode: " << N
                                       << " new tokens in one call, the arena holds max_B*max_T = "
                                       << B_ * T_ << " (split the rows over several calls)");

  // The arena is scratch from here on: the last forward's logits and saved activations are gone.
  m.logits_valid = false;
  m.has_targets = false;
  be.wait("decode (work queued before it)");  // as forward(): report earlier faults here
  // The int32 input slices hold N entries each; seg holds the rows, targets the gather indices.
  be.upload(m.i32(m.a.tokens), tokens.data(), tokens.size() * sizeof(int32_t));
  be.upload(m.i32(m.a.pos), pos.data(), pos.size() * sizeof(int32_t));
  be.upload(m.i32(m.a.seg), row.data(), row.size() * sizeof(int32_t));
  be.upload(m.i32(m.a.targets), last.data(), last.size() * sizeof(int32_t));
  const int32_t* pos_d = m.i32(m.a.pos);
  const int32_t* row_d = m.i32(m.a.seg);

  // Scratch: layer 0's slices for every layer (unused when L == 0), lnf's statistics for every
  // norm (nothing reads them back).
  const LayerActs a = m.a.la.empty() ? LayerActs{} : m.a.la[0];
  float* mean = m.f32(m.a.lnf_mean);
  float* rstd = m.f32(m.a.lnf_rstd);
  auto norm = [&](void* out_, const void* inp, size_t w, size_t bias) {
    be.norm_forward(cfg_.norm, out_, mean, rstd, inp, m.P(w), m.P(bias), N, C, cfg_.norm_eps);
  };
  // res_out = resid + delta; out = norm(res_out). res_out never aliases resid (see below).
  auto norm_residual = [&](void* res_out, void* out_, const void* resid, const void* delta,
                           size_t w, size_t bias) {
    be.norm_residual_forward(cfg_.norm, res_out, out_, mean, rstd, resid, delta, m.P(w),
                             m.P(bias), N, C, cfg_.norm_eps);
  };

  // (N,C) embeddings; the residual stream then alternates encoded -> res2 -> res3 -> res2 ...
  void* x = m.act(m.a.encoded);
  be.embedding_forward(x, m.i32(m.a.tokens), pos_d, m.P(m.wte), m.P(m.wpe), N, C);
  void* lnf = m.act(m.a.lnf);  // (N,C)
  void* ln1 = m.act(a.ln1);    // (N,C)
  if (m.L > 0)
    norm(ln1, x, m.lp[0].ln1_w, m.lp[0].ln1_b);
  else
    norm(lnf, x, m.lnf_w, m.lnf_b);

  const DecodeShape shape{N, m.Hq, m.Hkv, m.D, rows, cache.max_len, long(m.QKV)};
  void* qkv = m.act(a.qkv);        // (N,QKV)
  void* atty = m.act(a.atty);      // (N,C)
  void* res2 = m.act(a.res2);      // (N,C)
  void* ln2 = m.act(a.ln2);        // (N,C)
  void* res3 = m.act(a.res3);      // (N,C)
  void* delta = m.act(m.a.delta);  // (N,C)
  for (int l = 0; l < m.L; ++l) {
    const LayerParamOffsets& p = m.lp[size_t(l)];
    void* kc = cache.k.as<void>(size_t(l) * layer_cache_bytes);
    void* vc = cache.v.as<void>(size_t(l) * layer_cache_bytes);

    // attention branch: res2 = x + proj(attention(rope(qkv(ln1)))), ln2 = norm2(res2)
    be.matmul_forward(qkv, ln1, m.P(p.qkv_w), m.P(p.qkv_b), N, C, m.QKV);
    if (cfg_.pos == PosEmb::rope)
      be.rope_forward(qkv, pos_d, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta);
    // Every new token's k/v first: a row's later new tokens attend to its earlier ones.
    be.kv_cache_append(kc, vc, qkv, row_d, pos_d, shape);
    be.attention_decode(atty, qkv, kc, vc, row_d, pos_d, shape);  // q read in place
    be.matmul_forward(delta, atty, m.P(p.proj_w), m.P(p.proj_b), N, C, C);
    norm_residual(res2, ln2, x, delta, p.ln2_w, p.ln2_b);

    // MLP branch: res3 = res2 + proj(act(fc(ln2))), then the next norm of res3
    be.mlp_up_forward(cfg_.mlp, m.act(a.fch_act), m.act(a.fch), ln2, m.P(p.fc_w), m.P(p.fc_b), N,
                      C, m.F);
    be.matmul_forward(delta, m.act(a.fch_act), m.P(p.fcproj_w), m.P(p.fcproj_b), N, m.F, C);
    // x is encoded or the previous layer's res3; res2 was read above, so res3 may be rewritten.
    if (l + 1 < m.L)
      norm_residual(res3, ln1, res2, delta, m.lp[size_t(l) + 1].ln1_w, m.lp[size_t(l) + 1].ln1_b);
    else
      norm_residual(res3, lnf, res2, delta, m.lnf_w, m.lnf_b);
    x = res3;
  }

  // LM head for the rows' last tokens only: gather their normed rows (an embedding lookup with
  // lnf as the table is an exact row gather), then (R,C) x (C,V).
  void* picked = m.act(m.a.dln);  // (R,C), R <= N
  be.embedding_forward(picked, m.i32(m.a.targets), nullptr, lnf, nullptr, R, C);
  void* logits = m.act(m.a.logits);  // (R,V)
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  be.matmul_forward(logits, picked, m.P(head), nullptr, R, C, V);
  std::vector<float> picked_logits(size_t(R) * V);
  be.download_act(picked_logits.data(), logits, picked_logits.size());
  for (int k = 0; k < R; ++k)
    std::copy_n(picked_logits.begin() + ptrdiff_t(k) * V, V,
                out.begin() + ptrdiff_t(last_row[size_t(k)]) * V);
  for (int r = 0; r < rows; ++r) cache.len[size_t(r)] += int(new_tokens[size_t(r)].size());
  return out;
}

}  // namespace flame::model
