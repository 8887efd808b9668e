// The Hugging Face subcommands of `flame` (same pattern as data_commands.h):
//   flame import-hf <hf_dir> --out <flame_dir>
//   flame export-hf <flame_dir> --out <hf_dir> [--dtype f32|bf16|f16]
//   flame logits --model <flame_dir> --tokens 1,2,3 [--all]   (hidden; for tools/hf_reference.py)
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace flame::tools {

struct HfCommands {
  CLI::App* import_cmd = nullptr;
  std::string import_dir, import_out;
  CLI::App* export_cmd = nullptr;
  std::string export_dir, export_out, export_dtype = "f32";
  CLI::App* logits_cmd = nullptr;
  std::string logits_model, logits_tokens;
  bool logits_all = false;

  void add_to(CLI::App& app);
  // Runs whichever was parsed; returns -1 when none was.
  int run() const;
};

}  // namespace flame::tools
