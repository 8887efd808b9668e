// The README's main job as a test: the quickstart recipe, unchanged, must keep meeting its bar
// (loss at least halves; dev accuracy >= 0.85 on the pairwise + classification tasks). It takes
// about 4 minutes on 2 cores, so a regression in the data, model, optimizer or evaluation that
// only shows at scale fails CI instead of the user's first run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/train/run_flame.h"

using flame_test::run_flame;
using flame_test::Scratch;
using nlohmann::json;

TEST(Quickstart, MeetsItsAccuracyBar) {
  Scratch s("quickstart");
  const auto r = run_flame(s, std::string("train ") + FLAME_SOURCE_DIR +
                                  "/configs/runs/quickstart.yaml train.out_dir=" +
                                  (s.dir / "runs").string());
  ASSERT_EQ(r.rc, 0) << "stderr: " << r.err;
  const json summary =
      json::parse(flame_test::slurp(s.dir / "runs" / "quickstart" / "summary.json"));
  const double first = summary["first_loss"], last = summary["last_loss"];
  EXPECT_LE(last, first / 2) << summary.dump();
  const double acc = summary["eval"]["mean_pairwise_classification"];
  EXPECT_GE(acc, 0.85) << summary["eval"].dump(2);
  // Every pairwise and classification task is above chance on its own, not only on average.
  for (const auto& [name, t] : summary["eval"]["tasks"].items()) {
    if (t["type"] == "pairwise" || t["type"] == "classification") {
      EXPECT_GE(double(t["value"]), 0.7) << name;
    }
  }
}
