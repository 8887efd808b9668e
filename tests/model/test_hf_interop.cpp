// Hugging Face interop: flame -> HF -> flame round trips (tensors byte-identical, logits equal),
// imports of hand-built HF directories (sharded Llama, Qwen2 with q/k/v biases, GPT-2 with
// Conv1D weights) with exact expected flame tensors, and the refusals (unknown type, missing
// tensor, wrong shape, unsupported keys and features).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/train/run_flame.h"
#include "data/tokenizer.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "model/hf_interop.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model_test_util.h"
#include "train/checkpoint.h"

namespace flame::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<float> flame_tensor(const FlameWeights& w, const std::string& name) {
  for (const ParamInfo& p : param_layout(w.cfg))
    if (p.name == name)
      return std::vector<float>(w.params.begin() + std::ptrdiff_t(p.offset),
                                w.params.begin() + std::ptrdiff_t(p.offset + p.numel()));
  ADD_FAILURE() << "no flame parameter " << name;
  return {};
}

// Every parameter random (biases and norm gains included, so a misplaced one shows).
FlameWeights random_weights(const ModelConfig& cfg, uint64_t seed) {
  FlameWeights w;
  w.cfg = cfg;
  size_t n = 0;
  for (const auto& p : param_layout(cfg)) n += p.numel();
  w.params.resize(n);
  testing::TestRng rng(seed);
  for (float& x : w.params) x = rng.uniform(-0.5f, 0.5f);
  return w;
}

std::vector<float> logits_of(const FlameWeights& w, const std::vector<int32_t>& tokens) {
  const int T = int(tokens.size());
  Model m(w.cfg, 1, T);
  EXPECT_EQ(m.num_params(), w.params.size());
  std::copy(w.params.begin(), w.params.end(), m.params());
  m.forward(tokens.data(), nullptr, nullptr, nullptr, nullptr, 1, T);
  return std::vector<float>(m.logits(), m.logits() + size_t(T) * w.cfg.vocab_size);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class HfInterop : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }
  flame_test::TempDir tmp_{"hf"};
  const fs::path& dir_ = tmp_.path();
};

// ---------------------------------------------------------------------------------------------
// layout

TEST_F(HfInterop, ParamLayoutEqualsTheModelsOwn) {
  std::vector<ModelConfig> cfgs = {testing::gpt2_tiny_config(), testing::llama_tiny_config()};
  ModelConfig c = testing::llama_tiny_config();
  c.bias = true;
  c.tie_embeddings = true;
  cfgs.push_back(c);
  c = testing::gpt2_tiny_config();
  c.bias = false;
  c.tie_embeddings = false;
  cfgs.push_back(c);
  c.qkv_bias = true;  // GPT-2 style with the qkv bias only
  cfgs.push_back(c);
  c = testing::llama_tiny_config();  // Qwen2 style
  c.qkv_bias = true;
  cfgs.push_back(c);
  c.bias = true;  // both: the same layout as bias alone
  cfgs.push_back(c);
  for (const ModelConfig& cfg : cfgs) {
    const Model m(cfg, 1, 1);
    const std::vector<ParamInfo> ours = param_layout(cfg);
    ASSERT_EQ(ours.size(), m.param_info().size());
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_EQ(ours[i].name, m.param_info()[i].name);
      EXPECT_EQ(ours[i].shape, m.param_info()[i].shape) << ours[i].name;
      EXPECT_EQ(ours[i].offset, m.param_info()[i].offset) << ours[i].name;
      EXPECT_EQ(ours[i].decay, m.param_info()[i].decay) << ours[i].name;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// flame -> HF -> flame

struct RoundTripCase {
  const char* name;
  ModelConfig cfg;
  const char* hf_type;
};

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  cases.push_back({"gpt2_tied", testing::gpt2_tiny_config(), "gpt2"});
  ModelConfig g = testing::gpt2_tiny_config();
  g.tie_embeddings = false;
  g.norm_eps = 1e-6f;
  cases.push_back({"gpt2_untied", g, "gpt2"});
  ModelConfig l = testing::llama_tiny_config();  // GQA 4/2, untied, no bias
  l.rope_theta = 500000.f;
  cases.push_back({"llama_gqa_untied", l, "llama"});
  l = testing::llama_tiny_config();
  l.bias = true;
  l.tie_embeddings = true;
  l.n_kv_head = 1;
  cases.push_back({"llama_bias_tied_mqa", l, "llama"});
  ModelConfig q = testing::llama_tiny_config();  // Qwen2: GQA 4/2, untied, q/k/v biases only
  q.qkv_bias = true;
  q.rope_theta = 1e6f;
  q.norm_eps = 1e-6f;
  cases.push_back({"qwen2_gqa_untied", q, "qwen2"});
  q.tie_embeddings = true;
  q.n_kv_head = 1;
  cases.push_back({"qwen2_tied_mqa", q, "qwen2"});
  return cases;
}

TEST_F(HfInterop, ExportThenImportIsByteIdenticalAndLogitsEqual) {
  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 9, 2, 6};
  for (const RoundTripCase& c : round_trip_cases()) {
    SCOPED_TRACE(c.name);
    const FlameWeights orig = random_weights(c.cfg, 42);
    const std::string a = path(std::string(c.name) + "_flame"),
                      h = path(std::string(c.name) + "_hf"),
                      b = path(std::string(c.name) + "_back");
    write_flame_model(a, orig, "test");
    const HfExportResult ex = export_hf(a, h);
    EXPECT_EQ(ex.model_type, c.hf_type);
    EXPECT_EQ(ex.n_params, orig.params.size());
    const json hf_cfg = json::parse(slurp(fs::path(h) / "config.json"));
    EXPECT_EQ(hf_cfg["model_type"], c.hf_type);
    EXPECT_EQ(SafetensorsFile((fs::path(h) / "model.safetensors").string()).metadata().at("format"),
              "pt");

    const HfImportResult im = import_hf(h, b);
    EXPECT_EQ(im.model_type, c.hf_type);
    EXPECT_FALSE(im.sp_tokenizer);
    EXPECT_EQ(YAML::Dump(to_yaml(im.cfg)), YAML::Dump(to_yaml(c.cfg)));

    // model.safetensors: same tensors, same bytes (and so the same file).
    const SafetensorsFile fa((fs::path(a) / "model.safetensors").string());
    const SafetensorsFile fb((fs::path(b) / "model.safetensors").string());
    ASSERT_EQ(fa.tensors().size(), fb.tensors().size());
    for (const TensorEntry& t : fa.tensors()) {
      const TensorEntry* u = fb.find(t.name);
      ASSERT_NE(u, nullptr) << t.name;
      EXPECT_EQ(u->dtype, DType::F32);
      EXPECT_EQ(u->shape, t.shape) << t.name;
      EXPECT_EQ(fb.read_raw(t.name), fa.read_raw(t.name)) << t.name;
    }
    EXPECT_EQ(slurp(fs::path(b) / "model.safetensors"), slurp(fs::path(a) / "model.safetensors"));

    const FlameWeights back = read_flame_model(b);
    EXPECT_EQ(back.params, orig.params);
    const std::vector<float> la = logits_of(orig, tokens), lb = logits_of(back, tokens);
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_EQ(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)), 0);
    // and the logits are not trivially equal (e.g. all zero)
    EXPECT_NE(la[0], la[1]);
  }
}

TEST_F(HfInterop, Bf16ExportRoundsEveryWeightToNearestEven) {
  const FlameWeights orig = random_weights(testing::llama_tiny_config(), 3);
  write_flame_model(path("a"), orig, "test");
  HfExportOptions opt;
  opt.dtype = DType::BF16;
  opt.bos_token_id = 1;
  opt.eos_token_id = 2;
  export_hf(path("a"), path("h"), opt);
  const json cfg = json::parse(slurp(fs::path(path("h")) / "config.json"));
  EXPECT_EQ(cfg["torch_dtype"], "bfloat16");
  EXPECT_EQ(cfg["bos_token_id"], 1);
  EXPECT_EQ(cfg["eos_token_id"], 2);
  const SafetensorsFile hf((fs::path(path("h")) / "model.safetensors").string());
  for (const TensorEntry& t : hf.tensors()) EXPECT_EQ(t.dtype, DType::BF16) << t.name;
  import_hf(path("h"), path("b"));
  const FlameWeights back = read_flame_model(path("b"));
  ASSERT_EQ(back.params.size(), orig.params.size());
  size_t changed = 0;
  for (size_t i = 0; i < orig.params.size(); ++i) {
    ASSERT_EQ(back.params[i], bf16_to_f32(f32_to_bf16(orig.params[i]))) << i;
    changed += back.params[i] != orig.params[i];
  }
  EXPECT_GT(changed, orig.params.size() / 2);  // the rounding really happened
}

TEST_F(HfInterop, ExportWritesTransformersNamesAndLayouts) {
  const FlameWeights g = random_weights(testing::gpt2_tiny_config(), 5);
  write_flame_model(path("g"), g, "test");
  export_hf(path("g"), path("gh"));
  const SafetensorsFile gf((fs::path(path("gh")) / "model.safetensors").string());
  const int64_t C = g.cfg.d_model, F = g.cfg.d_ff;
  // Conv1D (in, out): c_fc.weight[i][o] == flame mlp.fc.weight[o][i]
  const std::vector<float> c_fc = gf.read_f32("transformer.h.1.mlp.c_fc.weight", {C, F});
  const std::vector<float> fc = flame_tensor(g, "h.1.mlp.fc.weight");
  for (int64_t i = 0; i < C; ++i)
    for (int64_t o = 0; o < F; ++o) ASSERT_EQ(c_fc[size_t(i * F + o)], fc[size_t(o * C + i)]);
  EXPECT_EQ(gf.find("lm_head.weight"), nullptr);  // tied
  const json gc = json::parse(slurp(fs::path(path("gh")) / "config.json"));
  EXPECT_EQ(gc["architectures"][0], "GPT2LMHeadModel");
  EXPECT_EQ(gc["n_inner"], F);
  EXPECT_EQ(gc["activation_function"], "gelu_new");
  EXPECT_EQ(gc["layer_norm_epsilon"], 1e-5);

  const FlameWeights l = random_weights(testing::llama_tiny_config(), 6);
  write_flame_model(path("l"), l, "test");
  export_hf(path("l"), path("lh"));
  const SafetensorsFile lf((fs::path(path("lh")) / "model.safetensors").string());
  const int64_t D = l.cfg.head_dim(), Q = l.cfg.n_head * D, KV = l.cfg.n_kv_head * D;
  const std::vector<float> qkv = flame_tensor(l, "h.0.attn.qkv.weight");
  const std::vector<float> k = lf.read_f32("model.layers.0.self_attn.k_proj.weight", {KV, C});
  EXPECT_TRUE(std::equal(k.begin(), k.end(), qkv.begin() + Q * C));
  const std::vector<float> up = lf.read_f32("model.layers.0.mlp.up_proj.weight", {F, C});
  const std::vector<float> fc2 = flame_tensor(l, "h.0.mlp.fc.weight");
  EXPECT_TRUE(std::equal(up.begin(), up.end(), fc2.begin() + F * C));
  EXPECT_NE(lf.find("lm_head.weight"), nullptr);  // untied
  const json lc = json::parse(slurp(fs::path(path("lh")) / "config.json"));
  EXPECT_EQ(lc["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(lc["num_key_value_heads"], 2);
  EXPECT_EQ(lc["head_dim"], 4);
  EXPECT_EQ(lc["rope_theta"], 10000.0);
  EXPECT_EQ(lc["attention_bias"], false);

  ModelConfig qc = testing::llama_tiny_config();
  qc.qkv_bias = true;
  const FlameWeights q = random_weights(qc, 7);
  write_flame_model(path("q"), q, "test");
  EXPECT_EQ(export_hf(path("q"), path("qh")).model_type, "qwen2");
  const SafetensorsFile qf((fs::path(path("qh")) / "model.safetensors").string());
  const std::vector<float> qkv_b = flame_tensor(q, "h.1.attn.qkv.bias");
  const std::vector<float> qb = qf.read_f32("model.layers.1.self_attn.q_proj.bias", {Q});
  const std::vector<float> kb = qf.read_f32("model.layers.1.self_attn.k_proj.bias", {KV});
  const std::vector<float> vb = qf.read_f32("model.layers.1.self_attn.v_proj.bias", {KV});
  EXPECT_TRUE(std::equal(qb.begin(), qb.end(), qkv_b.begin()));
  EXPECT_TRUE(std::equal(kb.begin(), kb.end(), qkv_b.begin() + Q));
  EXPECT_TRUE(std::equal(vb.begin(), vb.end(), qkv_b.begin() + Q + KV));
  for (const TensorEntry& t : qf.tensors()) {  // Qwen2 has no other bias
    if (t.name.ends_with(".bias")) {
      EXPECT_TRUE(t.name.ends_with("_proj.bias")) << t.name;
    }
  }
  EXPECT_EQ(qf.find("model.layers.0.self_attn.o_proj.bias"), nullptr);
  EXPECT_EQ(qf.find("model.layers.0.mlp.down_proj.bias"), nullptr);
  EXPECT_EQ(qf.tensors().size(), lf.tensors().size() + 3 * size_t(qc.n_layer));
  const json qj = json::parse(slurp(fs::path(path("qh")) / "config.json"));
  EXPECT_EQ(qj["architectures"][0], "Qwen2ForCausalLM");
  EXPECT_EQ(qj["model_type"], "qwen2");
  EXPECT_EQ(qj["num_key_value_heads"], 2);
  EXPECT_EQ(qj["hidden_act"], "silu");
  EXPECT_EQ(qj["use_sliding_window"], false);
  EXPECT_EQ(qj["max_window_layers"], qc.n_layer);
  EXPECT_EQ(qj["tie_word_embeddings"], false);
  EXPECT_FALSE(qj.contains("attention_bias"));  // Qwen2 does not read it
}

// A GPT-2-style model with only the qkv bias exports the real c_attn bias and zeros elsewhere;
// it comes back with `bias: true` and computes the same logits.
TEST_F(HfInterop, Gpt2StyleQkvBiasOnlyExportsZeroOtherBiases) {
  ModelConfig c = testing::gpt2_tiny_config();
  c.bias = false;
  c.qkv_bias = true;
  const FlameWeights w = random_weights(c, 8);
  write_flame_model(path("a"), w, "test");
  const HfExportResult ex = export_hf(path("a"), path("h"));
  EXPECT_EQ(ex.model_type, "gpt2");
  ASSERT_EQ(ex.notes.size(), 1u);
  EXPECT_NE(ex.notes[0].find("except c_attn"), std::string::npos) << ex.notes[0];
  import_hf(path("h"), path("b"));
  const FlameWeights back = read_flame_model(path("b"));
  EXPECT_TRUE(back.cfg.bias);
  EXPECT_EQ(flame_tensor(back, "h.1.attn.qkv.bias"), flame_tensor(w, "h.1.attn.qkv.bias"));
  EXPECT_EQ(flame_tensor(back, "h.1.attn.proj.bias"), std::vector<float>(size_t(c.d_model), 0.f));
  EXPECT_EQ(flame_tensor(back, "ln_f.bias"), std::vector<float>(size_t(c.d_model), 0.f));
  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 9, 2, 6};
  const std::vector<float> la = logits_of(w, tokens), lb = logits_of(back, tokens);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5f * (1 + std::fabs(la[i])));
}

TEST_F(HfInterop, ExportRefusesMixedStylesAndNonEmptyOutput) {
  ModelConfig c = testing::gpt2_tiny_config();
  c.pos = PosEmb::rope;
  write_flame_model(path("mixed"), random_weights(c, 1), "test");
  EXPECT_NE(error_of([&] {
              export_hf(path("mixed"), path("out"));
            }).find("norm=layernorm, pos=rope, mlp=gelu has no Hugging Face architecture"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(path("out")));
  write_flame_model(path("ok"), random_weights(testing::gpt2_tiny_config(), 1), "test");
  fs::create_directories(path("full"));
  std::ofstream(path("full/x")) << "x";
  EXPECT_NE(error_of([&] { export_hf(path("ok"), path("full")); }).find("already exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              write_flame_model(path("ok"), random_weights(c, 1), "t");
            }).find("already exists"),
            std::string::npos);
}

TEST_F(HfInterop, ReadFlameModelRefusesMismatchedWeights) {
  write_flame_model(path("m"), random_weights(testing::llama_tiny_config(), 1), "test");
  // config.yaml now describes a model with biases, which model.safetensors lacks.
  ModelConfig biased = testing::llama_tiny_config();
  biased.bias = true;
  YAML::Node root;
  root["model"] = to_yaml(biased);
  std::ofstream(fs::path(path("m")) / "config.yaml") << YAML::Dump(root);
  EXPECT_NE(error_of([&] { read_flame_model(path("m")); }).find("no tensor 'h.0.attn.qkv.bias'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_flame_model(path("nothing")); }).find("no model.safetensors"),
            std::string::npos);
}

// The trainer's checkpoints (train/checkpoint.h) and import-hf's output are the same kind of
// directory: each side reads the other's.
TEST_F(HfInterop, InteroperatesWithTrainerCheckpoints) {
  ModelConfig cfg = testing::llama_tiny_config();
  cfg.vocab_size = 300;  // room for the byte tokenizer's 258 ids
  const FlameWeights orig = random_weights(cfg, 9);
  const Model shape_only(cfg, 1, 1);
  YAML::Node run;
  run["name"] = "t";
  run["model"] = to_yaml(cfg);
  run["model"]["preset"] = "configs/models/tiny-llama.yaml";
  const data::ByteTokenizer tok;
  train::CheckpointState st;
  st.step = 7;
  const std::string ckpt =
      train::write_checkpoint(path("run"), shape_only.param_info(), orig.params.data(), nullptr,
                              nullptr, st, YAML::Dump(run), tok, train::CheckpointPolicy{});
  // trainer checkpoint -> HF -> import-hf -> load_model_for_inference
  export_hf(ckpt, path("hf"));
  import_hf(path("hf"), path("imported"));
  const train::LoadedModel lm = train::load_model_for_inference(path("imported"), 1, 8);
  EXPECT_EQ(lm.state.step, 0);
  EXPECT_EQ(lm.tokenizer->name(), "byte");
  EXPECT_EQ(YAML::Dump(to_yaml(lm.cfg)), YAML::Dump(to_yaml(cfg)));
  ASSERT_EQ(lm.model->num_params(), orig.params.size());
  EXPECT_TRUE(std::equal(orig.params.begin(), orig.params.end(), lm.model->params()));
  EXPECT_EQ(read_flame_model(ckpt).params, orig.params);
}

// The CLI end to end: export-hf, import-hf (with its tokenizer notice), logits, a refusal.
TEST_F(HfInterop, CommandLine) {
  if (!fs::exists(FLAME_BINARY)) GTEST_SKIP() << FLAME_BINARY << " not built";
  const flame_test::Scratch s("hf_cli");
  const FlameWeights w = random_weights(testing::gpt2_tiny_config(), 12);
  const std::string a = (s.dir / "a").string(), h = (s.dir / "h").string(),
                    b = (s.dir / "b").string();
  write_flame_model(a, w, "test");
  auto r = flame_test::run_flame(s, "export-hf " + a + " --out " + h + " --dtype f32");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["model_type"], "gpt2");
  r = flame_test::run_flame(s, "import-hf " + h + " --out " + b);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("no SentencePiece tokenizer"), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(r.out)["tokenizer"], "byte");
  r = flame_test::run_flame(s, "logits --model " + b + " --all --tokens 3,1,4,1,5");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  const std::vector<float> want = logits_of(w, {3, 1, 4, 1, 5});
  std::vector<float> got;
  for (const auto& row : j["logits"])
    for (const auto& x : row) got.push_back(x.get<float>());
  EXPECT_EQ(got, want);
  r = flame_test::run_flame(s, "export-hf " + a + " --out " + h);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("error: output ", 0), 0u) << r.err;
  r = flame_test::run_flame(s,
                            "export-hf " + a + " --out " + (s.dir / "x").string() + " --dtype f8");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--dtype must be f32, bf16 or f16"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------------------------------------
// hand-built HF directories

// An HF checkpoint to write: config.json and named tensors, optionally sharded.
struct HfFixture {
  json config;
  struct T {
    std::vector<int64_t> shape;
    std::vector<float> values;
    DType dtype = DType::F32;
  };
  std::map<std::string, T> tensors;
  std::vector<std::string> order;  // insertion order, for sharding

  // Values k*1000 + i for the k-th tensor: every element of every tensor is distinct and exact.
  void add(const std::string& name, std::vector<int64_t> shape, DType dtype = DType::F32) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    T t{std::move(shape), std::vector<float>(n), dtype};
    const float base = float(order.size()) * 1000.f;
    for (size_t i = 0; i < n; ++i) t.values[i] = base + float(i);
    if (dtype == DType::BF16)  // keep bf16 values exact: small halves
      for (size_t i = 0; i < n; ++i) t.values[i] = float(order.size()) + 0.5f * float(i % 64);
    tensors[name] = std::move(t);
    order.push_back(name);
  }
  const std::vector<float>& v(const std::string& name) const { return tensors.at(name).values; }

  void write(const fs::path& dir, int shards = 1) const {
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << config.dump(2);
    json weight_map = json::object();
    std::vector<std::vector<uint16_t>> halves;
    halves.reserve(order.size());
    std::vector<std::vector<TensorToWrite>> parts(static_cast<size_t>(shards));
    for (size_t k = 0; k < order.size(); ++k) {
      const T& t = tensors.at(order[k]);
      const size_t s = k * size_t(shards) / order.size();
      const void* data = t.values.data();
      if (t.dtype == DType::BF16) {
        halves.emplace_back();
        for (float x : t.values) halves.back().push_back(f32_to_bf16(x));
        data = halves.back().data();
      }
      parts[s].push_back({order[k], t.dtype, t.shape, data});
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05d.safetensors", s + 1, shards);
      weight_map[order[k]] = name;
    }
    if (shards == 1) {
      write_safetensors((dir / "model.safetensors").string(), parts[0], {{"format", "pt"}});
      return;
    }
    for (int s = 0; s < shards; ++s) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
      write_safetensors((dir / name).string(), parts[size_t(s)], {{"format", "pt"}});
    }
    std::ofstream(dir / "model.safetensors.index.json")
        << json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2);
  }
};

// Llama: hidden 4, 2 query heads and 1 KV head of dim 2, MLP 3, vocab 5, 2 layers, untied.
HfFixture llama_fixture(const std::string& type = "llama") {
  HfFixture f;
  f.config = {{"architectures", {"LlamaForCausalLM"}},
              {"model_type", type},
              {"hidden_size", 4},
              {"intermediate_size", 3},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 2},
              {"num_key_value_heads", 1},
              {"vocab_size", 5},
              {"max_position_embeddings", 16},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 500000.0},
              {"hidden_act", "silu"},
              {"tie_word_embeddings", false},
              {"rope_scaling", nullptr},
              {"torch_dtype", "float32"},
              {"transformers_version", "4.44.0"}};
  f.add("model.embed_tokens.weight", {5, 4}, DType::BF16);
  for (int l = 0; l < 2; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    f.add(h + "input_layernorm.weight", {4});
    f.add(h + "self_attn.q_proj.weight", {4, 4});
    f.add(h + "self_attn.k_proj.weight", {2, 4});
    f.add(h + "self_attn.v_proj.weight", {2, 4});
    f.add(h + "self_attn.o_proj.weight", {4, 4});
    f.add(h + "post_attention_layernorm.weight", {4});
    f.add(h + "mlp.gate_proj.weight", {3, 4});
    f.add(h + "mlp.up_proj.weight", {3, 4});
    f.add(h + "mlp.down_proj.weight", {4, 3});
  }
  f.add("model.norm.weight", {4});
  f.add("lm_head.weight", {5, 4});
  return f;
}

std::vector<float> concat(std::initializer_list<std::vector<float>> parts) {
  std::vector<float> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST_F(HfInterop, ImportsShardedLlamaWithExactTensors) {
  HfFixture f = llama_fixture();
  f.add("model.layers.0.self_attn.rotary_emb.inv_freq", {1});  // an old buffer, not a weight
  f.write(dir_ / "hf", 3);
  ASSERT_TRUE(fs::exists(dir_ / "hf" / "model-00003-of-00003.safetensors"));
  const HfImportResult r = import_hf(path("hf"), path("out"));
  EXPECT_EQ(r.model_type, "llama");
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("inv_freq"), std::string::npos);

  const FlameWeights w = read_flame_model(path("out"));
  const ModelConfig& c = w.cfg;
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head, 2);
  EXPECT_EQ(c.n_kv_head, 1);
  EXPECT_EQ(c.d_model, 4);
  EXPECT_EQ(c.d_ff, 3);
  EXPECT_EQ(c.vocab_size, 5);
  EXPECT_EQ(c.max_seq_len, 16);
  EXPECT_EQ(c.norm, Norm::rmsnorm);
  EXPECT_EQ(c.pos, PosEmb::rope);
  EXPECT_EQ(c.mlp, Mlp::swiglu);
  EXPECT_EQ(c.rope_theta, 500000.f);
  EXPECT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_FALSE(c.bias);

  EXPECT_EQ(flame_tensor(w, "wte"), f.v("model.embed_tokens.weight"));
  for (int l = 0; l < 2; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".",
                      fl = "h." + std::to_string(l) + ".";
    EXPECT_EQ(flame_tensor(w, fl + "ln1.weight"), f.v(h + "input_layernorm.weight"));
    EXPECT_EQ(flame_tensor(w, fl + "attn.qkv.weight"),
              concat({f.v(h + "self_attn.q_proj.weight"), f.v(h + "self_attn.k_proj.weight"),
                      f.v(h + "self_attn.v_proj.weight")}));
    EXPECT_EQ(flame_tensor(w, fl + "attn.proj.weight"), f.v(h + "self_attn.o_proj.weight"));
    EXPECT_EQ(flame_tensor(w, fl + "ln2.weight"), f.v(h + "post_attention_layernorm.weight"));
    EXPECT_EQ(flame_tensor(w, fl + "mlp.fc.weight"),
              concat({f.v(h + "mlp.gate_proj.weight"), f.v(h + "mlp.up_proj.weight")}));
    EXPECT_EQ(flame_tensor(w, fl + "mlp.proj.weight"), f.v(h + "mlp.down_proj.weight"));
  }
  EXPECT_EQ(flame_tensor(w, "ln_f.weight"), f.v("model.norm.weight"));
  EXPECT_EQ(flame_tensor(w, "lm_head.weight"), f.v("lm_head.weight"));

  const json state = json::parse(slurp(fs::path(path("out")) / "state.json"));
  EXPECT_EQ(state["format_version"], 1);
  EXPECT_EQ(state["step"], 0);
  EXPECT_EQ(state["source"], "import-hf " + path("hf"));
  EXPECT_EQ(json::parse(slurp(fs::path(path("out")) / "tokenizer.json")), (json{{"kind", "byte"}}));
  EXPECT_FALSE(fs::exists(fs::path(path("out")) / "tokenizer.model"));
  const YAML::Node yaml = YAML::LoadFile((fs::path(path("out")) / "config.yaml").string());
  EXPECT_EQ(yaml["model"]["norm"].as<std::string>(), "rmsnorm");
  EXPECT_EQ(yaml["model"]["n_kv_head"].as<int>(), 1);
}

TEST_F(HfInterop, ImportsLlamaBiasesAndMistral) {
  HfFixture f = llama_fixture();
  f.config["attention_bias"] = true;
  f.config["mlp_bias"] = true;
  for (int l = 0; l < 2; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    f.add(h + "self_attn.q_proj.bias", {4});
    f.add(h + "self_attn.k_proj.bias", {2});
    f.add(h + "self_attn.v_proj.bias", {2});
    f.add(h + "self_attn.o_proj.bias", {4});
    f.add(h + "mlp.gate_proj.bias", {3});
    f.add(h + "mlp.up_proj.bias", {3});
    f.add(h + "mlp.down_proj.bias", {4});
  }
  f.write(dir_ / "hf");
  import_hf(path("hf"), path("out"));
  const FlameWeights w = read_flame_model(path("out"));
  EXPECT_TRUE(w.cfg.bias);
  const std::string h = "model.layers.1.";
  EXPECT_EQ(flame_tensor(w, "h.1.attn.qkv.bias"),
            concat({f.v(h + "self_attn.q_proj.bias"), f.v(h + "self_attn.k_proj.bias"),
                    f.v(h + "self_attn.v_proj.bias")}));
  EXPECT_EQ(flame_tensor(w, "h.1.attn.proj.bias"), f.v(h + "self_attn.o_proj.bias"));
  EXPECT_EQ(flame_tensor(w, "h.1.mlp.fc.bias"),
            concat({f.v(h + "mlp.gate_proj.bias"), f.v(h + "mlp.up_proj.bias")}));
  EXPECT_EQ(flame_tensor(w, "h.1.mlp.proj.bias"), f.v(h + "mlp.down_proj.bias"));

  HfFixture m = llama_fixture("mistral");
  m.config["sliding_window"] = nullptr;
  m.write(dir_ / "mistral");
  EXPECT_EQ(import_hf(path("mistral"), path("mistral_out")).model_type, "mistral");
  HfFixture m2 = llama_fixture("mistral");
  m2.config["sliding_window"] = 16;  // as long as the context: never applies
  m2.write(dir_ / "mistral2");
  EXPECT_EQ(read_hf_model(path("mistral2")).cfg.max_seq_len, 16);
}

// Qwen2: the Llama fixture's shapes plus q/k/v biases (and no other), with the keys a Qwen2
// config.json carries (transformers 4: rope_theta and sliding-window keys; transformers 5:
// rope_parameters and layer_types).
HfFixture qwen2_fixture(bool transformers5 = false) {
  HfFixture f = llama_fixture("qwen2");
  f.config["architectures"] = {"Qwen2ForCausalLM"};
  f.config["use_sliding_window"] = false;
  f.config["sliding_window"] = 4;  // shorter than the context, but off
  f.config["max_window_layers"] = 1;
  f.config["attention_dropout"] = 0.0;
  if (transformers5) {
    f.config.erase("rope_theta");
    f.config.erase("rope_scaling");
    f.config["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
    f.config["layer_types"] = {"full_attention", "full_attention"};
    f.config["transformers_version"] = "5.24.0";
  } else {
    f.config["rope_theta"] = 1000000.0;
  }
  for (int l = 0; l < 2; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".self_attn.";
    f.add(h + "q_proj.bias", {4});
    f.add(h + "k_proj.bias", {2});
    f.add(h + "v_proj.bias", {2});
  }
  return f;
}

TEST_F(HfInterop, ImportsQwen2WithBiasesOnQkvOnly) {
  for (bool t5 : {false, true}) {
    SCOPED_TRACE(t5 ? "transformers 5 config" : "transformers 4 config");
    const HfFixture f = qwen2_fixture(t5);
    const fs::path hf = dir_ / (t5 ? "hf5" : "hf4"), out = dir_ / (t5 ? "out5" : "out4");
    f.write(hf, t5 ? 2 : 1);
    const HfImportResult r = import_hf(hf.string(), out.string());
    EXPECT_EQ(r.model_type, "qwen2");
    EXPECT_TRUE(r.notes.empty());

    const FlameWeights w = read_flame_model(out.string());
    const ModelConfig& c = w.cfg;
    EXPECT_FALSE(c.bias);
    EXPECT_TRUE(c.qkv_bias);
    EXPECT_EQ(c.norm, Norm::rmsnorm);
    EXPECT_EQ(c.pos, PosEmb::rope);
    EXPECT_EQ(c.mlp, Mlp::swiglu);
    EXPECT_EQ(c.n_head, 2);
    EXPECT_EQ(c.n_kv_head, 1);
    EXPECT_EQ(c.max_seq_len, 16);
    EXPECT_EQ(c.rope_theta, 1e6f);
    EXPECT_FALSE(c.tie_embeddings);
    // every flame tensor, exactly; the layout has the qkv biases and no other
    size_t n = 0;
    for (const ParamInfo& p : param_layout(c)) {
      n += p.numel();
      if (p.name.ends_with(".bias")) {
        EXPECT_TRUE(p.name.ends_with("attn.qkv.bias")) << p.name;
      }
    }
    EXPECT_EQ(w.params.size(), n);
    EXPECT_EQ(flame_tensor(w, "wte"), f.v("model.embed_tokens.weight"));
    for (int l = 0; l < 2; ++l) {
      const std::string h = "model.layers." + std::to_string(l) + ".",
                        fl = "h." + std::to_string(l) + ".", a = h + "self_attn.";
      EXPECT_EQ(flame_tensor(w, fl + "ln1.weight"), f.v(h + "input_layernorm.weight"));
      EXPECT_EQ(
          flame_tensor(w, fl + "attn.qkv.weight"),
          concat({f.v(a + "q_proj.weight"), f.v(a + "k_proj.weight"), f.v(a + "v_proj.weight")}));
      EXPECT_EQ(flame_tensor(w, fl + "attn.qkv.bias"),
                concat({f.v(a + "q_proj.bias"), f.v(a + "k_proj.bias"), f.v(a + "v_proj.bias")}));
      EXPECT_EQ(flame_tensor(w, fl + "attn.proj.weight"), f.v(a + "o_proj.weight"));
      EXPECT_EQ(flame_tensor(w, fl + "ln2.weight"), f.v(h + "post_attention_layernorm.weight"));
      EXPECT_EQ(flame_tensor(w, fl + "mlp.fc.weight"),
                concat({f.v(h + "mlp.gate_proj.weight"), f.v(h + "mlp.up_proj.weight")}));
      EXPECT_EQ(flame_tensor(w, fl + "mlp.proj.weight"), f.v(h + "mlp.down_proj.weight"));
    }
    EXPECT_EQ(flame_tensor(w, "ln_f.weight"), f.v("model.norm.weight"));
    EXPECT_EQ(flame_tensor(w, "lm_head.weight"), f.v("lm_head.weight"));
    const YAML::Node yaml = YAML::LoadFile((out / "config.yaml").string());
    EXPECT_TRUE(yaml["model"]["qkv_bias"].as<bool>());
    EXPECT_FALSE(yaml["model"]["bias"].as<bool>());
  }
  // A sliding window that use_sliding_window switches on but that covers the whole context
  // never applies.
  HfFixture f = qwen2_fixture();
  f.config["use_sliding_window"] = true;
  f.config["sliding_window"] = 16;
  f.config["max_window_layers"] = 0;
  f.write(dir_ / "wide");
  EXPECT_TRUE(read_hf_model(path("wide")).cfg.qkv_bias);
}

// GPT-2: n_embd 4, 2 heads, 1 layer, n_inner unset (4*n_embd = 16), vocab 5, 6 positions, tied.
HfFixture gpt2_fixture(const std::string& prefix = "transformer.") {
  HfFixture f;
  f.config = {{"architectures", {"GPT2LMHeadModel"}},
              {"model_type", "gpt2"},
              {"n_embd", 4},
              {"n_head", 2},
              {"n_layer", 1},
              {"n_positions", 6},
              {"n_inner", nullptr},
              {"vocab_size", 5},
              {"layer_norm_epsilon", 1e-5},
              {"activation_function", "gelu_new"}};
  f.add(prefix + "wte.weight", {5, 4});
  f.add(prefix + "wpe.weight", {6, 4});
  const std::string h = prefix + "h.0.";
  f.add(h + "ln_1.weight", {4});
  f.add(h + "ln_1.bias", {4});
  f.add(h + "attn.c_attn.weight", {4, 12});
  f.add(h + "attn.c_attn.bias", {12});
  f.add(h + "attn.c_proj.weight", {4, 4});
  f.add(h + "attn.c_proj.bias", {4});
  f.add(h + "ln_2.weight", {4});
  f.add(h + "ln_2.bias", {4});
  f.add(h + "mlp.c_fc.weight", {4, 16});
  f.add(h + "mlp.c_fc.bias", {16});
  f.add(h + "mlp.c_proj.weight", {16, 4});
  f.add(h + "mlp.c_proj.bias", {4});
  f.add(prefix + "ln_f.weight", {4});
  f.add(prefix + "ln_f.bias", {4});
  return f;
}

std::vector<float> transpose(const std::vector<float>& v, int64_t rows, int64_t cols) {
  std::vector<float> t(v.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[size_t(c * rows + r)] = v[size_t(r * cols + c)];
  return t;
}

TEST_F(HfInterop, ImportsGpt2TransposingConv1DAndCopiesTheTokenizer) {
  for (const std::string prefix : {"transformer.", ""}) {
    SCOPED_TRACE("prefix '" + prefix + "'");
    HfFixture f = gpt2_fixture(prefix);
    f.add(prefix + "h.0.attn.bias", {1, 1, 6, 6});  // the causal-mask buffer old files carry
    const fs::path hf = dir_ / ("hf" + prefix), out = dir_ / ("out" + prefix);
    f.write(hf);
    std::ofstream(hf / "tokenizer.model", std::ios::binary) << std::string("\x0a\x03pie\x00", 6);
    const HfImportResult r = import_hf(hf.string(), out.string());
    EXPECT_TRUE(r.sp_tokenizer);
    EXPECT_EQ(slurp(out / "tokenizer.model"), slurp(hf / "tokenizer.model"));
    EXPECT_EQ(json::parse(slurp(out / "tokenizer.json")), (json{{"kind", "tokenizer.model"}}));

    const FlameWeights w = read_flame_model(out.string());
    EXPECT_EQ(w.cfg.d_ff, 16);
    EXPECT_EQ(w.cfg.max_seq_len, 6);
    EXPECT_EQ(w.cfg.norm, Norm::layernorm);
    EXPECT_EQ(w.cfg.pos, PosEmb::learned);
    EXPECT_EQ(w.cfg.mlp, Mlp::gelu);
    EXPECT_TRUE(w.cfg.tie_embeddings);
    EXPECT_TRUE(w.cfg.bias);
    const std::string h = prefix + "h.0.";
    EXPECT_EQ(flame_tensor(w, "wte"), f.v(prefix + "wte.weight"));
    EXPECT_EQ(flame_tensor(w, "wpe"), f.v(prefix + "wpe.weight"));
    EXPECT_EQ(flame_tensor(w, "h.0.ln1.weight"), f.v(h + "ln_1.weight"));
    EXPECT_EQ(flame_tensor(w, "h.0.ln1.bias"), f.v(h + "ln_1.bias"));
    EXPECT_EQ(flame_tensor(w, "h.0.attn.qkv.weight"),
              transpose(f.v(h + "attn.c_attn.weight"), 4, 12));
    EXPECT_EQ(flame_tensor(w, "h.0.attn.qkv.bias"), f.v(h + "attn.c_attn.bias"));
    EXPECT_EQ(flame_tensor(w, "h.0.attn.proj.weight"),
              transpose(f.v(h + "attn.c_proj.weight"), 4, 4));
    EXPECT_EQ(flame_tensor(w, "h.0.ln2.bias"), f.v(h + "ln_2.bias"));
    EXPECT_EQ(flame_tensor(w, "h.0.mlp.fc.weight"), transpose(f.v(h + "mlp.c_fc.weight"), 4, 16));
    EXPECT_EQ(flame_tensor(w, "h.0.mlp.fc.bias"), f.v(h + "mlp.c_fc.bias"));
    EXPECT_EQ(flame_tensor(w, "h.0.mlp.proj.weight"),
              transpose(f.v(h + "mlp.c_proj.weight"), 16, 4));
    EXPECT_EQ(flame_tensor(w, "ln_f.bias"), f.v(prefix + "ln_f.bias"));
    // A spot check of the transpose by hand: flame qkv.weight[o=5][i=2] = c_attn[2][5].
    EXPECT_EQ(flame_tensor(w, "h.0.attn.qkv.weight")[5 * 4 + 2],
              f.v(h + "attn.c_attn.weight")[2 * 12 + 5]);
  }
}

// ---------------------------------------------------------------------------------------------
// refusals

TEST_F(HfInterop, RefusesWhatFlameCannotComputeNamingTheCause) {
  struct Case {
    std::string what;
    HfFixture fixture;
    std::string expect;
    int shards = 1;
  };
  std::vector<Case> cases;
  {
    HfFixture f = llama_fixture();
    f.config["model_type"] = "falcon";
    cases.push_back({"unknown model_type", f, "model_type 'falcon' is not supported"});
  }
  {
    HfFixture f = llama_fixture();
    f.tensors.erase("model.layers.1.mlp.up_proj.weight");
    f.order.erase(std::find(f.order.begin(), f.order.end(), "model.layers.1.mlp.up_proj.weight"));
    cases.push_back({"missing tensor", f,
                     "tensor 'model.layers.1.mlp.up_proj.weight' is missing (needed for flame "
                     "'h.1.mlp.fc.weight')",
                     2});
  }
  {
    HfFixture f = llama_fixture();
    f.tensors["model.layers.0.self_attn.k_proj.weight"].shape = {4, 2};
    cases.push_back({"wrong shape", f,
                     "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [4,2], expected "
                     "[2,4]"});
  }
  {
    HfFixture f = llama_fixture();
    f.config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
    cases.push_back({"rope_scaling", f, "unsupported 'rope_scaling'"});
  }
  {
    HfFixture f = llama_fixture();
    f.config["head_dim"] = 8;
    cases.push_back({"head_dim", f, "unsupported 'head_dim' = 8"});
  }
  {
    HfFixture f = llama_fixture();
    f.config["hidden_act"] = "gelu";
    cases.push_back({"hidden_act", f, "unsupported 'hidden_act' = \"gelu\""});
  }
  {
    HfFixture f = llama_fixture("mistral");
    f.config["sliding_window"] = 8;
    cases.push_back({"sliding window", f, "unsupported 'sliding_window' = 8"});
  }
  {
    HfFixture f = qwen2_fixture();
    f.config["use_sliding_window"] = true;
    f.config["sliding_window"] = 8;
    cases.push_back({"qwen2 sliding window", f, "unsupported 'sliding_window' = 8"});
  }
  {
    HfFixture f = qwen2_fixture();
    f.config["use_sliding_window"] = true;
    f.config.erase("sliding_window");  // transformers' default: 4096
    f.config["max_position_embeddings"] = 8192;
    cases.push_back({"qwen2 default sliding window", f, "unsupported 'use_sliding_window' = true"});
  }
  {
    HfFixture f = qwen2_fixture(true);
    f.config["use_sliding_window"] = true;
    f.config["sliding_window"] = 16;
    f.config["layer_types"] = {"full_attention", "sliding_attention"};
    cases.push_back({"qwen2 sliding layer", f, "unsupported 'layer_types'"});
  }
  {
    HfFixture f = qwen2_fixture(true);
    f.config["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 1e6}, {"factor", 4.0}};
    cases.push_back({"qwen2 rope scaling", f, "unsupported 'rope_parameters'"});
  }
  {
    HfFixture f = qwen2_fixture();
    f.add("model.layers.1.self_attn.o_proj.bias", {4});
    cases.push_back(
        {"qwen2 o_proj bias", f, "tensor 'model.layers.1.self_attn.o_proj.bias' has no place"});
  }
  {
    HfFixture f = llama_fixture("qwen2");  // no q/k/v biases
    cases.push_back({"qwen2 without qkv biases", f,
                     "tensor 'model.layers.0.self_attn.q_proj.bias' is missing (needed for "
                     "flame 'h.0.attn.qkv.bias')"});
  }
  {
    HfFixture f = llama_fixture();
    f.config["attention_bias"] = true;
    cases.push_back({"attention_bias without mlp_bias", f,
                     "'attention_bias' (true) and 'mlp_bias' (false) differ"});
  }
  {
    HfFixture f = llama_fixture();
    f.add("model.layers.0.self_attn.q_norm.weight", {2});
    cases.push_back(
        {"unknown tensor", f, "tensor 'model.layers.0.self_attn.q_norm.weight' has no place"});
  }
  {
    HfFixture f = llama_fixture();
    f.config["tie_word_embeddings"] = true;  // but lm_head.weight differs from the embedding
    cases.push_back({"tied but different head", f, "lm_head.weight differs"});
  }
  {
    HfFixture f = gpt2_fixture();
    f.config["activation_function"] = "relu";
    cases.push_back({"gpt2 activation", f, "unsupported 'activation_function' = \"relu\""});
  }
  {
    HfFixture f = gpt2_fixture();
    f.config["scale_attn_by_inverse_layer_idx"] = true;
    cases.push_back({"gpt2 layer scaling", f, "unsupported 'scale_attn_by_inverse_layer_idx'"});
  }
  {
    HfFixture f = llama_fixture();
    f.config.erase("hidden_size");
    cases.push_back({"missing key", f, "missing required key 'hidden_size'"});
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.what);
    const fs::path hf = dir_ / ("case" + std::to_string(i));
    c.fixture.write(hf, c.shards);
    const fs::path out = dir_ / ("out" + std::to_string(i));
    const std::string msg = error_of([&] { import_hf(hf.string(), out.string()); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(out)) << "a refused import left an output directory";
  }
}

TEST_F(HfInterop, RefusesBadDirectoriesAndIndexes) {
  fs::create_directories(dir_ / "empty");
  EXPECT_NE(error_of([&] { import_hf(path("empty"), path("o")); }).find("no config.json"),
            std::string::npos);
  HfFixture f = llama_fixture();
  f.write(dir_ / "nofile");
  fs::remove(dir_ / "nofile" / "model.safetensors");
  EXPECT_NE(error_of([&] {
              import_hf(path("nofile"), path("o"));
            }).find("no model.safetensors or model.safetensors.index.json"),
            std::string::npos);
  f.write(dir_ / "escape", 2);
  std::ofstream(dir_ / "escape" / "model.safetensors.index.json")
      << json{{"weight_map", {{"model.embed_tokens.weight", "../x.safetensors"}}}}.dump();
  EXPECT_NE(error_of([&] { import_hf(path("escape"), path("o")); }).find("is not a file name"),
            std::string::npos);
  f.write(dir_ / "lost", 2);
  fs::remove(dir_ / "lost" / "model-00002-of-00002.safetensors");
  EXPECT_NE(error_of([&] {
              import_hf(path("lost"), path("o"));
            }).find("shard 'model-00002-of-00002.safetensors'"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(path("o")));
}

}  // namespace
}  // namespace flame::model
