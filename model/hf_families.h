// The Hugging Face families flame reads and writes, each as data: one table of tensor rows
// (flame parameter <-> HF tensor(s) and the transform between them) and one of config.json keys,
// read by both import and export (hf_interop.cpp) and rendered into docs/checkpoints.md
// (hf_mapping_doc.cpp), plus the little per-family code the tables cannot express (fixed
// architecture fields, refusals, export-only config keys).
//
// Which rows apply to a given flame config is not in the tables: param_layout(cfg) decides. A
// row is used for each parameter of the layout its pattern matches, so a Llama config without
// biases never touches the bias rows and a tied one never touches lm_head.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "model/config.h"
#include "model/model.h"

namespace flame::model::hf {

// config.json access with errors naming the file and the key.
class HfConfig {
 public:
  HfConfig(nlohmann::json j, std::string path);
  const std::string& path() const { return path_; }
  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }
  bool present(const std::string& key) const { return j_.contains(key); }  // null included
  const nlohmann::json& at(const std::string& key) const { return j_.at(key); }

  int integer(const std::string& key, std::optional<int> fallback = std::nullopt) const;
  double number(const std::string& key, std::optional<double> fallback = std::nullopt) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key,
                     std::optional<std::string> fallback = std::nullopt) const;
  [[noreturn]] void unsupported(const std::string& key, const std::string& why) const;

 private:
  [[noreturn]] void missing(const std::string& key) const;
  nlohmann::json j_;
  std::string path_;
};

// ---- tensor rows

enum class Transform {
  copy,        // same layout
  transpose,   // HF stores (in, out): GPT-2's Conv1D
  stack_rows,  // the flame tensor is the HF parts stacked along dim 0 (export splits it)
};

// How many dim-0 rows of the flame tensor one stacked HF part holds.
enum class Rows { q_heads, kv_heads, d_ff };

struct HfPart {
  std::string name;           // "model.layers.{l}.self_attn.q_proj.weight"
  Rows rows = Rows::q_heads;  // stack_rows only
};

struct TensorRow {
  std::string flame;       // "h.{l}.attn.qkv.weight": {l} is the block index
  std::vector<HfPart> hf;  // one part, or the stacked parts in order
  Transform transform = Transform::copy;
  std::string doc_note;  // docs only: when HF stores it, when not
};

// ---- config.json keys that hold one ModelConfig field each

using ConfigField = std::variant<int ModelConfig::*, float ModelConfig::*, bool ModelConfig::*>;

// Import's value for a key that is absent or null; the fields read before it are set in `m`.
struct Fallback {
  std::function<double(const HfConfig& c, const ModelConfig& m, const std::string& model_type)>
      value;  // empty: the key is required
  std::string doc;
};

struct ConfigKey {
  std::string flame;  // the ModelConfig field's name (docs, tests)
  std::string hf;     // the config.json key
  ConfigField field;
  Fallback fallback;
};

// ---- a family

struct HfFamily {
  std::string name;                      // the docs section's name: "llama", "gpt2"
  std::vector<std::string> model_types;  // the config.json model_type values import accepts
  // A prefix HF writers may or may not put on names (GPT-2's "transformer."): the table spells
  // names as export writes them; import accepts them with or without it.
  std::string optional_prefix;
  std::vector<TensorRow> tensors;  // in flame parameter order
  std::vector<ConfigKey> config;   // read in this order (fallbacks see the earlier fields)

  // Whether a flame config has this architecture (export picks the family with it).
  std::function<bool(const ModelConfig&)> exports;
  // After the keys: the fields the family fixes and every refusal of config.json.
  std::function<void(const HfConfig&, const std::string& model_type, ModelConfig&,
                     std::vector<std::string>& notes)>
      finish_import_config;
  // The config.json keys beside the table's (architectures, model_type, constants); throws
  // flame::Error for a config the HF architecture cannot hold.
  std::function<nlohmann::json(const ModelConfig&, std::vector<std::string>& notes)>
      export_config_extra;
  // The flame config whose parameters the HF architecture always stores: export writes the
  // ones the actual config lacks as zeros (GPT-2 has every bias).
  std::function<ModelConfig(const ModelConfig&)> stored_config;
};

// Llama (llama, mistral, qwen2) and GPT-2.
const std::vector<HfFamily>& families();
const HfFamily* family_for_model_type(const std::string& model_type);  // nullptr: none
const HfFamily* family_for_export(const ModelConfig& cfg);             // nullptr: none

// The table row for a flame parameter name; `layer` receives {l} (-1 when the pattern has
// none). nullptr when no row matches.
const TensorRow* row_for(const HfFamily& f, const std::string& flame_name, int* layer);
// A pattern with {l} replaced.
std::string expand(const std::string& pattern, int layer);
// The dim-0 size of a stacked part under a config.
int64_t rows_of(Rows r, const ModelConfig& cfg);

// config.json keys -> ModelConfig, and back (the table's keys only).
ModelConfig read_config_keys(const HfFamily& f, const HfConfig& c, const std::string& model_type);
void write_config_keys(const HfFamily& f, const ModelConfig& m, nlohmann::json& out);

// ---- the tensor mapping in memory

struct HfTensor {
  std::string name;  // as export writes it (optional_prefix included)
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Export: the HF tensors of `params` (param_layout(cfg) order), in the order of
// param_layout(stored_config(cfg)); the parameters cfg lacks come out as zeros.
std::vector<HfTensor> to_hf_tensors(const HfFamily& f, const ModelConfig& cfg,
                                    const std::vector<float>& params);

// Import: fills `params` (param_layout(cfg) order) from HF tensors fetched by `get(name, shape,
// purpose)`, names as the table spells them; purpose names the flame parameter for errors.
using GetHfTensor = std::function<std::vector<float>(
    const std::string& name, const std::vector<int64_t>& shape, const std::string& purpose)>;
std::vector<float> from_hf_tensors(const HfFamily& f, const ModelConfig& cfg,
                                   const GetHfTensor& get);

// ---- docs

// The Markdown of a family's tables (weights, then config.json keys).
std::string mapping_markdown(const HfFamily& f);
// `doc` with every section between "<!-- BEGIN generated: hf-mapping NAME -->" and
// "<!-- END generated: hf-mapping NAME -->" replaced by mapping_markdown of family NAME; throws
// flame::Error when a family's markers are missing or malformed.
std::string regenerate_mapping_sections(const std::string& doc);

}  // namespace flame::model::hf
