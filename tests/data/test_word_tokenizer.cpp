#include <gtest/gtest.h>

#include "data/render.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"

using namespace flame::data;

TEST(WordTokenizer, PiecesAndByteFallback) {
  WordTokenizer tok({"the box is red", "the box is blue", "the cat"}, 100);
  // "the", "box", "is" occur twice -> pieces; "red", "cat" once -> bytes.
  EXPECT_EQ(tok.vocab_size(), 258 + 3);
  const auto ids = tok.encode("the box is red!");
  // the,' ',box,' ',is,' ',r,e,d,!
  ASSERT_EQ(ids.size(), 10u);
  EXPECT_GE(ids[0], 258);
  EXPECT_EQ(ids[1], ' ');
  EXPECT_EQ(ids[6], 'r');
  EXPECT_EQ(tok.decode(ids), "the box is red!");
}

TEST(WordTokenizer, RoundTripsAnyText) {
  WordTokenizer tok({"alpha beta alpha beta"}, 10);
  for (std::string s : {std::string(""), std::string("alphabet"), std::string("x\n\ty 12"),
                        std::string("caf\xc3\xa9 alpha"), std::string(1, '\0') + "beta"})
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
}

TEST(WordTokenizer, PromptPlusLabelTokenizesLikeTarget) {
  // The scorer continues "...choice: " with the label's first token: both tokenizations agree.
  const auto tok = make_tokenizer("word");
  for (const auto& card : synthetic_cards()) {
    const auto ex = generate_synthetic(card.name, Split::dev, 1, 7).front();
    const auto r = render(card, ex);
    const auto whole = tok->encode(r.input + r.target);
    auto split = tok->encode(scoring_prompt(card, ex));
    const auto label = tok->encode(ex.label());
    split.insert(split.end(), label.begin(), label.end());
    ASSERT_LE(split.size(), whole.size()) << card.name;
    EXPECT_TRUE(std::equal(split.begin(), split.end(), whole.begin())) << card.name;
  }
}

TEST(WordTokenizer, SyntheticVocabularyShortensSequences) {
  const auto word = make_tokenizer("word");
  const auto byte = make_tokenizer("byte");
  const auto& card = synthetic_cards().front();
  const auto r = render(card, generate_synthetic(card.name, Split::train, 1, 3).front());
  EXPECT_LT(word->encode(r.input).size() * 2, byte->encode(r.input).size());
  EXPECT_EQ(word->name(), "word");
  EXPECT_EQ(make_tokenizer("word")->vocab_size(), word->vocab_size());  // deterministic
}
