// ModelConfig validation, enum names, and the YAML mapping (model/config_yaml.h).
#include "model/config.h"

#include <charconv>
#include <climits>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "model/config_yaml.h"

namespace flame::model {

namespace {

[[noreturn]] void config_error(const std::string& msg) { throw Error(msg); }

// All checks but vocab_size > 0, which a preset may leave to the tokenizer (vocab_size 0).
void validate_impl(const ModelConfig& c, bool allow_unset_vocab) {
  auto positive = [](const char* field, long long v) {
    if (v <= 0) {
      std::ostringstream os;
      os << "model." << field << " (" << v << ") must be positive";
      config_error(os.str());
    }
  };
  positive("n_layer", c.n_layer);
  positive("n_head", c.n_head);
  positive("n_kv_head", c.n_kv_head);
  positive("d_model", c.d_model);
  positive("d_ff", c.d_ff);
  positive("max_seq_len", c.max_seq_len);
  if (!(allow_unset_vocab && c.vocab_size == 0)) positive("vocab_size", c.vocab_size);
  if (c.vocab_size < 0) positive("vocab_size", c.vocab_size);

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
  if (!(std::isfinite(c.norm_eps) && c.norm_eps > 0.0f)) {
    os << "model.norm_eps (" << c.norm_eps << ") must be a finite number > 0";
    config_error(os.str());
  }
  // The kernels index rows of (N, width) buffers with int widths; keep every width in range.
  const long long qkv_width = (static_cast<long long>(c.n_head) + 2LL * c.n_kv_head) * c.head_dim();
  const long long fc_width = (c.mlp == Mlp::swiglu ? 2LL : 1LL) * c.d_ff;
  if (qkv_width > INT_MAX || fc_width > INT_MAX) {
    os << "model.d_ff (" << c.d_ff << ") or model.n_head/n_kv_head make a layer too wide";
    config_error(os.str());
  }
}

}  // namespace

void validate(const ModelConfig& c) { validate_impl(c, false); }
void validate_allow_unset_vocab(const ModelConfig& c) { validate_impl(c, true); }

Norm parse_norm(const std::string& s) {
  if (s == "layernorm") return Norm::layernorm;
  if (s == "rmsnorm") return Norm::rmsnorm;
  config_error("model.norm: unknown value '" + s + "' (expected layernorm|rmsnorm)");
}
PosEmb parse_pos(const std::string& s) {
  if (s == "learned") return PosEmb::learned;
  if (s == "rope") return PosEmb::rope;
  config_error("model.pos: unknown value '" + s + "' (expected learned|rope)");
}
Mlp parse_mlp(const std::string& s) {
  if (s == "gelu") return Mlp::gelu;
  if (s == "swiglu") return Mlp::swiglu;
  config_error("model.mlp: unknown value '" + s + "' (expected gelu|swiglu)");
}
const char* name(Norm n) { return n == Norm::layernorm ? "layernorm" : "rmsnorm"; }
const char* name(PosEmb p) { return p == PosEmb::learned ? "learned" : "rope"; }
const char* name(Mlp m) { return m == Mlp::gelu ? "gelu" : "swiglu"; }

// ---------------------------------------------------------------------------------------------
// YAML

namespace {

std::string describe(const YAML::Node& v) {
  if (v.IsNull()) return "null";
  if (v.IsSequence()) return "a list";
  if (v.IsMap()) return "a map";
  return "'" + v.Scalar() + "'";
}

[[noreturn]] void type_error(const std::string& key, const char* expected, const YAML::Node& v) {
  config_error("model." + key + ": expected " + expected + ", got " + describe(v));
}

int get_int(const std::string& key, const YAML::Node& v) {
  long long x = 0;
  if (!v.IsScalar() || !YAML::convert<long long>::decode(v, x)) type_error(key, "an integer", v);
  if (x < INT_MIN || x > INT_MAX) type_error(key, "an integer in the 32-bit range", v);
  return static_cast<int>(x);
}

float get_float(const std::string& key, const YAML::Node& v) {
  double x = 0;
  if (!v.IsScalar() || !YAML::convert<double>::decode(v, x)) type_error(key, "a number", v);
  return static_cast<float>(x);
}

bool get_bool(const std::string& key, const YAML::Node& v) {
  bool x = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, x)) type_error(key, "a boolean", v);
  return x;
}

std::string get_string(const std::string& key, const YAML::Node& v) {
  if (!v.IsScalar()) type_error(key, "a string", v);
  return v.Scalar();
}

// Shortest text that reads back as the same float ("1e-05", not "9.99999975e-06").
std::string float_text(float f) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::string(buf, r.ptr);
}

}  // namespace

ModelConfig load_model_config(const YAML::Node& node) {
  ModelConfig c;
  if (!node || node.IsNull()) {
    validate_impl(c, true);
    return c;
  }
  if (!node.IsMap()) config_error("model config: expected a map of fields, got " + describe(node));
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) config_error("model config: keys must be strings");
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "n_layer")
      c.n_layer = get_int(key, v);
    else if (key == "n_head")
      c.n_head = get_int(key, v);
    else if (key == "n_kv_head")
      c.n_kv_head = get_int(key, v);
    else if (key == "d_model")
      c.d_model = get_int(key, v);
    else if (key == "d_ff")
      c.d_ff = get_int(key, v);
    else if (key == "vocab_size")
      c.vocab_size = get_int(key, v);
    else if (key == "max_seq_len")
      c.max_seq_len = get_int(key, v);
    else if (key == "norm")
      c.norm = parse_norm(get_string(key, v));
    else if (key == "pos")
      c.pos = parse_pos(get_string(key, v));
    else if (key == "rope_theta")
      c.rope_theta = get_float(key, v);
    else if (key == "mlp")
      c.mlp = parse_mlp(get_string(key, v));
    else if (key == "tie_embeddings")
      c.tie_embeddings = get_bool(key, v);
    else if (key == "bias")
      c.bias = get_bool(key, v);
    else if (key == "qkv_bias")
      c.qkv_bias = get_bool(key, v);
    else if (key == "norm_eps")
      c.norm_eps = get_float(key, v);
    else
      config_error("model." + key +
                   ": unknown key (known: n_layer, n_head, n_kv_head, d_model, d_ff, vocab_size, "
                   "max_seq_len, norm, pos, rope_theta, mlp, tie_embeddings, bias, qkv_bias, "
                   "norm_eps)");
  }
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

YAML::Node to_yaml(const ModelConfig& c) {
  YAML::Node n;
  n["n_layer"] = c.n_layer;
  n["n_head"] = c.n_head;
  n["n_kv_head"] = c.n_kv_head;
  n["d_model"] = c.d_model;
  n["d_ff"] = c.d_ff;
  n["vocab_size"] = c.vocab_size;
  n["max_seq_len"] = c.max_seq_len;
  n["norm"] = name(c.norm);
  n["pos"] = name(c.pos);
  n["rope_theta"] = float_text(c.rope_theta);
  n["mlp"] = name(c.mlp);
  n["tie_embeddings"] = c.tie_embeddings;
  n["bias"] = c.bias;
  n["qkv_bias"] = c.qkv_bias;
  n["norm_eps"] = float_text(c.norm_eps);
  return n;
}

}  // namespace flame::model
