// SentencePiece: training from text, exact round trips, loading an existing model, bad options.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/render.h"
#include "data/sp_tokenizer.h"
#include "data/synthetic.h"
#include "core/error.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

// A small corpus of rendered synthetic examples plus some non-ASCII text.
std::vector<std::string> corpus() {
  std::vector<std::string> c;
  for (const auto& card : synthetic_cards()) {
    if (card.flipped_labels) continue;
    for (const auto& ex : generate_synthetic(card.name, Split::train, 150, 7)) {
      const auto r = render(card, ex);
      c.push_back(r.input + r.target);
    }
  }
  c.push_back("Grüße aus Köln — naïve café, 東京 and emoji 🙂 in one line.\n");
  return c;
}

// Trained once per test process (a second or two), removed when the process exits.
struct SuiteModel {
  std::string path =
      (fs::temp_directory_path() / ("flame_sp_" + std::to_string(::getpid()) + ".model")).string();
  SuiteModel() {
    SpTrainOptions o;
    o.vocab_size = 600;
    train_sentencepiece(corpus(), o, path);
  }
  ~SuiteModel() { fs::remove(path); }
};

const std::string& model_path() {
  static const SuiteModel model;
  return model.path;
}

}  // namespace

TEST(SentencePiece, TrainsWithReservedSpecials) {
  const SentencePieceTokenizer tok(model_path());
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_GT(tok.vocab_size(), 300);
  EXPECT_LE(tok.vocab_size(), 600);
  EXPECT_EQ(tok.name(), "sentencepiece");
  EXPECT_EQ(tok.fingerprint().rfind("sentencepiece:", 0), 0u);
}

TEST(SentencePiece, RoundTripsAnyText) {
  const SentencePieceTokenizer tok(model_path());
  const std::vector<std::string> texts = {
      "INSTRUCTIONS:\ntitle: x\n\nCONTEXT:\nclaim: 3 + 4 > 6\n\nEVALUATION:\nanswer: Yes",
      "  two  leading spaces and   runs of   spaces  ",
      "tabs\tand\r\nCRLF\n\n\nblank lines",
      "never seen: ЖЖЖ ∀x∃y ⟨ψ|φ⟩ 🙂🙂",
      "digits 1234567890 split one by one",
      ""};
  for (const auto& t : texts) {
    const auto ids = tok.encode(t);
    for (int32_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, tok.vocab_size());
      EXPECT_NE(id, 0) << "byte fallback should leave no <unk> in: " << t;
    }
    EXPECT_EQ(tok.decode(ids), t);
  }
}

TEST(SentencePiece, LoadsAnExistingModelAndDecodeDropsSpecials) {
  const SentencePieceTokenizer a(model_path());
  const auto made = make_tokenizer(model_path());  // the .model path form of make_tokenizer
  EXPECT_EQ(made->fingerprint(), a.fingerprint());
  auto ids = a.encode("answer: No");
  ids.insert(ids.begin(), a.bos_id());
  ids.push_back(a.eos_id());
  EXPECT_EQ(a.decode(ids), "answer: No");
  EXPECT_THROW(a.decode({a.vocab_size()}), flame::Error);
}

TEST(SentencePiece, FingerprintTracksTheModel) {
  SpTrainOptions o;
  o.vocab_size = 400;
  const auto p = (fs::temp_directory_path() / "flame_sp_other.model").string();
  train_sentencepiece(corpus(), o, p);
  EXPECT_NE(SentencePieceTokenizer(p).fingerprint(), SentencePieceTokenizer(model_path()).fingerprint());
  fs::remove(p);
}

TEST(SentencePiece, BadInputsAreClearErrors) {
  SpTrainOptions o;
  o.vocab_size = 100;
  EXPECT_THROW(train_sentencepiece(corpus(), o, "/tmp/x.model"), flame::Error);
  o = {};
  o.model_type = "wordpiece";
  EXPECT_THROW(train_sentencepiece(corpus(), o, "/tmp/x.model"), flame::Error);
  EXPECT_THROW(train_sentencepiece({}, SpTrainOptions{}, "/tmp/x.model"), flame::Error);
  EXPECT_THROW(SentencePieceTokenizer("/nonexistent.model"), flame::Error);
  const auto junk = (fs::temp_directory_path() / "flame_junk.model").string();
  std::ofstream(junk) << "not a model";
  EXPECT_THROW(SentencePieceTokenizer{junk}, flame::Error);
  fs::remove(junk);
}
