// The flame binary on bad input: non-zero exit and exactly one stderr line naming the problem.
#include <gtest/gtest.h>

#include "tests/train/run_flame.h"
#ifdef FLAME_WITH_CUDA
#include "kernels/cuda_check.h"
#endif

using flame_test::run_flame;
using flame_test::Scratch;

namespace {

// exit code `rc`, stderr is the single line "error: ...<expected>...\n"
void expect_one_line_error(const flame_test::RunResult& r, int rc, const std::string& expected) {
  EXPECT_EQ(r.rc, rc) << "stderr: " << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "stderr is not one line: " << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << "stderr: " << r.err;
}

}  // namespace

TEST(Cli, HelpAndVersion) {
  Scratch s("cli_help");
  auto r = run_flame(s, "--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("train"), std::string::npos);
  r = run_flame(s, "version");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out.rfind("flame ", 0), 0u) << r.out;
  r = run_flame(s, "train --help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("overrides"), std::string::npos);
}

TEST(Cli, UsageErrorsExit2) {
  Scratch s("cli_usage");
  expect_one_line_error(run_flame(s, ""), 2, "subcommand");
  expect_one_line_error(run_flame(s, "frobnicate"), 2, "frobnicate");
  expect_one_line_error(run_flame(s, "train"), 2, "config");
  expect_one_line_error(run_flame(s, "--bogus-flag"), 2, "bogus");
}

TEST(Cli, ConfigErrorsExit1) {
  Scratch s("cli_config");
  expect_one_line_error(run_flame(s, "train missing.yaml"), 1,
                        "error: config file not found: missing.yaml");
  const std::string bad_key = s.write("bad_key.yaml", "optim: {lrr: 0.1}\n");
  expect_one_line_error(run_flame(s, "train " + bad_key), 1, "unknown key 'optim.lrr'");
  const std::string bad_type = s.write("bad_type.yaml", "optim:\n  lr: abc\n");
  expect_one_line_error(run_flame(s, "train " + bad_type), 1,
                        "optim.lr expects a number (got 'abc')");
  const std::string bad_yaml = s.write("bad_yaml.yaml", "train: {steps: [1,\n  x: :\n");
  expect_one_line_error(run_flame(s, "train " + bad_yaml), 1, "bad_yaml.yaml");
  const std::string ok = s.write("ok.yaml", "name: x\n");
  expect_one_line_error(run_flame(s, "train " + ok + " train.steps=-5"), 1,
                        "train.steps must be > 0 (got -5)");
  expect_one_line_error(run_flame(s, "train " + ok + " train.batch_size=10 train.micro_batch_size=4"),
                        1, "train.batch_size (10) must be a multiple of train.micro_batch_size (4)");
  expect_one_line_error(run_flame(s, "train " + ok + " optim.lrr=1"), 1, "unknown key 'optim.lrr'");
  expect_one_line_error(run_flame(s, "train " + ok + " model.preset=nope"), 1,
                        "model.preset file not found: configs/models/nope.yaml");
#ifndef FLAME_WITH_CUDA
  expect_one_line_error(run_flame(s, "train " + ok + " train.device=cuda"), 1,
                        "built without the CUDA backend");
#else
  if (!flame::cuda::device_available())
    expect_one_line_error(run_flame(s, "train " + ok + " train.device=cuda"), 1,
                          "no CUDA device available");
#endif
  expect_one_line_error(run_flame(s, "train " + ok + " steps"), 1, "steps");
  // nothing was trained, so nothing was written
  EXPECT_FALSE(std::filesystem::exists(s.dir / "runs"));
}
