// YAML <-> ModelConfig. A model section (or a preset file under configs/models/) is a flat map
// whose keys are exactly the ModelConfig field names; enums are written as their names
// ("rmsnorm", "rope", "swiglu"). Unknown keys and wrongly typed values are errors naming the key.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

#include "core/yaml_file.h"
#include "model/config.h"

namespace flame::model {

// Fields absent from `node` keep their ModelConfig defaults. The result is validated, except
// that vocab_size 0 is accepted: it means "take it from the tokenizer", and whoever fills it in
// calls validate() again before building a Model. Throws flame::Error.
ModelConfig load_model_config(const YAML::Node& node);
// load_model_config on the YAML file at `path`; errors also name the file.
ModelConfig load_model_preset(const std::string& path);
// Every field, in declaration order (round-trips through load_model_config).
YAML::Node to_yaml(const ModelConfig& c);

// validate(c) but with vocab_size 0 allowed (a config still waiting for its tokenizer).
void validate_allow_unset_vocab(const ModelConfig& c);

}  // namespace flame::model
