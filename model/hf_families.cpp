// The Hugging Face families as tables (hf_families.h), and the per-family code around them.
//
// Layout facts the tables rely on (model/param_layout.h, kernels/attention.h, kernels/rope.h,
// kernels/activations.h):
//   - flame's attn.qkv.weight rows are [q heads | k heads | v heads], each head's D rows
//     contiguous: HF Llama's q_proj, k_proj, v_proj stacked in that order.
//   - flame's RoPE is rotate-half (pairs i, i+D/2), the convention HF Llama weights are stored
//     for, so q/k rows need no permutation (no row of any table permutes).
//   - flame's SwiGLU mlp.fc.weight rows are [gate | up]: gate_proj then up_proj.
//   - flame weights are (out, in); GPT-2's Conv1D stores (in, out), so those are transposed.
//   - GPT-2's c_attn columns are already [q | k | v] with heads contiguous: one transpose, no
//     split.
#include "model/hf_families.h"

#include <cstdint>
#include <cstdio>
#include <set>

#include "core/error.h"

namespace flame::model::hf {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// config.json access

HfConfig::HfConfig(json j, std::string path) : j_(std::move(j)), path_(std::move(path)) {
  if (!j_.is_object()) throw Error(path_ + ": expected a JSON object");
}

void HfConfig::missing(const std::string& key) const {
  throw Error(path_ + ": missing required key '" + key + "'");
}

int HfConfig::integer(const std::string& key, std::optional<int> fallback) const {
  if (!has(key)) {
    if (!fallback) missing(key);
    return *fallback;
  }
  const json& v = j_[key];
  if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > INT32_MAX)
    throw Error(path_ + ": '" + key + "' must be a non-negative 32-bit integer, got " + v.dump());
  return v.get<int>();
}

double HfConfig::number(const std::string& key, std::optional<double> fallback) const {
  if (!has(key)) {
    if (!fallback) missing(key);
    return *fallback;
  }
  const json& v = j_[key];
  if (!v.is_number()) throw Error(path_ + ": '" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}

bool HfConfig::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const json& v = j_[key];
  if (!v.is_boolean())
    throw Error(path_ + ": '" + key + "' must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string HfConfig::string(const std::string& key, std::optional<std::string> fallback) const {
  if (!has(key)) {
    if (!fallback) missing(key);
    return *fallback;
  }
  const json& v = j_[key];
  if (!v.is_string()) throw Error(path_ + ": '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

void HfConfig::unsupported(const std::string& key, const std::string& why) const {
  throw Error(path_ + ": unsupported '" + key + "' = " + (has(key) ? j_[key].dump() : "null") +
              ": " + why);
}

namespace {

// ---------------------------------------------------------------------------------------------
// helpers for the tables

Fallback required() { return {}; }

Fallback fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return {[v](const HfConfig&, const ModelConfig&, const std::string&) { return v; }, buf};
}

Fallback fixed_flag(bool v) {
  return {[v](const HfConfig&, const ModelConfig&, const std::string&) { return v ? 1.0 : 0.0; },
          v ? "true" : "false"};
}

TensorRow copied(std::string flame, std::string hf, std::string note = "") {
  return {std::move(flame), {{std::move(hf)}}, Transform::copy, std::move(note)};
}

TensorRow conv1d(std::string flame, std::string hf) {
  return {std::move(flame), {{std::move(hf)}}, Transform::transpose, ""};
}

TensorRow stacked(std::string flame, std::vector<HfPart> parts, std::string note = "") {
  return {std::move(flame), std::move(parts), Transform::stack_rows, std::move(note)};
}

// rope_scaling / rope_parameters: absent, null or the plain ("default") rotation is what flame
// computes; any scaling (linear, dynamic, yarn, llama3, ...) changes the angles and is refused.
// Returns rope_theta when the block carries it (transformers 5 keeps it there).
std::optional<double> check_rope_block(const HfConfig& c, const std::string& key) {
  if (!c.has(key)) return std::nullopt;
  const json& v = c.at(key);
  if (!v.is_object()) c.unsupported(key, "expected an object");
  std::optional<double> theta;
  for (const auto& [k, x] : v.items()) {
    if (k == "rope_type" || k == "type") {
      if (!x.is_string() || x.get<std::string>() != "default")
        c.unsupported(
            key, "RoPE scaling '" + x.dump() + "' is not implemented by flame (only plain RoPE)");
    } else if (k == "rope_theta" && x.is_number()) {
      theta = x.get<double>();
    } else {
      c.unsupported(key, "field '" + k + "' changes RoPE; flame implements only plain RoPE");
    }
  }
  return theta;
}

// ---------------------------------------------------------------------------------------------
// Llama, Mistral, Qwen2

HfFamily llama_family() {
  HfFamily f;
  f.name = "llama";
  f.model_types = {"llama", "mistral", "qwen2"};
  const std::string L = "model.layers.{l}.", A = L + "self_attn.", M = L + "mlp.";
  f.tensors = {
      copied("wte", "model.embed_tokens.weight"),
      copied("h.{l}.ln1.weight", L + "input_layernorm.weight"),
      stacked("h.{l}.attn.qkv.weight", {{A + "q_proj.weight", Rows::q_heads},
                                        {A + "k_proj.weight", Rows::kv_heads},
                                        {A + "v_proj.weight", Rows::kv_heads}}),
      stacked("h.{l}.attn.qkv.bias",
              {{A + "q_proj.bias", Rows::q_heads},
               {A + "k_proj.bias", Rows::kv_heads},
               {A + "v_proj.bias", Rows::kv_heads}},
              "Llama: when `attention_bias`; Qwen2: always"),
      copied("h.{l}.attn.proj.weight", A + "o_proj.weight"),
      copied("h.{l}.attn.proj.bias", A + "o_proj.bias",
             "Llama: when `attention_bias`; Qwen2: never"),
      copied("h.{l}.ln2.weight", L + "post_attention_layernorm.weight"),
      stacked("h.{l}.mlp.fc.weight",
              {{M + "gate_proj.weight", Rows::d_ff}, {M + "up_proj.weight", Rows::d_ff}}),
      stacked("h.{l}.mlp.fc.bias",
              {{M + "gate_proj.bias", Rows::d_ff}, {M + "up_proj.bias", Rows::d_ff}},
              "Llama: when `mlp_bias`; Qwen2: never"),
      copied("h.{l}.mlp.proj.weight", M + "down_proj.weight"),
      copied("h.{l}.mlp.proj.bias", M + "down_proj.bias", "Llama: when `mlp_bias`; Qwen2: never"),
      copied("ln_f.weight", "model.norm.weight"),
      copied("lm_head.weight", "lm_head.weight", "only when `tie_word_embeddings: false`"),
  };
  f.config = {
      {"d_model", "hidden_size", &ModelConfig::d_model, required()},
      {"n_layer", "num_hidden_layers", &ModelConfig::n_layer, required()},
      {"n_head", "num_attention_heads", &ModelConfig::n_head, required()},
      {"n_kv_head",
       "num_key_value_heads",
       &ModelConfig::n_kv_head,
       {[](const HfConfig&, const ModelConfig& m, const std::string&) { return m.n_head; },
        "`num_attention_heads`"}},
      {"d_ff", "intermediate_size", &ModelConfig::d_ff, required()},
      {"vocab_size", "vocab_size", &ModelConfig::vocab_size, required()},
      // transformers' defaults per model_type
      {"max_seq_len",
       "max_position_embeddings",
       &ModelConfig::max_seq_len,
       {[](const HfConfig&, const ModelConfig&, const std::string& type) {
          return type == "llama" ? 2048 : 32768;
        },
        "2048 (llama), 32768 (mistral, qwen2)"}},
      {"norm_eps", "rms_norm_eps", &ModelConfig::norm_eps, fixed(1e-6)},
      {"tie_embeddings", "tie_word_embeddings", &ModelConfig::tie_embeddings, fixed_flag(false)},
      {"rope_theta",
       "rope_theta",
       &ModelConfig::rope_theta,
       {[](const HfConfig& c, const ModelConfig&, const std::string&) {
          std::optional<double> theta = check_rope_block(c, "rope_scaling");
          if (auto t = check_rope_block(c, "rope_parameters")) theta = t;
          return theta.value_or(10000.0);
        },
        "`rope_parameters.rope_theta` (transformers 5), else 10000"}},
  };

  f.exports = [](const ModelConfig& m) {
    return m.norm == Norm::rmsnorm && m.pos == PosEmb::rope && m.mlp == Mlp::swiglu;
  };

  f.finish_import_config = [](const HfConfig& c, const std::string& type, ModelConfig& m,
                              std::vector<std::string>& notes) {
    m.norm = Norm::rmsnorm;
    m.pos = PosEmb::rope;
    m.mlp = Mlp::swiglu;
    if (const std::string act = c.string("hidden_act", "silu"); act != "silu")
      c.unsupported("hidden_act", "flame's SwiGLU gate is silu");
    if (m.n_head > 0 && c.has("head_dim") && c.integer("head_dim") * m.n_head != m.d_model)
      c.unsupported("head_dim", "flame's head dim is hidden_size / num_attention_heads = " +
                                    std::to_string(m.d_model / m.n_head));
    check_rope_block(c, "rope_scaling");
    check_rope_block(c, "rope_parameters");
    if (c.has("partial_rotary_factor") && c.number("partial_rotary_factor") != 1.0)
      c.unsupported("partial_rotary_factor", "flame rotates the whole head");
    if (c.has("quantization_config")) c.unsupported("quantization_config", "quantized weights");

    // Sliding-window attention only differs from full causal attention beyond the window; with
    // a window at least max_position_embeddings long it never applies.
    const bool sliding = type == "mistral" || c.boolean("use_sliding_window", false);
    if (sliding && c.has("sliding_window") && c.integer("sliding_window") < m.max_seq_len)
      c.unsupported("sliding_window", "flame attends to the whole causal context");
    // Qwen2 with use_sliding_window and no sliding_window key gets transformers' 4096 (an
    // explicit null means no window).
    if (type == "qwen2" && sliding && !c.present("sliding_window") && 4096 < m.max_seq_len)
      c.unsupported("use_sliding_window",
                    "without a sliding_window key transformers slides a 4096-token window, and "
                    "flame attends to the whole causal context");
    if (c.has("layer_types")) {
      const json& lt = c.at("layer_types");
      if (!lt.is_array()) c.unsupported("layer_types", "expected a list");
      for (const auto& x : lt)
        if (x != "full_attention" && !(x == "sliding_attention" && !sliding))
          c.unsupported("layer_types", "flame has only full attention layers");
    }

    if (type == "qwen2") {
      // Qwen2's q/k/v projections always carry biases and no other linear layer does; its
      // modeling code reads neither attention_bias nor mlp_bias, so those keys are not
      // consulted (a stray o_proj or MLP bias tensor is refused as unmapped).
      m.bias = false;
      m.qkv_bias = true;
    } else {
      const bool attn_bias = c.boolean("attention_bias", false),
                 mlp_bias = c.boolean("mlp_bias", false);
      // attention_bias alone also puts a bias on o_proj, which qkv_bias does not cover.
      if (attn_bias != mlp_bias)
        throw Error(c.path() + ": 'attention_bias' (" + (attn_bias ? "true" : "false") +
                    ") and 'mlp_bias' (" + (mlp_bias ? "true" : "false") +
                    ") differ; flame's `bias` flag covers both the attention and the MLP layers");
      m.bias = attn_bias;
      m.qkv_bias = false;
    }
    if (c.integer("pretraining_tp", 1) != 1)
      notes.push_back("pretraining_tp ignored (it only splits the same matmuls)");
  };

  f.export_config_extra = [](const ModelConfig& m, std::vector<std::string>&) -> json {
    // Biases on q/k/v only are exactly Qwen2; with `bias` every linear layer has one (Llama's
    // attention_bias + mlp_bias), which covers the q/k/v biases as well.
    if (m.qkv_bias && !m.bias) {
      // No sliding window anywhere: use_sliding_window false, and max_window_layers = n_layer
      // so that no layer would slide even under transformers versions that read only it.
      return {{"architectures", {"Qwen2ForCausalLM"}},
              {"model_type", "qwen2"},
              {"hidden_act", "silu"},
              {"rope_scaling", nullptr},
              {"use_sliding_window", false},
              {"sliding_window", nullptr},
              {"max_window_layers", m.n_layer},
              {"attention_dropout", 0.0},
              {"initializer_range", 0.02},
              {"use_cache", true}};
    }
    return {{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"head_dim", m.head_dim()},
            {"hidden_act", "silu"},
            {"rope_scaling", nullptr},
            {"attention_bias", m.bias},
            {"mlp_bias", m.bias},
            {"attention_dropout", 0.0},
            {"pretraining_tp", 1},
            {"initializer_range", 0.02},
            {"use_cache", true}};
  };
  f.stored_config = [](const ModelConfig& m) { return m; };
  return f;
}

// ---------------------------------------------------------------------------------------------
// GPT-2

HfFamily gpt2_family() {
  HfFamily f;
  f.name = "gpt2";
  f.model_types = {"gpt2"};
  f.optional_prefix = "transformer.";
  const std::string T = "transformer.", H = T + "h.{l}.";
  const std::string always = "HF always has it: export writes zeros when flame lacks it";
  f.tensors = {
      copied("wte", T + "wte.weight"),
      copied("wpe", T + "wpe.weight"),
      copied("h.{l}.ln1.weight", H + "ln_1.weight"),
      copied("h.{l}.ln1.bias", H + "ln_1.bias", always),
      conv1d("h.{l}.attn.qkv.weight", H + "attn.c_attn.weight"),
      copied("h.{l}.attn.qkv.bias", H + "attn.c_attn.bias", always),
      conv1d("h.{l}.attn.proj.weight", H + "attn.c_proj.weight"),
      copied("h.{l}.attn.proj.bias", H + "attn.c_proj.bias", always),
      copied("h.{l}.ln2.weight", H + "ln_2.weight"),
      copied("h.{l}.ln2.bias", H + "ln_2.bias", always),
      conv1d("h.{l}.mlp.fc.weight", H + "mlp.c_fc.weight"),
      copied("h.{l}.mlp.fc.bias", H + "mlp.c_fc.bias", always),
      conv1d("h.{l}.mlp.proj.weight", H + "mlp.c_proj.weight"),
      copied("h.{l}.mlp.proj.bias", H + "mlp.c_proj.bias", always),
      copied("ln_f.weight", T + "ln_f.weight"),
      copied("ln_f.bias", T + "ln_f.bias", always),
      copied("lm_head.weight", "lm_head.weight", "only when `tie_word_embeddings: false`"),
  };
  f.config = {
      {"d_model", "n_embd", &ModelConfig::d_model, fixed(768)},
      {"n_layer", "n_layer", &ModelConfig::n_layer, fixed(12)},
      {"n_head", "n_head", &ModelConfig::n_head, fixed(12)},
      {"d_ff",
       "n_inner",
       &ModelConfig::d_ff,
       {[](const HfConfig&, const ModelConfig& m, const std::string&) { return 4.0 * m.d_model; },
        "4 `n_embd`"}},
      {"vocab_size", "vocab_size", &ModelConfig::vocab_size, fixed(50257)},
      {"max_seq_len", "n_positions", &ModelConfig::max_seq_len, fixed(1024)},
      {"norm_eps", "layer_norm_epsilon", &ModelConfig::norm_eps, fixed(1e-5)},
      {"tie_embeddings", "tie_word_embeddings", &ModelConfig::tie_embeddings, fixed_flag(true)},
  };

  f.exports = [](const ModelConfig& m) {
    return m.norm == Norm::layernorm && m.pos == PosEmb::learned && m.mlp == Mlp::gelu;
  };

  f.finish_import_config = [](const HfConfig& c, const std::string&, ModelConfig& m,
                              std::vector<std::string>&) {
    m.norm = Norm::layernorm;
    m.pos = PosEmb::learned;
    m.mlp = Mlp::gelu;
    m.bias = true;
    m.n_kv_head = m.n_head;
    // flame's GELU is the tanh approximation; these three names all compute it.
    const std::string act = c.string("activation_function", "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast")
      c.unsupported("activation_function", "flame's GELU is the tanh approximation (gelu_new)");
    if (!c.boolean("scale_attn_weights", true))
      c.unsupported("scale_attn_weights", "flame always scales scores by 1/sqrt(head_dim)");
    if (c.boolean("scale_attn_by_inverse_layer_idx", false))
      c.unsupported("scale_attn_by_inverse_layer_idx", "flame has no per-layer score scaling");
    if (c.boolean("add_cross_attention", false))
      c.unsupported("add_cross_attention", "flame is decoder-only");
    if (c.has("quantization_config")) c.unsupported("quantization_config", "quantized weights");
  };

  f.export_config_extra = [](const ModelConfig& m, std::vector<std::string>& notes) -> json {
    if (m.n_kv_head != m.n_head)
      throw Error("GPT-2 has no grouped KV heads (n_kv_head " + std::to_string(m.n_kv_head) +
                  " != n_head " + std::to_string(m.n_head) + ")");
    if (!m.bias)
      notes.push_back(m.qkv_bias ? "bias: false exported as zero GPT-2 biases (except c_attn)"
                                 : "bias: false exported as zero GPT-2 biases");
    return {{"architectures", {"GPT2LMHeadModel"}},
            {"model_type", "gpt2"},
            {"n_ctx", m.max_seq_len},
            {"activation_function", "gelu_new"},
            {"resid_pdrop", 0.0},
            {"embd_pdrop", 0.0},
            {"attn_pdrop", 0.0},
            {"scale_attn_weights", true},
            {"scale_attn_by_inverse_layer_idx", false},
            {"reorder_and_upcast_attn", false},
            {"initializer_range", 0.02},
            {"use_cache", true}};
  };
  // GPT-2 always has biases; those a flame model lacks export as exact zeros (qkv_bias alone
  // keeps its real c_attn bias).
  f.stored_config = [](const ModelConfig& m) {
    ModelConfig s = m;
    s.bias = true;
    return s;
  };
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const std::vector<HfFamily>& families() {
  static const std::vector<HfFamily> all = {llama_family(), gpt2_family()};
  return all;
}

const HfFamily* family_for_model_type(const std::string& model_type) {
  for (const HfFamily& f : families())
    for (const std::string& t : f.model_types)
      if (t == model_type) return &f;
  return nullptr;
}

const HfFamily* family_for_export(const ModelConfig& cfg) {
  for (const HfFamily& f : families())
    if (f.exports(cfg)) return &f;
  return nullptr;
}

ModelConfig read_config_keys(const HfFamily& f, const HfConfig& c, const std::string& model_type) {
  ModelConfig m;
  for (const ConfigKey& k : f.config) {
    // Evaluated only when needed: a fallback may itself check keys (rope_theta's reads the RoPE
    // blocks) or depend on fields read before it.
    std::optional<double> fb;
    if (!c.has(k.hf) && k.fallback.value) fb = k.fallback.value(c, m, model_type);
    if (auto* i = std::get_if<int ModelConfig::*>(&k.field)) {
      m.*(*i) = c.integer(k.hf, fb ? std::optional<int>(int(*fb)) : std::nullopt);
    } else if (auto* x = std::get_if<float ModelConfig::*>(&k.field)) {
      m.*(*x) = float(c.number(k.hf, fb));
    } else {
      FLAME_CHECK(k.fallback.value, "internal: boolean config key '" << k.hf << "' has no default");
      m.*std::get<bool ModelConfig::*>(k.field) = c.boolean(k.hf, fb.value_or(0.0) != 0.0);
    }
  }
  return m;
}

}  // namespace flame::model::hf
