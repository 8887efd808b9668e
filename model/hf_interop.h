// Hugging Face <-> flame checkpoints. The name mappings are the family tables of
// model/hf_families.h (docs/checkpoints.md renders them).
//
// A flame model directory (what import-hf writes; the trainer's step-N directories have the
// same model files):
//   model.safetensors   one F32 tensor per parameter, named and shaped as Model::param_info()
//                       (metadata format=flame)
//   config.yaml         a `model:` section (model::to_yaml)
//   state.json          {"format_version": 1, "step": 0, "source": "import-hf <dir>"}
//   tokenizer.json      {"kind": "tokenizer.model"} next to a copied tokenizer.model, else
//                       {"kind": "byte"}
// A Hugging Face directory: config.json, and model.safetensors or shards listed in
// model.safetensors.index.json. Supported: model_type llama and mistral (rmsnorm, rope, swiglu),
// qwen2 (the same with biases on q/k/v only: qkv_bias) and gpt2 (layernorm, learned positions,
// gelu). Anything the flame decoder cannot compute exactly (rope_scaling, sliding windows, ...)
// is refused with a flame::Error naming the config key or tensor.
#pragma once
#include <string>
#include <vector>

#include "model/config.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace flame::model {

// A model as plain data: its config and the flat parameters in param_layout(cfg) order, i.e.
// exactly what Model::params() holds for that config.
struct FlameWeights {
  ModelConfig cfg;
  std::vector<float> params;
};

// The parameter list Model(cfg, B, T) allocates (names, shapes, offsets, decay), computed without
// allocating a model; the tests hold it equal to Model::param_info().
std::vector<ParamInfo> param_layout(const ModelConfig& cfg);

// ---- flame model directories

// Reads config.yaml's `model:` section and model.safetensors (every parameter present with its
// exact shape, no other tensor). A vocab_size of 0 in the YAML is taken from wte's shape.
FlameWeights read_flame_model(const std::string& dir);

// Writes a complete flame model directory (the layout above) into `dir`, which must not exist
// or be empty; files go to a sibling temporary directory renamed into place when all are
// written. `tokenizer_model` is a SentencePiece .model to copy ("" for the byte tokenizer).
void write_flame_model(const std::string& dir, const FlameWeights& w, const std::string& source,
                       const std::string& tokenizer_model = "");

// ---- import

struct HfImportResult {
  std::string model_type;  // config.json's model_type
  ModelConfig cfg;         // the flame config it maps to
  size_t n_params = 0;
  bool sp_tokenizer = false;       // a tokenizer.model was found and copied
  std::vector<std::string> notes;  // things the user should know (ignored tensors, ...)
};

// Reads a Hugging Face directory into flame weights (nothing written). `result` (optional)
// receives the model type and notes.
FlameWeights read_hf_model(const std::string& hf_dir, HfImportResult* result = nullptr);

// read_hf_model + write_flame_model(out_dir, ..., source "import-hf <hf_dir>").
HfImportResult import_hf(const std::string& hf_dir, const std::string& out_dir);

// ---- export

struct HfExportOptions {
  DType dtype = DType::F32;  // F32, BF16 or F16
  int bos_token_id = -1;     // written to config.json when >= 0
  int eos_token_id = -1;
};

struct HfExportResult {
  std::string model_type;  // "llama" | "qwen2" | "gpt2"
  size_t n_params = 0;
  bool tokenizer_model = false;  // tokenizer.model copied
  std::vector<std::string> notes;
};

// Writes config.json, model.safetensors (metadata format=pt) and, when `flame_dir` has one,
// tokenizer.model into `out_dir` (must not exist or be empty; written through a temporary
// directory). Llama-style configs export as LlamaForCausalLM (Qwen2ForCausalLM when the only
// biases are qkv_bias), GPT-2-style as GPT2LMHeadModel; other combinations are refused naming
// the fields.
HfExportResult export_hf(const std::string& flame_dir, const std::string& out_dir,
                         const HfExportOptions& opt = {});

}  // namespace flame::model
