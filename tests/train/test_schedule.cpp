// Learning-rate schedule values at the steps that define it.
#include <gtest/gtest.h>

#include "train/schedule.h"

using flame::train::Decay;
using flame::train::LrSchedule;

TEST(Schedule, WarmupThenCosine) {
  const LrSchedule s{1.0, 0.1, 10, 110, Decay::cosine};
  EXPECT_DOUBLE_EQ(s.at(1), 0.1);   // 1/10 of the way up
  EXPECT_DOUBLE_EQ(s.at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);  // peak at the end of warmup
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // halfway through decay: (lr + min_lr) / 2
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);  // min at the last step
  for (int i = 11; i <= 110; ++i) EXPECT_LE(s.at(i), s.at(i - 1) + 1e-15) << i;
}

TEST(Schedule, Linear) {
  const LrSchedule s{2.0, 0.0, 0, 100, Decay::linear};
  EXPECT_NEAR(s.at(1), 2.0 * 0.99, 1e-12);  // no warmup: decay starts at once
  EXPECT_NEAR(s.at(50), 1.0, 1e-12);
  EXPECT_NEAR(s.at(100), 0.0, 1e-12);
}

TEST(Schedule, Constant) {
  const LrSchedule s{0.5, 0.05, 4, 100, Decay::constant};
  EXPECT_DOUBLE_EQ(s.at(2), 0.25);
  EXPECT_DOUBLE_EQ(s.at(4), 0.5);
  EXPECT_DOUBLE_EQ(s.at(50), 0.5);
  EXPECT_DOUBLE_EQ(s.at(100), 0.5);
}

TEST(Schedule, WarmupAsLongAsTraining) {
  const LrSchedule s{1.0, 0.1, 20, 20, Decay::cosine};
  EXPECT_DOUBLE_EQ(s.at(10), 0.5);
  EXPECT_DOUBLE_EQ(s.at(20), 1.0);
}

TEST(Schedule, FromConfig) {
  flame::train::RunConfig c;
  c.optim.lr = 3e-3;
  c.optim.min_lr_ratio = 0.1;
  c.schedule.warmup_steps = 50;
  c.train.steps = 500;
  const LrSchedule s = LrSchedule::from(c);
  EXPECT_DOUBLE_EQ(s.at(50), 3e-3);
  EXPECT_NEAR(s.at(500), 3e-4, 1e-15);
}
