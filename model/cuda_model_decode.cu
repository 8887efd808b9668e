// CudaModel incremental decoding (cuda_model.h): the forward of cuda_model_pass.cu for the new
// tokens of several sequences at once, flattened into one (N,C) batch. Each token carries its
// cache row and position; after the qkv GEMM and RoPE its keys/values are appended to its row and
// the decode attention reads the row's cache instead of recomputing earlier tokens. No backward
// follows, so every layer reuses layer 0's activation slices as scratch, and only the rows' last
// tokens go through the LM head.
#include <algorithm>
#include <string>

#include "kernels/attention.h"
#include "kernels/check.h"
#include "kernels/cuda_check.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/rope.h"
#include "model/cuda_model.h"
#include "model/cuda_model_impl.h"

namespace flame::model {

CudaKvCache CudaModel::new_kv_cache(int rows, int max_len) const {
  FLAME_CHECK(rows >= 1 && rows <= B_, "KV cache of " << rows
                                                      << " rows: the model was allocated for "
                                                         "max_B = "
                                                      << B_ << " rows per batch");
  FLAME_CHECK(max_len >= 1 && max_len <= cfg_.max_seq_len,
              "KV cache of " << max_len << " tokens per row (the model's max_seq_len is "
                             << cfg_.max_seq_len << ")");
  const Impl& m = *impl_;
  CudaKvCache c;
  c.rows = rows;
  c.max_len = max_len;
  c.len.assign(size_t(rows), 0);
  const size_t n = size_t(m.L) * rows * max_len * size_t(m.Hkv) * m.D;
  c.k = cuda::DeviceBuffer<bf16>(n);
  c.v = cuda::DeviceBuffer<bf16>(n);
  // Never read before written (attention stops at each token's position), but zeroed so that a
  // bug shows up as wrong numbers rather than as whatever the allocation held.
  c.k.zero();
  c.v.zero();
  return c;
}

std::vector<float> CudaModel::decode(CudaKvCache& cache,
                                     const std::vector<std::vector<int32_t>>& new_tokens) {
  Impl& m = *impl_;
  const int C = m.C, V = m.V, KV = m.Hkv * m.D, rows = cache.rows;
  FLAME_CHECK(cache.k.size() == size_t(m.L) * rows * cache.max_len * KV &&
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

  const cudaStream_t s = stream_;
  // The arena is scratch from here on: the last forward's logits and saved activations are gone.
  m.logits_valid = false;
  m.has_targets = false;
  wait("decode (work queued before it)");  // as forward(): report earlier faults here
  auto upload = [&](size_t off, const std::vector<int32_t>& v) {
    CUDA_CHECK(cudaMemcpyAsync(m.arena.data() + off, v.data(), v.size() * sizeof(int32_t),
                               cudaMemcpyHostToDevice, s));
  };
  // The int32 input slices hold N entries each; seg holds the rows, targets the gather indices.
  upload(m.tokens, tokens);
  upload(m.pos, pos);
  upload(m.seg, row);
  upload(m.targets, last);
  const int32_t* tok_d = m.i32(m.tokens);
  const int32_t* pos_d = m.i32(m.pos);
  const int32_t* row_d = m.i32(m.seg);
  const int32_t* last_d = m.i32(m.targets);

  // Scratch: layer 0's slices for every layer (unused when L == 0), lnf's statistics for every
  // norm (nothing reads them back).
  const CudaLayerActs a = m.la.empty() ? CudaLayerActs{} : m.la[0];
  float* mean = m.f32(m.lnf_mean);
  float* rstd = m.f32(m.lnf_rstd);
  auto norm = [&](bf16* out_, const bf16* inp, size_t w, size_t bias) {
    m.norm(cfg_, out_, mean, rstd, inp, w, bias, N, s);
  };
  // res_out = resid + delta; out = norm(res_out). res_out never aliases resid (see below).
  auto norm_residual = [&](bf16* res_out, bf16* out_, const bf16* resid, const bf16* delta,
                           size_t w, size_t bias) {
    m.norm_residual(cfg_, res_out, out_, mean, rstd, resid, delta, w, bias, N, s);
  };
  cuda::GemmContext& gemm = *m.gemm;

  // (N,C) embeddings; the residual stream then alternates encoded -> res2 -> res3 -> res2 ...
  bf16* x = m.bf(m.encoded);
  cuda::embedding_forward(x, tok_d, pos_d, m.P(m.wte), m.P(m.wpe), N, C, s);
  bf16* lnf = m.bf(m.lnf);  // (N,C)
  if (m.L > 0)
    norm(m.bf(a.ln1), x, m.lp[0].ln1_w, m.lp[0].ln1_b);
  else
    norm(lnf, x, m.lnf_w, m.lnf_b);

  const size_t layer_cache = size_t(rows) * cache.max_len * KV;
  const cuda::DecodeShape shape{N, m.Hq, m.Hkv, m.D, rows, cache.max_len, long(m.QKV)};
  bf16* ln1 = m.bf(a.ln1);      // (N,C)
  bf16* qkv = m.bf(a.qkv);      // (N,QKV)
  bf16* atty = m.bf(a.atty);    // (N,C)
  bf16* res2 = m.bf(a.res2);    // (N,C)
  bf16* ln2 = m.bf(a.ln2);      // (N,C)
  bf16* fch = m.bf(a.fch);      // (N,F2)
  bf16* act = m.bf(a.fch_act);  // (N,F)
  bf16* res3 = m.bf(a.res3);    // (N,C)
  bf16* delta = m.bf(m.delta);  // (N,C)
  for (int l = 0; l < m.L; ++l) {
    const CudaLayerParams& p = m.lp[l];
    bf16* kc = cache.k.data() + l * layer_cache;
    bf16* vc = cache.v.data() + l * layer_cache;

    // attention branch: res2 = x + proj(attention(rope(qkv(ln1)))), ln2 = norm2(res2)
    cuda::matmul_forward(gemm, qkv, nullptr, ln1, m.P(p.qkv_w), m.P(p.qkv_b), N, C, m.QKV, s);
    if (cfg_.pos == PosEmb::rope)
      cuda::rope_forward(qkv, pos_d, N, m.Hq + m.Hkv, m.D, m.QKV, cfg_.rope_theta, s);
    // Every new token's k/v first: a row's later new tokens attend to its earlier ones.
    cuda::kv_cache_append(kc, vc, qkv, row_d, pos_d, shape, s);
    cuda::attention_decode(atty, qkv, kc, vc, row_d, pos_d, shape, s);  // q read in place
    cuda::matmul_forward(gemm, delta, nullptr, atty, m.P(p.proj_w), m.P(p.proj_b), N, C, C, s);
    norm_residual(res2, ln2, x, delta, p.ln2_w, p.ln2_b);

    // MLP branch: res3 = res2 + proj(act(fc(ln2))), then the next norm of res3
    m.mlp_forward(cfg_, delta, act, fch, ln2, p, N, s);
    // x is encoded or the previous layer's res3; res2 was read above, so res3 may be rewritten.
    if (l + 1 < m.L)
      norm_residual(res3, ln1, res2, delta, m.lp[l + 1].ln1_w, m.lp[l + 1].ln1_b);
    else
      norm_residual(res3, lnf, res2, delta, m.lnf_w, m.lnf_b);
    x = res3;
  }

  // LM head for the rows' last tokens only: gather their normed rows (an embedding lookup with
  // lnf as the table is an exact row gather), then (R,C) x (C,V). The final norm ran over all N
  // rows, fused with the last residual add as in forward(); it costs O(C) per row, the head O(CV).
  bf16* picked = m.bf(m.dln);  // (R,C), R <= N
  cuda::embedding_forward(picked, last_d, nullptr, lnf, nullptr, R, C, s);
  bf16* logits = m.bf(m.logits);  // (R,V)
  const size_t head = cfg_.tie_embeddings ? m.wte : m.lm_head;
  cuda::matmul_forward(gemm, logits, nullptr, picked, m.P(head), nullptr, R, C, V, s);
  wait("decode");
  std::vector<uint16_t> bits(size_t(R) * V);
  CUDA_CHECK(cudaMemcpyAsync(bits.data(), logits, bits.size() * sizeof(bf16),
                             cudaMemcpyDeviceToHost, s));  // pageable: returns when done
  for (int k = 0; k < R; ++k)
    bf16_to_f32_host(out.data() + size_t(last_row[size_t(k)]) * V, bits.data() + size_t(k) * V,
                     size_t(V));
  for (int r = 0; r < rows; ++r) cache.len[size_t(r)] += int(new_tokens[size_t(r)].size());
  return out;
}

}  // namespace flame::model
