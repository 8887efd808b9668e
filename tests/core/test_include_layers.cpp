// The layer graph, enforced: every quoted #include of a project folder in the tree must be an
// edge the architecture allows (docs/architecture.md):
//   core <- kernels <- model <- train <- tools;  core <- data <- train;
//   data never includes kernels or model; nothing includes tools.
// bench/ and tests/ sit on top (anything but tools/); bench/ reads the op-case table the
// conformance test owns (tests/kernels/op_cases.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> a = {
      {"core", {"core"}},
      {"kernels", {"core", "kernels"}},
      {"data", {"core", "data"}},
      {"model", {"core", "kernels", "model"}},
      {"train", {"core", "kernels", "data", "model", "train"}},
      {"tools", {"core", "kernels", "data", "model", "train", "tools"}},
      {"bench", {"core", "kernels", "data", "model", "train", "bench", "tests"}},
      {"tests", {"core", "kernels", "data", "model", "train", "tests"}},
  };
  return a;
}

// "file:line: <layer> includes <target>" for every include the graph forbids under `root`.
std::vector<std::string> forbidden_includes(const fs::path& root) {
  static const std::regex include_re(R"(^\s*#\s*include\s*"([A-Za-z_]+)/[^"]*")");
  std::vector<std::string> bad;
  for (const auto& [layer, ok] : allowed()) {
    const fs::path dir = root / layer;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() ||
          !(ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".cuh" || ext == ".hpp"))
        continue;
      std::ifstream in(e.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        std::smatch m;
        if (!std::regex_search(line, m, include_re)) continue;
        const std::string target = m[1];
        if (!allowed().count(target)) continue;  // not a project folder (e.g. "CLI/CLI.hpp")
        if (!ok.count(target))
          bad.push_back(fs::relative(e.path(), root).string() + ":" + std::to_string(n) + ": " +
                        layer + " includes " + target + "/");
      }
    }
  }
  return bad;
}

TEST(IncludeLayers, TheTreeKeepsTheLayerGraph) {
  const auto bad = forbidden_includes(FLAME_SOURCE_DIR);
  std::string list;
  for (const auto& b : bad) list += "\n  " + b;
  EXPECT_TRUE(bad.empty()) << "includes the layer graph forbids:" << list;
}

TEST(IncludeLayers, SeesAForbiddenEdgeInAFixtureTree) {
  flame_test::TempDir dir("layers");
  dir.write("core/a.h", "#include \"core/b.h\"\n");
  dir.write("data/x.cpp", "#include \"core/a.h\"\n  #include \"model/model.h\"\n");
  dir.write("kernels/k.cu", "#include <cuda.h>\n#include \"train/trainer.h\"\n");
  dir.write("model/m.cpp", "#include \"CLI/CLI.hpp\"\n#include \"kernels/k.h\"\n");
  dir.write("train/t.cpp", "#include \"tools/flame_main.h\"\n");
  const auto bad = forbidden_includes(dir.path());
  ASSERT_EQ(bad.size(), 3u);
  std::set<std::string> got(bad.begin(), bad.end());
  EXPECT_TRUE(got.count("data/x.cpp:2: data includes model/"));
  EXPECT_TRUE(got.count("kernels/k.cu:2: kernels includes train/"));
  EXPECT_TRUE(got.count("train/t.cpp:1: train includes tools/"));
}

}  // namespace
