// Fitting examples into the context (fit.h).
#include "data/fit.h"

#include <algorithm>
#include <cmath>

#include "data/render.h"
#include "core/error.h"

namespace flame::data {

namespace {

const std::string kMark = " [...]";  // where a context value was cut

// Cuts s to at most n bytes without splitting a UTF-8 character.
std::string utf8_prefix(const std::string& s, size_t n) {
  if (n >= s.size()) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void append(std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
}

}  // namespace

ExampleFitter::ExampleFitter(const TaskCard& card, const Tokenizer& tok, int max_tokens)
    : card_(card), tok_(tok), max_tokens_(max_tokens) {
  FLAME_CHECK(max_tokens > 0, "max_tokens must be > 0");
  if (tok.composes_after_newline()) {
    header_ = tok.encode(render_header(card));
    trailer_ = tok.encode(kEvaluationTrailer);
  }
  if (card.type != TaskType::generative && card.output_fields.size() == 1)
    for (const auto& l : card.labels)
      label_reserve_ = std::max(label_reserve_,
                                long(tok.encode(card.output_fields[0] + ": " + l).size()) + 1);
}

long ExampleFitter::target_reserve(const Example& ex, long target_len) const {
  if (card_.type == TaskType::generative) return target_len;
  if (label_reserve_ >= 0) return std::max(label_reserve_, target_len);
  long reserve = target_len;  // several output fields: the other fields vary per example
  for (const auto& l : card_.labels) {
    Example alt = ex;
    alt.outputs.front().second = l;
    reserve = std::max(reserve, long(tok_.encode(render(card_, alt).target).size()) + 1);
  }
  return reserve;
}

const std::vector<int32_t>& ExampleFitter::encode_line(const std::string& line) const {
  if (const auto it = line_cache_.find(line); it != line_cache_.end()) return it->second;
  if (line_cache_bytes_ > (size_t(256) << 20)) {  // bound the memory: start over
    line_cache_.clear();
    line_cache_bytes_ = 0;
  }
  line_cache_bytes_ += line.size() * 5;  // the key plus its tokens, roughly
  return line_cache_.emplace(line, tok_.encode(line)).first->second;
}

bool ExampleFitter::fit(Example& ex, TokenizedExample& out, bool& truncated) const {
  out.target = tok_.encode(render(card_, ex).target);
  out.target.push_back(tok_.eos_id());
  const long reserve = target_reserve(ex, long(out.target.size()));
  truncated = false;
  return tok_.composes_after_newline() ? fit_by_lines(ex, out, truncated, reserve)
                                       : fit_by_reencoding(ex, out, truncated, reserve);
}

bool ExampleFitter::fit_by_lines(Example& ex, TokenizedExample& out, bool& truncated,
                                 long reserve) const {
  // A value longer than 64 bytes per token of the whole budget cannot fit whatever the
  // tokenizer (pieces are at most 16 characters of at most 4 bytes): cut it before encoding.
  const size_t byte_cap = size_t(max_tokens_) * 64;
  std::vector<std::vector<int32_t>> lines(ex.inputs.size());
  long total = 1 + long(header_.size() + trailer_.size()) + reserve;
  for (size_t i = 0; i < ex.inputs.size(); ++i) {
    auto& [field, value] = ex.inputs[i];
    if (value.size() > byte_cap) {
      value = utf8_prefix(value, byte_cap) + kMark;
      truncated = true;
    }
    lines[i] = encode_line(render_field(field, value));
    total += long(lines[i].size());
  }
  for (int attempt = 0; total > max_tokens_; ++attempt) {
    size_t longest = lines.size();  // the longest line whose value is not yet empty
    for (size_t i = 0; i < lines.size(); ++i)
      if (!ex.inputs[i].second.empty() &&
          (longest == lines.size() || lines[i].size() > lines[longest].size()))
        longest = i;
    if (longest == lines.size() || attempt >= 64) return false;  // nothing left to cut
    auto& [field, value] = ex.inputs[longest];
    // Keep the line's first k tokens, leaving room for the mark; decoding a token prefix gives
    // a text prefix of the line ("field: " + the start of the value).
    const long excess = total - max_tokens_;
    const long k = long(lines[longest].size()) - excess - 6 - 2 * attempt;
    const std::string head = k > 0 ? tok_.decode({lines[longest].begin(), lines[longest].begin() + k})
                                    : std::string();
    const std::string prefix = field + ": ";
    value = head.size() > prefix.size() && head.starts_with(prefix) ? head.substr(prefix.size()) + kMark
                                                                     : std::string();
    truncated = true;
    total -= long(lines[longest].size());
    lines[longest] = encode_line(render_field(field, value));
    total += long(lines[longest].size());
  }
  out.input.assign(1, tok_.bos_id());
  append(out.input, header_);
  for (const auto& l : lines) append(out.input, l);
  append(out.input, trailer_);
  return true;
}

bool ExampleFitter::fit_by_reencoding(Example& ex, TokenizedExample& out, bool& truncated,
                                      long reserve) const {
  std::string input_text = render(card_, ex).input;
  for (int attempt = 0;; ++attempt) {
    out.input.assign(1, tok_.bos_id());
    const auto ids = tok_.encode(input_text);
    append(out.input, ids);
    const long excess = long(out.input.size()) + reserve - max_tokens_;
    if (excess <= 0) return true;
    // Cut the longest context value by the excess, converted to bytes with this example's own
    // bytes-per-token ratio, plus a margin that grows with each attempt.
    size_t longest = 0;
    for (size_t i = 1; i < ex.inputs.size(); ++i)
      if (ex.inputs[i].second.size() > ex.inputs[longest].second.size()) longest = i;
    std::string& v = ex.inputs[longest].second;
    if (v.empty() || attempt >= 64) return false;  // nothing left to cut
    const double bytes_per_token = double(input_text.size()) / double(ids.size());
    const size_t cut =
        size_t(std::ceil(double(excess) * bytes_per_token * (1.0 + 0.15 * attempt))) + kMark.size() + 2;
    const size_t body = v.ends_with(kMark) ? v.size() - kMark.size() : v.size();
    v = cut >= body ? std::string() : utf8_prefix(v, body - cut) + kMark;
    truncated = true;
    input_text = render(card_, ex).input;
  }
}

bool fit_example(const TaskCard& card, Example& ex, const Tokenizer& tok, int max_tokens,
                 TokenizedExample& out, bool& truncated) {
  return ExampleFitter(card, tok, max_tokens).fit(ex, out, truncated);
}

}  // namespace flame::data
