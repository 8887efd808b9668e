#include <gtest/gtest.h>

#include <map>

#include "data/mixture.h"
#include "core/error.h"

using namespace flame::data;

namespace {

// Tokenized tasks with varied lengths (8..90 tokens), each token tagging (task, example).
std::vector<std::vector<TokenizedExample>> make_tasks(std::vector<int> sizes) {
  std::vector<std::vector<TokenizedExample>> tasks;
  for (size_t t = 0; t < sizes.size(); ++t) {
    tasks.emplace_back();
    for (int i = 0; i < sizes[t]; ++i) {
      TokenizedExample ex;
      ex.input.push_back(256);
      const int n_in = 5 + (i * 37 + int(t) * 11) % 70, n_tgt = 2 + (i * 13) % 18;
      for (int k = 1; k < n_in; ++k) ex.input.push_back(int(t) * 100000 + i);
      for (int k = 0; k + 1 < n_tgt; ++k) ex.target.push_back(int(t) * 100000 + i);
      ex.target.push_back(257);
      tasks.back().push_back(ex);
    }
  }
  return tasks;
}

void expect_same_batch(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.targets, b.targets);
  EXPECT_EQ(a.mask, b.mask);
  EXPECT_EQ(a.seg, b.seg);
  EXPECT_EQ(a.pos, b.pos);
}

}  // namespace

TEST(MixtureSampler, ExamplesProportionalWithCap) {
  MixtureSampler s({100, 1000, 100000}, {-1, -1, -1}, 10000, 1);
  ASSERT_EQ(s.rates().size(), 3u);
  EXPECT_NEAR(s.rates()[0], 100.0 / 11100, 1e-12);
  EXPECT_NEAR(s.rates()[1], 1000.0 / 11100, 1e-12);
  EXPECT_NEAR(s.rates()[2], 10000.0 / 11100, 1e-12);
  MixtureSampler nocap({100, 300}, {}, 0, 1);  // empty weights: all proportional; cap 0: none
  EXPECT_NEAR(nocap.rates()[0], 0.25, 1e-12);
}

TEST(MixtureSampler, ExplicitAndMixedWeights) {
  MixtureSampler s({10, 10}, {2.0, 6.0}, 65536, 1);
  EXPECT_NEAR(s.rates()[0], 0.25, 1e-12);
  EXPECT_NEAR(s.rates()[1], 0.75, 1e-12);
  MixtureSampler mixed({100, 10, 50}, {-1, 50, 0}, 65536, 1);  // weight 0: never drawn
  EXPECT_NEAR(mixed.rates()[0], 100.0 / 150, 1e-12);
  EXPECT_NEAR(mixed.rates()[1], 50.0 / 150, 1e-12);
  EXPECT_EQ(mixed.rates()[2], 0.0);
  for (int i = 0; i < 2000; ++i) EXPECT_NE(mixed.next().first, 2);
  EXPECT_THROW(MixtureSampler({10, 0}, {1, 1}, 0, 1), flame::Error);  // weight on an empty task
  EXPECT_THROW(MixtureSampler({10, 10}, {0, 0}, 0, 1), flame::Error);
  EXPECT_THROW(MixtureSampler({10, 10}, {1}, 0, 1), flame::Error);
  EXPECT_THROW(MixtureSampler({}, {}, 0, 1), flame::Error);
}

TEST(MixtureSampler, EmpiricalFrequenciesMatchRates) {
  MixtureSampler s({500, 2000, 4000, 100000}, {-1, -1, -1, -1}, 4000, 42);
  const int n = 10000;
  std::vector<int> counts(4, 0);
  for (int i = 0; i < n; ++i) {
    const auto [task, idx] = s.next();
    ++counts[size_t(task)];
  }
  for (size_t t = 0; t < 4; ++t)
    EXPECT_NEAR(double(counts[t]) / n, s.rates()[t], 0.02) << "task " << t;  // > 4 sigma
}

TEST(MixtureSampler, WalksAFreshPermutationEachEpoch) {
  MixtureSampler s({7}, {}, 0, 5);
  std::vector<long> epoch1, epoch2;
  for (int i = 0; i < 7; ++i) epoch1.push_back(s.next().second);
  for (int i = 0; i < 7; ++i) epoch2.push_back(s.next().second);
  auto sorted = [](std::vector<long> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::vector<long> all = {0, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(sorted(epoch1), all);  // every example once per epoch
  EXPECT_EQ(sorted(epoch2), all);
  EXPECT_NE(epoch1, epoch2);       // reshuffled
  // Larger tasks: still a permutation (the Feistel walk must cover non-powers of two).
  MixtureSampler big({1000}, {}, 0, 9);
  std::vector<long> seen;
  for (int i = 0; i < 1000; ++i) seen.push_back(big.next().second);
  std::sort(seen.begin(), seen.end());
  for (long i = 0; i < 1000; ++i) ASSERT_EQ(seen[size_t(i)], i);
}

TEST(MixtureSampler, SeedsDifferAndRestoreReplaysExactly) {
  MixtureSampler a({30, 50, 20}, {}, 0, 1), b({30, 50, 20}, {}, 0, 2);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += a.next() == b.next();
  EXPECT_LT(same, 50);

  MixtureSampler s({30, 50, 20}, {}, 0, 11);
  for (int i = 0; i < 137; ++i) s.next();
  const MixtureState st = s.state();
  EXPECT_EQ(st.draws, 137u);
  std::vector<std::pair<int, long>> expect;
  for (int i = 0; i < 200; ++i) expect.push_back(s.next());
  MixtureSampler r({30, 50, 20}, {}, 0, 999);  // the seed comes from the state
  r.restore(st);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(r.next(), expect[size_t(i)]) << i;
}

TEST(BatchStream, PacksGreedilyAndDeterministically) {
  const auto tasks = make_tasks({40, 25, 60});
  const int B = 4, T = 128;
  BatchStream s(&tasks, MixtureSampler({40, 25, 60}, {}, 0, 3), B, T);
  BatchStream twin(&tasks, MixtureSampler({40, 25, 60}, {}, 0, 3), B, T);
  std::vector<int> used_prev;  // tokens used by each row, to check greediness across rows
  int prev_used = -1;
  for (int n = 0; n < 20; ++n) {
    const Batch b = s.next();
    expect_same_batch(b, twin.next());
    ASSERT_EQ(b.B, B);
    ASSERT_EQ(b.T, T);
    for (int r = 0; r < B; ++r) {
      int used = 0, first_len = 0;
      for (int t = 0; t < T; ++t) {
        const size_t i = size_t(r) * T + size_t(t);
        used += b.seg[i] != 0;
        first_len += b.seg[i] == 1;
        if (b.seg[i] != 0 && b.pos[i] == 0) {
          EXPECT_EQ(b.tokens[i], 256);
        }
      }
      // The row before stopped because this row's first example did not fit after it.
      if (prev_used >= 0) {
        EXPECT_GT(prev_used + first_len, T);
      }
      prev_used = used;
    }
    EXPECT_GT(b.n_loss_tokens(), 0);
  }
  EXPECT_GT(s.state().draws, 0u);
}

TEST(BatchStream, RestoreReproducesTheFollowingBatches) {
  const auto tasks = make_tasks({40, 25, 60});
  const int B = 3, T = 100;
  auto fresh = [&] { return BatchStream(&tasks, MixtureSampler({40, 25, 60}, {4, 1, -1}, 30, 77), B, T); };
  BatchStream s = fresh();
  for (int n = 0; n < 9; ++n) s.next();
  const MixtureState st = s.state();
  EXPECT_EQ(st.seed, 77u);
  EXPECT_GE(st.pending, 1u);  // the example that did not fit the last row waits
  std::vector<Batch> expect;
  for (int n = 0; n < 12; ++n) expect.push_back(s.next());

  BatchStream r = fresh();
  r.next();  // its own position must not matter
  r.restore(st);
  for (const auto& b : expect) expect_same_batch(r.next(), b);
  EXPECT_EQ(r.state().draws, s.state().draws);
  EXPECT_EQ(r.state().pending, s.state().pending);
}

TEST(BatchStream, OversizedExamplesAreTruncatedNotDropped) {
  std::vector<std::vector<TokenizedExample>> tasks(1);
  TokenizedExample ex;
  ex.input.assign(300, 7);
  ex.input[0] = 256;
  ex.target = {8, 257};
  tasks[0].assign(3, ex);
  BatchStream s(&tasks, MixtureSampler({3}, {}, 0, 1), 2, 64);
  const Batch b = s.next();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(b.tokens[size_t(r) * 64], 256);
    EXPECT_EQ(b.tokens[size_t(r) * 64 + 63], 257);
  }
  EXPECT_EQ(b.n_loss_tokens(), 4);
  // The second row filled up exactly, so one more example was drawn to learn that; it waits.
  EXPECT_EQ(s.state().pending, 1u);
}
