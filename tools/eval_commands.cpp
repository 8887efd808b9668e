// PLACEHOLDER: the eval / judge subcommands are being written.
#include "tools/eval_commands.h"

#include <CLI/CLI.hpp>

namespace flame::tools {

void EvalCommands::add_to(CLI::App&) {}

int EvalCommands::run() const { return -1; }

}  // namespace flame::tools
