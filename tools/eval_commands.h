// The eval / judge subcommands of `flame` (same pattern as data_commands.h).
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace flame::tools {

struct EvalCommands {
  void add_to(CLI::App& app);
  // Runs whichever was parsed; returns -1 when none was.
  int run() const;
};

}  // namespace flame::tools
