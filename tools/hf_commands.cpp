// PLACEHOLDER: the import-hf / export-hf subcommands are being written.
#include "tools/hf_commands.h"

#include <CLI/CLI.hpp>

namespace flame::tools {

void HfCommands::add_to(CLI::App&) {}

int HfCommands::run() const { return -1; }

}  // namespace flame::tools
