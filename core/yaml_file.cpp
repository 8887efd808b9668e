#include "core/yaml_file.h"

#include "core/error.h"

namespace flame {

YAML::Node load_yaml_file(const std::string& path, const std::string& error_prefix) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(error_prefix + path + ": invalid YAML: " + e.what());
  }
}

}  // namespace flame
