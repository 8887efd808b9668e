// tokenizer.json beside shards and checkpoints (tokenizer_dir.h).
#include "data/tokenizer_dir.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/sp_tokenizer.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace flame::data {

namespace {

nlohmann::json read_info(const std::string& dir) {
  const fs::path p = fs::path(dir) / "tokenizer.json";
  std::ifstream f(p);
  if (!f) throw Error(p.string() + " not found (shards from flame prepare and checkpoints have it)");
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error("bad " + p.string() + ": " + e.what());
  }
}

}  // namespace

std::string tokenizer_spec_in(const std::string& dir) {
  const nlohmann::json j = read_info(dir);
  const std::string kind = j.value("kind", std::string());
  if (kind.empty()) throw Error("bad " + (fs::path(dir) / "tokenizer.json").string() + ": no kind");
  return kind == "tokenizer.model" ? (fs::path(dir) / kind).string() : kind;
}

std::unique_ptr<Tokenizer> load_tokenizer_in(const std::string& dir) {
  const nlohmann::json j = read_info(dir);
  auto tok = make_tokenizer(tokenizer_spec_in(dir));
  if (j.contains("fingerprint") && j["fingerprint"] != tok->fingerprint())
    throw Error(dir + ": tokenizer fingerprint " + tok->fingerprint() + " differs from the recorded " +
                j["fingerprint"].get<std::string>());
  return tok;
}

std::vector<std::string> write_tokenizer_files(const std::string& dir, const Tokenizer& tok) {
  std::vector<std::string> written;
  nlohmann::json info = {{"kind", tok.name()},
                         {"fingerprint", tok.fingerprint()},
                         {"vocab_size", tok.vocab_size()}};
  if (const auto* sp = dynamic_cast<const SentencePieceTokenizer*>(&tok)) {
    const fs::path model = fs::path(dir) / "tokenizer.model";
    if (!fs::exists(model) || !fs::equivalent(sp->model_path(), model))
      fs::copy_file(sp->model_path(), model, fs::copy_options::overwrite_existing);
    written.push_back(model.string());
    info["kind"] = "tokenizer.model";
  }
  const fs::path p = fs::path(dir) / "tokenizer.json";
  std::ofstream(p) << info.dump(2) << "\n";
  if (!fs::exists(p)) throw Error("cannot write " + p.string());
  written.push_back(p.string());
  return written;
}

}  // namespace flame::data
