#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace flame::train {

LrSchedule LrSchedule::from(const RunConfig& c) {
  return {c.optim.lr, c.optim.lr * c.optim.min_lr_ratio, c.schedule.warmup_steps, c.train.steps,
          c.schedule.decay};
}

double LrSchedule::at(int step) const {
  // Warmup reaches the peak at step == warmup_steps; step 1 already moves (lr / warmup), since
  // an update with lr 0 would only waste a batch.
  if (step <= warmup_steps) return lr * step / std::max(warmup_steps, 1);
  if (decay == Decay::constant || total_steps <= warmup_steps) return lr;
  // progress 0 right after warmup, 1 at the last step
  const double p = std::clamp(double(step - warmup_steps) / (total_steps - warmup_steps), 0.0, 1.0);
  const double shape = decay == Decay::cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * p)) : 1.0 - p;
  return min_lr + (lr - min_lr) * shape;
}

}  // namespace flame::train
