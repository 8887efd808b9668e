// The `flame` command line. Every failure ends here as ONE line on stderr:
//   error: <what went wrong>       exit 1 (bad config, bad data, runtime failure)
//   error: <usage problem>         exit 2 (unknown subcommand/flag, missing argument)
// so scripts and users never see a stack trace or an abort.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "model/backend.h"
#include "tools/data_commands.h"
#include "tools/eval_commands.h"
#include "tools/hf_commands.h"
#include "train/config.h"
#include "train/trainer.h"

namespace {

constexpr const char* kVersion = "0.1.0";

// Messages may carry newlines (yaml-cpp, nested errors); the contract is one line.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int fail(const std::string& msg, int code) {
  std::cout.flush();
  std::cerr << "error: " << one_line(msg) << std::endl;
  return code;
}

int cmd_train(const std::string& config_path, const std::vector<std::string>& overrides) {
  const flame::train::RunConfig cfg = flame::train::load_config(config_path, overrides);
  flame::train::Trainer trainer(cfg);
  trainer.run();
  return 0;
}

void print_version() {
  const char* cuda = flame::model::backend_built(flame::model::Device::cuda) ? "built" : "not built";
  std::cout << "flame " << kVersion << " (CPU backend; CUDA backend " << cuda << ")" << std::endl;
}

}  // namespace

// libgomp's default wait policy spins idle OpenMP threads for a while after every parallel
// region. Between regions the model calls OpenBLAS, whose own pthreads then fight the spinning
// threads for the cores: on 2 cores a training step costs ~2x the CPU time. The policy is read
// when libgomp loads, before main, so when the user has not chosen one we choose PASSIVE and
// restart the process once. A failed exec just carries on with the default.
void prefer_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("FLAME_NO_REEXEC")) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::setenv("FLAME_NO_REEXEC", "1", 1);
  ::execv("/proc/self/exe", argv);
}

int main(int argc, char** argv) {
  prefer_passive_omp_wait(argv);
  CLI::App app{"flame: train transformer autoraters (LLM judges) - FLAMe, FLAMe-RM, FLAMe-Opt-RM",
               "flame"};
  app.require_subcommand(0, 1);  // none: handled below, so an unknown word is named instead
  bool version_flag = false;
  app.add_flag("--version", version_flag, "Print the version and exit");

  std::string config_path;
  std::vector<std::string> overrides;
  CLI::App* train = app.add_subcommand("train", "Train a model from a run config (YAML)");
  train->add_option("config", config_path, "Run config, e.g. configs/runs/quickstart.yaml")
      ->required();
  train->add_option("overrides", overrides,
                    "Config overrides section.key=value, e.g. train.steps=100 data.tasks=[a,b]");
  train->footer("Writes <train.out_dir>/<name>/{config.yaml,metrics.jsonl,summary.json}; the "
                "last line of stdout is the JSON summary.");
  CLI::App* version = app.add_subcommand("version", "Print the version");
  flame::tools::DataCommands data_cmds;
  data_cmds.add_to(app);
  flame::tools::EvalCommands eval_cmds;
  eval_cmds.add_to(app);
  flame::tools::HfCommands hf_cmds;
  hf_cmds.add_to(app);

  try {
    // `flame --version` alone should not trip require_subcommand.
    if (argc == 2 && std::string(argv[1]) == "--version") {
      print_version();
      return 0;
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints help to stdout, exit 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see flame --help)", 2);
  }

  try {
    if (version->parsed()) {
      print_version();
      return 0;
    }
    if (train->parsed()) return cmd_train(config_path, overrides);
    if (const int rc = data_cmds.run(); rc >= 0) return rc;
    if (const int rc = eval_cmds.run(); rc >= 0) return rc;
    if (const int rc = hf_cmds.run(); rc >= 0) return rc;
    return fail("a subcommand is required: train, prepare, tokenizer, data, eval, judge, import-hf, "
                "export-hf or version (see flame --help)", 2);
  } catch (const flame::Error& e) {
    return fail(e.what(), 1);
  } catch (const YAML::Exception& e) {
    return fail(std::string("YAML: ") + e.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail("out of memory (try a smaller model, train.micro_batch_size or data.seq_len)", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  } catch (...) {
    return fail("unknown exception", 1);
  }
}
