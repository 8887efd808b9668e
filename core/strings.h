// String helpers every layer uses: trimming, joining and splitting lists of names.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace flame {

// s without the leading and trailing characters in `chars`.
inline std::string trim(std::string_view s, std::string_view chars = " \t") {
  const size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(chars) - b + 1));
}

// v[0] + sep + v[1] + ... ("" for an empty v).
inline std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

// "a, b,,c " -> {"a", "b", "c"}: the trimmed, non-empty items of a separated list.
inline std::vector<std::string> split_list(std::string_view s, char sep = ',') {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    if (std::string item = trim(s.substr(start, end - start)); !item.empty())
      out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

}  // namespace flame
