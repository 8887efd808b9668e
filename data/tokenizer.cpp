// The byte tokenizer: each UTF-8 byte is its own token, so any text round-trips exactly and the
// vocabulary is tiny (258), which suits the small models that train on the CPU.
#include "data/tokenizer.h"

#include "data/sp_tokenizer.h"

#include "core/error.h"

namespace flame::data {

std::vector<int32_t> ByteTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  s.reserve(ids.size());
  for (int32_t id : ids) {
    FLAME_CHECK(id >= 0 && id < vocab_size(), "token id " << id << " out of range [0, 258)");
    if (id < 256) s.push_back(static_cast<char>(id));  // BOS/EOS are dropped
  }
  return s;
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind) {
  if (kind == "byte") return std::make_unique<ByteTokenizer>();
  if (kind == "word") return make_synthetic_word_tokenizer();
  if (kind.size() > 6 && kind.compare(kind.size() - 6, 6, ".model") == 0)
    return std::make_unique<SentencePieceTokenizer>(kind);
  throw Error("unknown tokenizer '" + kind + "' (available: byte, word, <path>.model)");
}

}  // namespace flame::data
