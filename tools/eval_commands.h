// The eval / judge subcommands of `flame` (same pattern as data_commands.h): `flame eval` scores
// a checkpoint on an evaluation suite (train/eval_suite.h), `flame judge` scores the items of a
// JSONL file with a task card and writes one judgment per line. Both return the exit code and
// throw flame::Error for the caller's one-line error report. I/O in docs/evaluation.md.
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace flame::tools {

struct EvalCommands {
  // flame eval --model CKPT --suite YAML [--max-examples N] [--json OUT]
  CLI::App* eval = nullptr;
  std::string eval_model, eval_suite, eval_json;
  int eval_max_examples = 0;
  std::string device = "cpu";  // eval and judge: cpu | cuda (scoring on the GPU)
  // flame judge --model CKPT --input JSONL [--task CARD] [--output JSONL] [--batch N]
  CLI::App* judge = nullptr;
  std::string judge_model, judge_input, judge_task = "eval_pairwise", judge_output;
  int judge_batch = 256;
  int judge_explain = 0;  // > 0: also generate an explanation of at most this many tokens

  void add_to(CLI::App& app);
  // Runs whichever was parsed; returns -1 when none was.
  int run() const;
};

}  // namespace flame::tools
