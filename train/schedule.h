// Learning-rate schedule: linear warmup from 0 to lr, then cosine / linear decay to
// lr * min_lr_ratio at the last step, or constant.
#pragma once
#include "train/config.h"

namespace flame::train {

struct LrSchedule {
  double lr = 3e-3;        // peak
  double min_lr = 3e-4;    // reached at the last step (decaying shapes)
  int warmup_steps = 0;    // steps 1..warmup ramp linearly up to lr
  int total_steps = 1;     // the last step
  Decay decay = Decay::cosine;

  static LrSchedule from(const RunConfig& c);
  // lr for 1-based optimizer step `step` (step 1 is the first update).
  double at(int step) const;
};

}  // namespace flame::train
