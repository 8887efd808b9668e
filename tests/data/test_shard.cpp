// HDF5 shards: exact round trip, and every kind of bad shard refused with a message saying why.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "data/shard.h"
#include "core/error.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

TaskCard card() {
  TaskCard c;
  c.name = "toy";
  c.source = "test";
  c.license = "CC0";
  c.category = "quality";
  c.type = TaskType::classification;
  c.title = "t";
  c.description = "d";
  c.input_fields = {"text"};
  c.output_fields = {"answer"};
  c.labels = {"Yes", "No"};
  return c;
}

TaskShard shard(int n_train, int n_dev) {
  TaskShard s;
  s.card = card();
  s.tokenizer = "sentencepiece:0123456789abcdef";
  s.source = "toy.jsonl";
  s.counts.records = n_train + n_dev + 3;
  s.counts.bad = 2;
  s.counts.skipped = {{"tie", 1}};
  s.counts.truncated = 4;
  s.counts.bytes = 12345;
  for (int i = 0; i < n_train + n_dev; ++i) {
    TokenizedExample ex;
    ex.input = {1};
    for (int k = 0; k < 3 + i % 7; ++k) ex.input.push_back(10 + i + k);
    ex.target = {5 + i % 2, 2};
    if (i < n_train) {
      s.train.add(ex, i % 2);
    } else {
      s.dev.add(ex, i % 2);
      s.dev_examples.push_back({{{"text", "t" + std::to_string(i)}}, {{"answer", i % 2 ? "No" : "Yes"}}});
    }
  }
  return s;
}

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("flame_shard_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string refusal(const std::string& path, const std::string& tokenizer = "") {
  try {
    read_shard(path, tokenizer);
  } catch (const flame::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Shard, RoundTripsExactly) {
  const auto s = shard(37, 5);
  const auto p = tmp("ok.h5");
  write_shard(p, s);
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  const auto r = read_shard(p, s.tokenizer);
  EXPECT_EQ(r.card, s.card);
  EXPECT_EQ(r.tokenizer, s.tokenizer);
  EXPECT_EQ(r.source, s.source);
  EXPECT_EQ(r.counts.records, s.counts.records);
  EXPECT_EQ(r.counts.bad, 2);
  EXPECT_EQ(r.counts.skipped, s.counts.skipped);
  EXPECT_EQ(r.counts.truncated, 4);
  EXPECT_EQ(r.counts.bytes, 12345u);
  EXPECT_EQ(r.train.tokens, s.train.tokens);
  EXPECT_EQ(r.train.example_offsets, s.train.example_offsets);
  EXPECT_EQ(r.train.target_offsets, s.train.target_offsets);
  EXPECT_EQ(r.train.labels, s.train.labels);
  EXPECT_EQ(r.dev.tokens, s.dev.tokens);
  EXPECT_EQ(r.dev_examples, s.dev_examples);
  ASSERT_EQ(r.train.size(), 37u);
  const auto ex = r.train.example(3, 9);
  EXPECT_EQ(ex.task, 9);
  EXPECT_EQ(ex.input.front(), 1);
  EXPECT_EQ(ex.target, (std::vector<int32_t>{6, 2}));
  fs::remove(p);
}

TEST(Shard, EmptySplitsRoundTrip) {
  const auto p = tmp("empty.h5");
  write_shard(p, shard(3, 0));
  EXPECT_EQ(read_shard(p).dev.size(), 0u);
  fs::remove(p);
}

TEST(Shard, RefusesAnotherTokenizer) {
  const auto p = tmp("tok.h5");
  write_shard(p, shard(5, 1));
  const auto msg = refusal(p, "word:feedfeedfeedfeed");
  EXPECT_NE(msg.find("made with tokenizer sentencepiece:0123456789abcdef"), std::string::npos) << msg;
  EXPECT_NE(msg.find("word:feedfeedfeedfeed"), std::string::npos) << msg;
  fs::remove(p);
}

TEST(Shard, RefusesATruncatedFile) {
  const auto p = tmp("trunc.h5");
  write_shard(p, shard(400, 10));
  fs::resize_file(p, fs::file_size(p) / 2);
  const auto msg = refusal(p);
  EXPECT_NE(msg.find("shard " + p), std::string::npos) << msg;
  EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos) << msg;
  fs::remove(p);
}

TEST(Shard, RefusesGarbageAndMissingFiles) {
  const auto p = tmp("garbage.h5");
  std::ofstream(p) << std::string(4096, 'x');
  EXPECT_NE(refusal(p).find("not an HDF5 file"), std::string::npos);
  fs::remove(p);
  EXPECT_NE(refusal(tmp("missing.h5")).find("file not found"), std::string::npos);
}

TEST(Shard, RefusesAnotherFormatVersion) {
  const auto p = tmp("version.h5");
  write_shard(p, shard(5, 1));
  {
    const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    const int64_t v = kShardFormatVersion + 1;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Fclose(f);
  }
  const auto msg = refusal(p);
  EXPECT_NE(msg.find("format version " + std::to_string(kShardFormatVersion + 1)), std::string::npos) << msg;
  fs::remove(p);
}

TEST(Shard, RefusesInconsistentOffsets) {
  const auto p = tmp("offsets.h5");
  write_shard(p, shard(6, 1));
  {
    const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/train/target_offsets", H5P_DEFAULT);
    std::vector<int64_t> v(6, 0);  // targets starting at 0: before every example's input
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(d);
    H5Fclose(f);
  }
  EXPECT_NE(refusal(p).find("inconsistent offsets"), std::string::npos);
  fs::remove(p);
}

TEST(Shard, RefusesAFileThatIsNotAShard) {
  const auto p = tmp("other.h5");
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  EXPECT_NE(refusal(p).find("not a flame shard"), std::string::npos);
  fs::remove(p);
}
