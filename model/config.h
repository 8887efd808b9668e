// Model configuration: one struct for GPT-2-style, Llama-style and Qwen2-style decoders.
#pragma once
#include <string>

#include "core/config_fields.h"
#include "kernels/activations.h"  // Activation: the MLP types

namespace flame::model {

enum class Norm { layernorm, rmsnorm };
enum class PosEmb { learned, rope };
using Mlp = Activation;  // gelu (GPT-2) | swiglu (Llama)

struct ModelConfig {
  int n_layer = 4;              // transformer blocks
  int n_head = 4;               // query heads
  int n_kv_head = 4;            // key/value heads (GQA when < n_head; must divide n_head)
  int d_model = 128;            // residual width
  int d_ff = 512;               // MLP hidden width (per branch for swiglu)
  int vocab_size = 258;         // set from the tokenizer when 0 in YAML
  int max_seq_len = 256;        // longest sequence (size of the learned position table)
  Norm norm = Norm::layernorm;  // layernorm (GPT-2) | rmsnorm (Llama)
  PosEmb pos = PosEmb::learned; // learned (GPT-2) | rope (Llama)
  float rope_theta = 10000.f;   // RoPE base
  Mlp mlp = Mlp::gelu;          // gelu (GPT-2) | swiglu (Llama)
  bool tie_embeddings = true;   // lm_head shares wte
  bool bias = true;             // biases in linear layers and LayerNorm
  bool qkv_bias = false;        // biases on the q/k/v projection only (Qwen2); implied by bias
  float norm_eps = 1e-5f;       // epsilon of the norms

  // The YAML keys (model/config.cpp): a preset file and a run's model section use exactly these.
  static const config::Fields<ModelConfig>& fields();

  int head_dim() const { return d_model / n_head; }
  // Whether h.<l>.attn.qkv.bias exists: the one question every layout asks about qkv_bias.
  bool has_qkv_bias() const { return bias || qkv_bias; }
};

const config::Choices<Norm>& choices(Norm);
const config::Choices<PosEmb>& choices(PosEmb);

// Throws flame::Error naming the first inconsistent field (e.g. n_head not dividing d_model).
void validate(const ModelConfig& c);
// "layernorm" <-> Norm::layernorm etc.; parse_* throw flame::Error naming the bad value.
Norm parse_norm(const std::string& s);
PosEmb parse_pos(const std::string& s);
Mlp parse_mlp(const std::string& s);
const char* name(Norm n);
const char* name(PosEmb p);
const char* name(Mlp m);

}  // namespace flame::model

namespace flame {
// The MLP type's names (Mlp is the kernels' Activation: found by lookup in its own namespace).
const config::Choices<Activation>& choices(Activation);
}  // namespace flame
