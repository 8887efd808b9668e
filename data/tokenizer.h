// Tokenizer interface. The foundation ships a byte-level tokenizer (ids 0..255 are bytes, then
// specials); SentencePiece plugs in behind the same interface.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

namespace flame::data {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;  // no specials added
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;   // specials dropped
  virtual int vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual std::string name() const = 0;  // e.g. "byte"; recorded in checkpoints/shards
  // Identifies the exact vocabulary: shards and checkpoints record it, and reading them with a
  // tokenizer whose fingerprint differs is refused.
  virtual std::string fingerprint() const { return name(); }
  // True when encode(a + b) == encode(a) ++ encode(b) for every text a ending in "\n": the
  // preparer then encodes an example's header once per task and its lines one by one.
  virtual bool composes_after_newline() const { return false; }
};

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int vocab_size() const override { return 258; }  // 256 bytes + BOS + EOS
  int32_t bos_id() const override { return 256; }
  int32_t eos_id() const override { return 257; }
  std::string name() const override { return "byte"; }
  bool composes_after_newline() const override { return true; }
};

// "byte" -> ByteTokenizer, "word" -> the synthetic-vocabulary WordTokenizer, a path ending in
// ".model" -> SentencePieceTokenizer; anything else throws flame::Error naming it.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind);

}  // namespace flame::data

namespace flame::data {

// Word-level tokenizer for small CPU models: text splits into pieces (a run of ASCII letters, or
// any other single byte: digit, space, punctuation, newline); pieces in the vocabulary get one id,
// others fall back to their bytes, so any text still round-trips exactly. Ids: 0..255 bytes,
// 256 BOS, 257 EOS, 258.. vocabulary pieces. Sequences are ~4x shorter than byte-level ones.
class WordTokenizer final : public Tokenizer {
 public:
  // Vocabulary: every letter run that occurs at least min_count times in corpus, most frequent
  // first (ties by text), at most max_pieces.
  WordTokenizer(const std::vector<std::string>& corpus, int max_pieces, int min_count = 2);
  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int vocab_size() const override { return 258 + int(pieces_.size()); }
  int32_t bos_id() const override { return 256; }
  int32_t eos_id() const override { return 257; }
  std::string name() const override { return "word"; }
  std::string fingerprint() const override;  // "word:<hash of the pieces>"
  bool composes_after_newline() const override { return true; }  // "\n" is always its own piece

 private:
  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int32_t> ids_;
};

// The word tokenizer whose vocabulary comes from the embedded synthetic tasks (a fixed sample of
// every task's rendered train examples): deterministic, the same on every machine.
std::unique_ptr<Tokenizer> make_synthetic_word_tokenizer();

}  // namespace flame::data
