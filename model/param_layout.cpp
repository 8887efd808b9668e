// The one parameter layout (param_layout.h).
#include "model/param_layout.h"

#include <string>

namespace flame::model {

ParamLayout make_param_layout(const ModelConfig& cfg) {
  ParamLayout pl;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool decay) {
    ParamInfo p;
    p.name = std::move(name);
    p.offset = pl.total;
    p.shape = std::move(shape);
    p.decay = decay;
    pl.total += p.numel();
    pl.info.push_back(std::move(p));
    return pl.info.back().offset;
  };
  const int64_t C = cfg.d_model, V = cfg.vocab_size, F = cfg.d_ff;
  const int64_t QKV = int64_t(cfg.n_head + 2 * cfg.n_kv_head) * cfg.head_dim();
  const int64_t F2 = cfg.mlp == Mlp::swiglu ? 2 * F : F;
  const bool norm_bias = cfg.norm == Norm::layernorm && cfg.bias;
  pl.wte = add("wte", {V, C}, true);
  if (cfg.pos == PosEmb::learned) pl.wpe = add("wpe", {cfg.max_seq_len, C}, true);
  pl.layers.resize(size_t(cfg.n_layer));
  for (int l = 0; l < cfg.n_layer; ++l) {
    LayerParamOffsets& p = pl.layers[size_t(l)];
    const std::string h = "h." + std::to_string(l) + ".";
    p.ln1_w = add(h + "ln1.weight", {C}, false);
    p.ln1_b = norm_bias ? add(h + "ln1.bias", {C}, false) : kNoParam;
    p.qkv_w = add(h + "attn.qkv.weight", {QKV, C}, true);
    p.qkv_b = cfg.has_qkv_bias() ? add(h + "attn.qkv.bias", {QKV}, false) : kNoParam;
    p.proj_w = add(h + "attn.proj.weight", {C, C}, true);
    p.proj_b = cfg.bias ? add(h + "attn.proj.bias", {C}, false) : kNoParam;
    p.ln2_w = add(h + "ln2.weight", {C}, false);
    p.ln2_b = norm_bias ? add(h + "ln2.bias", {C}, false) : kNoParam;
    p.fc_w = add(h + "mlp.fc.weight", {F2, C}, true);
    p.fc_b = cfg.bias ? add(h + "mlp.fc.bias", {F2}, false) : kNoParam;
    p.fcproj_w = add(h + "mlp.proj.weight", {C, F}, true);
    p.fcproj_b = cfg.bias ? add(h + "mlp.proj.bias", {C}, false) : kNoParam;
  }
  pl.lnf_w = add("ln_f.weight", {C}, false);
  pl.lnf_b = norm_bias ? add("ln_f.bias", {C}, false) : kNoParam;
  if (!cfg.tie_embeddings) pl.lm_head = add("lm_head.weight", {V, C}, true);
  return pl;
}

}  // namespace flame::model
