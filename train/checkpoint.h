// Checkpoints: runs/<name>/ckpt/step-N/ (layout in docs/checkpoints.md)
//   model.safetensors   the weights, one F32 tensor per parameter, named as ParamInfo
//   optim.safetensors   AdamW moments "m.<param>" and "v.<param>" (F32)
//   state.json          step, sampler state, seeds, tokenizer fingerprint, format version
//   config.yaml         the resolved run config
//   tokenizer.json (+ tokenizer.model)  the tokenizer the run used
// A checkpoint is written to ckpt/.tmp-step-N, every file fsync'ed, then renamed to step-N and
// ckpt/latest updated (written to a temporary file, renamed): a crash leaves either the whole
// checkpoint or none. Loading validates every file and refuses a truncated or tampered one.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/mixture.h"
#include "data/tokenizer.h"
#include "model/model.h"

namespace flame::train {

struct CheckpointState {
  int step = 0;                  // optimizer steps completed
  data::MixtureState sampler;    // data position
  uint64_t seed = 0;             // run seed
  std::string tokenizer;         // tokenizer fingerprint
  nlohmann::json extra;          // anything else the trainer wants back (metrics so far...)
};

// A model loaded for inference (flame eval, flame judge, init_from).
struct LoadedModel {
  model::ModelConfig cfg;
  std::unique_ptr<model::Model> model;      // sized for micro-batches (B, T)
  std::unique_ptr<data::Tokenizer> tokenizer;
  CheckpointState state;
  std::string dir;                          // the step-N directory it came from
};

constexpr int kCheckpointFormatVersion = 1;

struct CheckpointPolicy {
  int keep_last = 3;   // the newest K checkpoints are kept
  int keep_every = 0;  // ... and every checkpoint whose step is a multiple of M (0: none)
};

// Writes <run_dir>/ckpt/step-<st.step> atomically (see above), points ckpt/latest at it and
// prunes older checkpoints by `policy`. m and v may be null (no optimizer state: inference-only
// checkpoints). Returns the checkpoint directory.
std::string write_checkpoint(const std::string& run_dir, const std::vector<model::ParamInfo>& info,
                             const float* params, const float* m, const float* v,
                             const CheckpointState& st, const std::string& config_yaml,
                             const data::Tokenizer& tok, const CheckpointPolicy& policy);

// Pieces of a checkpoint directory (validated; flame::Error names the file and the problem).
CheckpointState read_checkpoint_state(const std::string& dir);
std::string read_checkpoint_config(const std::string& dir);  // config.yaml text
// Every parameter of `info` from model.safetensors (exact names and shapes; extra or missing
// tensors are refused).
void read_checkpoint_weights(const std::string& dir, const std::vector<model::ParamInfo>& info,
                             float* params);
void read_checkpoint_moments(const std::string& dir, const std::vector<model::ParamInfo>& info,
                             float* m, float* v);
std::unique_ptr<data::Tokenizer> read_checkpoint_tokenizer(const std::string& dir);
// The model section of the checkpoint's config.yaml as a ModelConfig.
model::ModelConfig read_checkpoint_model_config(const std::string& dir);

// Resolves a checkpoint path: a step-N directory, a run's ckpt/ directory or a run directory
// (both: its latest checkpoint). Throws flame::Error when there is none.
std::string resolve_checkpoint(const std::string& path);

// Loads weights, config and tokenizer; B and T size the model's activation arena (T is capped
// at the model's max_seq_len).
LoadedModel load_model_for_inference(const std::string& path, int B, int T,
                                     model::Device device = model::Device::cpu);

}  // namespace flame::train
