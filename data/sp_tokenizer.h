// SentencePiece behind the Tokenizer interface: load any existing `.model`, or train one on a
// corpus of rendered examples (`flame tokenizer train`, `flame prepare`).
//
// Models trained here use byte fallback (no text is ever <unk>), identity normalisation, no
// whitespace collapsing and no dummy prefix, so decode(encode(text)) == text for any UTF-8 text
// and encoding composes at line ends (composes_after_newline), and they reserve
// ids 0 <unk>, 1 <s> (BOS), 2 </s> (EOS). Lines are the training sentences, so a newline is
// never inside a piece: it is its own (user-defined) piece.
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
  // Probed at load: true for models trained here (no dummy prefix, "\n" a user-defined piece),
  // usually false for others (a dummy-prefix "▁" makes encode depend on where the text starts).
  bool composes_after_newline() const override { return composes_; }
  const std::string& model_path() const { return path_; }

 private:
  std::string path_;
  std::string fingerprint_;
  bool composes_ = false;
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
