// ModelConfig validation, enum names, YAML loading (types, unknown keys), the presets, and the
// parameter count of each preset against an independent closed-form count.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "model/config_yaml.h"
#include "model/model.h"

namespace flame::model {
namespace {

// Expect `fn` to throw flame::Error whose message contains every one of `parts`.
template <class Fn>
void expect_error(Fn fn, std::initializer_list<const char*> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown (expected one mentioning " << *parts.begin() << ")";
  } catch (const flame::Error& e) {
    const std::string msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg;
  }
}

TEST(ModelConfig, DefaultsValidate) { EXPECT_NO_THROW(validate(ModelConfig{})); }

TEST(ModelConfig, ValidationNamesTheField) {
  ModelConfig c;
  c.d_model = 128;
  c.n_head = 6;
  expect_error([&] { validate(c); }, {"model.n_head (6) must divide model.d_model (128)"});
  c = ModelConfig{};
  c.n_kv_head = 3;
  expect_error([&] { validate(c); }, {"model.n_kv_head (3)", "model.n_head (4)"});
  for (int ModelConfig::*field :
       {&ModelConfig::n_layer, &ModelConfig::n_head, &ModelConfig::n_kv_head, &ModelConfig::d_model,
        &ModelConfig::d_ff, &ModelConfig::vocab_size, &ModelConfig::max_seq_len}) {
    c = ModelConfig{};
    c.*field = 0;
    expect_error([&] { validate(c); }, {"must be positive"});
  }
  c = ModelConfig{};
  c.n_layer = -1;
  expect_error([&] { validate(c); }, {"model.n_layer (-1)"});
  c = ModelConfig{};
  c.pos = PosEmb::rope;
  c.d_model = 12;
  c.n_head = 4;  // head dim 3
  expect_error([&] { validate(c); }, {"head dim 3", "even"});
  c.pos = PosEmb::learned;
  EXPECT_NO_THROW(validate(c));  // odd head dim is fine without rope
  c = ModelConfig{};
  c.pos = PosEmb::rope;
  c.rope_theta = 0.0f;
  expect_error([&] { validate(c); }, {"model.rope_theta"});
  c = ModelConfig{};
  c.norm_eps = 0.0f;
  expect_error([&] { validate(c); }, {"model.norm_eps"});
  c = ModelConfig{};
  c.vocab_size = 0;
  expect_error([&] { validate(c); }, {"model.vocab_size (0)"});
  EXPECT_NO_THROW(validate_allow_unset_vocab(c));
}

TEST(ModelConfig, EnumNamesRoundTrip) {
  for (Norm n : {Norm::layernorm, Norm::rmsnorm}) EXPECT_EQ(parse_norm(name(n)), n);
  for (PosEmb p : {PosEmb::learned, PosEmb::rope}) EXPECT_EQ(parse_pos(name(p)), p);
  for (Mlp m : {Mlp::gelu, Mlp::swiglu}) EXPECT_EQ(parse_mlp(name(m)), m);
  expect_error([] { parse_norm("batchnorm"); }, {"model.norm", "batchnorm"});
  expect_error([] { parse_pos("alibi"); }, {"model.pos", "alibi"});
  expect_error([] { parse_mlp("relu"); }, {"model.mlp", "relu"});
}

TEST(ModelConfig, YamlLoadsEveryField) {
  const ModelConfig c = load_model_config(YAML::Load(R"(
n_layer: 3
n_head: 8
n_kv_head: 2
d_model: 64
d_ff: 100
vocab_size: 77
max_seq_len: 33
norm: rmsnorm
pos: rope
rope_theta: 500000
mlp: swiglu
tie_embeddings: false
bias: no
qkv_bias: yes
norm_eps: 1e-6
)"));
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_kv_head, 2);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_ff, 100);
  EXPECT_EQ(c.vocab_size, 77);
  EXPECT_EQ(c.max_seq_len, 33);
  EXPECT_EQ(c.norm, Norm::rmsnorm);
  EXPECT_EQ(c.pos, PosEmb::rope);
  EXPECT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.mlp, Mlp::swiglu);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_FALSE(c.bias);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.has_qkv_bias());
  EXPECT_EQ(c.norm_eps, 1e-6f);

  // to_yaml round-trips exactly.
  const ModelConfig r = load_model_config(to_yaml(c));
  EXPECT_EQ(r.n_kv_head, c.n_kv_head);
  EXPECT_EQ(r.rope_theta, c.rope_theta);
  EXPECT_EQ(r.norm_eps, c.norm_eps);
  EXPECT_EQ(r.norm, c.norm);
  EXPECT_EQ(r.bias, c.bias);
  EXPECT_EQ(r.qkv_bias, c.qkv_bias);
  EXPECT_NE(YAML::Dump(to_yaml(c)).find("qkv_bias: true"), std::string::npos);
  EXPECT_EQ(YAML::Dump(to_yaml(r)), YAML::Dump(to_yaml(c)));
  EXPECT_NE(YAML::Dump(to_yaml(c)).find("norm_eps: 1e-06"), std::string::npos)
      << YAML::Dump(to_yaml(c));

  // Absent fields keep their defaults; an empty document is the default config.
  EXPECT_EQ(load_model_config(YAML::Load("n_layer: 2")).d_model, ModelConfig{}.d_model);
  EXPECT_EQ(load_model_config(YAML::Load("")).n_layer, ModelConfig{}.n_layer);
  EXPECT_FALSE(load_model_config(YAML::Load("n_layer: 2")).qkv_bias);
  // bias implies the qkv bias; qkv_bias alone adds only that one.
  ModelConfig d;
  d.bias = true;
  d.qkv_bias = false;
  EXPECT_TRUE(d.has_qkv_bias());
  d.bias = false;
  EXPECT_FALSE(d.has_qkv_bias());
}

TEST(ModelConfig, YamlErrorsNameTheKey) {
  expect_error([] { load_model_config(YAML::Load("n_layers: 4")); },
               {"model.n_layers", "unknown key"});
  expect_error([] { load_model_config(YAML::Load("n_layer: four")); },
               {"model.n_layer", "integer", "four"});
  expect_error([] { load_model_config(YAML::Load("n_layer: 2.5")); }, {"model.n_layer", "integer"});
  expect_error([] { load_model_config(YAML::Load("d_model: [1, 2]")); },
               {"model.d_model", "a list"});
  expect_error([] { load_model_config(YAML::Load("rope_theta: big")); },
               {"model.rope_theta", "number"});
  expect_error([] { load_model_config(YAML::Load("bias: maybe")); }, {"model.bias", "boolean"});
  expect_error([] { load_model_config(YAML::Load("qkv_bias: 2")); }, {"model.qkv_bias", "boolean"});
  expect_error([] { load_model_config(YAML::Load("qkvbias: true")); },
               {"model.qkvbias", "unknown key", "qkv_bias"});
  expect_error([] { load_model_config(YAML::Load("norm: {a: 1}")); }, {"model.norm", "string"});
  expect_error([] { load_model_config(YAML::Load("norm: groupnorm")); },
               {"model.norm", "groupnorm"});
  expect_error([] { load_model_config(YAML::Load("n_head:")); }, {"model.n_head", "null"});
  expect_error([] { load_model_config(YAML::Load("[1, 2]")); }, {"map"});
  // Semantic validation runs after loading.
  expect_error([] { load_model_config(YAML::Load("n_head: 3")); }, {"model.n_head (3)"});
  expect_error([] { load_model_preset("/nonexistent/model.yaml"); }, {"/nonexistent/model.yaml"});
}

// Independent closed-form count (not reading the Model's layout).
int64_t expected_params(const ModelConfig& c) {
  const int64_t C = c.d_model, V = c.vocab_size, L = c.n_layer, F = c.d_ff;
  const int64_t D = C / c.n_head, kv = int64_t(c.n_kv_head) * D;
  const bool b = c.bias, nb = c.bias && c.norm == Norm::layernorm, qb = c.bias || c.qkv_bias;
  const int64_t fc_out = c.mlp == Mlp::swiglu ? 2 * F : F;
  int64_t per_block = 0;
  per_block += C + (nb ? C : 0);                          // ln1
  per_block += (C + 2 * kv) * C + (qb ? C + 2 * kv : 0);  // q, k, v
  per_block += C * C + (b ? C : 0);                       // attention output projection
  per_block += C + (nb ? C : 0);                          // ln2
  per_block += fc_out * C + (b ? fc_out : 0);             // fc (gate and up for swiglu)
  per_block += F * C + (b ? C : 0);                       // MLP down projection
  int64_t n = V * C;                                      // wte
  if (c.pos == PosEmb::learned) n += int64_t(c.max_seq_len) * C;
  n += L * per_block + C + (nb ? C : 0);  // blocks + ln_f
  if (!c.tie_embeddings) n += V * C;      // lm_head
  return n;
}

std::string preset(const char* name) {
  return std::string(FLAME_SOURCE_DIR) + "/configs/models/" + name + ".yaml";
}

TEST(ModelPresets, AllLoadAndValidate) {
  for (const char* name : {"tiny", "tiny-llama", "gpt2-124m", "llama-100m"}) {
    ModelConfig c = load_model_preset(preset(name));
    if (c.vocab_size == 0) c.vocab_size = 258;  // filled in from the (byte) tokenizer
    EXPECT_NO_THROW(validate(c)) << name;
  }
  const ModelConfig tiny = load_model_preset(preset("tiny"));
  EXPECT_EQ(tiny.vocab_size, 0);
  EXPECT_EQ(tiny.n_layer, 4);
  EXPECT_EQ(tiny.d_model, 128);
  EXPECT_EQ(tiny.norm, Norm::layernorm);
  EXPECT_TRUE(tiny.tie_embeddings);
  const ModelConfig tl = load_model_preset(preset("tiny-llama"));
  EXPECT_EQ(tl.norm, Norm::rmsnorm);
  EXPECT_EQ(tl.pos, PosEmb::rope);
  EXPECT_EQ(tl.mlp, Mlp::swiglu);
  EXPECT_LT(tl.n_kv_head, tl.n_head);
  EXPECT_FALSE(tl.bias);
}

// Param counts of the presets, by the closed form and by the Model's own layout (a (1,1) batch
// keeps the activation arena small; gpt2-124m still allocates ~1 GB of params+grads, so the
// big presets are counted by the closed form only).
TEST(ModelPresets, ParameterCounts) {
  ModelConfig g = load_model_preset(preset("gpt2-124m"));
  EXPECT_EQ(g.vocab_size, 50304);
  EXPECT_EQ(expected_params(g), 124475904);
  g.vocab_size = 50257;  // the original GPT-2 vocabulary: the well-known 124.44M
  EXPECT_EQ(expected_params(g), 124439808);
  // Hand count for 50257: wte 50257*768 + wpe 1024*768 + 12 * (2*768 + 768*2304 + 2304 +
  // 768*768 + 768 + 2*768 + 768*3072 + 3072 + 3072*768 + 768) + 2*768.
  EXPECT_EQ(int64_t(50257) * 768 + 1024 * 768 +
                12 * (2 * 768 + 768 * 2304 + 2304 + 768 * 768 + 768 + 2 * 768 + 768 * 3072 + 3072 +
                      3072 * 768 + 768) +
                2 * 768,
            124439808);
  const ModelConfig l = load_model_preset(preset("llama-100m"));
  EXPECT_EQ(expected_params(l), 99496704);  // the count stated in llama-100m.yaml

  for (const char* name : {"tiny", "tiny-llama"}) {
    ModelConfig c = load_model_preset(preset(name));
    c.vocab_size = 258;
    Model m(c, 1, 1);
    EXPECT_EQ(int64_t(m.num_params()), expected_params(c)) << name;
  }
  EXPECT_EQ(expected_params([] {
              ModelConfig c = load_model_preset(preset("tiny"));
              c.vocab_size = 258;
              return c;
            }()),
            859136);  // stated in tiny.yaml
  ModelConfig tl = load_model_preset(preset("tiny-llama"));
  tl.vocab_size = 258;
  EXPECT_EQ(expected_params(tl), 804480);  // stated in tiny-llama.yaml
  // The closed form agrees with the layout for odd shapes too.
  for (bool tie : {false, true})
    for (bool bias : {false, true})
      for (bool qkv_bias : {false, true}) {
        ModelConfig c;
        c.n_layer = 3, c.n_head = 6, c.n_kv_head = 3, c.d_model = 36, c.d_ff = 50;
        c.vocab_size = 37, c.max_seq_len = 9, c.tie_embeddings = tie, c.bias = bias;
        c.qkv_bias = qkv_bias;
        c.norm = Norm::rmsnorm, c.pos = PosEmb::rope, c.mlp = Mlp::swiglu;
        EXPECT_EQ(int64_t(Model(c, 1, 1).num_params()), expected_params(c));
        c.norm = Norm::layernorm, c.pos = PosEmb::learned, c.mlp = Mlp::gelu;
        EXPECT_EQ(int64_t(Model(c, 1, 1).num_params()), expected_params(c));
      }
  // Qwen2-style by hand: per block the Llama count plus one (Hq + 2 Hkv) D = 36 + 2*18 = 72
  // bias vector.
  ModelConfig q;
  q.n_layer = 3, q.n_head = 6, q.n_kv_head = 3, q.d_model = 36, q.d_ff = 50;
  q.vocab_size = 37, q.max_seq_len = 9, q.bias = false;
  q.norm = Norm::rmsnorm, q.pos = PosEmb::rope, q.mlp = Mlp::swiglu;
  const int64_t llama = int64_t(Model(q, 1, 1).num_params());
  q.qkv_bias = true;
  EXPECT_EQ(int64_t(Model(q, 1, 1).num_params()), llama + 3 * 72);
}

}  // namespace
}  // namespace flame::model
