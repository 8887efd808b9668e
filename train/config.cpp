// Run config: YAML tree -> RunConfig (parse_config), checks (validate), overrides, and back.
#include "train/config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "data/stats.h"
#include "train/checkpoint.h"
#include "train/eval_suite.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "data/tokenizer_dir.h"
#include "core/error.h"
#include <nlohmann/json.hpp>
#include "model/backend.h"
#include "model/config_yaml.h"

namespace fs = std::filesystem;

namespace flame::train {

namespace {

const config::Ctx& run_ctx() {
  static const config::Ctx c{config::Wording("config error: "), ""};
  return c;
}

[[noreturn]] void config_error(const std::string& msg) { run_ctx().fail(msg); }

// configs/models/<preset>.yaml (or the path given) searched from the config's directory and its
// parents, then from the working directory and its parents, so `flame train` works from the repo root, from a run
// dir (runs/x/config.yaml) and from anywhere with absolute paths.
std::string resolve_preset(const std::string& preset, const std::string& base_dir) {
  const bool is_path = preset.find('/') != std::string::npos ||
                       preset.ends_with(".yaml") || preset.ends_with(".yml");
  const fs::path rel = is_path ? fs::path(preset) : fs::path("configs/models") / (preset + ".yaml");
  std::error_code ec;
  if (rel.is_absolute()) {
    if (fs::is_regular_file(rel, ec)) return rel.string();
  } else {
    std::vector<fs::path> dirs;
    for (fs::path start : {fs::absolute(base_dir.empty() ? "." : base_dir, ec), fs::current_path(ec)})
      for (fs::path d = start;; d = d.parent_path()) {
        dirs.push_back(d);
        if (d == d.parent_path()) break;
      }
    for (const auto& d : dirs)
      if (fs::is_regular_file(d / rel, ec)) return (d / rel).lexically_normal().string();
  }
  config_error("model.preset file not found: " + rel.string());
}

// The model keys of the run's model section, read over `base` (the preset's or checkpoint's).
model::ModelConfig with_run_keys(model::ModelConfig base, const YAML::Node& section) {
  config::read_fields(section, base, run_ctx().at("model"), config::keys<ModelSection>());
  return base;
}

// The model section: a preset file (or the init_from checkpoint), then the run's own model keys
// on top of it.
void resolve_model(ModelSection& m, const YAML::Node& section, const data::Tokenizer& tok,
                   const std::string& base_dir) {
  if (!m.init_from.empty()) {
    // The architecture is the checkpoint's; keys given in the run can only restate it.
    model::ModelConfig ckpt;
    try {
      m.preset_path = resolve_checkpoint(m.init_from);
      ckpt = read_checkpoint_model_config(m.preset_path);
    } catch (const Error& e) {
      config_error("model.init_from: " + std::string(e.what()));
    }
    // Compare as parsed values (1e-5 and 1.0e-05 are the same); vocab_size 0 means "as the
    // tokenizer says", so it restates anything.
    model::ModelConfig restated = with_run_keys(ckpt, section);
    if (restated.vocab_size == 0) restated.vocab_size = ckpt.vocab_size;
    const YAML::Node want = model::to_yaml(restated), have = model::to_yaml(ckpt);
    for (const auto& kv : want)
      if (YAML::Dump(kv.second) != YAML::Dump(have[kv.first.Scalar()]))
        config_error("model." + kv.first.Scalar() + " (" + YAML::Dump(kv.second) +
                     ") differs from the init_from checkpoint's (" +
                     YAML::Dump(have[kv.first.Scalar()]) + ")");
    m.cfg = ckpt;
  } else {
    m.preset_path = resolve_preset(m.preset, base_dir);
    const YAML::Node preset = load_yaml_file(m.preset_path, "config error: model.preset ");
    model::ModelConfig base;
    if (preset && !preset.IsNull() && !preset.IsMap())
      config_error("model.preset " + m.preset_path + " is not a map of model keys");
    config::read_fields(preset, base, {config::Wording("config error: " + m.preset_path + ": "), "model"});
    m.cfg = with_run_keys(base, section);
  }
  // vocab_size 0 in a preset means "whatever the tokenizer needs".
  if (m.cfg.vocab_size == 0) m.cfg.vocab_size = tok.vocab_size();
  if (m.cfg.vocab_size < tok.vocab_size()) {
    std::ostringstream os;
    os << "model.vocab_size (" << m.cfg.vocab_size << ") must be >= the " << tok.name()
       << " tokenizer's vocabulary (" << tok.vocab_size() << "); use 0 to take it from the tokenizer";
    config_error(os.str());
  }
}

}  // namespace

const config::Choices<Decay>& choices(Decay) {
  static const config::Choices<Decay> c = {
      {Decay::cosine, "cosine"}, {Decay::linear, "linear"}, {Decay::constant, "constant"}};
  return c;
}

const config::Fields<ModelSection>& ModelSection::fields() {
  using config::field;
  static const config::Fields<ModelSection> f = [] {
    config::Fields<ModelSection> f = {
        field("preset", &ModelSection::preset,
              "configs/models/<preset>.yaml, or a path to a model YAML; the keys below override it"),
        field("init_from", &ModelSection::init_from,
              "a checkpoint whose architecture and weights the run starts from; model keys given "
              "must agree with it")
            .write_if([](const std::string& s) { return !s.empty(); }),
    };
    config::lift(f, &ModelSection::cfg);
    return f;
  }();
  return f;
}

const config::Fields<MixtureConfig>& MixtureConfig::fields() {
  using M = MixtureConfig;
  using config::field;
  static const config::Fields<M> f = {
      field("cap", &M::cap, "examples-proportional cap per task (paper: 2^16)").check(config::above(0)),
      field("temperature", &M::temperature, "rates ~ weight^(1/T); > 1 flattens toward uniform")
          .check(config::above(0)),
      field("weights", &M::weights,
            "explicit weights; when given every task is sampled by weight (unlisted tasks weigh 1)")
          .check([](double w) { return w >= 0; }, ">= 0")
          .write_if([](const auto& w) { return !w.empty(); }),
  };
  return f;
}

const config::Fields<DataConfig>& DataConfig::fields() {
  using D = DataConfig;
  using config::field;
  static const config::Fields<D> f = {
      field("source", &D::source, "synthetic (embedded generator) or shards (flame prepare)")
          .check([](const std::string& s) { return s == "synthetic" || s == "shards"; },
                 "'synthetic' or 'shards'"),
      field("shards", &D::shards, "with source: shards, the directory flame prepare wrote")
          .write_if([](const std::string& s) { return !s.empty(); }),
      field("tokenizer", &D::tokenizer,
            "tokenizer kind; with source: shards the default is auto (the shards' own)"),
      field("tasks", &D::tasks,
            "task names; all: every non-flipped synthetic task, or every shard in data.shards"),
      field("train_examples", &D::train_examples, "synthetic: generated training examples per task")
          .check(config::above(0)),
      field("dev_examples", &D::dev_examples, "synthetic: generated dev examples per task")
          .check(config::at_least(0)),
      field("seq_len", &D::seq_len, "packed row length (<= model.max_seq_len)")
          .check(config::at_least(8)),
      field("input_loss_weight", &D::input_loss_weight,
            "loss weight of prompt tokens (0: targets only, as FLAMe)")
          .check(config::within(0, 1)),
      field("mixture", &D::mixture, "how tasks are mixed"),
  };
  return f;
}

const config::Fields<OptimConfig>& OptimConfig::fields() {
  using O = OptimConfig;
  using config::field;
  static const config::Fields<O> f = {
      field("lr", &O::lr, "peak learning rate (AdamW)").check(config::above(0)),
      field("min_lr_ratio", &O::min_lr_ratio, "final lr = lr * min_lr_ratio (decaying schedules)")
          .check(config::within(0, 1)),
      field("weight_decay", &O::weight_decay, "decoupled decay on matrices (0 on norms/biases)")
          .check(config::at_least(0)),
      field("beta1", &O::beta1, "first-moment decay").check(config::within(0, 1, true)),
      field("beta2", &O::beta2, "second-moment decay").check(config::within(0, 1, true)),
      field("eps", &O::eps, "AdamW denominator epsilon").check(config::above(0)),
      field("grad_clip", &O::grad_clip, "global grad-norm clip")
          .check(config::at_least(0, ">= 0 (0 disables clipping)")),
  };
  return f;
}

const config::Fields<ScheduleConfig>& ScheduleConfig::fields() {
  using S = ScheduleConfig;
  using config::field;
  static const config::Fields<S> f = {
      field("warmup_steps", &S::warmup_steps, "linear warmup from 0 to lr (<= train.steps)")
          .check(config::at_least(0)),
      field("decay", &S::decay, "shape after warmup, down to lr * min_lr_ratio"),
  };
  return f;
}

const config::Fields<TrainConfig>& TrainConfig::fields() {
  using T = TrainConfig;
  using config::field;
  auto set = [](const std::string& s) { return !s.empty(); };
  static const config::Fields<T> f = {
      field("steps", &T::steps, "optimizer steps").check(config::above(0)),
      field("batch_size", &T::batch_size, "packed rows per optimizer step (global)")
          .check(config::above(0)),
      field("micro_batch_size", &T::micro_batch_size,
            "rows per forward/backward; must divide batch_size (the rest is accumulation)")
          .check(config::above(0)),
      field("log_interval", &T::log_interval, "steps between progress lines / metrics records")
          .check(config::above(0)),
      field("eval_interval", &T::eval_interval, "steps between dev evaluations")
          .check(config::at_least(0, ">= 0 (0: evaluate at the end only)")),
      field("device", &T::device, "cpu or cuda (cuda needs a FLAME_WITH_CUDA build)"),
      field("out_dir", &T::out_dir, "run dir = <out_dir>/<name>/").check(set, "a directory"),
      field("threads", &T::threads, "OpenMP threads").check(config::at_least(0, ">= 0 (0: all cores)")),
      field("ckpt_interval", &T::ckpt_interval, "steps between checkpoints (0: only at the end)")
          .check(config::at_least(-1, ">= 0, or -1 for no checkpoints")),
      field("keep_last", &T::keep_last, "checkpoints kept: the newest keep_last ...")
          .check(config::at_least(1)),
      field("keep_every", &T::keep_every, "... and every keep_every-th step (0: none)")
          .check(config::at_least(0)),
      field("resume", &T::resume,
            "auto: continue from <run dir>/ckpt/latest when it exists; never: start over (deletes "
            "the run's old checkpoints); or a checkpoint path")
          .check(set, "auto, never or a checkpoint path"),
  };
  return f;
}

const config::Fields<EvalConfig>& EvalConfig::fields() {
  using E = EvalConfig;
  using config::field;
  static const config::Fields<E> f = {
      field("max_examples", &E::max_examples, "dev examples per task scored at each evaluation")
          .check(config::at_least(0)),
      field("suite", &E::suite, "an eval suite (configs/eval/*.yaml) also run at each evaluation")
          .write_if([](const std::string& s) { return !s.empty(); }),
  };
  return f;
}

const config::Fields<RunConfig>& RunConfig::fields() {
  using R = RunConfig;
  using config::field;
  static const config::Fields<R> f = {
      field("name", &R::name, "run name -> <train.out_dir>/<name>/")
          .check([](const std::string& n) {
            return !n.empty() && n.find('/') == std::string::npos && n != "." && n != "..";
          }, "a plain directory name"),
      field("seed", &R::seed, "seeds data generation, mixture and weight init"),
      field("model", &R::model, "the model: a preset plus any model key below overriding it"),
      field("data", &R::data, "training data"),
      field("optim", &R::optim, "AdamW"),
      field("schedule", &R::schedule, "learning-rate schedule"),
      field("train", &R::train, "the training loop"),
      field("eval", &R::eval, "evaluation during training"),
  };
  return f;
}

void apply_override(YAML::Node& root, const std::string& kv) {
  const size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("bad override '" + kv + "': expected section.key=value");
  const std::string path = kv.substr(0, eq), text = kv.substr(eq + 1);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw Error("bad override '" + kv + "': empty key in '" + path + "'");
    keys.push_back(k);
  }
  if (path.back() == '.') throw Error("bad override '" + kv + "': empty key in '" + path + "'");
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error("bad override '" + kv + "': value is not valid YAML (" + e.msg + ")");
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) config_error("the top level must be a map of sections (got " + config::describe(root) + ")");
  // Node::operator= assigns *through* a handle in yaml-cpp; reset() rebinds it, as walking needs.
  YAML::Node cur;
  cur.reset(root);
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = cur[keys[i]];
    if (!next || next.IsNull()) {
      cur[keys[i]] = YAML::Node(YAML::NodeType::Map);
      next.reset(cur[keys[i]]);
    } else if (!next.IsMap()) {
      throw Error("bad override '" + kv + "': '" + keys[i] + "' is not a section");
    }
    cur.reset(next);
  }
  cur[keys.back()] = value;
}


RunConfig parse_config(const YAML::Node& root, const std::string& base_dir) {
  RunConfig c;
  // With shards the tokenizer defaults to the shards' own; a tokenizer key still overrides it.
  if (root && root.IsMap()) {
    const YAML::Node& r = root;
    if (const YAML::Node d = r["data"]; d && d.IsMap())
      if (const YAML::Node src = d["source"]; src && src.IsScalar() && src.Scalar() == "shards")
        c.data.tokenizer = "auto";
  }
  config::read_fields(root, c, run_ctx());
  resolve(c, root, base_dir);
  validate(c);
  return c;
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error("config file not found: " + path);
  YAML::Node root = load_yaml_file(path, "config error: ");
  for (const auto& kv : overrides) apply_override(root, kv);
  return parse_config(root, fs::path(path).parent_path().string());
}

void resolve(RunConfig& c, const YAML::Node& root, const std::string& base_dir) {
  DataConfig& d = c.data;
  if (d.source == "shards") {
    if (d.shards.empty()) config_error("data.source is 'shards' but data.shards is not set");
    if (!fs::is_directory(d.shards))
      config_error("data.shards: no directory " + d.shards + " (run flame prepare first)");
    if (d.tokenizer == "auto") {  // the tokenizer flame prepare made the shards with
      try {
        d.tokenizer = data::tokenizer_spec_in(d.shards);
      } catch (const Error& e) {
        config_error("data.shards: " + std::string(e.what()));
      }
    }
  }
  if (d.tasks.size() == 1 && d.tasks[0] == "all") {
    d.tasks.clear();
    if (d.source == "shards") {
      for (const auto& path : data::find_shards(d.shards))
        d.tasks.push_back(fs::path(path).stem().string());
    } else {
      for (const auto& card : data::synthetic_cards())
        if (!card.flipped_labels) d.tasks.push_back(card.name);
    }
  }
  std::unique_ptr<data::Tokenizer> tok;
  try {
    tok = data::make_tokenizer(d.tokenizer);
  } catch (const Error& e) {
    config_error("data.tokenizer: " + std::string(e.what()));
  }
  const YAML::Node& r = root;
  resolve_model(c.model, root && root.IsMap() ? r["model"] : YAML::Node(), *tok, base_dir);
  // After the model, as before: a run that contradicts its init_from checkpoint says so first.
  if (d.source == "shards")
    for (const auto& t : d.tasks)
      if (!fs::is_regular_file(fs::path(d.shards) / (t + ".h5")))
        config_error("data.tasks: no shard " + t + ".h5 in " + d.shards);

  if (!c.eval.suite.empty()) {
    try {
      load_eval_suite(c.eval.suite);
    } catch (const Error& e) {
      config_error("eval.suite: " + std::string(e.what()));
    }
  }
}

void validate(const RunConfig& c) {
  config::check_fields(c, run_ctx());
  try {
    model::validate(c.model.cfg);
  } catch (const Error& e) {
    config_error(e.what());
  }

  // data
  if (c.data.tasks.empty()) config_error("data.tasks must name at least one task");
  std::set<std::string> seen;
  for (const auto& t : c.data.tasks) {
    if (c.data.source != "shards") {
      try {
        data::synthetic_card(t);
      } catch (const Error&) {
        config_error("data.tasks: unknown task '" + t + "'");
      }
    }
    if (!seen.insert(t).second) config_error("data.tasks: task '" + t + "' listed twice");
  }
  for (const auto& [task, w] : c.data.mixture.weights)
    if (!seen.count(task))
      config_error("data.mixture.weights: task '" + task + "' is not in data.tasks");
  if (c.data.seq_len > c.model.cfg.max_seq_len) {
    std::ostringstream os;
    os << "data.seq_len (" << c.data.seq_len << ") must be <= model.max_seq_len ("
       << c.model.cfg.max_seq_len << ")";
    config_error(os.str());
  }

  // train + schedule
  if (c.schedule.warmup_steps > c.train.steps) {
    std::ostringstream os;
    os << "schedule.warmup_steps (" << c.schedule.warmup_steps << ") must be <= train.steps ("
       << c.train.steps << ")";
    config_error(os.str());
  }
  if (c.train.batch_size % c.train.micro_batch_size != 0) {
    std::ostringstream os;
    os << "train.batch_size (" << c.train.batch_size
       << ") must be a multiple of train.micro_batch_size (" << c.train.micro_batch_size << ")";
    config_error(os.str());
  }
  if (c.train.device == "cuda" && !model::backend_built(model::Device::cuda))
    config_error(
        "train.device: cuda, but this binary was built without the CUDA backend (rebuild with "
        "-DFLAME_CUDA=ON, or use device: cpu)");
  if (c.train.device != "cpu" && c.train.device != "cuda")
    config_error("train.device expects cpu|cuda (got '" + c.train.device + "')");
}

YAML::Node to_yaml(const RunConfig& c) { return config::to_yaml(c); }

const char* name(Decay d) { return config::choice_name(d); }

}  // namespace flame::train
