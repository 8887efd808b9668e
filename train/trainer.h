// The training loop of `flame train`: data -> packed micro-batches -> forward/backward with
// gradient accumulation -> global grad-norm clip -> AdamW, with progress lines, metrics.jsonl,
// periodic dev evaluation and a one-line JSON summary.
#pragma once
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/mixture.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "train/config.h"
#include "train/eval_suite.h"
#include "train/evaluate.h"

namespace flame::train {

// The running totals of a run, saved in checkpoints so a resumed run reports like an
// uninterrupted one.
struct RunTotals {
  int step = 0;             // optimizer steps done
  double first_loss = NAN, last_loss = NAN;
  double train_s = 0;       // seconds in training steps (evaluation excluded)
  long total_tokens = 0;
  double iv_loss = 0, iv_gnorm = 0, iv_s = 0;  // the current progress-line interval
  long iv_tokens = 0;
  int iv_steps = 0;
  nlohmann::json to_json() const;
  static RunTotals from_json(const nlohmann::json& j);
};

class Trainer {
 public:
  // Generates and tokenizes the data and builds the model (so config/data problems surface
  // before any step runs). Progress goes to `out`.
  explicit Trainer(RunConfig cfg, std::ostream& out = std::cout);

  // Trains cfg.train.steps steps, evaluates, writes <run dir>/{config.yaml, metrics.jsonl,
  // summary.json}, prints the summary as the last line of `out` and returns it.
  nlohmann::json run();

  const RunConfig& config() const { return cfg_; }
  const std::string& run_dir() const { return run_dir_; }
  model::Model& model() { return *model_; }

 private:
  nlohmann::json run_eval(int step);
  // Fill train_/dev_; return how many train examples had their context cut to fit.
  long generate_synthetic_tasks(uint64_t data_seed);  // data.source: synthetic
  long load_shards();                                 // data.source: shards
  long n_dev() const;                                 // dev examples over all tasks
  void init_from_checkpoint(const std::string& dir);  // model.init_from
  void find_resume_point();                           // train.resume -> resume_dir_
  void restore(const std::string& dir, RunTotals& totals);
  void save(const RunTotals& totals);                 // a checkpoint of the current state

  RunConfig cfg_;
  std::chrono::steady_clock::time_point created_;  // wall_s counts data generation too
  std::ostream& out_;
  std::string run_dir_;
  std::string resume_dir_;  // the checkpoint run() continues from ("" = a fresh start)
  std::unique_ptr<data::Tokenizer> tok_;
  std::vector<std::vector<data::TokenizedExample>> train_;  // per task, tokenized
  std::vector<EvalTask> dev_;
  std::unique_ptr<EvalSuite> suite_;  // eval.suite, run after the dev evaluation
  std::unique_ptr<data::BatchStream> stream_;
  std::unique_ptr<model::Model> model_;  // on train.device: training, evaluation, checkpoints
};

}  // namespace flame::train
