// Fitting an example into the context: render, tokenize, and when it is too long cut its
// CONTEXT values (never the instructions or the target) until it fits max_tokens.
//
// The cut takes the longest context value and keeps its start, marked " [...]". The context's
// budget reserves room for the longest target any label would give the example, so where an
// example is cut never depends on its label (no label leak through the cut).
//
// With a tokenizer that composes at line ends (Tokenizer::composes_after_newline) the header is
// encoded once per task and each context line on its own, and the cut works in tokens (one
// encode per cut), with encoded lines memoised: a document shared by many examples of a task
// (SummEval's 16 summaries, both orders of a pair) is encoded once. Otherwise the whole input is
// re-encoded per attempt. A fitter is not thread-safe (use one per thread). Both give tokens equal to
// encode(render(card, cut example).input), which is what the scorer encodes at evaluation.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "data/packer.h"
#include "data/task.h"
#include "data/tokenizer.h"

namespace flame::data {

class ExampleFitter {
 public:
  ExampleFitter(const TaskCard& card, const Tokenizer& tok, int max_tokens);
  // out = (BOS + input, target + EOS). `ex` is left holding the cut values; truncated says
  // whether anything was cut. Returns false when even empty context values do not fit.
  bool fit(Example& ex, TokenizedExample& out, bool& truncated) const;

 private:
  long target_reserve(const Example& ex, long target_len) const;
  const std::vector<int32_t>& encode_line(const std::string& line) const;
  bool fit_by_lines(Example& ex, TokenizedExample& out, bool& truncated, long reserve) const;
  bool fit_by_reencoding(Example& ex, TokenizedExample& out, bool& truncated, long reserve) const;

  const TaskCard& card_;
  const Tokenizer& tok_;
  int max_tokens_;
  std::vector<int32_t> header_, trailer_;  // encoded once (composing tokenizers)
  long label_reserve_ = -1;                // max target length over labels (single-output cards)
  mutable std::unordered_map<std::string, std::vector<int32_t>> line_cache_;
  mutable size_t line_cache_bytes_ = 0;
};

// One-off convenience wrapper (builds a fitter per call).
bool fit_example(const TaskCard& card, Example& ex, const Tokenizer& tok, int max_tokens,
                 TokenizedExample& out, bool& truncated);

}  // namespace flame::data
