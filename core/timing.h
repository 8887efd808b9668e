// Wall-clock helpers for progress lines and summaries.
#pragma once
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace flame {

using Clock = std::chrono::steady_clock;

// Seconds from t0 to now.
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// 75 -> "01:15", 3725 -> "1:02:05" (negative -> "00:00")
inline std::string hms(double s) {
  const long t = std::lround(s > 0 ? s : 0.0);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace flame
