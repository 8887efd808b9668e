// flame import-hf / export-hf / logits (hf_commands.h). Human-readable progress goes to stderr,
// one JSON summary line to stdout.
#include "tools/hf_commands.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/sp_tokenizer.h"
#include "data/tokenizer.h"
#include "data/tokenizer_dir.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "model/hf_interop.h"
#include "model/model.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace flame::tools {

namespace {

std::string config_line(const model::ModelConfig& c) {
  std::ostringstream os;
  os << c.n_layer << " layers, d_model " << c.d_model << ", " << c.n_head << "/" << c.n_kv_head
     << " heads, d_ff " << c.d_ff << ", vocab " << c.vocab_size << ", " << model::name(c.norm)
     << "+" << model::name(c.pos) << "+" << model::name(c.mlp)
     << (c.tie_embeddings ? ", tied" : ", untied")
     << (c.bias ? ", bias" : c.qkv_bias ? ", qkv bias" : "");
  return os.str();
}

json config_json(const model::ModelConfig& c) {
  return json{{"n_layer", c.n_layer},
              {"n_head", c.n_head},
              {"n_kv_head", c.n_kv_head},
              {"d_model", c.d_model},
              {"d_ff", c.d_ff},
              {"vocab_size", c.vocab_size},
              {"max_seq_len", c.max_seq_len},
              {"norm", model::name(c.norm)},
              {"pos", model::name(c.pos)},
              {"mlp", model::name(c.mlp)},
              {"tie_embeddings", c.tie_embeddings},
              {"bias", c.bias},
              {"qkv_bias", c.qkv_bias}};
}

int run_import(const HfCommands& h) {
  const model::HfImportResult r = model::import_hf(h.import_dir, h.import_out);
  std::cerr << "import-hf: " << r.model_type << " (" << config_line(r.cfg) << "), " << r.n_params
            << " parameters -> " << h.import_out << std::endl;
  for (const auto& n : r.notes) std::cerr << "import-hf: note: " << n << std::endl;
  std::string tokenizer = "byte";
  if (r.sp_tokenizer) {
    tokenizer = "tokenizer.model";
    // A tokenizer with more ids than the embedding table has rows would index past it.
    try {
      const data::SentencePieceTokenizer tok((fs::path(h.import_out) / "tokenizer.model").string());
      if (tok.vocab_size() > r.cfg.vocab_size)
        std::cerr << "import-hf: warning: tokenizer.model has " << tok.vocab_size()
                  << " pieces but the model's vocabulary is " << r.cfg.vocab_size << std::endl;
    } catch (const Error& e) {
      std::cerr << "import-hf: warning: the copied tokenizer.model does not load: " << e.what()
                << std::endl;
    }
  } else {
    std::cerr << "import-hf: no SentencePiece tokenizer (tokenizer.model) in " << h.import_dir
              << "; wrote tokenizer.json {\"kind\": \"byte\"}. The byte tokenizer's ids do not "
                 "match this model's vocabulary of "
              << r.cfg.vocab_size << ": supply the model's tokenizer before using it on text"
              << std::endl;
    if (fs::exists(fs::path(h.import_dir) / "tokenizer.json"))
      std::cerr << "import-hf: (the Hugging Face tokenizer.json there is not read by flame)"
                << std::endl;
  }
  std::cout << json{{"out", h.import_out},          {"model_type", r.model_type},
                    {"n_params", r.n_params},       {"tokenizer", tokenizer},
                    {"config", config_json(r.cfg)}, {"notes", r.notes}}
                   .dump()
            << std::endl;
  return 0;
}

// BOS/EOS of the checkpoint's tokenizer, for config.json; none when it cannot be determined.
void tokenizer_ids(const std::string& dir, model::HfExportOptions& opt) {
  if (!fs::is_regular_file(fs::path(dir) / "tokenizer.json")) return;
  try {
    const auto tok = data::load_tokenizer_in(dir);
    opt.bos_token_id = tok->bos_id();
    opt.eos_token_id = tok->eos_id();
  } catch (const std::exception& e) {
    std::cerr << "export-hf: note: no bos/eos ids in config.json (" << e.what() << ")" << std::endl;
  }
}

int run_export(const HfCommands& h) {
  model::HfExportOptions opt;
  if (h.export_dtype == "f32")
    opt.dtype = model::DType::F32;
  else if (h.export_dtype == "bf16")
    opt.dtype = model::DType::BF16;
  else if (h.export_dtype == "f16")
    opt.dtype = model::DType::F16;
  else
    throw Error("export-hf: --dtype must be f32, bf16 or f16, not '" + h.export_dtype + "'");
  const std::string dir = train::resolve_checkpoint(h.export_dir);
  tokenizer_ids(dir, opt);
  const model::HfExportResult r = model::export_hf(dir, h.export_out, opt);
  std::cerr << "export-hf: " << dir << " -> " << h.export_out << " (" << r.model_type << ", "
            << r.n_params << " parameters, " << model::dtype_name(opt.dtype)
            << (r.tokenizer_model ? ", tokenizer.model" : ", no tokenizer.model") << ")"
            << std::endl;
  for (const auto& n : r.notes) std::cerr << "export-hf: note: " << n << std::endl;
  std::cout << json{{"out", h.export_out},
                    {"model_type", r.model_type},
                    {"n_params", r.n_params},
                    {"dtype", model::dtype_name(opt.dtype)},
                    {"tokenizer_model", r.tokenizer_model},
                    {"notes", r.notes}}
                   .dump()
            << std::endl;
  return 0;
}

std::vector<int32_t> parse_tokens(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long v = -1;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0 || v > INT32_MAX)
      throw Error("logits: --tokens must be comma-separated non-negative integers, got '" + item +
                  "'");
    ids.push_back(int32_t(v));
  }
  if (ids.empty()) throw Error("logits: --tokens is empty");
  return ids;
}

// Next-token logits of one token sequence: the debugging hook tools/hf_reference.py compares
// against transformers.
int run_logits(const HfCommands& h) {
  const model::FlameWeights w = model::read_flame_model(train::resolve_checkpoint(h.logits_model));
  const std::vector<int32_t> tokens = parse_tokens(h.logits_tokens);
  const int T = int(tokens.size());
  if (T > w.cfg.max_seq_len)
    throw Error("logits: " + std::to_string(T) + " tokens exceed the model's max_seq_len " +
                std::to_string(w.cfg.max_seq_len));
  model::Model m(w.cfg, 1, T);
  std::copy(w.params.begin(), w.params.end(), m.params());
  m.forward(tokens.data(), nullptr, nullptr, nullptr, nullptr, 1, T);
  const float* logits = m.logits();
  const int V = w.cfg.vocab_size;
  json rows = json::array();
  for (int t = h.logits_all ? 0 : T - 1; t < T; ++t)
    rows.push_back(std::vector<float>(logits + size_t(t) * V, logits + size_t(t + 1) * V));
  std::cout << json{{"vocab_size", V},
                    {"tokens", tokens},
                    {"all_positions", h.logits_all},
                    {"logits", rows}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace

void HfCommands::add_to(CLI::App& app) {
  import_cmd = app.add_subcommand(
      "import-hf",
      "Hugging Face checkpoint (llama, mistral, qwen2, gpt2; safetensors) -> flame model dir");
  import_cmd->add_option("hf_dir", import_dir, "Directory with config.json and *.safetensors")
      ->required();
  import_cmd->add_option("--out", import_out, "Flame model directory to create")->required();
  import_cmd->footer(
      "Writes model.safetensors, config.yaml, state.json and tokenizer.json "
      "(+ tokenizer.model when the HF directory has one); see docs/checkpoints.md.");

  export_cmd = app.add_subcommand(
      "export-hf",
      "Flame model dir -> Hugging Face checkpoint (LlamaForCausalLM or GPT2LMHeadModel)");
  export_cmd
      ->add_option("flame_dir", export_dir,
                   "A checkpoint: step-N, a run's ckpt/ or run directory (its latest), or "
                   "an import-hf output")
      ->required();
  export_cmd->add_option("--out", export_out, "Hugging Face directory to create")->required();
  export_cmd->add_option("--dtype", export_dtype, "Weights dtype: f32 (default), bf16 or f16");

  logits_cmd = app.add_subcommand("logits", "Debug: next-token logits of a token sequence as JSON");
  logits_cmd->group("");  // hidden from --help: a tool for the interop checks, not a user command
  logits_cmd->add_option("--model", logits_model, "Checkpoint (as for export-hf)")->required();
  logits_cmd->add_option("--tokens", logits_tokens, "Token ids, e.g. 1,2,3")->required();
  logits_cmd->add_flag("--all", logits_all, "Logits of every position (default: the last)");
}

int HfCommands::run() const {
  if (import_cmd && import_cmd->parsed()) return run_import(*this);
  if (export_cmd && export_cmd->parsed()) return run_export(*this);
  if (logits_cmd && logits_cmd->parsed()) return run_logits(*this);
  return -1;
}

}  // namespace flame::tools
