// Hugging Face <-> flame checkpoints: reading HF directories (config.json, sharded safetensors)
// and writing them, and the flame model directory itself. What maps to what is not here: the
// family tables of hf_families.cpp say it, hf_mapping.cpp runs them.
#include "model/hf_interop.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "model/config_yaml.h"
#include "model/hf_families.h"
#include "model/param_layout.h"

namespace flame::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {


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

// ---------------------------------------------------------------------------------------------
// The tensors of an HF directory, across shards, opened lazily and released once used up.

class HfTensors {
 public:
  // strip_prefix: a prefix some writers put on every name ("transformer." for GPT-2); names are
  // looked up and reported without it.
  HfTensors(const fs::path& dir, const std::string& strip_prefix)
      : dir_(dir), prefix_(strip_prefix) {
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
      const std::string key = this->key(name);
      if (!where_.emplace(key, Location{file, name}).second)
        throw Error(dir.string() + ": tensors '" + name + "' and '" + strip_prefix + key +
                    "' both map to '" + key + "'");
      ++remaining_[file];
    }
  }

  std::string key(const std::string& name) const {
    return !prefix_.empty() && name.starts_with(prefix_) ? name.substr(prefix_.size()) : name;
  }

  // The tensor as float with the expected shape; `purpose` says what it is for in the errors.
  std::vector<float> get(const std::string& full_name, const std::vector<int64_t>& shape,
                         const std::string& purpose) {
    const std::string name = key(full_name);
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
  std::string prefix_;
  std::map<std::string, Location> where_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> open_;
  std::map<std::string, int> remaining_;
  std::set<std::string> used_;
};

// Tensors an HF file may carry that are not weights (buffers older versions saved).
bool is_ignorable_buffer(const std::string& name) {
  return name.ends_with("rotary_emb.inv_freq") || name.ends_with(".attn.bias") ||
         name.ends_with(".attn.masked_bias");
}

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
  const hf::HfConfig c(read_json_file(cfg_path), cfg_path.string());
  const std::string type = c.string("model_type");
  const hf::HfFamily* family = hf::family_for_model_type(type);
  if (!family) {
    std::string known;
    for (const hf::HfFamily& f : hf::families())
      for (const std::string& t : f.model_types) known += (known.empty() ? "" : ", ") + t;
    throw Error(cfg_path.string() + ": model_type '" + type +
                "' is not supported (supported: " + known + ")");
  }
  std::vector<std::string> notes;
  FlameWeights w;
  w.cfg = hf::read_config_keys(*family, c, type);
  family->finish_import_config(c, type, w.cfg, notes);
  try {
    validate(w.cfg);
  } catch (const Error& e) {
    throw Error(cfg_path.string() + ": the model maps to an invalid flame config: " + e.what());
  }

  HfTensors src(dir, family->optional_prefix);
  w.params = hf::from_hf_tensors(
      *family, w.cfg,
      [&](const std::string& name, const std::vector<int64_t>& shape, const std::string& purpose) {
        return src.get(name, shape, purpose);
      });

  // Whatever was not consumed is either a known non-weight buffer, a redundant copy of the tied
  // embedding, or a sign of an architecture feature flame would silently drop: refuse that.
  const ModelConfig& m = w.cfg;
  const std::string embed = src.key(hf::row_for(*family, "wte", nullptr)->hf[0].name);
  for (const std::string& name : src.unused()) {
    if (is_ignorable_buffer(name)) {
      notes.push_back("ignored buffer '" + name + "' (not a weight)");
    } else if (name == "lm_head.weight" && m.tie_embeddings) {
      const std::vector<float> head =
          src.get(name, {m.vocab_size, m.d_model}, "the tied head check");
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
  const hf::HfFamily* family = hf::family_for_export(m);
  if (!family)
    throw Error(flame_dir + ": norm=" + name(m.norm) + ", pos=" + name(m.pos) +
                ", mlp=" + name(m.mlp) +
                " has no Hugging Face architecture (export needs rmsnorm+rope+swiglu for Llama or "
                "layernorm+learned+gelu for GPT-2)");

  HfExportResult r;
  json config;
  try {
    config = family->export_config_extra(m, r.notes);
  } catch (const Error& e) {
    throw Error(flame_dir + ": " + e.what());
  }
  hf::write_config_keys(*family, m, config);
  config["torch_dtype"] = opt.dtype == DType::F32    ? "float32"
                          : opt.dtype == DType::BF16 ? "bfloat16"
                                                     : "float16";
  if (opt.bos_token_id >= 0) config["bos_token_id"] = opt.bos_token_id;
  if (opt.eos_token_id >= 0) config["eos_token_id"] = opt.eos_token_id;
  r.model_type = config.at("model_type").get<std::string>();
  const std::vector<hf::HfTensor> out = hf::to_hf_tensors(*family, m, w.params);

  StagedDir staged(out_dir);
  std::vector<std::vector<uint16_t>> halves;  // converted copies must outlive the write
  halves.reserve(out.size());
  std::vector<TensorToWrite> tensors;
  for (const hf::HfTensor& t : out) {
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
