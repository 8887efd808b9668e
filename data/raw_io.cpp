// Raw-format readers (raw_io.h). gzip through zlib (concatenated members included); tar parsed
// here: 512-byte ustar headers, GNU long names ('L') and pax 'path=' records, regular files only.
#include "data/raw_io.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace flame::data {

namespace {

std::string gunzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open " + path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      const std::string msg = gzerror(f, &err);
      gzclose(f);
      throw Error("corrupt gzip file " + path + ": " + msg);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  // gzread returns 0 both at a clean end and at a truncated stream; gzclose tells them apart.
  const int rc = gzclose(f);
  if (rc != Z_OK) throw Error("corrupt or truncated gzip file " + path);
  return out;
}

long octal(const char* p, size_t n) {
  long v = 0;
  for (size_t i = 0; i < n && p[i]; ++i) {
    if (p[i] == ' ') continue;
    if (p[i] < '0' || p[i] > '7') throw Error("bad octal number in tar header");
    v = v * 8 + (p[i] - '0');
  }
  return v;
}

std::string cstr(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

}  // namespace

std::string read_raw_file(const std::string& path, ExampleSink* sink) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot open " + path + ": " + ec.message());
  if (sink) sink->add_bytes(size_t(size));
  if (path.ends_with(".gz")) return gunzip_file(path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path);
  std::string s(size_t(size), '\0');
  f.read(s.data(), std::streamsize(size));
  if (!f) throw Error("cannot read " + path);
  return s;
}

std::vector<TarMember> read_tar(const std::string& path, ExampleSink* sink) {
  const std::string tar = read_raw_file(path, sink);
  std::vector<TarMember> out;
  size_t off = 0;
  std::string long_name;
  while (off + 512 <= tar.size()) {
    const char* h = tar.data() + off;
    bool zero = true;
    for (int i = 0; i < 512 && zero; ++i) zero = h[i] == 0;
    if (zero) return out;  // end-of-archive marker
    long size = 0;
    try {
      size = octal(h + 124, 12);
    } catch (const Error&) {
      throw Error("corrupt tar archive " + path + " (bad header at byte " + std::to_string(off) + ")");
    }
    const char type = h[156];
    const size_t data_off = off + 512;
    if (data_off + size_t(size) > tar.size())
      throw Error("truncated tar archive " + path + " (member at byte " + std::to_string(off) +
                  " runs past the end)");
    const std::string data = tar.substr(data_off, size_t(size));
    std::string name = cstr(h, 100);
    const std::string prefix = cstr(h + 345, 155);
    if (std::memcmp(h + 257, "ustar", 5) == 0 && !prefix.empty()) name = prefix + "/" + name;
    if (type == 'L') {
      long_name = cstr(data.data(), data.size());
    } else if (type == 'x') {
      // pax records "LEN key=value\n"; only the path matters here.
      std::istringstream ss(data);
      std::string rec;
      while (std::getline(ss, rec))
        if (const auto p = rec.find(" path="); p != std::string::npos) long_name = rec.substr(p + 6);
    } else {
      if (type == '0' || type == '\0') out.push_back({long_name.empty() ? name : long_name, data});
      long_name.clear();
    }
    off = data_off + (size_t(size) + 511) / 512 * 512;
  }
  if (off != tar.size()) throw Error("truncated tar archive " + path);
  return out;
}

void guarded_record(ExampleSink& sink, const std::string& where, const std::function<void()>& fn) {
  sink.record();
  try {
    fn();
  } catch (const std::exception& e) {
    sink.bad(where, e.what());
  }
}

void for_each_jsonl_text(const std::string& text, const std::string& name, ExampleSink& sink,
                         const std::function<void(const nlohmann::json&, long line)>& fn) {
  size_t start = 0;
  long line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string_view sv(text.data() + start, end - start);
    start = end + 1;
    if (!sv.empty() && sv.back() == '\r') sv.remove_suffix(1);
    if (sv.find_first_not_of(" \t") == std::string_view::npos) continue;
    guarded_record(sink, name + ":line " + std::to_string(line), [&] {
      nlohmann::json rec;
      try {
        rec = nlohmann::json::parse(sv);
      } catch (const nlohmann::json::parse_error& e) {
        throw Error(std::string("bad JSON: ") + e.what());
      }
      fn(rec, line);
    });
  }
}

void for_each_jsonl(const std::string& path, ExampleSink& sink,
                    const std::function<void(const nlohmann::json&, long line)>& fn) {
  for_each_jsonl_text(read_raw_file(path, &sink), path, sink, fn);
}

nlohmann::json read_json(const std::string& path, ExampleSink* sink) {
  const std::string text = read_raw_file(path, sink);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("bad JSON in " + path + ": " + e.what());
  }
}

void for_each_json_item(const std::string& path, ExampleSink& sink,
                        const std::function<void(const nlohmann::json&, long index)>& fn) {
  const nlohmann::json doc = read_json(path, &sink);
  if (!doc.is_array()) throw Error(path + ": expected a JSON array at the top level");
  for (size_t i = 0; i < doc.size(); ++i)
    guarded_record(sink, path + ":record " + std::to_string(i), [&] { fn(doc[i], long(i)); });
}

int Table::col(const std::string& c) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == c) return int(i);
  throw Error(name + ": no column '" + c + "'");
}

Table parse_delimited(const std::string& text, const std::string& name,
                      const DelimitedOptions& opt) {
  Table t;
  t.name = name;
  std::vector<std::string> fields;
  std::string cur;
  size_t i = 0;
  long line = 1;
  bool first = true;
  while (i < text.size()) {
    const long row_line = line;
    fields.clear();
    cur.clear();
    bool in_quotes = false, at_field_start = true;
    for (; i < text.size(); ++i) {
      const char ch = text[i];
      if (opt.quoted && in_quotes) {
        if (ch == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            cur += '"';
            ++i;
          } else {
            in_quotes = false;
          }
        } else {
          if (ch == '\n') ++line;
          cur += ch;
        }
        continue;
      }
      if (opt.quoted && ch == '"' && at_field_start) {
        in_quotes = true;
        at_field_start = false;
        continue;
      }
      if (ch == opt.sep) {
        fields.push_back(std::move(cur));
        cur.clear();
        at_field_start = true;
        continue;
      }
      if (ch == '\n') {
        ++i;
        ++line;
        break;
      }
      cur += ch;
      at_field_start = false;
    }
    if (!cur.empty() && cur.back() == '\r') cur.pop_back();
    fields.push_back(std::move(cur));
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    if (opt.header && first) {
      t.header = fields;
    } else {
      t.rows.push_back(fields);
      t.lines.push_back(row_line);
    }
    first = false;
  }
  return t;
}

void for_each_row(const Table& t, ExampleSink& sink, int expect_fields,
                  const std::function<void(const std::vector<std::string>&, long line)>& fn) {
  const size_t want = expect_fields > 0 ? size_t(expect_fields) : t.header.size();
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    guarded_record(sink, t.name + ":line " + std::to_string(t.lines[r]), [&] {
      if (want > 0 && row.size() != want)
        throw Error("expected " + std::to_string(want) + " fields, got " +
                    std::to_string(row.size()));
      fn(row, t.lines[r]);
    });
  }
}

}  // namespace flame::data
