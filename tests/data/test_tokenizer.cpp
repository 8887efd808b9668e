#include <gtest/gtest.h>

#include "data/tokenizer.h"
#include "core/error.h"

using namespace flame::data;

TEST(ByteTokenizer, RoundTripsAsciiAndUtf8) {
  ByteTokenizer tok;
  for (const std::string& s : {std::string(""), std::string("choice: A"),
                              std::string("h\xC3\xA9llo \xE2\x9C\x93\n\t"), std::string("\0x", 2)}) {
    const auto ids = tok.encode(s);
    EXPECT_EQ(ids.size(), s.size());  // one token per byte
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < 256);
    EXPECT_EQ(tok.decode(ids), s);
  }
  EXPECT_EQ(tok.encode("A"), std::vector<int32_t>{65});
  EXPECT_EQ(tok.encode("\xFF"), std::vector<int32_t>{255});  // bytes are unsigned
}

TEST(ByteTokenizer, SpecialsAndRange) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 258);
  EXPECT_EQ(tok.bos_id(), 256);
  EXPECT_EQ(tok.eos_id(), 257);
  EXPECT_EQ(tok.name(), "byte");
  EXPECT_EQ(tok.decode({256, 'o', 'k', 257}), "ok");
  EXPECT_THROW(tok.decode({258}), flame::Error);
  EXPECT_THROW(tok.decode({-1}), flame::Error);
}

TEST(ByteTokenizer, Factory) {
  auto tok = make_tokenizer("byte");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->name(), "byte");
  try {
    make_tokenizer("wordpiece");
    FAIL() << "expected flame::Error";
  } catch (const flame::Error& e) {
    EXPECT_NE(std::string(e.what()).find("wordpiece"), std::string::npos);
  }
}
