// Shared helpers for the kernel tests: seeded random buffers, element-wise comparison, and a
// central-difference gradient checker for scalar losses of the form L = sum(out * R).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <omp.h>

namespace flame::test {

inline std::vector<float> random_vector(size_t n, std::mt19937& rng, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> random_ints(size_t n, std::mt19937& rng, int lo, int hi_inclusive) {
  std::uniform_int_distribution<int> dist(lo, hi_inclusive);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) x = dist(rng);
  return v;
}

// sum_i out[i] * weights[i] in double: the scalar loss every gradient check differentiates.
inline double weighted_sum(const std::vector<float>& out, const std::vector<float>& weights) {
  double s = 0.0;
  for (size_t i = 0; i < out.size(); ++i) s += double(out[i]) * weights[i];
  return s;
}

// Element-wise |a - b| <= atol + rtol * max(|a|, |b|); reports the first few mismatches.
inline void expect_all_close(const std::vector<float>& actual, const std::vector<double>& expected,
                             double rtol, double atol, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const double tol = atol + rtol * std::max(std::abs(a), std::abs(e));
    if (!(std::abs(a - e) <= tol)) {
      if (++failures <= 5)
        ADD_FAILURE() << what << "[" << i << "]: got " << a << ", expected " << e
                      << " (tol " << tol << ")";
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << actual.size() << " differ";
}

inline void expect_all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                             double rtol, double atol, const std::string& what) {
  expect_all_close(actual, std::vector<double>(expected.begin(), expected.end()), rtol, atol,
                   what);
}

// Gradient-check tolerances (fp32 forward, double loss, central differences with eps = 1e-3):
// |analytic - numeric| <= kGradRtol * max(|analytic|, |numeric|) + kGradAtol.
// Central-difference truncation error is O(eps^2) ~ 1e-6 relative; fp32 rounding of the forward
// contributes ~1e-7 * |L| / eps ~ 1e-4 absolute, well inside kGradAtol.
constexpr double kGradRtol = 1e-2;
constexpr double kGradAtol = 1e-3;
constexpr float kGradEps = 1e-3f;

// Central differences of loss() with respect to elements of x (which loss() reads), compared
// with `analytic` (the gradient from the op's backward). Buffers larger than max_checks are
// checked at max_checks evenly spaced elements so big shapes stay cheap. x is restored.
inline void check_gradient(std::vector<float>& x, const std::vector<float>& analytic,
                           const std::function<double()>& loss, const std::string& what,
                           float eps = kGradEps, double rtol = kGradRtol,
                           double atol = kGradAtol, size_t max_checks = 1500) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const size_t step = std::max<size_t>(1, (x.size() + max_checks - 1) / max_checks);
  std::vector<float> checked_analytic;
  std::vector<double> numeric;
  // The many forward evaluations run on one thread: their threading is not what is under test
  // (the analytic gradient passed in was computed with the full team), and thousands of short
  // parallel regions crawl when the machine is oversubscribed (spinning OpenMP workers).
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  for (size_t i = 0; i < x.size(); i += step) {
    const float saved = x[i];
    x[i] = saved + eps;
    const double plus = loss();
    x[i] = saved - eps;
    const double minus = loss();
    x[i] = saved;
    // divide by the step actually taken in fp32, not the nominal one
    const double h = double(saved + eps) - double(saved - eps);
    numeric.push_back((plus - minus) / h);
    checked_analytic.push_back(analytic[i]);
  }
  omp_set_num_threads(saved_threads);
  expect_all_close(checked_analytic, numeric, rtol, atol,
                   what + " gradient" + (step > 1 ? " (every " + std::to_string(step) + "th)" : ""));
}

// The default check with an explicit sample budget (for ops whose forward is expensive).
inline void check_gradient_sampled(std::vector<float>& x, const std::vector<float>& analytic,
                                   const std::function<double()>& loss, const std::string& what,
                                   size_t max_checks) {
  check_gradient(x, analytic, loss, what, kGradEps, kGradRtol, kGradAtol, max_checks);
}

// True when some element of `v` is far from zero: guards against tests passing vacuously
// because a gradient came out all-zero on both sides.
inline bool has_nonzero(const std::vector<float>& v, float threshold = 1e-3f) {
  return std::any_of(v.begin(), v.end(), [&](float x) { return std::abs(x) > threshold; });
}

}  // namespace flame::test
