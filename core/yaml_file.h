// Reading a YAML file with one error shape for every config the project reads (run configs,
// model presets, data configs, task cards, eval suites, model directories).
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

namespace flame {

// The YAML document in the file at `path`. A file that does not parse (or cannot be read)
// throws flame::Error "<error_prefix><path>: invalid YAML: <yaml-cpp's reason, with line and
// column>". Callers check that the file exists first, with their own message.
YAML::Node load_yaml_file(const std::string& path, const std::string& error_prefix);

}  // namespace flame
