// The trainer's persistent state (trainer.h): model.init_from, train.resume, and writing and
// restoring checkpoints (weights, AdamW moments, data position, running totals).
#include <cmath>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "model/config_yaml.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace flame::train {

void Trainer::init_from_checkpoint(const std::string& dir) {
  const CheckpointState st = read_checkpoint_state(dir);
  if (!st.tokenizer.empty() && st.tokenizer != tok_->fingerprint())
    throw Error("model.init_from: " + dir + " was trained with tokenizer " + st.tokenizer +
                ", but this run's data uses " + tok_->fingerprint());
  std::vector<float> w(model_->num_params());
  read_checkpoint_weights(dir, model_->param_info(), w.data());
  model_->load_params(w.data());
  out_ << "init: weights from " << dir << " (step " << st.step << ")\n";
}

void Trainer::find_resume_point() {
  const fs::path ckpt = fs::path(run_dir_) / "ckpt";
  const std::string& r = cfg_.train.resume;
  if (r == "never") {
    // Explicitly starting over: the old checkpoints would otherwise be taken for this run's.
    std::error_code ec;
    fs::remove_all(ckpt, ec);
    return;
  }
  if (r == "auto" && !fs::exists(ckpt / "latest")) return;
  resume_dir_ = resolve_checkpoint(r == "auto" ? ckpt.string() : r);
}

// Restores weights, moments, data position and the running totals of a checkpoint; the model
// and data sections and the seed must be the checkpoint's (else the resumed run would silently
// be another run).
void Trainer::restore(const std::string& dir, RunTotals& totals) {
  const CheckpointState st = read_checkpoint_state(dir);
  YAML::Node saved;
  try {
    saved = YAML::Load(read_checkpoint_config(dir));
  } catch (const YAML::Exception& e) {
    throw Error("checkpoint " + dir + "/config.yaml: " + e.what());
  }
  // The architecture compares as parsed configs (a key added to ModelConfig since the checkpoint
  // was written takes its default), the data section as written.
  auto differs = [&](const char* section) {
    throw Error(std::string("cannot resume from ") + dir + ": its " + section +
                " section differs from this run's (use another run name, or train.resume=never "
                "to start over)");
  };
  if (YAML::Dump(model::to_yaml(read_checkpoint_model_config(dir))) !=
      YAML::Dump(model::to_yaml(cfg_.model.cfg)))
    differs("model");
  if (YAML::Dump(saved["data"]) != YAML::Dump(to_yaml(cfg_)["data"])) differs("data");
  if (st.seed != cfg_.seed)
    throw Error("cannot resume from " + dir + ": it was run with seed " + std::to_string(st.seed));
  if (st.tokenizer != tok_->fingerprint())
    throw Error("cannot resume from " + dir + ": tokenizer " + st.tokenizer + " differs");
  const size_t P = model_->num_params();
  std::vector<float> w(P), m(P), v(P);
  read_checkpoint_weights(dir, model_->param_info(), w.data());
  read_checkpoint_moments(dir, model_->param_info(), m.data(), v.data());
  model_->load_params(w.data());
  model_->load_moments(m.data(), v.data());
  stream_->restore(st.sampler);
  totals = RunTotals::from_json(st.extra);
  totals.step = st.step;
  out_ << "resume: " << dir << " (step " << st.step << ")\n";
}

void Trainer::save(const RunTotals& totals) {
  const size_t P = model_->num_params();
  std::vector<float> w(P), m(P), v(P);
  model_->download_params(w.data());
  model_->download_moments(m.data(), v.data());
  CheckpointState st;
  st.step = totals.step;
  st.sampler = stream_->state();
  st.seed = cfg_.seed;
  st.extra = totals.to_json();
  YAML::Emitter em;
  em << to_yaml(cfg_);
  const auto dir = write_checkpoint(run_dir_, model_->param_info(), w.data(), m.data(), v.data(), st,
                                    std::string(em.c_str()) + "\n", *tok_,
                                    {cfg_.train.keep_last, cfg_.train.keep_every});
  out_ << "checkpoint: " << dir << "\n";
}

nlohmann::json RunTotals::to_json() const {
  return {{"first_loss", first_loss}, {"last_loss", last_loss}, {"train_s", train_s},
          {"total_tokens", total_tokens}, {"iv_loss", iv_loss}, {"iv_gnorm", iv_gnorm},
          {"iv_s", iv_s}, {"iv_tokens", iv_tokens}, {"iv_steps", iv_steps}};
}

RunTotals RunTotals::from_json(const nlohmann::json& j) {
  RunTotals t;
  auto num = [&](const char* k, double fallback) {
    return j.contains(k) && j[k].is_number() ? j[k].get<double>() : fallback;
  };
  t.first_loss = num("first_loss", NAN);
  t.last_loss = num("last_loss", NAN);
  t.train_s = num("train_s", 0);
  t.total_tokens = long(num("total_tokens", 0));
  t.iv_loss = num("iv_loss", 0);
  t.iv_gnorm = num("iv_gnorm", 0);
  t.iv_s = num("iv_s", 0);
  t.iv_tokens = long(num("iv_tokens", 0));
  t.iv_steps = int(num("iv_steps", 0));
  return t;
}

}  // namespace flame::train
