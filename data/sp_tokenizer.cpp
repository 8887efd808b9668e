// SentencePiece tokenizer (sp_tokenizer.h): a thin adapter over libsentencepiece, plus training
// from in-memory text through its sentence-iterator API.
#include "data/sp_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/rng.h"
#include "core/error.h"

namespace flame::data {

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open tokenizer model " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Feeds the corpus line by line (SentencePiece trains on lines), skipping empty lines, up to a
// cap taken evenly across the corpus so a large corpus is sampled, not truncated.
class LineIterator final : public sentencepiece::SentenceIterator {
 public:
  LineIterator(const std::vector<std::string>& corpus, long max_lines) {
    long total = 0;
    for (const auto& text : corpus) total += long(std::count(text.begin(), text.end(), '\n')) + 1;
    const long stride = std::max(1L, (total + max_lines - 1) / std::max(1L, max_lines));
    long k = 0;
    for (const auto& text : corpus) {
      std::istringstream ss(text);
      std::string line;
      while (std::getline(ss, line))
        if (k++ % stride == 0 && !line.empty()) lines_.push_back(line);
    }
  }
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }
  size_t size() const { return lines_.size(); }

 private:
  std::vector<std::string> lines_;
  size_t i_ = 0;
};

}  // namespace

std::string sentencepiece_fingerprint(const std::string& model_bytes) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "sentencepiece:%016llx",
                (unsigned long long)hash_str(model_bytes));
  return buf;
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path)
    : path_(model_path), sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const std::string bytes = read_bytes(model_path);
  const auto st = sp_->LoadFromSerializedProto(bytes);
  if (!st.ok())
    throw Error("cannot load SentencePiece model " + model_path + ": " + st.ToString());
  FLAME_CHECK(sp_->bos_id() >= 0 && sp_->eos_id() >= 0,
              "SentencePiece model " << model_path << " has no BOS/EOS pieces (train it with "
                                     << "bos_id and eos_id set)");
  fingerprint_ = sentencepiece_fingerprint(bytes);
  // Composition probe: the same line after a newline and at the start of a text.
  composes_ = true;
  for (const std::string& a : {std::string("x\n"), std::string("CONTEXT:\n"), std::string("a b\n\n")})
    for (const std::string& b : {std::string("word: value 12\n"), std::string(" lead\n"), std::string("\nEVAL\n")}) {
      auto ab = encode(a), eb = encode(b);
      ab.insert(ab.end(), eb.begin(), eb.end());
      composes_ = composes_ && encode(a + b) == ab;
    }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto st = sp_->Encode(text, &ids);
  if (!st.ok()) throw Error("SentencePiece encode failed: " + st.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::vector<int> v;
  v.reserve(ids.size());
  const int n = vocab_size();
  for (int32_t id : ids) {
    FLAME_CHECK(id >= 0 && id < n, "token id " << id << " out of range [0, " << n << ")");
    if (id != bos_id() && id != eos_id()) v.push_back(id);
  }
  std::string out;
  const auto st = sp_->Decode(v, &out);
  if (!st.ok()) throw Error("SentencePiece decode failed: " + st.ToString());
  return out;
}

int SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }
int32_t SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }
std::string SentencePieceTokenizer::fingerprint() const { return fingerprint_; }

void train_sentencepiece(const std::vector<std::string>& corpus, const SpTrainOptions& opt,
                         const std::string& out_path) {
  FLAME_CHECK(opt.vocab_size >= 300, "tokenizer vocab_size must be >= 300 (256 byte pieces + "
                                     "specials + some text), got " << opt.vocab_size);
  FLAME_CHECK(opt.model_type == "unigram" || opt.model_type == "bpe" ||
                  opt.model_type == "char" || opt.model_type == "word",
              "tokenizer model_type must be unigram, bpe, char or word (got '" << opt.model_type
                                                                              << "')");
  FLAME_CHECK(opt.character_coverage > 0 && opt.character_coverage <= 1,
              "tokenizer character_coverage must be in (0, 1] (got " << opt.character_coverage
                                                                     << ")");
  LineIterator it(corpus, opt.max_sentences);
  FLAME_CHECK(it.size() > 0, "tokenizer training corpus is empty");
  const int threads = opt.threads > 0 ? opt.threads : int(std::thread::hardware_concurrency());
  const std::unordered_map<std::string, std::string> args = {
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"model_type", opt.model_type},
      {"character_coverage", std::to_string(opt.character_coverage)},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      {"split_digits", "true"},
      {"user_defined_symbols", "\n"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"max_sentence_length", "16384"},
      {"hard_vocab_limit", "false"},
      {"num_threads", std::to_string(std::max(1, threads))},
      {"minloglevel", "2"},
  };
  std::string proto;
  const auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  if (!st.ok()) throw Error("SentencePiece training failed: " + st.ToString());
  const std::string tmp = out_path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(proto.data(), std::streamsize(proto.size()));
    if (!f) throw Error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, out_path);
}

}  // namespace flame::data
