// The tokenizer stored beside shards, checkpoints and imported models: tokenizer.json
// {"kind": "byte" | "word" | "tokenizer.model", "fingerprint", "vocab_size"}, plus the
// SentencePiece model itself as tokenizer.model when kind says so. One reader and one writer, so
// flame prepare, the trainer's checkpoints and the tools agree on the format.
#pragma once
#include <memory>
#include <string>

#include "data/tokenizer.h"

namespace flame::data {

// The make_tokenizer() spec of dir's tokenizer: "byte", "word" or "<dir>/tokenizer.model".
// Throws flame::Error naming the file when tokenizer.json is missing or malformed.
std::string tokenizer_spec_in(const std::string& dir);

// dir's tokenizer, checked against the fingerprint recorded beside it (when there is one).
std::unique_ptr<Tokenizer> load_tokenizer_in(const std::string& dir);

// Writes dir/tokenizer.json and, for SentencePiece, copies the model to dir/tokenizer.model
// (unless it is that file already). Returns the paths written, for callers that sync them.
std::vector<std::string> write_tokenizer_files(const std::string& dir, const Tokenizer& tok);

}  // namespace flame::data
