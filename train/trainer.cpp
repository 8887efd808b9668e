// The training loop (trainer.h).
#include "train/trainer.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "data/fit.h"
#include "data/render.h"
#include "data/shard.h"
#include "data/synthetic.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timing.h"
#include "train/schedule.h"

namespace fs = std::filesystem;

namespace flame::train {

namespace {

// The seed of independent random stream `stream` of a run, derived from the one run seed so that
// e.g. changing the data seed does not silently reuse the init stream.
uint64_t sub_seed(uint64_t seed, uint64_t stream) { return splitmix_at(seed, stream); }

}  // namespace

long Trainer::generate_synthetic_tasks(uint64_t data_seed) {
  std::vector<long> n_cut(train_.size(), 0);
  std::vector<std::string> errors(train_.size());  // an exception must not leave an omp region
  // Tasks are independent: one per thread.
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < train_.size(); ++i) try {
    const auto& card = data::synthetic_card(cfg_.data.tasks[i]);
    const auto exs = data::generate_synthetic(card.name, data::Split::train,
                                              cfg_.data.train_examples, data_seed);
    // The same fitting as flame prepare: an example longer than seq_len loses context, never
    // target, and the cut does not depend on its label.
    const data::ExampleFitter fitter(card, *tok_, cfg_.data.seq_len);
    auto& tokenized = train_[i];
    tokenized.reserve(exs.size());
    for (auto ex : exs) {
      data::TokenizedExample t;
      bool truncated = false;
      if (!fitter.fit(ex, t, truncated)) continue;  // cannot fit even with an empty context
      n_cut[i] += truncated;
      t.task = (int)i;
      tokenized.push_back(std::move(t));
    }
    if (tokenized.empty())
      throw Error("task " + card.name + ": no example fits data.seq_len " +
                  std::to_string(cfg_.data.seq_len) + " even with its context cut (raise "
                  "data.seq_len, or use a tokenizer with shorter sequences: data.tokenizer=word)");
    dev_[i].card = card;
    dev_[i].examples = data::generate_synthetic(card.name, data::Split::dev,
                                                cfg_.data.dev_examples, data_seed);
  } catch (const std::exception& e) {
    errors[i] = e.what();
  }
  for (const auto& e : errors)
    if (!e.empty()) throw Error(e);
  return std::accumulate(n_cut.begin(), n_cut.end(), 0L);
}

long Trainer::load_shards() {
  long n_cut = 0;
  // HDF5 reads are serial (the serial HDF5 library is not thread-safe); the shard's tokenizer
  // must be this run's, and every token id must fit the model's vocabulary.
  for (size_t i = 0; i < train_.size(); ++i) {
    const auto path = (fs::path(cfg_.data.shards) / (cfg_.data.tasks[i] + ".h5")).string();
    const data::TaskShard s = data::read_shard(path, tok_->fingerprint());
    for (int32_t t : s.train.tokens)
      FLAME_CHECK(t >= 0 && t < cfg_.model.cfg.vocab_size,
                  "shard " << path << ": token id " << t << " outside the model's vocabulary ("
                           << cfg_.model.cfg.vocab_size << ")");
    train_[i].reserve(s.train.size());
    for (size_t k = 0; k < s.train.size(); ++k) train_[i].push_back(s.train.example(k, int(i)));
    FLAME_CHECK(!train_[i].empty(), "shard " << path << " has no training examples");
    dev_[i].card = s.card;
    dev_[i].examples = s.dev_examples;
    n_cut += s.counts.truncated;
  }
  return n_cut;
}

long Trainer::n_dev() const {
  long n = 0;
  for (const auto& d : dev_) n += long(d.examples.size());
  return n;
}

Trainer::Trainer(RunConfig cfg, std::ostream& out)
    : cfg_(std::move(cfg)), created_(Clock::now()), out_(out) {
  validate(cfg_);
  const model::Device device = model::parse_device(cfg_.train.device);
  if (!model::backend_available(device))
    throw Error("train.device: cuda, but no CUDA device available (use device: cpu)");
  if (cfg_.train.threads > 0) omp_set_num_threads(cfg_.train.threads);
  run_dir_ = (fs::path(cfg_.train.out_dir) / cfg_.name).string();
  tok_ = data::make_tokenizer(cfg_.data.tokenizer);

  // Data: every task tokenized, from shards (flame prepare) or from the synthetic generator.
  const auto t0 = Clock::now();
  const size_t n_tasks = cfg_.data.tasks.size();
  train_.resize(n_tasks);
  dev_.resize(n_tasks);
  const long n_cut = cfg_.data.source == "shards" ? load_shards()
                                                  : generate_synthetic_tasks(sub_seed(cfg_.seed, 0));
  long n_tok = 0, n_long = 0, n_train = 0;
  for (const auto& task : train_)
    for (const auto& ex : task) {
      const long len = long(ex.input.size() + ex.target.size());
      n_tok += len;
      n_long += len > cfg_.data.seq_len;
      ++n_train;
    }

  std::vector<double> weights;  // empty: examples-proportional with the cap
  if (!cfg_.data.mixture.weights.empty())
    for (const auto& t : cfg_.data.tasks) {
      const auto it = cfg_.data.mixture.weights.find(t);
      weights.push_back(it == cfg_.data.mixture.weights.end() ? 1.0 : it->second);
    }
  std::vector<long> sizes;
  for (const auto& task : train_) sizes.push_back((long)task.size());
  data::MixtureSampler sampler(sizes, weights, cfg_.data.mixture.cap, sub_seed(cfg_.seed, 1),
                               cfg_.data.mixture.temperature);
  stream_ = std::make_unique<data::BatchStream>(&train_, sampler, cfg_.train.micro_batch_size,
                                                cfg_.data.seq_len,
                                                float(cfg_.data.input_loss_weight));

  model_ = std::make_unique<model::Model>(cfg_.model.cfg, cfg_.train.micro_batch_size,
                                          cfg_.data.seq_len, device);
  model_->init_weights(sub_seed(cfg_.seed, 2));  // the same initial weights on every device
  if (!cfg_.eval.suite.empty()) suite_ = std::make_unique<EvalSuite>(load_eval_suite(cfg_.eval.suite));
  if (!cfg_.model.init_from.empty()) init_from_checkpoint(cfg_.model.preset_path);
  find_resume_point();

  char buf[512];
  std::snprintf(buf, sizeof buf,
                "data: %zu tasks (%s), %ld train examples (%.1f M tokens, mean %.0f per example, "
                "%.1f%% with their context cut to fit), %ld dev | %.1f s",
                n_tasks, cfg_.data.source.c_str(), n_train, n_tok / 1e6,
                double(n_tok) / double(std::max(n_train, 1L)),
                100.0 * n_cut / double(std::max(n_train, 1L)), n_dev(), seconds_since(t0));
  out_ << buf << "\n";
  if (n_long > 0)
    // Only shards prepared with a larger max_tokens get here; the packer then keeps the target
    // and cuts the input's left end, which loses the instructions and depends on the target's
    // length (a label leak flame prepare's own cut avoids).
    out_ << "warning: " << n_long << " training examples are longer than data.seq_len ("
         << cfg_.data.seq_len << ") and get cut by the packer; prepare the shards with max_tokens: "
         << cfg_.data.seq_len << "\n";
  std::snprintf(buf, sizeof buf,
                "model: %zu params (%d layers, d_model %d, %d heads, vocab %d) | batch %d rows x %d "
                "tokens (%d micro-batches of %d) | %d threads",
                model_->num_params(), cfg_.model.cfg.n_layer, cfg_.model.cfg.d_model,
                cfg_.model.cfg.n_head, cfg_.model.cfg.vocab_size, cfg_.train.batch_size,
                cfg_.data.seq_len, cfg_.train.grad_accum(), cfg_.train.micro_batch_size,
                omp_get_max_threads());
  out_ << buf << (device == model::Device::cuda ? " | device cuda" : "") << std::endl;
}

nlohmann::json Trainer::run_eval(int step) {
  const auto t0 = Clock::now();
  nlohmann::json ev = evaluate(*model_, *tok_, dev_, cfg_.eval.max_examples);
  char buf[256];
  std::string line = "eval step " + std::to_string(step);
  if (!ev["mean_pairwise_classification"].is_null()) {
    std::snprintf(buf, sizeof buf, " | mean_pairwise_classification %.3f",
                  ev["mean_pairwise_classification"].get<double>());
    line += buf;
  }
  for (const auto& [cat, v] : ev["categories"].items()) {
    std::snprintf(buf, sizeof buf, " | %s %.3f", cat.c_str(), v.get<double>());
    line += buf;
  }
  std::snprintf(buf, sizeof buf, " | %.1f s", seconds_since(t0));
  out_ << line << buf << "\n";
  for (const auto& [task, r] : ev["tasks"].items()) {
    std::snprintf(buf, sizeof buf, "  %-32s %-14s %-12s %s %.3f%s", task.c_str(),
                  r["type"].get<std::string>().c_str(), r["category"].get<std::string>().c_str(),
                  r["metric"].get<std::string>().c_str(), r["value"].get<double>(),
                  r.contains("flipped_labels") ? "  (flipped labels)" : "");
    out_ << buf << "\n";
  }
  if (suite_) {
    ev["suite"] = run_suite(*model_, *tok_, *suite_, cfg_.eval.max_examples);
    out_ << "eval suite " << suite_->name << " at step " << step << ":\n"
         << suite_table(ev["suite"]);
  }
  out_.flush();
  return ev;
}

nlohmann::json Trainer::run() {
  const auto t_start = Clock::now();
  std::error_code ec;
  fs::create_directories(run_dir_, ec);
  if (ec) throw Error("cannot create run directory " + run_dir_ + ": " + ec.message());
  {
    std::ofstream f(fs::path(run_dir_) / "config.yaml");
    YAML::Emitter em;
    em << to_yaml(cfg_);
    f << em.c_str() << "\n";
    if (!f) throw Error("cannot write " + run_dir_ + "/config.yaml");
  }
  RunTotals tot;
  if (!resume_dir_.empty()) restore(resume_dir_, tot);
  // A resumed run keeps the metrics up to its checkpoint; lines a killed run wrote after it are
  // dropped, so metrics.jsonl reads like one uninterrupted run.
  const fs::path metrics_path = fs::path(run_dir_) / "metrics.jsonl";
  {
    std::vector<std::string> kept;
    if (tot.step > 0) {
      std::ifstream in(metrics_path);
      for (std::string line; std::getline(in, line);) {
        try {
          if (nlohmann::json::parse(line).value("step", 0) <= tot.step) kept.push_back(line);
        } catch (const nlohmann::json::exception&) {
          break;  // a line cut by the kill
        }
      }
    }
    std::ofstream out(metrics_path, std::ios::trunc);
    for (const auto& l : kept) out << l << "\n";
  }
  std::ofstream metrics(metrics_path, std::ios::app);
  if (!metrics) throw Error("cannot write " + run_dir_ + "/metrics.jsonl");

  model::Model& model = *model_;
  const LrSchedule sched = LrSchedule::from(cfg_);
  const int steps = cfg_.train.steps, accum = cfg_.train.grad_accum();
  const OptimConfig& opt = cfg_.optim;

  double& first_loss = tot.first_loss;
  double& last_loss = tot.last_loss;
  double& train_s = tot.train_s;  // time in training steps only (evaluation excluded)
  long& total_tokens = tot.total_tokens;
  // what the next progress line averages over
  double& iv_loss = tot.iv_loss;
  double& iv_gnorm = tot.iv_gnorm;
  double& iv_s = tot.iv_s;
  long& iv_tokens = tot.iv_tokens;
  int& iv_steps = tot.iv_steps;
  nlohmann::json last_eval;
  int last_eval_step = 0;
  std::vector<data::Batch> micro(accum);

  for (int step = tot.step + 1; step <= steps; ++step) {
    const auto t0 = Clock::now();
    // The loss is a mean over every target token of the step, so count them all first: each
    // micro-batch's backward then scales by the same global count and accumulation is exact.
    double loss_tokens = 0;  // sum of mask weights (= target tokens when input_loss_weight is 0)
    for (auto& b : micro) {
      b = stream_->next();
      loss_tokens += b.loss_weight();
      for (int32_t s : b.seg) iv_tokens += s != 0;
    }
    const double lr = sched.at(step);
    // Forward and backward over the step's micro-batches, each scaled by the step's one
    // normaliser.
    model.zero_grad();
    double loss_sum = 0;
    for (auto& b : micro) {
      const double n = b.loss_weight();
      if (n == 0) continue;  // nothing to learn from (cannot happen with non-empty targets)
      loss_sum += double(model.forward(b.tokens.data(), b.pos.data(), b.seg.data(),
                                       b.targets.data(), b.mask.data(), b.B, b.T)) * n;
      model.backward(float(std::max(loss_tokens, 1.0)));
    }
    const double loss = loss_sum / std::max(loss_tokens, 1.0);
    if (!std::isfinite(loss))
      throw Error("training diverged: loss is " + std::to_string(loss) + " at step " +
                  std::to_string(step) + " (try a lower optim.lr or more schedule.warmup_steps)");

    // Global grad-norm clipping folded into AdamW (no weight decay on norms and biases), on the
    // device; the norm comes back for the progress line.
    model.optimizer_step({float(lr), float(opt.beta1), float(opt.beta2), float(opt.eps),
                          float(opt.weight_decay), step, float(opt.grad_clip)});
    const double gnorm = model.last_grad_norm();
    if (!std::isfinite(gnorm))
      throw Error("training diverged: gradient norm is " + std::to_string(gnorm) + " at step " +
                  std::to_string(step) + " (try a lower optim.lr or more schedule.warmup_steps)");
    const double dt = seconds_since(t0);
    train_s += dt;
    iv_s += dt;
    iv_loss += loss;
    iv_gnorm += gnorm;
    ++iv_steps;
    if (step == 1) first_loss = loss;

    if (step == 1 || step % cfg_.train.log_interval == 0 || step == steps) {
      const double mean_loss = iv_loss / iv_steps, tps = iv_tokens / std::max(iv_s, 1e-9);
      const double eta = train_s / step * (steps - step);
      total_tokens += iv_tokens;
      last_loss = mean_loss;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "step %d/%d | loss %.4f | lr %.1e | gnorm %.3f | %.0f tok/s | %s elapsed | "
                    "ETA %s",
                    step, steps, mean_loss, lr, iv_gnorm / iv_steps, tps,
                    hms(seconds_since(t_start)).c_str(), hms(eta).c_str());
      out_ << buf << std::endl;
      metrics << nlohmann::json{{"step", step},
                                {"loss", mean_loss},
                                {"lr", lr},
                                {"grad_norm", iv_gnorm / iv_steps},
                                {"tokens_per_s", tps},
                                {"elapsed_s", seconds_since(t_start)}}
                     .dump()
              << std::endl;
      iv_loss = iv_gnorm = iv_s = 0;
      iv_tokens = 0;
      iv_steps = 0;
    }
    tot.step = step;
    const int ci = cfg_.train.ckpt_interval;
    if (ci >= 0 && ((ci > 0 && step % ci == 0) || step == steps)) save(tot);
    const bool eval_now = cfg_.train.eval_interval > 0 && step % cfg_.train.eval_interval == 0;
    if ((eval_now || step == steps) && cfg_.eval.max_examples > 0 && cfg_.data.dev_examples > 0) {
      last_eval = run_eval(step);
      last_eval_step = step;
      metrics << nlohmann::json{{"step", step}, {"eval", last_eval}}.dump() << std::endl;
    }
  }

  if (last_eval_step == 0 && tot.step >= steps && cfg_.eval.max_examples > 0 &&
      cfg_.data.dev_examples > 0) {  // resumed after the last step: evaluate what was restored
    last_eval = run_eval(tot.step);
    last_eval_step = tot.step;
  }
  nlohmann::json summary = {{"name", cfg_.name},
                            {"steps", steps},
                            {"first_loss", first_loss},
                            {"last_loss", last_loss},
                            {"tokens_per_s", total_tokens / std::max(train_s, 1e-9)},
                            {"wall_s", seconds_since(created_)},
                            {"params", model.num_params()},
                            {"eval", last_eval_step ? last_eval : nlohmann::json(nullptr)},
                            {"run_dir", run_dir_}};
  {
    std::ofstream f(fs::path(run_dir_) / "summary.json");
    f << summary.dump(2) << "\n";
    if (!f) throw Error("cannot write " + run_dir_ + "/summary.json");
  }
  out_ << summary.dump() << std::endl;
  return summary;
}

}  // namespace flame::train
