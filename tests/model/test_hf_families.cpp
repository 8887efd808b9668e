// The Hugging Face family tables themselves (model/hf_families.h): every flame parameter of every
// config a family handles has exactly one row, no HF name is produced twice, the tensor and
// config.json mappings invert each other in memory, and the docs renderer finds stale sections.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/config_yaml.h"
#include "model/hf_families.h"
#include "model/hf_interop.h"
#include "model_test_util.h"

namespace flame::model::hf {
namespace {

using nlohmann::json;

// The configs each family meets: every combination of the flags that change the layout (bias,
// qkv_bias, tie) on top of its style, plus an MQA and a 3-block variant.
std::vector<ModelConfig> configs_of(const HfFamily& f) {
  const ModelConfig base =
      f.name == "gpt2" ? testing::gpt2_tiny_config() : testing::llama_tiny_config();
  std::vector<ModelConfig> out;
  for (bool bias : {false, true})
    for (bool qkv_bias : {false, true})
      for (bool tie : {false, true}) {
        ModelConfig c = base;
        c.bias = bias;
        c.qkv_bias = qkv_bias;
        c.tie_embeddings = tie;
        out.push_back(c);
      }
  ModelConfig c = base;
  c.n_layer = 3;
  if (f.name != "gpt2") c.n_kv_head = 1;
  out.push_back(c);
  for (const ModelConfig& x : out) EXPECT_TRUE(f.exports(x)) << f.name;
  return out;
}

std::string describe(const ModelConfig& c) { return YAML::Dump(to_yaml(c)); }

// How many rows of the table name `param`, counted row by row (row_for stops at the first).
int rows_naming(const HfFamily& f, const std::string& param, int n_layer) {
  int n = 0;
  for (const TensorRow& row : f.tensors) {
    const bool per_layer = row.flame.find("{l}") != std::string::npos;
    for (int l = per_layer ? 0 : -1; l < (per_layer ? n_layer : 0); ++l)
      n += expand(row.flame, l) == param;
  }
  return n;
}

std::vector<float> random_params(const ModelConfig& cfg, uint64_t seed) {
  size_t n = 0;
  for (const ParamInfo& p : param_layout(cfg)) n += p.numel();
  std::vector<float> v(n);
  testing::TestRng rng(seed);
  for (float& x : v) x = rng.uniform(-1.f, 1.f);
  return v;
}

TEST(HfFamilies, EveryParameterHasExactlyOneRowAndEveryRowIsUsed) {
  ASSERT_EQ(families().size(), 2u);
  for (const HfFamily& f : families()) {
    SCOPED_TRACE(f.name);
    std::set<std::string> used_rows;
    for (const ModelConfig& cfg : configs_of(f)) {
      SCOPED_TRACE(describe(cfg));
      for (const ModelConfig& c : {cfg, f.stored_config(cfg)})
        for (const ParamInfo& p : param_layout(c)) {
          EXPECT_EQ(rows_naming(f, p.name, c.n_layer), 1) << p.name;
          int l = -2;
          const TensorRow* row = row_for(f, p.name, &l);
          ASSERT_NE(row, nullptr) << p.name;
          EXPECT_EQ(expand(row->flame, l), p.name);
          used_rows.insert(row->flame);
        }
    }
    for (const TensorRow& row : f.tensors) {
      EXPECT_TRUE(used_rows.count(row.flame)) << "row " << row.flame << " matches no parameter";
      EXPECT_EQ(row.hf.size() > 1, row.transform == Transform::stack_rows) << row.flame;
    }
  }
}

TEST(HfFamilies, RowForRejectsNearMisses) {
  const HfFamily& llama = *family_for_model_type("llama");
  int l = 0;
  EXPECT_EQ(row_for(llama, "h.x.ln1.weight", &l), nullptr);
  EXPECT_EQ(row_for(llama, "h..ln1.weight", &l), nullptr);
  EXPECT_EQ(row_for(llama, "h.0.ln1.weight.x", &l), nullptr);
  EXPECT_EQ(row_for(llama, "wpe", &l), nullptr);  // a GPT-2 parameter
  ASSERT_NE(row_for(llama, "h.12.mlp.fc.weight", &l), nullptr);
  EXPECT_EQ(l, 12);
}

// Export then import, in memory, for every config of every family: the same parameters, each HF
// name written once and read once, with the shape export gave it.
TEST(HfFamilies, ImportOfExportIsTheIdentityOnRandomWeights) {
  for (const HfFamily& f : families()) {
    SCOPED_TRACE(f.name);
    uint64_t seed = 1;
    for (const ModelConfig& cfg : configs_of(f)) {
      SCOPED_TRACE(describe(cfg));
      const std::vector<float> params = random_params(cfg, seed++);
      const std::vector<HfTensor> hf = to_hf_tensors(f, cfg, params);
      std::map<std::string, const HfTensor*> by_name;
      for (const HfTensor& t : hf) {
        EXPECT_TRUE(by_name.emplace(t.name, &t).second) << t.name << " written twice";
        size_t n = 1;
        for (int64_t d : t.shape) n *= size_t(d);
        EXPECT_EQ(t.data.size(), n) << t.name;
      }
      // Import reads the config HF stores: GPT-2 comes back with every bias.
      const ModelConfig back_cfg = f.stored_config(cfg);
      std::set<std::string> read;
      const std::vector<float> back = from_hf_tensors(
          f, back_cfg,
          [&](const std::string& name, const std::vector<int64_t>& shape, const std::string&) {
            EXPECT_TRUE(read.insert(name).second) << name << " read twice";
            const auto it = by_name.find(name);
            if (it == by_name.end()) throw Error("not exported: " + name);
            EXPECT_EQ(it->second->shape, shape) << name;
            return it->second->data;
          });
      EXPECT_EQ(read.size(), by_name.size()) << "export wrote tensors import does not read";
      // Every parameter of cfg comes back bit for bit; the ones only HF has are zeros.
      std::map<std::string, ParamInfo> orig;
      for (const ParamInfo& p : param_layout(cfg)) orig[p.name] = p;
      for (const ParamInfo& p : param_layout(back_cfg)) {
        const auto b = back.begin() + std::ptrdiff_t(p.offset);
        const std::vector<float> got(b, b + std::ptrdiff_t(p.numel()));
        if (const auto it = orig.find(p.name); it != orig.end()) {
          const auto a = params.begin() + std::ptrdiff_t(it->second.offset);
          EXPECT_EQ(got, std::vector<float>(a, a + std::ptrdiff_t(p.numel()))) << p.name;
        } else {
          EXPECT_EQ(got, std::vector<float>(p.numel(), 0.f)) << p.name;
        }
      }
    }
  }
}

// A transform that did nothing would pass the round trip: pin one element of each kind.
TEST(HfFamilies, TransformsMoveElementsWhereHuggingFaceKeepsThem) {
  const ModelConfig g = testing::gpt2_tiny_config();
  const std::vector<float> gp = random_params(g, 9);
  std::map<std::string, HfTensor> gh;
  for (HfTensor& t : to_hf_tensors(*family_for_model_type("gpt2"), g, gp))
    gh[t.name] = std::move(t);
  for (const ParamInfo& p : param_layout(g)) {
    if (p.name != "h.1.mlp.fc.weight") continue;
    const HfTensor& c_fc = gh.at("transformer.h.1.mlp.c_fc.weight");
    ASSERT_EQ(c_fc.shape, (std::vector<int64_t>{p.shape[1], p.shape[0]}));
    // Conv1D [in=3][out=5] is flame [out=5][in=3]
    EXPECT_EQ(c_fc.data[size_t(3 * p.shape[0] + 5)], gp[p.offset + size_t(5 * p.shape[1] + 3)]);
  }

  const ModelConfig l = testing::llama_tiny_config();
  const std::vector<float> lp = random_params(l, 10);
  std::map<std::string, HfTensor> lh;
  for (HfTensor& t : to_hf_tensors(*family_for_model_type("llama"), l, lp))
    lh[t.name] = std::move(t);
  const int64_t C = l.d_model, Q = l.n_head * l.head_dim(), KV = l.n_kv_head * l.head_dim();
  for (const ParamInfo& p : param_layout(l)) {
    if (p.name == "h.0.attn.qkv.weight") {
      const HfTensor& v = lh.at("model.layers.0.self_attn.v_proj.weight");
      ASSERT_EQ(v.shape, (std::vector<int64_t>{KV, C}));
      EXPECT_EQ(v.data[size_t(1 * C + 2)], lp[p.offset + size_t((Q + KV + 1) * C + 2)]);
    }
    if (p.name == "h.1.mlp.fc.weight") {
      const HfTensor& up = lh.at("model.layers.1.mlp.up_proj.weight");
      ASSERT_EQ(up.shape, (std::vector<int64_t>{l.d_ff, C}));
      EXPECT_EQ(up.data[0], lp[p.offset + size_t(l.d_ff * C)]);
    }
  }
}

// config.json written by export reads back to the same ModelConfig, for every config.
TEST(HfFamilies, ConfigKeysRoundTrip) {
  for (const HfFamily& f : families()) {
    SCOPED_TRACE(f.name);
    std::set<std::string> fields, keys;
    for (const ConfigKey& k : f.config) {
      EXPECT_TRUE(fields.insert(k.flame).second) << k.flame << " mapped twice";
      EXPECT_TRUE(keys.insert(k.hf).second) << k.hf << " mapped twice";
    }
    for (ModelConfig cfg : configs_of(f)) {
      cfg.rope_theta = f.name == "gpt2" ? ModelConfig{}.rope_theta : 123456.f;
      cfg.norm_eps = 3e-6f;
      cfg.max_seq_len = 40;
      std::vector<std::string> notes;
      json j = f.export_config_extra(cfg, notes);
      write_config_keys(f, cfg, j);
      const std::string type = j.at("model_type").get<std::string>();
      const HfConfig c(j, "config.json");
      ModelConfig back = read_config_keys(f, c, type);
      f.finish_import_config(c, type, back, notes);
      ModelConfig want = f.stored_config(cfg);
      if (want.bias) want.qkv_bias = false;  // implied by bias: export does not spell it
      EXPECT_EQ(describe(back), describe(want)) << type;
    }
  }
}

TEST(HfFamilies, DocSectionsRegenerateAndStaleOnesAreReplaced) {
  std::string doc = "intro\n";
  for (const HfFamily& f : families())
    doc += "<!-- BEGIN generated: hf-mapping " + f.name + " (note) -->\nold\n" +
           "<!-- END generated: hf-mapping " + f.name + " -->\n";
  const std::string fresh = regenerate_mapping_sections(doc);
  EXPECT_NE(fresh, doc);
  EXPECT_EQ(fresh.find("\nold\n"), std::string::npos);
  EXPECT_EQ(regenerate_mapping_sections(fresh), fresh);
  EXPECT_NE(
      fresh.find("| `h.{l}.attn.qkv.weight` | `model.layers.{l}.self_attn.{q,k,v}_proj.weight`"
                 " | stack rows q (Hq D), k (Hkv D), v (Hkv D) |"),
      std::string::npos)
      << fresh;
  EXPECT_NE(fresh.find("| `h.{l}.mlp.fc.weight` | `transformer.h.{l}.mlp.c_fc.weight` | transpose"),
            std::string::npos);
  EXPECT_THROW(regenerate_mapping_sections("no markers\n"), Error);
}

}  // namespace
}  // namespace flame::model::hf
