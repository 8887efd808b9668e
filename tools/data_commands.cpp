// flame prepare / tokenizer train / data stats (data_commands.h).
#include "tools/data_commands.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include "data/prepare.h"
#include "data/sp_tokenizer.h"
#include "data/stats.h"
#include "core/error.h"
#include "model/config_yaml.h"
#include "train/config.h"

namespace fs = std::filesystem;

namespace flame::tools {

namespace {

data::PrepareConfig load_prepare(const std::string& path, const std::vector<std::string>& ovr) {
  if (!fs::is_regular_file(path)) throw Error("data config file not found: " + path);
  YAML::Node root = load_yaml_file(path, "data config ");
  for (const auto& o : ovr) train::apply_override(root, o);
  return data::parse_prepare_config(root);
}

int run_prepare(const DataCommands& d) {
  const auto cfg = load_prepare(d.prepare_config, d.prepare_overrides);
  const auto report = data::prepare(cfg, std::cerr);
  std::cerr << "prepare: " << report["n_tasks"] << " tasks, " << report["train_examples"]
            << " train / " << report["dev_examples"] << " dev examples, "
            << double(report["raw_bytes"]) / 1e6 << " MB raw in " << report["wall_s"] << " s ("
            << report["raw_mb_per_s"] << " MB/s on " << report["threads"] << " threads) -> "
            << cfg.out_dir << std::endl;
  std::cout << nlohmann::json{{"out_dir", cfg.out_dir},
                              {"n_tasks", report["n_tasks"]},
                              {"train_examples", report["train_examples"]},
                              {"dev_examples", report["dev_examples"]},
                              {"raw_bytes", report["raw_bytes"]},
                              {"wall_s", report["wall_s"]},
                              {"raw_mb_per_s", report["raw_mb_per_s"]},
                              {"raw_unique_bytes", report["raw_unique_bytes"]},
                              {"phases_s", report["phases_s"]},
                              {"tokenizer", report["tokenizer"]}}
                   .dump()
            << std::endl;
  return 0;
}

int run_tokenizer_train(const DataCommands& d) {
  if (d.tok_inputs.empty() == d.tok_data.empty())
    throw Error("tokenizer train: give either --input FILE... or --data CONFIG");
  std::vector<std::string> corpus;
  if (!d.tok_data.empty()) {
    corpus = data::rendered_corpus(load_prepare(d.tok_data, {}), std::cerr);
  } else {
    for (const auto& f : d.tok_inputs) {
      std::ifstream in(f, std::ios::binary);
      if (!in) throw Error("tokenizer train: cannot open " + f);
      std::stringstream ss;
      ss << in.rdbuf();
      corpus.push_back(ss.str());
    }
  }
  data::SpTrainOptions opt;
  opt.vocab_size = d.tok_vocab;
  opt.model_type = d.tok_type;
  opt.character_coverage = d.tok_coverage;
  const auto t0 = std::chrono::steady_clock::now();
  if (const auto parent = fs::path(d.tok_out).parent_path(); !parent.empty())
    fs::create_directories(parent);
  data::train_sentencepiece(corpus, opt, d.tok_out);
  const data::SentencePieceTokenizer tok(d.tok_out);
  std::cout << nlohmann::json{{"model", d.tok_out},
                              {"vocab_size", tok.vocab_size()},
                              {"fingerprint", tok.fingerprint()},
                              {"wall_s", std::chrono::duration<double>(
                                             std::chrono::steady_clock::now() - t0)
                                             .count()}}
                   .dump()
            << std::endl;
  return 0;
}

int run_stats(const DataCommands& d) {
  const auto st = data::shard_stats(data::find_shards(d.stats_path), d.stats_cap,
                                    d.stats_temperature);
  std::cout << (d.stats_json ? st.dump(2) + "\n" : data::stats_table(st));
  return 0;
}

}  // namespace

void DataCommands::add_to(CLI::App& app) {
  prepare = app.add_subcommand("prepare", "Raw datasets -> task examples -> tokens in HDF5 shards");
  prepare->add_option("config", prepare_config, "Data config, e.g. configs/data/flame_raw.yaml")
      ->required();
  prepare->add_option("overrides", prepare_overrides, "Overrides key=value, e.g. max_tokens=256");

  CLI::App* tok = app.add_subcommand("tokenizer", "SentencePiece tokenizer tools");
  tokenizer_train = tok->add_subcommand("train", "Train a SentencePiece model (byte fallback on)");
  tokenizer_train->add_option("--input", tok_inputs, "Text files to train on (one sentence per line)");
  tokenizer_train->add_option("--data", tok_data, "Or: a data config whose rendered examples are the corpus");
  tokenizer_train->add_option("--out", tok_out, "Output .model path")->required();
  tokenizer_train->add_option("--vocab-size", tok_vocab, "Vocabulary size (default 8000)");
  tokenizer_train->add_option("--model-type", tok_type, "unigram | bpe | char | word");
  tokenizer_train->add_option("--character-coverage", tok_coverage, "Default 0.9995");
  tok->require_subcommand(1);

  CLI::App* data_cmd = app.add_subcommand("data", "Inspect prepared data");
  stats = data_cmd->add_subcommand("stats", "Per-task counts, lengths, labels, mixture rates");
  stats->add_option("shards", stats_path, "A shard directory or one .h5 file")->required();
  stats->add_flag("--json", stats_json, "Print JSON instead of a table");
  stats->add_option("--cap", stats_cap, "Examples-proportional cap per task (default 65536)");
  stats->add_option("--temperature", stats_temperature, "Mixing temperature (default 1)");
  data_cmd->require_subcommand(1);
}

int DataCommands::run() const {
  if (prepare && prepare->parsed()) return run_prepare(*this);
  if (tokenizer_train && tokenizer_train->parsed()) return run_tokenizer_train(*this);
  if (stats && stats->parsed()) return run_stats(*this);
  return -1;
}

}  // namespace flame::tools
