// The one parameter layout (param_layout.h).
#include "model/param_layout.h"

#include <string>

namespace flame::model {

ModelDims ModelDims::of(const ModelConfig& cfg) {
  ModelDims d;
  d.L = cfg.n_layer;
  d.C = cfg.d_model;
  d.Hq = cfg.n_head;
  d.Hkv = cfg.n_kv_head;
  d.D = cfg.head_dim();
  d.QKV = (d.Hq + 2 * d.Hkv) * d.D;
  d.F = cfg.d_ff;
  d.F2 = is_gated(cfg.mlp) ? 2 * d.F : d.F;
  d.V = cfg.vocab_size;
  return d;
}

ParamLayout make_param_layout(const ModelConfig& cfg) {
  ParamLayout pl;
  ParamOffsets& o = pl.offsets;
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
  const ModelDims d = ModelDims::of(cfg);
  const int64_t C = d.C, V = d.V, F = d.F, QKV = d.QKV, F2 = d.F2;
  const bool norm_bias = cfg.norm == Norm::layernorm && cfg.bias;
  o.wte = add("wte", {V, C}, true);
  if (cfg.pos == PosEmb::learned) o.wpe = add("wpe", {cfg.max_seq_len, C}, true);
  o.lp.resize(size_t(cfg.n_layer));
  for (int l = 0; l < cfg.n_layer; ++l) {
    LayerParamOffsets& p = o.lp[size_t(l)];
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
  o.lnf_w = add("ln_f.weight", {C}, false);
  o.lnf_b = norm_bias ? add("ln_f.bias", {C}, false) : kNoParam;
  if (!cfg.tie_embeddings) o.lm_head = add("lm_head.weight", {V, C}, true);
  return pl;
}

}  // namespace flame::model
