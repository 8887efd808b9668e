// SentencePiece behind the Tokenizer interface: load any existing `.model`, or train one on a
// corpus of rendered examples (`flame tokenizer train`, `flame prepare`).
//
// Models trained here use byte fallback (no text is ever <unk>), identity normalisation and
// no whitespace collapsing, so decode(encode(text)) == text for any UTF-8 text, and reserve
// ids 0 <unk>, 1 <s> (BOS), 2 </s> (EOS). "\n" is a user-defined piece: the unified format is
// line-structured and a newline should be one token, not a byte-fallback token.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace flame::data {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model_path);  // throws flame::Error
  ~SentencePieceTokenizer() override;
  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int vocab_size() const override;
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  std::string name() const override { return "sentencepiece"; }
  std::string fingerprint() const override;  // "sentencepiece:<hash of the model bytes>"
  const std::string& model_path() const { return path_; }

 private:
  std::string path_;
  std::string fingerprint_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

struct SpTrainOptions {
  int vocab_size = 8000;                // pieces, specials included
  std::string model_type = "unigram";   // unigram | bpe | char | word
  double character_coverage = 0.9995;   // share of characters covered by pieces (rest: bytes)
  long max_sentences = 200000;          // lines sampled from the corpus for training
  int threads = 0;                      // 0 = all cores
};

// Trains a model on `corpus` (each string is split into lines; lines are the training
// sentences) and writes it atomically to out_path. Throws flame::Error on a bad option or
// when SentencePiece fails (its message included).
void train_sentencepiece(const std::vector<std::string>& corpus, const SpTrainOptions& opt,
                         const std::string& out_path);

// "sentencepiece:<16 hex digits>" for a model's bytes.
std::string sentencepiece_fingerprint(const std::string& model_bytes);

}  // namespace flame::data
