// Small, portable randomness for every layer (data generation, weight init, run seeds, benchmarks).
// The standard distributions (std::uniform_int_distribution, std::shuffle) are
// implementation-defined, so the same seed would give different data on libstdc++ and libc++;
// everything here is specified bit for bit. One SplitMix64 underlies all of it.
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string_view>
#include <utility>
#include <vector>

// The SplitMix64 core is callable from CUDA kernels too (benchmarks fill buffers on the device).
#ifdef __CUDACC__
#define FLAME_HOST_DEVICE __host__ __device__
#else
#define FLAME_HOST_DEVICE
#endif

namespace flame {

inline constexpr uint64_t kGolden64 = 0x9E3779B97F4A7C15ull;  // SplitMix64's stream increment

// SplitMix64's output function (Steele et al.): a bijective 64-bit mix.
FLAME_HOST_DEVICE inline constexpr uint64_t splitmix_finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The n-th output (0-based) of a SplitMix64 stream started at `key`: random access, so every
// element of a tensor can be drawn independently and in parallel, whatever the thread count.
FLAME_HOST_DEVICE inline constexpr uint64_t splitmix_at(uint64_t key, uint64_t n) {
  return splitmix_finalize(key + (n + 1) * kGolden64);
}

// One SplitMix64 step from state x: turns counters and seeds into random words.
inline constexpr uint64_t mix64(uint64_t x) { return splitmix_at(x, 0); }

// FNV-1a over the bytes (unmixed): keys weight-init streams by tensor name.
inline constexpr uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

// FNV-1a, then mixed: stable hash of names and content keys.
inline constexpr uint64_t hash_str(std::string_view s) { return mix64(fnv1a(s)); }

inline uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ (mix64(b) + 0x632BE59BD9B4E019ull)); }

// Uniform double in [0, 1) from the top 53 bits of a word.
inline double to_unit(uint64_t x) { return double(x >> 11) * 0x1.0p-53; }
// Uniform double in the open interval (0, 1) (safe under log): the top 53 bits, centred.
inline double to_open_unit(uint64_t x) { return (double(x >> 11) + 0.5) * 0x1.0p-53; }

// Standard normal number n of stream `key` (Box-Muller, cosine branch only).
inline double normal_at(uint64_t key, uint64_t n) {
  const double u1 = to_open_unit(splitmix_at(key, 2 * n));
  const double u2 = to_open_unit(splitmix_at(key, 2 * n + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// xoshiro256** seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) {
      x += kGolden64;
      w = mix64(x);
    }
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform integer in [0, n) without modulo bias (rejection on the low zone).
  uint64_t below(uint64_t n) {
    const uint64_t limit = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const uint64_t r = next();
      if (r >= limit) return r % n;
    }
  }
  int range(int lo, int hi) { return lo + int(below(uint64_t(hi - lo + 1))); }  // inclusive
  bool coin() { return next() >> 63; }
  double unit() { return to_unit(next()); }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace flame
