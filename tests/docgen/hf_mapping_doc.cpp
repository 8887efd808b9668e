// Keeps docs/checkpoints.md's Hugging Face mapping tables equal to the tables the converters
// run (model/hf_families.cpp):
//   hf_mapping_doc docs/checkpoints.md           rewrites the generated sections in place
//   hf_mapping_doc --check docs/checkpoints.md   exits 1 when they are out of date (a ctest)
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "model/hf_families.h"

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::string(argv[1]) == "--check";
  if (argc != 2 && !check) {
    std::cerr << "usage: hf_mapping_doc [--check] docs/checkpoints.md\n";
    return 2;
  }
  const std::string path = argv[argc - 1];
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    return 2;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  std::string fresh;
  try {
    fresh = flame::model::hf::regenerate_mapping_sections(doc);
  } catch (const flame::Error& e) {
    std::cerr << path << ": " << e.what() << "\n";
    return 2;
  }
  if (fresh == doc) return 0;
  if (check) {
    std::cerr << path << ": the Hugging Face mapping tables are out of date with "
              << "model/hf_families.cpp; regenerate them with: build/hf_mapping_doc " << path
              << "\n";
    return 1;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << fresh;
  if (!out.flush()) {
    std::cerr << "cannot write " << path << "\n";
    return 2;
  }
  std::cout << "updated " << path << "\n";
  return 0;
}
