// Reading raw dataset files in their original formats: plain or gzip-compressed text, JSON,
// JSON Lines, TSV/CSV, and tar.gz archives of those. Every per-record reader hands each record
// to a callback and turns any exception it throws (a parse error, a missing field, an unknown
// label) into ExampleSink::bad(file:line, why), so one malformed record is skipped and counted,
// never fatal. Whole-file problems (missing file, corrupt gzip or tar) throw flame::Error.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/convert.h"

namespace flame::data {

// The whole file; *.gz is decompressed (the raw byte count goes to sink.add_bytes when given).
std::string read_raw_file(const std::string& path, ExampleSink* sink = nullptr);

// Files inside a .tar.gz (or .tar) archive: regular files only, in archive order.
struct TarMember {
  std::string name;  // path inside the archive
  std::string data;  // contents
};
std::vector<TarMember> read_tar(const std::string& path, ExampleSink* sink = nullptr);

// JSON Lines (blank lines ignored): fn(record, 1-based line number) per line.
void for_each_jsonl(const std::string& path, ExampleSink& sink,
                    const std::function<void(const nlohmann::json&, long line)>& fn);
// Same, over text already in memory; `name` is what locations report.
void for_each_jsonl_text(const std::string& text, const std::string& name, ExampleSink& sink,
                         const std::function<void(const nlohmann::json&, long line)>& fn);

// A JSON file whose top level is an array: fn(item, 0-based index) per item; locations read
// "path:record N". A top-level parse error throws flame::Error (the whole file is unusable).
void for_each_json_item(const std::string& path, ExampleSink& sink,
                        const std::function<void(const nlohmann::json&, long index)>& fn);
// A whole JSON document (object or array); throws flame::Error naming the file on a parse error.
nlohmann::json read_json(const std::string& path, ExampleSink* sink = nullptr);

// Delimited text. quoted: RFC-4180 double quotes (CSV); otherwise a field is everything between
// separators (QUOTE_NONE, as the BEGIN and CoLA TSVs need). Lines end at \n (a trailing \r is
// dropped).
struct DelimitedOptions {
  char sep = '\t';
  bool quoted = false;
  bool header = true;  // the first line names the columns
};
struct Table {
  std::vector<std::string> header;             // empty when options.header is false
  std::vector<std::vector<std::string>> rows;  // data rows, split into fields
  std::vector<long> lines;                     // 1-based source line of each row
  // Index of a named column; throws flame::Error naming the column and the file.
  int col(const std::string& name) const;
  std::string name;  // file name, for messages
};
Table parse_delimited(const std::string& text, const std::string& name,
                      const DelimitedOptions& opt);

// Runs fn(row, line) per table row; exceptions become sink.bad("name:line N", why). Rows whose
// field count differs from the header's (or from `expect_fields` when > 0) are bad records.
void for_each_row(const Table& t, ExampleSink& sink, int expect_fields,
                  const std::function<void(const std::vector<std::string>&, long line)>& fn);

// Calls fn and turns any exception into sink.bad(where, what()); counts the record first.
void guarded_record(ExampleSink& sink, const std::string& where, const std::function<void()>& fn);

}  // namespace flame::data
