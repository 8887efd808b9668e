// Checkpoints (checkpoint.h): atomic directory writes, retention, and validated loading.
#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "data/tokenizer_dir.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "model/safetensors.h"

namespace fs = std::filesystem;

namespace flame::train {

namespace {

// fsync a file or a directory, so a rename after it cannot expose unwritten data.
void fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open " + p.string() + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error("fsync failed on " + p.string());
}

void write_text(const fs::path& p, const std::string& text) {
  {
    std::ofstream f(p, std::ios::binary);
    f << text;
    if (!f) throw Error("cannot write " + p.string());
  }
  fsync_path(p);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error("checkpoint file missing: " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// step-N -> N; -1 when the name is not a checkpoint's.
long step_of(const std::string& name) {
  static const std::regex re("step-([0-9]+)");
  std::smatch m;
  return std::regex_match(name, m, re) ? std::stol(m[1]) : -1;
}

void write_tensors(const fs::path& p, const std::vector<model::ParamInfo>& info,
                   const std::string& prefix, const float* data) {
  std::vector<model::TensorToWrite> ts;
  for (const auto& pi : info) ts.push_back({prefix + pi.name, model::DType::F32, pi.shape, data + pi.offset});
  model::write_safetensors(p.string(), ts, {{"format", "flame"}});
}

void read_tensors(const fs::path& p, const std::vector<model::ParamInfo>& info,
                  const std::string& prefix, float* data) {
  const model::SafetensorsFile f(p.string());
  for (const auto& pi : info) {
    const auto v = f.read_f32(prefix + pi.name, pi.shape);
    std::copy(v.begin(), v.end(), data + pi.offset);
  }
  if (f.tensors().size() != info.size())
    throw Error(p.string() + " holds " + std::to_string(f.tensors().size()) +
                " tensors, the model has " + std::to_string(info.size()) +
                " parameters (a checkpoint of another model?)");
}

void prune(const fs::path& ckpt, const CheckpointPolicy& policy, long latest) {
  std::vector<long> steps;
  for (const auto& e : fs::directory_iterator(ckpt))
    if (e.is_directory() && step_of(e.path().filename().string()) >= 0)
      steps.push_back(step_of(e.path().filename().string()));
  std::sort(steps.begin(), steps.end());
  const size_t keep_from = steps.size() > size_t(std::max(policy.keep_last, 1))
                               ? steps.size() - size_t(std::max(policy.keep_last, 1))
                               : 0;
  for (size_t i = 0; i < keep_from; ++i) {
    const long s = steps[i];
    if (s == latest || (policy.keep_every > 0 && s % policy.keep_every == 0)) continue;
    fs::remove_all(ckpt / ("step-" + std::to_string(s)));
  }
}

}  // namespace

std::string write_checkpoint(const std::string& run_dir, const std::vector<model::ParamInfo>& info,
                             const float* params, const float* m, const float* v,
                             const CheckpointState& st, const std::string& config_yaml,
                             const data::Tokenizer& tok, const CheckpointPolicy& policy) {
  const fs::path ckpt = fs::path(run_dir) / "ckpt";
  const std::string name = "step-" + std::to_string(st.step);
  const fs::path tmp = ckpt / (".tmp-" + name), final_dir = ckpt / name;
  fs::create_directories(ckpt);
  fs::remove_all(tmp);  // a leftover of a crash mid-write
  fs::create_directories(tmp);

  write_tensors(tmp / "model.safetensors", info, "", params);
  if (m && v) {
    std::vector<model::TensorToWrite> ts;
    for (const auto& pi : info) {
      ts.push_back({"m." + pi.name, model::DType::F32, pi.shape, m + pi.offset});
      ts.push_back({"v." + pi.name, model::DType::F32, pi.shape, v + pi.offset});
    }
    model::write_safetensors((tmp / "optim.safetensors").string(), ts, {{"format", "flame"}});
  }
  const nlohmann::json state = {{"format_version", kCheckpointFormatVersion},
                                {"step", st.step},
                                {"sampler", {{"seed", st.sampler.seed},
                                             {"draws", st.sampler.draws},
                                             {"pending", st.sampler.pending}}},
                                {"seed", st.seed},
                                {"tokenizer", tok.fingerprint()},
                                {"extra", st.extra}};
  write_text(tmp / "state.json", state.dump(2) + "\n");
  write_text(tmp / "config.yaml", config_yaml);
  for (const auto& f : data::write_tokenizer_files(tmp.string(), tok)) fsync_path(f);
  fsync_path(tmp);

  // Replace an older checkpoint of the same step (a rerun) only once the new one is whole.
  if (fs::exists(final_dir)) {
    const fs::path old = ckpt / (".old-" + name);
    fs::remove_all(old);
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, final_dir);
  }
  write_text(ckpt / "latest.tmp", name + "\n");
  fs::rename(ckpt / "latest.tmp", ckpt / "latest");
  fsync_path(ckpt);
  prune(ckpt, policy, st.step);
  return final_dir.string();
}

CheckpointState read_checkpoint_state(const std::string& dir) {
  const fs::path p = fs::path(dir) / "state.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(p));
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint " + p.string() + ": bad JSON (" + e.what() + ")");
  }
  try {
    const int version = j.at("format_version");
    if (version != kCheckpointFormatVersion)
      throw Error("checkpoint " + dir + " has format version " + std::to_string(version) +
                  ", this flame reads " + std::to_string(kCheckpointFormatVersion));
    CheckpointState st;
    st.step = j.at("step");
    if (j.contains("sampler")) {
      st.sampler.seed = j["sampler"].at("seed");
      st.sampler.draws = j["sampler"].at("draws");
      st.sampler.pending = j["sampler"].at("pending");
    }
    st.seed = j.value("seed", uint64_t(0));
    st.tokenizer = j.value("tokenizer", std::string());
    st.extra = j.value("extra", nlohmann::json::object());
    if (st.step < 0) throw Error("checkpoint " + p.string() + ": negative step");
    return st;
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint " + p.string() + ": missing or mistyped field (" + e.what() + ")");
  }
}

std::string read_checkpoint_config(const std::string& dir) {
  return read_text(fs::path(dir) / "config.yaml");
}

void read_checkpoint_weights(const std::string& dir, const std::vector<model::ParamInfo>& info,
                             float* params) {
  read_tensors(fs::path(dir) / "model.safetensors", info, "", params);
}

void read_checkpoint_moments(const std::string& dir, const std::vector<model::ParamInfo>& info,
                             float* m, float* v) {
  const fs::path p = fs::path(dir) / "optim.safetensors";
  if (!fs::exists(p)) throw Error("checkpoint " + dir + " has no optimizer state (optim.safetensors)");
  const model::SafetensorsFile f(p.string());
  for (const auto& pi : info) {
    const auto mv = f.read_f32("m." + pi.name, pi.shape);
    const auto vv = f.read_f32("v." + pi.name, pi.shape);
    std::copy(mv.begin(), mv.end(), m + pi.offset);
    std::copy(vv.begin(), vv.end(), v + pi.offset);
  }
  if (f.tensors().size() != 2 * info.size())
    throw Error(p.string() + " does not match the model's parameters");
}

std::unique_ptr<data::Tokenizer> read_checkpoint_tokenizer(const std::string& dir) {
  try {
    return data::load_tokenizer_in(dir);
  } catch (const Error& e) {
    throw Error("checkpoint " + std::string(e.what()));
  }
}

model::ModelConfig read_checkpoint_model_config(const std::string& dir) {
  YAML::Node root;
  try {
    root = YAML::Load(read_checkpoint_config(dir));
  } catch (const YAML::Exception& e) {
    throw Error("checkpoint " + dir + "/config.yaml: invalid YAML: " + e.what());
  }
  YAML::Node m = root["model"];
  if (!m || !m.IsMap()) throw Error("checkpoint " + dir + "/config.yaml has no model section");
  YAML::Node flat;  // the run config's model section also names its preset: drop it
  for (const auto& kv : m)
    if (kv.first.as<std::string>() != "preset") flat[kv.first.as<std::string>()] = kv.second;
  try {
    return model::load_model_config(flat);
  } catch (const Error& e) {
    throw Error("checkpoint " + dir + "/config.yaml: " + e.what());
  }
}

std::string resolve_checkpoint(const std::string& path) {
  const fs::path p(path);
  if (fs::is_regular_file(p / "state.json")) return p.string();
  for (const fs::path& ckpt : {p, p / "ckpt"}) {
    const fs::path latest = ckpt / "latest";
    if (fs::is_regular_file(latest)) {
      std::string name = read_text(latest);
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      if (step_of(name) < 0) throw Error(latest.string() + " does not name a step-N checkpoint");
      const fs::path dir = ckpt / name;
      if (!fs::is_regular_file(dir / "state.json"))
        throw Error(latest.string() + " points at " + dir.string() + ", which is not a checkpoint");
      return dir.string();
    }
  }
  throw Error("no checkpoint at " + path + " (expected a step-N directory, a ckpt/ directory or a "
              "run directory with ckpt/latest)");
}

LoadedModel load_model_for_inference(const std::string& path, int B, int T,
                                     model::Device device) {
  LoadedModel lm;
  lm.dir = resolve_checkpoint(path);
  lm.state = read_checkpoint_state(lm.dir);
  lm.cfg = read_checkpoint_model_config(lm.dir);
  lm.tokenizer = read_checkpoint_tokenizer(lm.dir);
  if (lm.cfg.vocab_size < lm.tokenizer->vocab_size())
    throw Error("checkpoint " + lm.dir + ": model vocabulary " + std::to_string(lm.cfg.vocab_size) +
                " is smaller than its tokenizer's " + std::to_string(lm.tokenizer->vocab_size()));
  lm.model = std::make_unique<model::Model>(lm.cfg, B, std::min(T, lm.cfg.max_seq_len), device);
  std::vector<float> w(lm.model->num_params());
  read_checkpoint_weights(lm.dir, lm.model->param_info(), w.data());
  lm.model->load_params(w.data());
  return lm;
}

}  // namespace flame::train
