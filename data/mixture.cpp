// Mixture sampling and batch streaming (mixture.h).
//
// Every random choice is a pure function of (seed, counter): the task of draw k is hashed from
// (seed, k) and the example of the j-th visit to task t is a seeded permutation of [0, size) for
// the epoch j / size. So the whole position is two counters, and restore() rebuilds the per-task
// visit counts by replaying only the cheap task choices, never any data.
#include "data/mixture.h"

#include <cmath>

#include "core/rng.h"
#include "core/error.h"

namespace flame::data {

namespace {

// A keyed pseudo-random permutation of [0, n) without storing it: a 4-round Feistel network on
// the smallest even number of bits covering n, cycle-walked back into range (expected < 4 walks).
uint64_t permute(uint64_t key, uint64_t n, uint64_t i) {
  if (n <= 1) return 0;
  int bits = 2;
  while ((uint64_t(1) << bits) < n) ++bits;
  const int half = (bits + 1) / 2;
  const uint64_t mask = (uint64_t(1) << half) - 1;
  uint64_t x = i;
  do {
    uint64_t l = x >> half, r = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      const uint64_t f = mix64(hash_combine(key, round) ^ r) & mask;
      const uint64_t nl = r;
      r = l ^ f;
      l = nl;
    }
    x = (l << half) | r;
  } while (x >= n);
  return x;
}

}  // namespace

MixtureSampler::MixtureSampler(std::vector<long> sizes, std::vector<double> weights, long cap,
                               uint64_t seed, double temperature)
    : sizes_(std::move(sizes)) {
  FLAME_CHECK(temperature > 0 && std::isfinite(temperature),
              "mixture temperature must be > 0 (got " << temperature << ")");
  FLAME_CHECK(!sizes_.empty(), "mixture has no tasks");
  if (weights.empty()) weights.assign(sizes_.size(), -1.0);  // all examples-proportional
  FLAME_CHECK(weights.size() == sizes_.size(),
              "" << weights.size() << " weights for " << sizes_.size() << " tasks");
  rates_.resize(sizes_.size());
  double total = 0;
  for (size_t i = 0; i < sizes_.size(); ++i) {
    FLAME_CHECK(sizes_[i] >= 0, "task " << i << " has negative size " << sizes_[i]);
    FLAME_CHECK(std::isfinite(weights[i]), "task " << i << " has weight " << weights[i]);
    // cap <= 0 means no cap.
    const double w = weights[i] < 0 ? double(cap > 0 ? std::min(sizes_[i], cap) : sizes_[i])
                                    : weights[i];
    FLAME_CHECK(w == 0 || sizes_[i] > 0, "task " << i << " has weight " << w << " but no examples");
    rates_[i] = temperature == 1.0 ? w : std::pow(w, 1.0 / temperature);
    total += rates_[i];
  }
  FLAME_CHECK(total > 0, "all mixture weights are zero");
  for (double& r : rates_) r /= total;
  st_.seed = seed;
  task_draws_.assign(sizes_.size(), 0);
}

namespace {

int choose_task(const std::vector<double>& rates, uint64_t seed, uint64_t draw) {
  const double u = to_unit(hash_combine(hash_combine(seed, 0x7461736bull), draw));
  double acc = 0;
  int last = -1;
  for (size_t i = 0; i < rates.size(); ++i) {
    if (rates[i] <= 0) continue;
    acc += rates[i];
    last = int(i);
    if (u < acc) return int(i);
  }
  return last;  // u landed in the rounding gap just below 1
}

}  // namespace

std::pair<int, long> MixtureSampler::next() {
  const int task = choose_task(rates_, st_.seed, st_.draws++);
  const uint64_t k = task_draws_[size_t(task)]++;
  const uint64_t n = uint64_t(sizes_[size_t(task)]);
  const uint64_t epoch_key =
      hash_combine(hash_combine(hash_combine(st_.seed, 0x7065726dull), uint64_t(task)), k / n);
  return {task, long(permute(epoch_key, n, k % n))};
}

MixtureState MixtureSampler::state() const { return {st_.seed, st_.draws, 0}; }

void MixtureSampler::restore(const MixtureState& s) {
  st_ = {s.seed, 0, 0};
  task_draws_.assign(sizes_.size(), 0);
  for (uint64_t d = 0; d < s.draws; ++d) ++task_draws_[size_t(choose_task(rates_, s.seed, d))];
  st_.draws = s.draws;
}

BatchStream::BatchStream(const std::vector<std::vector<TokenizedExample>>* tasks,
                         MixtureSampler sampler, int B, int T, float input_loss_weight)
    : tasks_(tasks), sampler_(std::move(sampler)), B_(B), T_(T),
      input_loss_weight_(input_loss_weight) {
  FLAME_CHECK(tasks_ != nullptr, "BatchStream needs tasks");
  FLAME_CHECK(tasks_->size() == sampler_.rates().size(),
              "" << tasks_->size() << " tokenized tasks for a mixture of " << sampler_.rates().size());
  FLAME_CHECK(B > 0 && T > 0, "batch shape B=" << B << " T=" << T);
}

namespace {

TokenizedExample draw(const std::vector<std::vector<TokenizedExample>>& tasks,
                      MixtureSampler& sampler) {
  const auto [task, idx] = sampler.next();
  const auto& examples = tasks[size_t(task)];
  FLAME_CHECK(idx >= 0 && size_t(idx) < examples.size(),
              "task " << task << " has " << examples.size() << " examples, sampler drew " << idx);
  TokenizedExample ex = examples[size_t(idx)];
  ex.task = task;
  return ex;
}

}  // namespace

Batch BatchStream::next() {
  Batch batch = make_batch(B_, T_);
  for (int row = 0; row < B_; ++row) {
    // Draw until the queue overflows the row: pack_row then stops at the first example that does
    // not fit, and that one (with anything after it) waits as pending for the next row.
    std::vector<TokenizedExample> queue = std::move(pending_);
    pending_.clear();
    long total = 0;
    for (const auto& ex : queue) total += packed_length(ex, T_);
    while (total <= T_) {
      queue.push_back(draw(*tasks_, sampler_));
      total += packed_length(queue.back(), T_);
    }
    const int used = pack_row(batch, row, queue, 0, input_loss_weight_);
    pending_.assign(std::make_move_iterator(queue.begin() + used),
                    std::make_move_iterator(queue.end()));
  }
  return batch;
}

MixtureState BatchStream::state() const {
  MixtureState s = sampler_.state();
  s.pending = pending_.size();
  return s;
}

void BatchStream::restore(const MixtureState& s) {
  FLAME_CHECK(s.pending <= s.draws, "mixture state has " << s.pending << " pending of " << s.draws
                                                         << " draws");
  // Rewind to before the pending examples were drawn, then draw them again: the sampler is a
  // pure function of its counters, so they come back identical.
  sampler_.restore({s.seed, s.draws - s.pending, 0});
  pending_.clear();
  for (uint64_t i = 0; i < s.pending; ++i) pending_.push_back(draw(*tasks_, sampler_));
}

}  // namespace flame::data
