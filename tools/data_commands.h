// The data subcommands of `flame`: prepare, tokenizer train, data stats. Each returns the exit
// code and throws flame::Error for the caller's one-line error report.
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace flame::tools {

struct DataCommands {
  // flame prepare <config> [section.key=value ...]
  CLI::App* prepare = nullptr;
  std::string prepare_config;
  std::vector<std::string> prepare_overrides;
  // flame tokenizer train (--input FILE ... | --data CONFIG) --out MODEL [options]
  CLI::App* tokenizer_train = nullptr;
  std::vector<std::string> tok_inputs;
  std::string tok_data, tok_out;
  int tok_vocab = 8000;
  std::string tok_type = "unigram";
  double tok_coverage = 0.9995;
  // flame data stats <shards> [--json] [--cap N] [--temperature T]
  CLI::App* stats = nullptr;
  std::string stats_path;
  bool stats_json = false;
  long stats_cap = 65536;
  double stats_temperature = 1.0;

  void add_to(CLI::App& app);
  // Runs whichever was parsed; returns -1 when none was.
  int run() const;
};

}  // namespace flame::tools
