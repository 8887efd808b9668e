// Internal to the synthetic generator: one builder per task. Kept apart from synthetic.cpp so the
// task designs (word lists, templates, the leaks they avoid) read on their own.
#pragma once
#include <string>

#include "core/rng.h"
#include "data/task.h"

namespace flame::data::synth {

struct Generator {
  // Builds one example whose first output is card.labels[label] (generative tasks ignore label).
  Example (*make)(Rng& rng, int label);
  // Whether the task's input space is big enough to split train/dev by content (see synthetic.cpp).
  bool split_by_content;
};

// The generator behind a task name (the flipped variant shares its base task's generator).
const Generator& generator(const std::string& task);

}  // namespace flame::data::synth
