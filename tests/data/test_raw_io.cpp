// Raw readers: gzip, tar, JSON Lines with bad lines, delimited text with and without quoting.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "data/raw_io.h"
#include "core/error.h"

using namespace flame::data;
namespace fs = std::filesystem;

namespace {

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("flame_rawio_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write_gz(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), unsigned(text.size()));
  gzclose(f);
}

// A ustar header + data for one regular file.
std::string tar_member(const std::string& name, const std::string& data) {
  std::string h(512, '\0');
  name.copy(h.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 124, 12, "%011o", unsigned(data.size()));
  h[156] = '0';
  std::memcpy(h.data() + 257, "ustar", 5);
  std::string body = data;
  body.resize((data.size() + 511) / 512 * 512, '\0');
  return h + body;
}

TaskCard any_card() {
  TaskCard c;
  c.name = "t";
  c.type = TaskType::generative;
  c.input_fields = {"x"};
  c.output_fields = {"y"};
  return c;
}

}  // namespace

TEST(RawIo, GzipIsTransparentAndCorruptionIsAnError) {
  const auto p = tmp("a.jsonl.gz");
  write_gz(p, "{\"a\": 1}\n{\"a\": 2}\n");
  EXPECT_EQ(read_raw_file(p), "{\"a\": 1}\n{\"a\": 2}\n");
  fs::resize_file(p, fs::file_size(p) - 6);  // cut the trailer
  EXPECT_THROW(read_raw_file(p), flame::Error);
  fs::remove(p);
  EXPECT_THROW(read_raw_file(tmp("missing")), flame::Error);
}

TEST(RawIo, TarMembersInOrderAndTruncationDetected) {
  const auto p = tmp("a.tar.gz");
  const std::string tar = tar_member("dir/one.tsv", "a\tb\n1\t2\n") +
                          tar_member("dir/two.txt", std::string(700, 'z')) + std::string(1024, '\0');
  write_gz(p, tar);
  const auto m = read_tar(p);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, "dir/one.tsv");
  EXPECT_EQ(m[0].data, "a\tb\n1\t2\n");
  EXPECT_EQ(m[1].data, std::string(700, 'z'));
  write_gz(p, tar.substr(0, 512 + 512 + 300));  // second member cut short
  EXPECT_THROW(read_tar(p), flame::Error);
  fs::remove(p);
}

TEST(RawIo, JsonLinesCountBadLinesWithTheirLineNumbers) {
  const auto card = any_card();
  ExampleSink sink(card);
  std::vector<long> seen;
  for_each_jsonl_text("{\"a\": 1}\n\n{broken\n{\"b\": 2}\r\n{\"a\": 3}", "f.jsonl", sink,
                      [&](const nlohmann::json& r, long line) {
                        seen.push_back(line);
                        (void)field(r, "a");  // line 4 lacks it
                      });
  EXPECT_EQ(seen, (std::vector<long>{1, 4, 5}));
  EXPECT_EQ(sink.report().records, 4);
  EXPECT_EQ(sink.report().bad, 2);
  ASSERT_EQ(sink.report().bad_samples.size(), 2u);
  EXPECT_EQ(sink.report().bad_samples[0].rfind("f.jsonl:line 3: bad JSON", 0), 0u);
  EXPECT_EQ(sink.report().bad_samples[1], "f.jsonl:line 4: missing field 'a'");
}

TEST(RawIo, DelimitedTextQuotedAndUnquoted) {
  const auto q = parse_delimited("x,y\n\"a, \"\"b\"\"\",\"multi\nline\"\nc,d\n", "f.csv", {',', true, true});
  ASSERT_EQ(q.rows.size(), 2u);
  EXPECT_EQ(q.header, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(q.rows[0], (std::vector<std::string>{"a, \"b\"", "multi\nline"}));
  EXPECT_EQ(q.lines, (std::vector<long>{2, 4}));
  EXPECT_EQ(q.col("y"), 1);
  EXPECT_THROW(q.col("z"), flame::Error);
  // QUOTE_NONE: quotes are text (the BEGIN and CoLA files need this).
  const auto u = parse_delimited("s1\t1\t\t\"quoted\" text\ns2\t0\t*\tx\n", "f.tsv", {'\t', false, false});
  ASSERT_EQ(u.rows.size(), 2u);
  EXPECT_EQ(u.rows[0][3], "\"quoted\" text");
  EXPECT_EQ(u.rows[1][2], "*");
  const auto card = any_card();
  ExampleSink sink(card);
  const auto bad = parse_delimited("a\tb\n1\t2\n3\n", "g.tsv", {'\t', false, true});
  int ok = 0;
  for_each_row(bad, sink, 0, [&](const std::vector<std::string>&, long) { ++ok; });
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(sink.report().bad_samples.at(0), "g.tsv:line 3: expected 2 fields, got 1");
}

TEST(RawIo, BinLabelCoversTheScale) {
  EXPECT_EQ(bin_label(0.0, 0, 1, 5), "1");
  EXPECT_EQ(bin_label(0.19, 0, 1, 5), "1");
  EXPECT_EQ(bin_label(0.2, 0, 1, 5), "2");
  EXPECT_EQ(bin_label(1.0, 0, 1, 5), "5");
  EXPECT_THROW(bin_label(1.5, 0, 1, 5), flame::Error);
  EXPECT_THROW(bin_label(std::nan(""), 0, 1, 5), flame::Error);
}
