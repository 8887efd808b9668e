// Runs the built `flame` binary (FLAME_BINARY) and captures its exit code, stdout and stderr;
// gives each test its own scratch directory.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/temp_dir.h"

namespace flame_test {

// A test's scratch folder (tests/temp_dir.h), also reachable as `dir`.
struct Scratch : TempDir {
  explicit Scratch(const std::string& tag) : TempDir("test_" + tag) {}
  const std::filesystem::path& dir = path();
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct RunResult {
  int rc = -1;
  std::string out, err;
};

// `args` is appended to the binary path as shell words.
inline RunResult run_flame(const Scratch& s, const std::string& args) {
  const auto out = s.dir / "stdout.txt", err = s.dir / "stderr.txt";
  const std::string cmd = std::string(FLAME_BINARY) + " " + args + " >" + out.string() + " 2>" +
                          err.string();
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace flame_test
