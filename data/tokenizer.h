// Tokenizer interface. The foundation ships a byte-level tokenizer (ids 0..255 are bytes, then
// specials); SentencePiece plugs in behind the same interface.
#pragma once
#include <cstdint>
#include <memory>
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
};

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int vocab_size() const override { return 258; }  // 256 bytes + BOS + EOS
  int32_t bos_id() const override { return 256; }
  int32_t eos_id() const override { return 257; }
  std::string name() const override { return "byte"; }
};

// "byte" -> ByteTokenizer; anything else throws flame::Error naming it.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind);

}  // namespace flame::data
