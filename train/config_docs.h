// The key reference docs/config_keys.md, generated from the fields() tables of every config
// reader; a test regenerates it and fails when the checked-in file differs.
#pragma once
#include <string>

namespace flame::train {

std::string config_keys_markdown();

}  // namespace flame::train
