// Mixture sampler over tasks: examples-proportional with a per-task cap, or explicit weights.
// Deterministic for a seed; its whole state is a few integers, saved and restored exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/packer.h"

namespace flame::data {

struct MixtureState {
  uint64_t seed = 0;
  uint64_t draws = 0;    // examples drawn from the sampler so far
  uint64_t pending = 0;  // of those, drawn but not yet packed into a row (BatchStream)
};

class MixtureSampler {
 public:
  // sizes[i]: examples available for task i; weights[i] < 0 means examples-proportional
  // (min(size, cap)); otherwise the explicit weight. temperature T rescales every weight w to
  // w^(1/T) before normalising (T > 1 flattens the mixture toward uniform, as in T5/mT5).
  MixtureSampler(std::vector<long> sizes, std::vector<double> weights, long cap, uint64_t seed,
                 double temperature = 1.0);
  // Next (task, example index): task drawn by rate, example index walks a per-task seeded
  // permutation (reshuffled each epoch of that task).
  std::pair<int, long> next();
  const std::vector<double>& rates() const { return rates_; }
  MixtureState state() const;
  void restore(const MixtureState& s);  // replays to the same position

 private:
  std::vector<long> sizes_;
  std::vector<double> rates_;
  MixtureState st_;
  std::vector<uint64_t> task_draws_;  // how many times each task was drawn
};

// Streams packed micro-batches from tokenized tasks through a MixtureSampler.
class BatchStream {
 public:
  BatchStream(const std::vector<std::vector<TokenizedExample>>* tasks, MixtureSampler sampler,
              int B, int T, float input_loss_weight = 0.0f);  // see pack_row
  Batch next();
  MixtureState state() const;
  void restore(const MixtureState& s);

 private:
  const std::vector<std::vector<TokenizedExample>>* tasks_;
  MixtureSampler sampler_;
  int B_, T_;
  float input_loss_weight_;
  std::vector<TokenizedExample> pending_;  // drawn but not yet packed (front first)
};

}  // namespace flame::data
