// ModelConfig validation, enum names, and the YAML mapping (model/config_yaml.h).
#include "model/config.h"

#include <climits>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "model/config_yaml.h"

namespace flame::model {

const config::Choices<Norm>& choices(Norm) {
  static const config::Choices<Norm> c = {{Norm::layernorm, "layernorm"}, {Norm::rmsnorm, "rmsnorm"}};
  return c;
}
const config::Choices<PosEmb>& choices(PosEmb) {
  static const config::Choices<PosEmb> c = {{PosEmb::learned, "learned"}, {PosEmb::rope, "rope"}};
  return c;
}

const config::Fields<ModelConfig>& ModelConfig::fields() {
  using M = ModelConfig;
  using config::field;
  const config::Range positive{[](double x) { return x > 0; }, "positive"};
  static const config::Fields<M> f = {
      field("n_layer", &M::n_layer, "transformer blocks").check(positive),
      field("n_head", &M::n_head, "query heads; must divide d_model").check(positive),
      field("n_kv_head", &M::n_kv_head, "key/value heads (GQA when < n_head); must divide n_head")
          .check(positive),
      field("d_model", &M::d_model, "residual width").check(positive),
      field("d_ff", &M::d_ff, "MLP hidden width (per branch for swiglu)").check(positive),
      field("vocab_size", &M::vocab_size, "vocabulary; 0: the tokenizer's")
          .check([](int v) { return v >= 0; }, "positive, or 0 to take it from the tokenizer"),
      field("max_seq_len", &M::max_seq_len, "longest sequence (size of the learned position table)")
          .check(positive),
      field("norm", &M::norm, "layernorm (GPT-2) or rmsnorm (Llama)"),
      field("pos", &M::pos, "learned positions (GPT-2) or rope (Llama)"),
      field("rope_theta", &M::rope_theta, "RoPE base; finite and > 1 with pos: rope"),
      field("mlp", &M::mlp, "gelu (GPT-2) or swiglu (Llama)"),
      field("tie_embeddings", &M::tie_embeddings, "lm_head shares the token embedding"),
      field("bias", &M::bias, "biases in linear layers and LayerNorm"),
      field("qkv_bias", &M::qkv_bias, "biases on the q/k/v projection only (Qwen2); implied by bias"),
      field("norm_eps", &M::norm_eps, "epsilon of the norms")
          .check([](float e) { return std::isfinite(e) && e > 0.0f; }, "a finite number > 0"),
  };
  return f;
}

namespace {

[[noreturn]] void config_error(const std::string& msg) { throw Error(msg); }

// Model errors name "model.<key>", the way a run config or preset spells it.
const config::Ctx& model_ctx() {
  static const config::Ctx c = [] {
    config::Ctx c{config::Wording(), "model"};
    c.w.value_first = true;
    return c;
  }();
  return c;
}

// The per-field checks, then the relations between fields. vocab_size 0 passes when a preset
// may still leave it to the tokenizer.
void validate_impl(const ModelConfig& c, bool allow_unset_vocab) {
  config::check_fields(c, model_ctx());
  if (!allow_unset_vocab && c.vocab_size == 0) model_ctx().must("model.vocab_size", "positive", "0");

  std::ostringstream os;
  if (c.d_model % c.n_head != 0) {
    os << "model.n_head (" << c.n_head << ") must divide model.d_model (" << c.d_model << ")";
    config_error(os.str());
  }
  if (c.n_head % c.n_kv_head != 0) {
    os << "model.n_kv_head (" << c.n_kv_head << ") must divide model.n_head (" << c.n_head << ")";
    config_error(os.str());
  }
  if (c.pos == PosEmb::rope) {
    if (c.head_dim() % 2 != 0) {
      os << "model.d_model / model.n_head (head dim " << c.head_dim()
         << ") must be even for pos: rope (dims rotate in pairs)";
      config_error(os.str());
    }
    if (!(std::isfinite(c.rope_theta) && c.rope_theta > 1.0f)) {
      os << "model.rope_theta (" << c.rope_theta << ") must be a finite number > 1";
      config_error(os.str());
    }
  }
  // The kernels index rows of (N, width) buffers with int widths; keep every width in range.
  const long long qkv_width = (static_cast<long long>(c.n_head) + 2LL * c.n_kv_head) * c.head_dim();
  const long long fc_width = (c.mlp == Mlp::swiglu ? 2LL : 1LL) * c.d_ff;
  if (qkv_width > INT_MAX || fc_width > INT_MAX) {
    os << "model.d_ff (" << c.d_ff << ") or model.n_head/n_kv_head make a layer too wide";
    config_error(os.str());
  }
}

template <class E>
E parse_enum(const std::string& s, const char* key) {
  E e{};
  config::Codec<E>::read(YAML::Node(s), e, model_ctx(), key);
  return e;
}

}  // namespace

void validate(const ModelConfig& c) { validate_impl(c, false); }
void validate_allow_unset_vocab(const ModelConfig& c) { validate_impl(c, true); }

Norm parse_norm(const std::string& s) { return parse_enum<Norm>(s, "model.norm"); }
PosEmb parse_pos(const std::string& s) { return parse_enum<PosEmb>(s, "model.pos"); }
Mlp parse_mlp(const std::string& s) { return parse_enum<Mlp>(s, "model.mlp"); }
const char* name(Norm n) { return config::choice_name(n); }
const char* name(PosEmb p) { return config::choice_name(p); }
const char* name(Mlp m) { return config::choice_name(m); }

// ---------------------------------------------------------------------------------------------
// YAML

ModelConfig load_model_config(const YAML::Node& node) {
  ModelConfig c;
  config::read_fields(node, c, model_ctx());
  validate_impl(c, true);
  return c;
}

ModelConfig load_model_preset(const std::string& path) {
  const YAML::Node root = load_yaml_file(path, "model preset ");
  try {
    return load_model_config(root);
  } catch (const Error& e) {
    config_error("model preset " + path + ": " + e.what());
  }
}

YAML::Node to_yaml(const ModelConfig& c) { return config::to_yaml(c); }

}  // namespace flame::model

namespace flame {

const config::Choices<Activation>& choices(Activation) {
  static const config::Choices<Activation> c = {{Activation::gelu, "gelu"}, {Activation::swiglu, "swiglu"}};
  return c;
}

}  // namespace flame
