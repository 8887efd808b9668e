// Hugging Face <-> flame checkpoints: config.json <-> ModelConfig, HF tensor names and layouts
// <-> flame's parameters (docs/checkpoints.md), and the flame model directory itself.
//
// Layout facts the mappings rely on (model/model.cpp, kernels/attention.h, kernels/rope.h,
// kernels/activations.h):
//   - flame's attn.qkv.weight rows are [q heads | k heads | v heads], each head's D rows
//     contiguous: HF Llama's q_proj, k_proj, v_proj stacked in that order.
//   - flame's RoPE is rotate-half (pairs i, i+D/2), the convention HF Llama weights are stored
//     for, so q/k rows need no permutation.
//   - flame's SwiGLU mlp.fc.weight rows are [gate | up]: gate_proj then up_proj.
//   - flame weights are (out, in); GPT-2's Conv1D stores (in, out), so those are transposed.
#include "model/hf_interop.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "model/config_yaml.h"
#include "model/param_layout.h"

namespace flame::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path.string());
  return ss.str();
}

json read_json_file(const fs::path& path) {
  const std::string text = read_file(path);
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(path.string() + ": not valid JSON");
  return j;
}

// Written, fsync'ed; the directory holding it is renamed into place afterwards.
void write_file_synced(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot create " + path.string() + ": " + std::strerror(errno));
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const int err = errno;
      ::close(fd);
      throw Error("write to " + path.string() + " failed: " + std::strerror(err));
    }
    p += w;
    n -= size_t(w);
  }
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) throw Error("fsync of " + path.string() + " failed: " + std::strerror(err));
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort
  ::fsync(fd);
  ::close(fd);
}

// An output directory is assembled next to its final place and renamed in at the end, so a
// failure half-way never leaves something that looks like a complete checkpoint.
class StagedDir {
 public:
  explicit StagedDir(const std::string& out) : final_(fs::path(out).lexically_normal()) {
    if (final_.filename().empty()) final_ = final_.parent_path();  // "dir/" -> "dir"
    std::error_code ec;
    if (fs::exists(final_, ec)) {
      if (!fs::is_directory(final_) || !fs::is_empty(final_))
        throw Error("output " + final_.string() + " already exists and is not an empty directory");
    }
    if (!final_.parent_path().empty()) fs::create_directories(final_.parent_path());
    staging_ = final_;
    staging_ += ".tmp-" + std::to_string(::getpid());
    fs::remove_all(staging_, ec);
    fs::create_directory(staging_);
  }
  ~StagedDir() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(staging_, ec);
    }
  }
  const fs::path& path() const { return staging_; }
  void commit() {
    std::error_code ec;
    fs::remove(final_, ec);  // an empty directory may stand in the way of the rename
    fs::rename(staging_, final_);
    committed_ = true;
    fsync_dir(final_.parent_path());
  }

 private:
  fs::path final_, staging_;
  bool committed_ = false;
};

// Shortest decimal that reads back as the same float ("1e-05", not "9.999999747378752e-06"),
// so config.json shows the value the user meant.
double clean_double(float f) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::stod(std::string(buf, r.ptr));
}

// ---------------------------------------------------------------------------------------------
// config.json access with errors naming the file and the key

class HfConfig {
 public:
  HfConfig(json j, std::string path) : j_(std::move(j)), path_(std::move(path)) {
    if (!j_.is_object()) throw Error(path_ + ": expected a JSON object");
  }
  const std::string& path() const { return path_; }
  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }
  bool present(const std::string& key) const { return j_.contains(key); }  // null included
  const json& at(const std::string& key) const { return j_.at(key); }

  int integer(const std::string& key, std::optional<int> fallback = std::nullopt) const {
    if (!has(key)) return required(key, fallback);
    const json& v = j_[key];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > INT32_MAX)
      throw Error(path_ + ": '" + key + "' must be a non-negative 32-bit integer, got " + v.dump());
    return v.get<int>();
  }
  double number(const std::string& key, std::optional<double> fallback = std::nullopt) const {
    if (!has(key)) return required(key, fallback);
    const json& v = j_[key];
    if (!v.is_number()) throw Error(path_ + ": '" + key + "' must be a number, got " + v.dump());
    return v.get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    if (!v.is_boolean())
      throw Error(path_ + ": '" + key + "' must be true or false, got " + v.dump());
    return v.get<bool>();
  }
  std::string string(const std::string& key,
                     std::optional<std::string> fallback = std::nullopt) const {
    if (!has(key)) return required(key, fallback);
    const json& v = j_[key];
    if (!v.is_string()) throw Error(path_ + ": '" + key + "' must be a string, got " + v.dump());
    return v.get<std::string>();
  }
  [[noreturn]] void unsupported(const std::string& key, const std::string& why) const {
    throw Error(path_ + ": unsupported '" + key + "' = " + (has(key) ? j_[key].dump() : "null") +
                ": " + why);
  }

 private:
  template <class T>
  T required(const std::string& key, const std::optional<T>& fallback) const {
    if (!fallback) throw Error(path_ + ": missing required key '" + key + "'");
    return *fallback;
  }
  json j_;
  std::string path_;
};

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
// The tensors of an HF directory, across shards, opened lazily and released once used up.

class HfTensors {
 public:
  // strip_prefix: a prefix some writers put on every name ("transformer." for GPT-2).
  HfTensors(const fs::path& dir, const std::string& strip_prefix) : dir_(dir) {
    const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
    std::map<std::string, std::string> raw;  // stored name -> file
    if (fs::exists(index)) {
      const json j = read_json_file(index);
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(index.string() + ": no \"weight_map\" object");
      for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string())
          throw Error(index.string() + ": weight_map['" + name + "'] is not a file name");
        const std::string f = file.get<std::string>();
        // A shard must be a plain file of this directory: never follow a path out of it.
        if (f.empty() || fs::path(f).filename().string() != f || f == "." || f == "..")
          throw Error(index.string() + ": shard '" + f + "' of tensor '" + name +
                      "' is not a file name in this directory");
        if (!fs::is_regular_file(dir / f))
          throw Error(index.string() + ": shard '" + f + "' (holding '" + name + "') is missing");
        raw[name] = f;
      }
    } else if (fs::exists(single)) {
      const auto file = std::make_shared<SafetensorsFile>(single.string());
      for (const auto& t : file->tensors()) raw[t.name] = "model.safetensors";
      open_["model.safetensors"] = file;
    } else {
      throw Error(dir.string() +
                  ": no model.safetensors or model.safetensors.index.json (only safetensors "
                  "checkpoints are read; convert pytorch_model.bin with the safetensors tools)");
    }
    for (const auto& [name, file] : raw) {
      const std::string key = !strip_prefix.empty() && name.rfind(strip_prefix, 0) == 0
                                  ? name.substr(strip_prefix.size())
                                  : name;
      if (!where_.emplace(key, Location{file, name}).second)
        throw Error(dir.string() + ": tensors '" + name + "' and '" + strip_prefix + key +
                    "' both map to '" + key + "'");
      ++remaining_[file];
    }
  }

  bool has(const std::string& name) const { return where_.count(name) > 0; }

  // The tensor as float with the expected shape; `purpose` says what it is for in the errors.
  std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape,
                         const std::string& purpose) {
    const auto it = where_.find(name);
    if (it == where_.end())
      throw Error(dir_.string() + ": tensor '" + name + "' is missing (needed for flame " +
                  purpose + ")");
    const Location& loc = it->second;
    auto& file = open_[loc.file];
    if (!file) file = std::make_shared<SafetensorsFile>((dir_ / loc.file).string());
    if (!file->find(loc.stored))
      throw Error(dir_.string() + ": the index puts tensor '" + loc.stored + "' in " + loc.file +
                  ", which does not hold it");
    std::vector<float> v = file->read_f32(loc.stored, shape);
    if (used_.insert(name).second && --remaining_[loc.file] == 0) open_.erase(loc.file);
    return v;
  }

  // Names no mapping asked for.
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : where_)
      if (!used_.count(name)) out.push_back(name);
    return out;
  }

 private:
  struct Location {
    std::string file, stored;
  };
  fs::path dir_;
  std::map<std::string, Location> where_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> open_;
  std::map<std::string, int> remaining_;
  std::set<std::string> used_;
};

// Writes the (out, in) transpose of src (in, out).
void transpose_into(float* dst, const std::vector<float>& src, int64_t in, int64_t out) {
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o) dst[o * in + i] = src[size_t(i * out + o)];
}

std::vector<float> transposed(const float* src, int64_t rows, int64_t cols) {
  std::vector<float> t(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[size_t(c * rows + r)] = src[r * cols + c];
  return t;
}

// The destination of a flame parameter inside FlameWeights::params.
class FlameParams {
 public:
  explicit FlameParams(FlameWeights& w) : w_(w), layout_(param_layout(w.cfg)) {
    size_t n = 0;
    for (const auto& p : layout_) n += p.numel();
    w_.params.assign(n, 0.0f);
  }
  const ParamInfo& info(const std::string& name) const {
    for (const auto& p : layout_)
      if (p.name == name) return p;
    throw Error("internal: flame layout has no parameter '" + name + "'");
  }
  float* at(const std::string& name) {
    filled_.insert(name);
    return w_.params.data() + info(name).offset;
  }
  bool exists(const std::string& name) const {
    for (const auto& p : layout_)
      if (p.name == name) return true;
    return false;
  }
  void check_all_filled() const {
    for (const auto& p : layout_)
      FLAME_CHECK(filled_.count(p.name), "import left flame parameter " << p.name << " unset");
  }

 private:
  FlameWeights& w_;
  std::vector<ParamInfo> layout_;
  std::set<std::string> filled_;
};

// Concatenates the listed HF tensors (each (rows_i, cols)) into one flame parameter, in order.
void stack_rows(FlameParams& dst, HfTensors& src, const std::string& flame_name,
                const std::vector<std::pair<std::string, std::vector<int64_t>>>& parts) {
  float* out = dst.at(flame_name);
  for (const auto& [name, shape] : parts) {
    const std::vector<float> v = src.get(name, shape, "'" + flame_name + "'");
    std::copy(v.begin(), v.end(), out);
    out += v.size();
  }
}

void copy_one(FlameParams& dst, HfTensors& src, const std::string& flame_name,
              const std::string& hf_name) {
  const ParamInfo& p = dst.info(flame_name);
  stack_rows(dst, src, flame_name, {{hf_name, p.shape}});
}

// GPT-2 Conv1D weight (in, out) -> flame (out, in).
void copy_conv1d(FlameParams& dst, HfTensors& src, const std::string& flame_name,
                 const std::string& hf_name) {
  const ParamInfo& p = dst.info(flame_name);
  const int64_t out = p.shape[0], in = p.shape[1];
  const std::vector<float> v = src.get(hf_name, {in, out}, "'" + flame_name + "'");
  transpose_into(dst.at(flame_name), v, in, out);
}

// ---------------------------------------------------------------------------------------------
// config.json -> ModelConfig

const std::set<std::string> kLlamaTypes = {"llama", "mistral", "qwen2"};

ModelConfig llama_family_config(const HfConfig& c, const std::string& type,
                                std::vector<std::string>& notes) {
  ModelConfig m;
  m.norm = Norm::rmsnorm;
  m.pos = PosEmb::rope;
  m.mlp = Mlp::swiglu;
  m.d_model = c.integer("hidden_size");
  m.n_layer = c.integer("num_hidden_layers");
  m.n_head = c.integer("num_attention_heads");
  m.n_kv_head = c.integer("num_key_value_heads", m.n_head);
  m.d_ff = c.integer("intermediate_size");
  m.vocab_size = c.integer("vocab_size");
  const int default_ctx = type == "llama" ? 2048 : 32768;  // transformers' defaults per type
  m.max_seq_len = c.integer("max_position_embeddings", default_ctx);
  m.norm_eps = float(c.number("rms_norm_eps", 1e-6));
  m.tie_embeddings = c.boolean("tie_word_embeddings", false);

  if (const std::string act = c.string("hidden_act", "silu"); act != "silu")
    c.unsupported("hidden_act", "flame's SwiGLU gate is silu");
  if (m.n_head > 0 && c.has("head_dim") && c.integer("head_dim") * m.n_head != m.d_model)
    c.unsupported("head_dim", "flame's head dim is hidden_size / num_attention_heads = " +
                                  std::to_string(m.d_model / m.n_head));
  std::optional<double> theta = check_rope_block(c, "rope_scaling");
  if (auto t = check_rope_block(c, "rope_parameters")) theta = t;
  m.rope_theta = float(c.has("rope_theta") ? c.number("rope_theta") : theta.value_or(10000.0));
  if (c.has("partial_rotary_factor") && c.number("partial_rotary_factor") != 1.0)
    c.unsupported("partial_rotary_factor", "flame rotates the whole head");
  if (c.has("quantization_config")) c.unsupported("quantization_config", "quantized weights");

  // Sliding-window attention only differs from full causal attention beyond the window; with a
  // window at least max_position_embeddings long it never applies.
  const bool sliding = type == "mistral" || c.boolean("use_sliding_window", false);
  if (sliding && c.has("sliding_window") && c.integer("sliding_window") < m.max_seq_len)
    c.unsupported("sliding_window", "flame attends to the whole causal context");
  // Qwen2 with use_sliding_window and no sliding_window key gets transformers' 4096 (an explicit
  // null means no window).
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
    // modeling code reads neither attention_bias nor mlp_bias, so those keys are not consulted
    // (a stray o_proj or MLP bias tensor is refused as unmapped).
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
  }
  if (c.integer("pretraining_tp", 1) != 1)
    notes.push_back("pretraining_tp ignored (it only splits the same matmuls)");
  return m;
}

ModelConfig gpt2_config(const HfConfig& c) {
  ModelConfig m;
  m.norm = Norm::layernorm;
  m.pos = PosEmb::learned;
  m.mlp = Mlp::gelu;
  m.bias = true;
  m.d_model = c.integer("n_embd", 768);
  m.n_layer = c.integer("n_layer", 12);
  m.n_head = c.integer("n_head", 12);
  m.n_kv_head = m.n_head;
  m.d_ff = c.has("n_inner") ? c.integer("n_inner") : 4 * m.d_model;
  m.vocab_size = c.integer("vocab_size", 50257);
  m.max_seq_len = c.integer("n_positions", 1024);
  m.norm_eps = float(c.number("layer_norm_epsilon", 1e-5));
  m.tie_embeddings = c.boolean("tie_word_embeddings", true);
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
  return m;
}

// Tensors an HF file may carry that are not weights (buffers older versions saved).
bool is_ignorable_buffer(const std::string& name) {
  return ends_with(name, "rotary_emb.inv_freq") || ends_with(name, ".attn.bias") ||
         ends_with(name, ".attn.masked_bias");
}

// ---------------------------------------------------------------------------------------------
// flame -> HF tensors

struct OutTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<ParamInfo> param_layout(const ModelConfig& cfg) {
  validate(cfg);
  return make_param_layout(cfg).info;
}

// ---------------------------------------------------------------------------------------------
// flame model directories

FlameWeights read_flame_model(const std::string& dir) {
  const fs::path d(dir);
  const fs::path yaml_path = d / "config.yaml", st_path = d / "model.safetensors";
  if (!fs::is_regular_file(st_path))
    throw Error(dir +
                ": no model.safetensors (expected a flame model directory, e.g. "
                "runs/<name>/ckpt/step-N or the output of flame import-hf)");
  if (!fs::is_regular_file(yaml_path)) throw Error(dir + ": no config.yaml");
  const YAML::Node root = load_yaml_file(yaml_path.string(), "");
  if (!root.IsMap() || !root["model"] || !root["model"].IsMap())
    throw Error(yaml_path.string() + ": no `model:` section");
  // A run's resolved config also names the preset its model section came from: not a field.
  YAML::Node fields;
  for (const auto& kv : root["model"])
    if (kv.first.as<std::string>() != "preset") fields[kv.first.as<std::string>()] = kv.second;
  FlameWeights w;
  try {
    w.cfg = load_model_config(fields);
  } catch (const Error& e) {
    throw Error(yaml_path.string() + ": " + e.what());
  }
  const SafetensorsFile file(st_path.string());
  if (w.cfg.vocab_size == 0) {  // "from the tokenizer": the embedding table knows
    const TensorEntry* wte = file.find("wte");
    if (!wte || wte->shape.size() != 2)
      throw Error(st_path.string() +
                  ": model.vocab_size is 0 and there is no 2-d 'wte' to take "
                  "it from");
    w.cfg.vocab_size = int(wte->shape[0]);
  }
  try {
    validate(w.cfg);
  } catch (const Error& e) {
    throw Error(yaml_path.string() + ": " + e.what());
  }
  const std::vector<ParamInfo> layout = param_layout(w.cfg);
  std::set<std::string> expected;
  size_t n = 0;
  for (const auto& p : layout) {
    expected.insert(p.name);
    n += p.numel();
  }
  for (const auto& t : file.tensors())
    if (!expected.count(t.name))
      throw Error(st_path.string() + ": holds tensor '" + t.name +
                  "' that the model in config.yaml does not have (config and weights disagree)");
  w.params.resize(n);
  for (const auto& p : layout) {
    if (!file.find(p.name))
      throw Error(st_path.string() + ": no tensor '" + p.name + "', which the model in " +
                  "config.yaml needs with shape " + shape_text(p.shape));
    const std::vector<float> v = file.read_f32(p.name, p.shape);
    std::copy(v.begin(), v.end(), w.params.begin() + std::ptrdiff_t(p.offset));
  }
  return w;
}

void write_flame_model(const std::string& dir, const FlameWeights& w, const std::string& source,
                       const std::string& tokenizer_model) {
  const std::vector<ParamInfo> layout = param_layout(w.cfg);
  size_t n = 0;
  for (const auto& p : layout) n += p.numel();
  FLAME_CHECK(w.params.size() == n, "write_flame_model: " << w.params.size()
                                                          << " parameters given, the config needs "
                                                          << n);
  StagedDir out(dir);
  std::vector<TensorToWrite> tensors;
  for (const auto& p : layout)
    tensors.push_back({p.name, DType::F32, p.shape, w.params.data() + p.offset});
  // format=flame as the trainer's checkpoints write it (train/checkpoint.cpp)
  write_safetensors((out.path() / "model.safetensors").string(), tensors, {{"format", "flame"}});

  YAML::Node root;
  root["model"] = to_yaml(w.cfg);
  YAML::Emitter em;
  em << root;
  write_file_synced(out.path() / "config.yaml", std::string(em.c_str()) + "\n");
  write_file_synced(out.path() / "state.json",
                    json{{"format_version", 1}, {"step", 0}, {"source", source}}.dump(2) + "\n");
  if (!tokenizer_model.empty()) {
    write_file_synced(out.path() / "tokenizer.model", read_file(tokenizer_model));
    write_file_synced(out.path() / "tokenizer.json",
                      json{{"kind", "tokenizer.model"}}.dump() + "\n");
  } else {
    write_file_synced(out.path() / "tokenizer.json", json{{"kind", "byte"}}.dump() + "\n");
  }
  fsync_dir(out.path());
  out.commit();
}

// ---------------------------------------------------------------------------------------------
// import

FlameWeights read_hf_model(const std::string& hf_dir, HfImportResult* result) {
  const fs::path dir(hf_dir);
  if (!fs::is_directory(dir)) throw Error("import-hf: " + hf_dir + " is not a directory");
  const fs::path cfg_path = dir / "config.json";
  if (!fs::is_regular_file(cfg_path)) throw Error(hf_dir + ": no config.json");
  const HfConfig c(read_json_file(cfg_path), cfg_path.string());
  const std::string type = c.string("model_type");
  std::vector<std::string> notes;

  FlameWeights w;
  const bool llama = kLlamaTypes.count(type) > 0;
  if (llama)
    w.cfg = llama_family_config(c, type, notes);
  else if (type == "gpt2")
    w.cfg = gpt2_config(c);
  else
    throw Error(cfg_path.string() + ": model_type '" + type +
                "' is not supported (supported: llama, mistral, qwen2, gpt2)");
  try {
    validate(w.cfg);
  } catch (const Error& e) {
    throw Error(cfg_path.string() + ": the model maps to an invalid flame config: " + e.what());
  }

  HfTensors src(dir, llama ? "" : "transformer.");
  FlameParams dst(w);
  const ModelConfig& m = w.cfg;
  const int64_t C = m.d_model, D = m.head_dim(), F = m.d_ff;
  const int64_t Q = int64_t(m.n_head) * D, KV = int64_t(m.n_kv_head) * D;
  const std::string embed = llama ? "model.embed_tokens.weight" : "wte.weight";
  if (llama) {
    copy_one(dst, src, "wte", embed);
    for (int l = 0; l < m.n_layer; ++l) {
      const std::string f = "h." + std::to_string(l) + ".";
      const std::string h = "model.layers." + std::to_string(l) + ".";
      const std::string a = h + "self_attn.", p = h + "mlp.";
      copy_one(dst, src, f + "ln1.weight", h + "input_layernorm.weight");
      stack_rows(dst, src, f + "attn.qkv.weight",
                 {{a + "q_proj.weight", {Q, C}},
                  {a + "k_proj.weight", {KV, C}},
                  {a + "v_proj.weight", {KV, C}}});
      copy_one(dst, src, f + "attn.proj.weight", a + "o_proj.weight");
      copy_one(dst, src, f + "ln2.weight", h + "post_attention_layernorm.weight");
      stack_rows(dst, src, f + "mlp.fc.weight",
                 {{p + "gate_proj.weight", {F, C}}, {p + "up_proj.weight", {F, C}}});
      copy_one(dst, src, f + "mlp.proj.weight", p + "down_proj.weight");
      if (m.has_qkv_bias())
        stack_rows(
            dst, src, f + "attn.qkv.bias",
            {{a + "q_proj.bias", {Q}}, {a + "k_proj.bias", {KV}}, {a + "v_proj.bias", {KV}}});
      if (m.bias) {
        copy_one(dst, src, f + "attn.proj.bias", a + "o_proj.bias");
        stack_rows(dst, src, f + "mlp.fc.bias",
                   {{p + "gate_proj.bias", {F}}, {p + "up_proj.bias", {F}}});
        copy_one(dst, src, f + "mlp.proj.bias", p + "down_proj.bias");
      }
    }
    copy_one(dst, src, "ln_f.weight", "model.norm.weight");
  } else {
    copy_one(dst, src, "wte", embed);
    copy_one(dst, src, "wpe", "wpe.weight");
    for (int l = 0; l < m.n_layer; ++l) {
      const std::string f = "h." + std::to_string(l) + ".";
      const std::string h = "h." + std::to_string(l) + ".";
      copy_one(dst, src, f + "ln1.weight", h + "ln_1.weight");
      copy_one(dst, src, f + "ln1.bias", h + "ln_1.bias");
      copy_conv1d(dst, src, f + "attn.qkv.weight", h + "attn.c_attn.weight");
      copy_one(dst, src, f + "attn.qkv.bias", h + "attn.c_attn.bias");
      copy_conv1d(dst, src, f + "attn.proj.weight", h + "attn.c_proj.weight");
      copy_one(dst, src, f + "attn.proj.bias", h + "attn.c_proj.bias");
      copy_one(dst, src, f + "ln2.weight", h + "ln_2.weight");
      copy_one(dst, src, f + "ln2.bias", h + "ln_2.bias");
      copy_conv1d(dst, src, f + "mlp.fc.weight", h + "mlp.c_fc.weight");
      copy_one(dst, src, f + "mlp.fc.bias", h + "mlp.c_fc.bias");
      copy_conv1d(dst, src, f + "mlp.proj.weight", h + "mlp.c_proj.weight");
      copy_one(dst, src, f + "mlp.proj.bias", h + "mlp.c_proj.bias");
    }
    copy_one(dst, src, "ln_f.weight", "ln_f.weight");
    copy_one(dst, src, "ln_f.bias", "ln_f.bias");
  }
  if (!m.tie_embeddings) copy_one(dst, src, "lm_head.weight", "lm_head.weight");
  dst.check_all_filled();

  // Whatever was not consumed is either a known non-weight buffer, a redundant copy of the tied
  // embedding, or a sign of an architecture feature flame would silently drop: refuse that.
  for (const std::string& name : src.unused()) {
    if (is_ignorable_buffer(name)) {
      notes.push_back("ignored buffer '" + name + "' (not a weight)");
    } else if (name == "lm_head.weight" && m.tie_embeddings) {
      const std::vector<float> head = src.get(name, {m.vocab_size, C}, "the tied head check");
      if (!std::equal(head.begin(), head.end(), w.params.begin()))
        throw Error(hf_dir + ": tie_word_embeddings is true but lm_head.weight differs from " +
                    embed + " (set tie_word_embeddings to false in config.json?)");
      notes.push_back("lm_head.weight equals " + embed + " (tied): not stored twice");
    } else {
      throw Error(hf_dir + ": tensor '" + name + "' has no place in flame's " + type +
                  " mapping (a feature flame does not implement, or a config that does not "
                  "describe these weights)");
    }
  }
  if (result) {
    result->model_type = type;
    result->cfg = w.cfg;
    result->n_params = w.params.size();
    result->notes = notes;
  }
  return w;
}

HfImportResult import_hf(const std::string& hf_dir, const std::string& out_dir) {
  HfImportResult r;
  const FlameWeights w = read_hf_model(hf_dir, &r);
  const fs::path sp = fs::path(hf_dir) / "tokenizer.model";
  r.sp_tokenizer = fs::is_regular_file(sp);
  write_flame_model(out_dir, w, "import-hf " + hf_dir, r.sp_tokenizer ? sp.string() : "");
  return r;
}

// ---------------------------------------------------------------------------------------------
// export

HfExportResult export_hf(const std::string& flame_dir, const std::string& out_dir,
                         const HfExportOptions& opt) {
  FLAME_CHECK(opt.dtype == DType::F32 || opt.dtype == DType::BF16 || opt.dtype == DType::F16,
              "export-hf writes F32, BF16 or F16, not " << dtype_name(opt.dtype));
  const FlameWeights w = read_flame_model(flame_dir);
  const ModelConfig& m = w.cfg;
  const std::vector<ParamInfo> layout = param_layout(m);
  auto param = [&](const std::string& name) -> const float* {
    for (const auto& p : layout)
      if (p.name == name) return w.params.data() + p.offset;
    throw Error("internal: no flame parameter '" + name + "'");
  };
  const int64_t C = m.d_model, D = m.head_dim(), F = m.d_ff, V = m.vocab_size;
  const int64_t Q = int64_t(m.n_head) * D, KV = int64_t(m.n_kv_head) * D;

  HfExportResult r;
  std::vector<OutTensor> out;
  auto emit = [&](std::string name, std::vector<int64_t> shape, const float* src) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    out.push_back({std::move(name), std::move(shape), std::vector<float>(src, src + n)});
  };
  json config;
  const char* torch_dtype = opt.dtype == DType::F32    ? "float32"
                            : opt.dtype == DType::BF16 ? "bfloat16"
                                                       : "float16";

  const bool llama_style = m.norm == Norm::rmsnorm && m.pos == PosEmb::rope && m.mlp == Mlp::swiglu;
  const bool gpt2_style =
      m.norm == Norm::layernorm && m.pos == PosEmb::learned && m.mlp == Mlp::gelu;
  if (llama_style) {
    // Biases on q/k/v only are exactly Qwen2; with `bias` every linear layer has one (Llama's
    // attention_bias + mlp_bias), which covers the q/k/v biases as well.
    const bool qwen2 = m.qkv_bias && !m.bias;
    r.model_type = qwen2 ? "qwen2" : "llama";
    emit("model.embed_tokens.weight", {V, C}, param("wte"));
    for (int l = 0; l < m.n_layer; ++l) {
      const std::string f = "h." + std::to_string(l) + ".";
      const std::string h = "model.layers." + std::to_string(l) + ".";
      const std::string a = h + "self_attn.", p = h + "mlp.";
      emit(h + "input_layernorm.weight", {C}, param(f + "ln1.weight"));
      const float* qkv = param(f + "attn.qkv.weight");
      emit(a + "q_proj.weight", {Q, C}, qkv);
      emit(a + "k_proj.weight", {KV, C}, qkv + Q * C);
      emit(a + "v_proj.weight", {KV, C}, qkv + (Q + KV) * C);
      emit(a + "o_proj.weight", {C, Q}, param(f + "attn.proj.weight"));
      emit(h + "post_attention_layernorm.weight", {C}, param(f + "ln2.weight"));
      const float* fc = param(f + "mlp.fc.weight");
      emit(p + "gate_proj.weight", {F, C}, fc);
      emit(p + "up_proj.weight", {F, C}, fc + F * C);
      emit(p + "down_proj.weight", {C, F}, param(f + "mlp.proj.weight"));
      if (m.has_qkv_bias()) {
        const float* qkv_b = param(f + "attn.qkv.bias");
        emit(a + "q_proj.bias", {Q}, qkv_b);
        emit(a + "k_proj.bias", {KV}, qkv_b + Q);
        emit(a + "v_proj.bias", {KV}, qkv_b + Q + KV);
      }
      if (m.bias) {
        emit(a + "o_proj.bias", {C}, param(f + "attn.proj.bias"));
        const float* fc_b = param(f + "mlp.fc.bias");
        emit(p + "gate_proj.bias", {F}, fc_b);
        emit(p + "up_proj.bias", {F}, fc_b + F);
        emit(p + "down_proj.bias", {C}, param(f + "mlp.proj.bias"));
      }
    }
    emit("model.norm.weight", {C}, param("ln_f.weight"));
    if (!m.tie_embeddings) emit("lm_head.weight", {V, C}, param("lm_head.weight"));
    if (qwen2) {
      // No sliding window anywhere: use_sliding_window false, and max_window_layers = n_layer
      // so that no layer would slide even under transformers versions that read only it.
      config = {{"architectures", {"Qwen2ForCausalLM"}},
                {"model_type", "qwen2"},
                {"hidden_size", m.d_model},
                {"intermediate_size", m.d_ff},
                {"num_hidden_layers", m.n_layer},
                {"num_attention_heads", m.n_head},
                {"num_key_value_heads", m.n_kv_head},
                {"hidden_act", "silu"},
                {"max_position_embeddings", m.max_seq_len},
                {"rms_norm_eps", clean_double(m.norm_eps)},
                {"rope_theta", clean_double(m.rope_theta)},
                {"rope_scaling", nullptr},
                {"use_sliding_window", false},
                {"sliding_window", nullptr},
                {"max_window_layers", m.n_layer},
                {"attention_dropout", 0.0},
                {"tie_word_embeddings", m.tie_embeddings},
                {"vocab_size", m.vocab_size},
                {"initializer_range", 0.02},
                {"use_cache", true},
                {"torch_dtype", torch_dtype}};
    } else {
      config = {{"architectures", {"LlamaForCausalLM"}},
                {"model_type", "llama"},
                {"hidden_size", m.d_model},
                {"intermediate_size", m.d_ff},
                {"num_hidden_layers", m.n_layer},
                {"num_attention_heads", m.n_head},
                {"num_key_value_heads", m.n_kv_head},
                {"head_dim", m.head_dim()},
                {"hidden_act", "silu"},
                {"max_position_embeddings", m.max_seq_len},
                {"rms_norm_eps", clean_double(m.norm_eps)},
                {"rope_theta", clean_double(m.rope_theta)},
                {"rope_scaling", nullptr},
                {"attention_bias", m.bias},
                {"mlp_bias", m.bias},
                {"attention_dropout", 0.0},
                {"pretraining_tp", 1},
                {"tie_word_embeddings", m.tie_embeddings},
                {"vocab_size", m.vocab_size},
                {"initializer_range", 0.02},
                {"use_cache", true},
                {"torch_dtype", torch_dtype}};
    }
  } else if (gpt2_style) {
    if (m.n_kv_head != m.n_head)
      throw Error(flame_dir + ": GPT-2 has no grouped KV heads (n_kv_head " +
                  std::to_string(m.n_kv_head) + " != n_head " + std::to_string(m.n_head) + ")");
    r.model_type = "gpt2";
    // GPT-2 always has biases; those a flame model lacks export as exact zeros (qkv_bias alone
    // keeps its real c_attn bias).
    const std::vector<float> zeros(size_t(std::max<int64_t>(3 * C, F)), 0.0f);
    if (!m.bias)
      r.notes.push_back(m.qkv_bias ? "bias: false exported as zero GPT-2 biases (except c_attn)"
                                   : "bias: false exported as zero GPT-2 biases");
    auto bias = [&](const std::string& name) {
      const bool present = m.bias || (m.qkv_bias && ends_with(name, "attn.qkv.bias"));
      return present ? param(name) : zeros.data();
    };
    const std::string t = "transformer.";
    emit(t + "wte.weight", {V, C}, param("wte"));
    emit(t + "wpe.weight", {m.max_seq_len, C}, param("wpe"));
    for (int l = 0; l < m.n_layer; ++l) {
      const std::string f = "h." + std::to_string(l) + ".";
      const std::string h = t + "h." + std::to_string(l) + ".";
      emit(h + "ln_1.weight", {C}, param(f + "ln1.weight"));
      emit(h + "ln_1.bias", {C}, bias(f + "ln1.bias"));
      emit(h + "attn.c_attn.weight", {C, 3 * C},
           transposed(param(f + "attn.qkv.weight"), 3 * C, C).data());
      emit(h + "attn.c_attn.bias", {3 * C}, bias(f + "attn.qkv.bias"));
      emit(h + "attn.c_proj.weight", {C, C},
           transposed(param(f + "attn.proj.weight"), C, C).data());
      emit(h + "attn.c_proj.bias", {C}, bias(f + "attn.proj.bias"));
      emit(h + "ln_2.weight", {C}, param(f + "ln2.weight"));
      emit(h + "ln_2.bias", {C}, bias(f + "ln2.bias"));
      emit(h + "mlp.c_fc.weight", {C, F}, transposed(param(f + "mlp.fc.weight"), F, C).data());
      emit(h + "mlp.c_fc.bias", {F}, bias(f + "mlp.fc.bias"));
      emit(h + "mlp.c_proj.weight", {F, C}, transposed(param(f + "mlp.proj.weight"), C, F).data());
      emit(h + "mlp.c_proj.bias", {C}, bias(f + "mlp.proj.bias"));
    }
    emit(t + "ln_f.weight", {C}, param("ln_f.weight"));
    emit(t + "ln_f.bias", {C}, bias("ln_f.bias"));
    if (!m.tie_embeddings) emit("lm_head.weight", {V, C}, param("lm_head.weight"));
    config = {{"architectures", {"GPT2LMHeadModel"}},
              {"model_type", "gpt2"},
              {"n_embd", m.d_model},
              {"n_layer", m.n_layer},
              {"n_head", m.n_head},
              {"n_inner", m.d_ff},
              {"n_positions", m.max_seq_len},
              {"n_ctx", m.max_seq_len},
              {"vocab_size", m.vocab_size},
              {"activation_function", "gelu_new"},
              {"layer_norm_epsilon", clean_double(m.norm_eps)},
              {"resid_pdrop", 0.0},
              {"embd_pdrop", 0.0},
              {"attn_pdrop", 0.0},
              {"scale_attn_weights", true},
              {"scale_attn_by_inverse_layer_idx", false},
              {"reorder_and_upcast_attn", false},
              {"tie_word_embeddings", m.tie_embeddings},
              {"initializer_range", 0.02},
              {"use_cache", true},
              {"torch_dtype", torch_dtype}};
  } else {
    throw Error(flame_dir + ": norm=" + name(m.norm) + ", pos=" + name(m.pos) +
                ", mlp=" + name(m.mlp) +
                " has no Hugging Face architecture (export needs rmsnorm+rope+swiglu for Llama or "
                "layernorm+learned+gelu for GPT-2)");
  }
  if (opt.bos_token_id >= 0) config["bos_token_id"] = opt.bos_token_id;
  if (opt.eos_token_id >= 0) config["eos_token_id"] = opt.eos_token_id;

  StagedDir staged(out_dir);
  std::vector<std::vector<uint16_t>> halves;  // converted copies must outlive the write
  halves.reserve(out.size());
  std::vector<TensorToWrite> tensors;
  for (const OutTensor& t : out) {
    if (opt.dtype == DType::F32) {
      tensors.push_back({t.name, DType::F32, t.shape, t.data.data()});
      continue;
    }
    std::vector<uint16_t> h(t.data.size());
    for (size_t i = 0; i < h.size(); ++i)
      h[i] = opt.dtype == DType::BF16 ? f32_to_bf16(t.data[i]) : f32_to_f16(t.data[i]);
    halves.push_back(std::move(h));
    tensors.push_back({t.name, opt.dtype, t.shape, halves.back().data()});
  }
  // transformers refuses safetensors files whose metadata lacks format=pt.
  write_safetensors((staged.path() / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_synced(staged.path() / "config.json", config.dump(2) + "\n");
  const fs::path sp = fs::path(flame_dir) / "tokenizer.model";
  if (fs::is_regular_file(sp)) {
    write_file_synced(staged.path() / "tokenizer.model", read_file(sp));
    r.tokenizer_model = true;
  }
  fsync_dir(staged.path());
  staged.commit();
  r.n_params = w.params.size();
  return r;
}

}  // namespace flame::model
