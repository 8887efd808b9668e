// Word-level tokenizer: a piece is a run of ASCII letters or a single other byte. Letter runs
// that are frequent in the corpus get their own id; everything else is spelled in bytes. Because
// spaces are their own pieces, "choice: " + "A" tokenizes exactly like "choice: A", so the scorer's
// prompt and the training target agree token for token.
#include <algorithm>
#include <map>

#include <cstdio>

#include "data/render.h"
#include "core/rng.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "core/error.h"

namespace flame::data {
namespace {

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Calls fn(begin, length) for each piece of text.
template <class Fn>
void for_each_piece(const std::string& text, Fn&& fn) {
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i + 1;
    if (is_letter(text[i]))
      while (j < text.size() && is_letter(text[j])) ++j;
    fn(i, j - i);
    i = j;
  }
}

}  // namespace

WordTokenizer::WordTokenizer(const std::vector<std::string>& corpus, int max_pieces,
                             int min_count) {
  std::map<std::string, long> counts;  // ordered: deterministic tie-break
  for (const auto& text : corpus)
    for_each_piece(text, [&](size_t b, size_t n) {
      if (n > 1) ++counts[text.substr(b, n)];  // single bytes have ids already
    });
  std::vector<std::pair<std::string, long>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [piece, count] : sorted) {
    if (int(pieces_.size()) >= max_pieces || count < min_count) break;
    ids_.emplace(piece, 258 + int32_t(pieces_.size()));
    pieces_.push_back(piece);
  }
}

std::vector<int32_t> WordTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 2 + 1);
  for_each_piece(text, [&](size_t b, size_t n) {
    if (n > 1) {
      const auto it = ids_.find(text.substr(b, n));
      if (it != ids_.end()) {
        ids.push_back(it->second);
        return;
      }
    }
    for (size_t k = b; k < b + n; ++k) ids.push_back(static_cast<unsigned char>(text[k]));
  });
  return ids;
}

std::string WordTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (int32_t id : ids) {
    FLAME_CHECK(id >= 0 && id < vocab_size(),
                "token id " << id << " out of range [0, " << vocab_size() << ")");
    if (id < 256) s.push_back(static_cast<char>(id));
    else if (id >= 258) s += pieces_[id - 258];
  }
  return s;
}

std::unique_ptr<Tokenizer> make_synthetic_word_tokenizer() {
  std::vector<std::string> corpus;
  for (const auto& card : synthetic_cards()) {
    // A fixed sample: the vocabulary must not depend on the run's seed or sizes.
    for (const auto& ex : generate_synthetic(card.name, Split::train, 400, /*seed=*/0)) {
      const auto r = render(card, ex);
      corpus.push_back(r.input);
      corpus.push_back(r.target);
    }
  }
  return std::make_unique<WordTokenizer>(corpus, /*max_pieces=*/4096);
}

}  // namespace flame::data

namespace flame::data {

std::string WordTokenizer::fingerprint() const {
  uint64_t h = hash_str("word");
  for (const auto& p : pieces_) h = hash_combine(h, hash_str(p));
  char buf[32];
  std::snprintf(buf, sizeof buf, "word:%016llx", (unsigned long long)h);
  return buf;
}

}  // namespace flame::data
