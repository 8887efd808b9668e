// Run config: YAML tree -> RunConfig (parse_config), checks (validate), overrides, and back.
#include "train/config.h"

#include <charconv>
#include <climits>
#include <cmath>
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

// Shortest text that reads back as the same double ("0.003", not "0.0030000000000000001").
std::string num(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

[[noreturn]] void config_error(const std::string& msg) { throw Error("config error: " + msg); }

std::string describe(const YAML::Node& v) {
  if (!v || v.IsNull()) return "null";
  if (v.IsSequence()) return "a list";
  if (v.IsMap()) return "a map";
  return "'" + v.Scalar() + "'";
}

[[noreturn]] void type_error(const std::string& key, const char* expected, const YAML::Node& v) {
  config_error(key + " expects " + expected + " (got " + describe(v) + ")");
}

// One YAML map being read: every getter records its key, finish() rejects the keys nobody read.
// That gives "unknown key" errors for free, in every section, without a second list of names.
class Section {
 public:
  Section(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
    if (node_ && !node_.IsNull() && !node_.IsMap())
      config_error((path_.empty() ? std::string("the top level") : path_) +
                   " must be a map of keys (got " + describe(node_) + ")");
  }
  std::string key(const std::string& k) const { return path_.empty() ? k : path_ + "." + k; }

  // The value at k, or an undefined node (false in `if`) when absent; marks k as known.
  YAML::Node raw(const std::string& k) {
    known_.insert(k);
    if (!node_ || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& map = node_;  // const lookup: a missing key must not be inserted
    return map[k];
  }
  Section sub(const std::string& k) { return Section(raw(k), key(k)); }

  void get(const std::string& k, std::string& out) {
    YAML::Node v = raw(k);
    if (!v) return;
    if (!v.IsScalar()) type_error(key(k), "a string", v);
    out = v.Scalar();
  }
  void get(const std::string& k, double& out) {
    YAML::Node v = raw(k);
    if (!v) return;
    double x = 0;
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, x) || !std::isfinite(x))
      type_error(key(k), "a number", v);
    out = x;
  }
  void get(const std::string& k, long& out) {
    YAML::Node v = raw(k);
    if (!v) return;
    long long x = 0;
    if (!v.IsScalar() || !YAML::convert<long long>::decode(v, x)) type_error(key(k), "an integer", v);
    out = static_cast<long>(x);
  }
  void get(const std::string& k, int& out) {
    long x = out;
    get(k, x);
    if (x < INT_MIN || x > INT_MAX) type_error(key(k), "a 32-bit integer", raw(k));
    out = static_cast<int>(x);
  }
  void get(const std::string& k, uint64_t& out) {
    YAML::Node v = raw(k);
    if (!v) return;
    unsigned long long x = 0;
    if (!v.IsScalar() || !YAML::convert<unsigned long long>::decode(v, x))
      type_error(key(k), "a non-negative integer", v);
    out = x;
  }
  // A list of strings; a single scalar counts as a one-element list.
  void get(const std::string& k, std::vector<std::string>& out) {
    YAML::Node v = raw(k);
    if (!v) return;
    out.clear();
    if (v.IsScalar()) {
      out.push_back(v.Scalar());
      return;
    }
    if (!v.IsSequence()) type_error(key(k), "a list of strings", v);
    for (const auto& e : v) {
      if (!e.IsScalar()) type_error(key(k), "a list of strings", v);
      out.push_back(e.Scalar());
    }
  }

  // Every key present in the map but never asked for is unknown.
  void finish() const {
    if (!node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      const std::string k = kv.first.Scalar();
      if (!known_.count(k)) config_error("unknown key '" + key(k) + "'");
    }
  }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> known_;
};

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

Decay parse_decay(const std::string& s) {
  if (s == "cosine") return Decay::cosine;
  if (s == "linear") return Decay::linear;
  if (s == "constant") return Decay::constant;
  config_error("schedule.decay expects cosine|linear|constant (got '" + s + "')");
}

// The model section: a preset file, then the run's own model keys on top of it.
ModelSection parse_model(Section s, const data::Tokenizer* tok, const std::string& base_dir) {
  ModelSection m;
  s.get("preset", m.preset);
  s.get("init_from", m.init_from);
  // The known model keys are exactly the fields model::to_yaml writes.
  const YAML::Node fields = model::to_yaml(model::ModelConfig{});
  YAML::Node overrides(YAML::NodeType::Map);
  for (const auto& kv : fields) {
    const std::string k = kv.first.Scalar();
    if (YAML::Node v = s.raw(k)) overrides[k] = v;
  }
  s.finish();

  YAML::Node merged;
  if (!m.init_from.empty()) {
    // The architecture is the checkpoint's; keys given in the run can only restate it.
    try {
      m.preset_path = resolve_checkpoint(m.init_from);
      merged = model::to_yaml(read_checkpoint_model_config(m.preset_path));
    } catch (const Error& e) {
      config_error("model.init_from: " + std::string(e.what()));
    }
    // Compare as parsed values (1e-5 and 1.0e-05 are the same); vocab_size 0 means "as the
    // tokenizer says", so it restates anything.
    YAML::Node restated = YAML::Clone(merged);
    for (const auto& kv : overrides)
      if (!(kv.first.Scalar() == "vocab_size" && kv.second.Scalar() == "0"))
        restated[kv.first.Scalar()] = kv.second;
    YAML::Node want;
    try {
      want = model::to_yaml(model::load_model_config(restated));
    } catch (const Error& e) {
      config_error(e.what());
    }
    for (const auto& kv : want)
      if (YAML::Dump(kv.second) != YAML::Dump(merged[kv.first.Scalar()]))
        config_error("model." + kv.first.Scalar() + " (" + YAML::Dump(kv.second) +
                     ") differs from the init_from checkpoint's (" +
                     YAML::Dump(merged[kv.first.Scalar()]) + ")");
  } else {
    m.preset_path = resolve_preset(m.preset, base_dir);
    merged = load_yaml_file(m.preset_path, "config error: model.preset ");
  }
  if (!merged || merged.IsNull()) merged = YAML::Node(YAML::NodeType::Map);
  if (!merged.IsMap()) config_error("model.preset " + m.preset_path + " is not a map of model keys");
  for (const auto& kv : overrides) merged[kv.first.Scalar()] = kv.second;
  try {
    m.cfg = model::load_model_config(merged);
  } catch (const Error& e) {
    config_error(e.what());  // already names model.<key>
  }
  // vocab_size 0 in a preset means "whatever the tokenizer needs".
  if (m.cfg.vocab_size == 0 && tok) m.cfg.vocab_size = tok->vocab_size();
  return m;
}

}  // namespace

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
  if (!root.IsMap()) config_error("the top level must be a map of sections (got " + describe(root) + ")");
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
  Section top(root, "");
  top.get("name", c.name);
  top.get("seed", c.seed);

  // data first: the model section needs the tokenizer's vocabulary size.
  Section d = top.sub("data");
  d.get("source", c.data.source);
  d.get("shards", c.data.shards);
  if (c.data.source == "shards") c.data.tokenizer = "auto";
  d.get("tokenizer", c.data.tokenizer);
  d.get("tasks", c.data.tasks);
  d.get("train_examples", c.data.train_examples);
  d.get("dev_examples", c.data.dev_examples);
  d.get("seq_len", c.data.seq_len);
  d.get("input_loss_weight", c.data.input_loss_weight);
  {
    Section mix = d.sub("mixture");
    mix.get("cap", c.data.mixture.cap);
    mix.get("temperature", c.data.mixture.temperature);
    YAML::Node w = mix.raw("weights");
    if (w && !w.IsNull()) {
      if (!w.IsMap()) type_error("data.mixture.weights", "a map of task: weight", w);
      for (const auto& kv : w) {
        const std::string task = kv.first.Scalar();
        Section one(w, "data.mixture.weights");
        double x = 0;
        one.get(task, x);
        c.data.mixture.weights[task] = x;
      }
    }
    mix.finish();
  }
  d.finish();
  if (c.data.source == "shards") {
    if (c.data.shards.empty()) config_error("data.source is 'shards' but data.shards is not set");
    if (!fs::is_directory(c.data.shards))
      config_error("data.shards: no directory " + c.data.shards + " (run flame prepare first)");
    if (c.data.tokenizer == "auto") {  // the tokenizer flame prepare made the shards with
      try {
        c.data.tokenizer = data::tokenizer_spec_in(c.data.shards);
      } catch (const Error& e) {
        config_error("data.shards: " + std::string(e.what()));
      }
    }
  }
  if (c.data.tasks.size() == 1 && c.data.tasks[0] == "all") {
    c.data.tasks.clear();
    if (c.data.source == "shards") {
      for (const auto& path : data::find_shards(c.data.shards))
        c.data.tasks.push_back(fs::path(path).stem().string());
    } else {
      for (const auto& card : data::synthetic_cards())
        if (!card.flipped_labels) c.data.tasks.push_back(card.name);
    }
  }

  std::unique_ptr<data::Tokenizer> tok;
  try {
    tok = data::make_tokenizer(c.data.tokenizer);
  } catch (const Error& e) {
    config_error("data.tokenizer: " + std::string(e.what()));
  }
  c.model = parse_model(top.sub("model"), tok.get(), base_dir);

  Section o = top.sub("optim");
  o.get("lr", c.optim.lr);
  o.get("min_lr_ratio", c.optim.min_lr_ratio);
  o.get("weight_decay", c.optim.weight_decay);
  o.get("beta1", c.optim.beta1);
  o.get("beta2", c.optim.beta2);
  o.get("eps", c.optim.eps);
  o.get("grad_clip", c.optim.grad_clip);
  o.finish();

  Section s = top.sub("schedule");
  s.get("warmup_steps", c.schedule.warmup_steps);
  std::string decay = name(c.schedule.decay);
  s.get("decay", decay);
  c.schedule.decay = parse_decay(decay);
  s.finish();

  Section t = top.sub("train");
  t.get("steps", c.train.steps);
  t.get("batch_size", c.train.batch_size);
  t.get("micro_batch_size", c.train.micro_batch_size);
  t.get("log_interval", c.train.log_interval);
  t.get("eval_interval", c.train.eval_interval);
  t.get("device", c.train.device);
  t.get("out_dir", c.train.out_dir);
  t.get("threads", c.train.threads);
  t.get("ckpt_interval", c.train.ckpt_interval);
  t.get("keep_last", c.train.keep_last);
  t.get("keep_every", c.train.keep_every);
  t.get("resume", c.train.resume);
  t.finish();

  Section e = top.sub("eval");
  e.get("max_examples", c.eval.max_examples);
  e.get("suite", c.eval.suite);
  e.finish();

  top.finish();
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

void validate(const RunConfig& c) {
  auto require = [](bool ok, const std::string& key, const std::string& what, auto got) {
    if (ok) return;
    std::ostringstream os;
    os << key << " must be " << what << " (got " << got << ")";
    config_error(os.str());
  };
  require(!c.name.empty() && c.name.find('/') == std::string::npos && c.name != "." &&
              c.name != "..",
          "name", "a plain directory name", "'" + c.name + "'");

  // data
  if (c.data.source != "synthetic" && c.data.source != "shards")
    config_error("data.source expects 'synthetic' or 'shards' (got '" + c.data.source + "')");
  std::unique_ptr<data::Tokenizer> tok;
  try {
    tok = data::make_tokenizer(c.data.tokenizer);
  } catch (const Error& e) {
    config_error("data.tokenizer: " + std::string(e.what()));
  }
  if (c.data.tasks.empty()) config_error("data.tasks must name at least one task");
  std::set<std::string> seen;
  for (const auto& t : c.data.tasks) {
    if (c.data.source == "shards") {
      if (!fs::is_regular_file(fs::path(c.data.shards) / (t + ".h5")))
        config_error("data.tasks: no shard " + t + ".h5 in " + c.data.shards);
    } else {
      try {
        data::synthetic_card(t);
      } catch (const Error&) {
        config_error("data.tasks: unknown task '" + t + "'");
      }
    }
    if (!seen.insert(t).second) config_error("data.tasks: task '" + t + "' listed twice");
  }
  require(c.data.train_examples > 0, "data.train_examples", "> 0", c.data.train_examples);
  require(c.data.dev_examples >= 0, "data.dev_examples", ">= 0", c.data.dev_examples);
  require(c.data.seq_len >= 8, "data.seq_len", ">= 8", c.data.seq_len);
  require(c.data.input_loss_weight >= 0 && c.data.input_loss_weight <= 1, "data.input_loss_weight",
          "in [0, 1]", c.data.input_loss_weight);
  require(c.data.mixture.cap > 0, "data.mixture.cap", "> 0", c.data.mixture.cap);
  require(c.data.mixture.temperature > 0, "data.mixture.temperature", "> 0",
          c.data.mixture.temperature);
  for (const auto& [task, w] : c.data.mixture.weights) {
    if (!seen.count(task))
      config_error("data.mixture.weights: task '" + task + "' is not in data.tasks");
    require(w >= 0, "data.mixture.weights." + task, ">= 0", w);
  }

  // model (its own checks, then how it meets the data)
  try {
    model::validate(c.model.cfg);
  } catch (const Error& e) {
    config_error(e.what());
  }
  if (c.model.cfg.vocab_size < tok->vocab_size()) {
    std::ostringstream os;
    os << "model.vocab_size (" << c.model.cfg.vocab_size << ") must be >= the " << tok->name()
       << " tokenizer's vocabulary (" << tok->vocab_size() << "); use 0 to take it from the tokenizer";
    config_error(os.str());
  }
  if (c.data.seq_len > c.model.cfg.max_seq_len) {
    std::ostringstream os;
    os << "data.seq_len (" << c.data.seq_len << ") must be <= model.max_seq_len ("
       << c.model.cfg.max_seq_len << ")";
    config_error(os.str());
  }

  // optim
  require(c.optim.lr > 0, "optim.lr", "> 0", c.optim.lr);
  require(c.optim.min_lr_ratio >= 0 && c.optim.min_lr_ratio <= 1, "optim.min_lr_ratio",
          "in [0, 1]", c.optim.min_lr_ratio);
  require(c.optim.weight_decay >= 0, "optim.weight_decay", ">= 0", c.optim.weight_decay);
  require(c.optim.beta1 >= 0 && c.optim.beta1 < 1, "optim.beta1", "in [0, 1)", c.optim.beta1);
  require(c.optim.beta2 >= 0 && c.optim.beta2 < 1, "optim.beta2", "in [0, 1)", c.optim.beta2);
  require(c.optim.eps > 0, "optim.eps", "> 0", c.optim.eps);
  require(c.optim.grad_clip >= 0, "optim.grad_clip", ">= 0 (0 disables clipping)",
          c.optim.grad_clip);

  // train + schedule
  require(c.train.steps > 0, "train.steps", "> 0", c.train.steps);
  require(c.schedule.warmup_steps >= 0, "schedule.warmup_steps", ">= 0", c.schedule.warmup_steps);
  if (c.schedule.warmup_steps > c.train.steps) {
    std::ostringstream os;
    os << "schedule.warmup_steps (" << c.schedule.warmup_steps << ") must be <= train.steps ("
       << c.train.steps << ")";
    config_error(os.str());
  }
  require(c.train.batch_size > 0, "train.batch_size", "> 0", c.train.batch_size);
  require(c.train.micro_batch_size > 0, "train.micro_batch_size", "> 0",
          c.train.micro_batch_size);
  if (c.train.batch_size % c.train.micro_batch_size != 0) {
    std::ostringstream os;
    os << "train.batch_size (" << c.train.batch_size
       << ") must be a multiple of train.micro_batch_size (" << c.train.micro_batch_size << ")";
    config_error(os.str());
  }
  require(c.train.log_interval > 0, "train.log_interval", "> 0", c.train.log_interval);
  require(c.train.eval_interval >= 0, "train.eval_interval", ">= 0 (0: evaluate at the end only)",
          c.train.eval_interval);
  if (c.train.device == "cuda" && !model::backend_built(model::Device::cuda))
    config_error(
        "train.device: cuda, but this binary was built without the CUDA backend (rebuild with "
        "-DFLAME_CUDA=ON, or use device: cpu)");
  if (c.train.device != "cpu" && c.train.device != "cuda")
    config_error("train.device expects cpu|cuda (got '" + c.train.device + "')");
  require(!c.train.out_dir.empty(), "train.out_dir", "a directory", "''");
  require(c.train.threads >= 0, "train.threads", ">= 0 (0: all cores)", c.train.threads);
  require(c.train.ckpt_interval >= -1, "train.ckpt_interval", ">= 0, or -1 for no checkpoints",
          c.train.ckpt_interval);
  require(c.train.keep_last >= 1, "train.keep_last", ">= 1", c.train.keep_last);
  require(c.train.keep_every >= 0, "train.keep_every", ">= 0", c.train.keep_every);
  require(!c.train.resume.empty(), "train.resume", "auto, never or a checkpoint path", "''");
  require(c.eval.max_examples >= 0, "eval.max_examples", ">= 0", c.eval.max_examples);
  if (!c.eval.suite.empty()) {
    try {
      load_eval_suite(c.eval.suite);
    } catch (const Error& e) {
      config_error("eval.suite: " + std::string(e.what()));
    }
  }
}

YAML::Node to_yaml(const RunConfig& c) {
  YAML::Node n;
  n["name"] = c.name;
  n["seed"] = c.seed;
  YAML::Node m = model::to_yaml(c.model.cfg);
  YAML::Node model;
  model["preset"] = c.model.preset;
  if (!c.model.init_from.empty()) model["init_from"] = c.model.init_from;
  for (const auto& kv : m) model[kv.first.Scalar()] = kv.second;
  n["model"] = model;

  YAML::Node d;
  d["source"] = c.data.source;
  if (!c.data.shards.empty()) d["shards"] = c.data.shards;
  d["tokenizer"] = c.data.tokenizer;
  d["tasks"] = c.data.tasks;
  d["tasks"].SetStyle(YAML::EmitterStyle::Block);
  d["train_examples"] = c.data.train_examples;
  d["dev_examples"] = c.data.dev_examples;
  d["seq_len"] = c.data.seq_len;
  d["input_loss_weight"] = c.data.input_loss_weight;
  d["mixture"]["cap"] = c.data.mixture.cap;
  d["mixture"]["temperature"] = num(c.data.mixture.temperature);
  if (!c.data.mixture.weights.empty())
    for (const auto& [t, w] : c.data.mixture.weights) d["mixture"]["weights"][t] = num(w);
  n["data"] = d;

  YAML::Node o;
  o["lr"] = num(c.optim.lr);
  o["min_lr_ratio"] = num(c.optim.min_lr_ratio);
  o["weight_decay"] = num(c.optim.weight_decay);
  o["beta1"] = num(c.optim.beta1);
  o["beta2"] = num(c.optim.beta2);
  o["eps"] = num(c.optim.eps);
  o["grad_clip"] = num(c.optim.grad_clip);
  n["optim"] = o;

  n["schedule"]["warmup_steps"] = c.schedule.warmup_steps;
  n["schedule"]["decay"] = name(c.schedule.decay);

  YAML::Node t;
  t["steps"] = c.train.steps;
  t["batch_size"] = c.train.batch_size;
  t["micro_batch_size"] = c.train.micro_batch_size;
  t["log_interval"] = c.train.log_interval;
  t["eval_interval"] = c.train.eval_interval;
  t["device"] = c.train.device;
  t["out_dir"] = c.train.out_dir;
  t["threads"] = c.train.threads;
  t["ckpt_interval"] = c.train.ckpt_interval;
  t["keep_last"] = c.train.keep_last;
  t["keep_every"] = c.train.keep_every;
  t["resume"] = c.train.resume;
  n["train"] = t;

  n["eval"]["max_examples"] = c.eval.max_examples;
  if (!c.eval.suite.empty()) n["eval"]["suite"] = c.eval.suite;
  return n;
}

const char* name(Decay d) {
  switch (d) {
    case Decay::cosine: return "cosine";
    case Decay::linear: return "linear";
    case Decay::constant: return "constant";
  }
  return "?";
}

}  // namespace flame::train
