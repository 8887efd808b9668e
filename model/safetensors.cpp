// safetensors reading (validate everything first, then serve tensors from the file's bytes) and
// writing (sorted header padded to 8 bytes, temporary file fsync'ed and renamed into place), plus
// the bf16/f16 <-> f32 conversions the other dtypes need.
//
// The reader accepts what the reference implementation (the Rust `safetensors` crate) accepts:
// the tensors' byte ranges must tile the data section exactly, with no gap, no overlap and no
// trailing byte, so a file whose offsets were edited is refused rather than half-read.
#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "core/error.h"

namespace flame::model {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this build assumes a little-endian host");

namespace {

// The reference implementation's limit: a larger header is a corrupt length, not a real file.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw Error("safetensors " + path + ": " + why);
}

// Element count with overflow detection (a hostile shape must not wrap around to a small size).
bool checked_numel(const std::vector<int64_t>& shape, size_t* out) {
  size_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > std::numeric_limits<size_t>::max() / size_t(d)) return false;
    n *= size_t(d);
  }
  *out = n;
  return true;
}

bool is_float_family(DType d) {
  return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64;
}

uint64_t read_le64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// One header entry {"dtype", "shape", "data_offsets"} -> TensorEntry, or a reason it is bad.
TensorEntry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v) {
  const std::string where = "tensor '" + name + "': ";
  if (!v.is_object()) fail(path, where + "header entry is not a JSON object");
  for (const auto& [key, _] : v.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(path, where + "unknown field '" + key + "' in its header entry");
  TensorEntry e;
  e.name = name;

  const auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) fail(path, where + "missing or non-string \"dtype\"");
  try {
    e.dtype = parse_dtype(dt->get<std::string>());
  } catch (const Error& err) {
    fail(path, where + err.what());
  }

  const auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) fail(path, where + "missing or non-array \"shape\"");
  for (const auto& d : *sh) {
    if (d.is_number_integer() && !d.is_number_unsigned())
      fail(path, where + "negative dimension " + d.dump() + " in shape " + sh->dump());
    if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(INT64_MAX))
      fail(path, where + "shape " + sh->dump() + " holds a non-integer dimension " + d.dump());
    e.shape.push_back(int64_t(d.get<uint64_t>()));
  }

  const auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    fail(path, where + "\"data_offsets\" must be two non-negative integers [begin, end]");
  const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
  if (end < begin)
    fail(path, where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] end before begin");
  e.begin = size_t(begin);
  e.end = size_t(end);

  size_t numel = 0;
  if (!checked_numel(e.shape, &numel) || numel > std::numeric_limits<size_t>::max() / 8)
    fail(path, where + "shape " + shape_text(e.shape) + " is too large");
  if (numel * dtype_size(e.dtype) != e.end - e.begin)
    fail(path, where + "shape " + shape_text(e.shape) + " of " + dtype_name(e.dtype) + " needs " +
                   std::to_string(numel * dtype_size(e.dtype)) + " bytes but data_offsets [" +
                   std::to_string(e.begin) + ", " + std::to_string(e.end) + "] hold " +
                   std::to_string(e.end - e.begin));
  return e;
}

// POSIX helpers for the durable write: every failure names the file and the errno text.
void write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, std::string("write failed: ") + std::strerror(errno));
    }
    p += w;
    n -= size_t(w);
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse to open directories
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// dtypes

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16: return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL: return 1;
  }
  return 0;
}

DType parse_dtype(const std::string& s) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                  DType::I16, DType::I8, DType::U8, DType::BOOL})
    if (s == dtype_name(d)) return d;
  throw Error("unknown dtype '" + s + "' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

size_t TensorEntry::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

// ---------------------------------------------------------------------------------------------
// reading

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
    const std::streamoff size = in.tellg();
    if (size < 0) fail(path, "cannot determine the file size");
    bytes_.resize(size_t(size));
    in.seekg(0);
    if (size > 0 && !in.read(bytes_.data(), size)) fail(path, "read failed");
  }
  const size_t size = bytes_.size();
  if (size < 8)
    fail(path, "truncated: the file is " + std::to_string(size) +
                   " bytes, shorter than the 8-byte header length");
  const uint64_t n = read_le64(bytes_.data());
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(size) + " bytes): truncated or not a safetensors file");
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) + " exceeds the 100 MiB limit");
  if (n < 2 || bytes_[8] != '{') fail(path, "the header does not start with a JSON object '{'");
  data_start_ = 8 + size_t(n);
  const size_t data_size = size - data_start_;

  // Duplicate keys are legal JSON, but a duplicate tensor name would hide one of two tensors:
  // watch the top-level keys as the parser meets them.
  std::string duplicate;
  std::set<std::string> seen;
  const nlohmann::json::parser_callback_t watch_keys =
      [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (event == nlohmann::json::parse_event_t::key && depth == 1 &&
            !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
        return true;
      };
  const nlohmann::json header = nlohmann::json::parse(
      bytes_.begin() + 8, bytes_.begin() + std::ptrdiff_t(data_start_), watch_keys,
      /*allow_exceptions=*/false);
  if (header.is_discarded()) fail(path, "the header is not valid JSON");
  if (!header.is_object()) fail(path, "the header is not a JSON object");
  if (!duplicate.empty()) fail(path, "the header names '" + duplicate + "' twice");

  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, "__metadata__ is not a JSON object");
      for (const auto& [k, mv] : v.items()) {
        if (!mv.is_string())
          fail(path,
               "__metadata__['" + k + "'] is not a string (metadata maps strings to strings)");
        metadata_[k] = mv.get<std::string>();
      }
      continue;
    }
    tensors_.push_back(parse_entry(path, name, v));
  }

  // The ranges must tile [0, data_size): walk them in file order.
  std::vector<const TensorEntry*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  size_t covered = 0;
  const TensorEntry* prev = nullptr;
  for (const TensorEntry* t : by_offset) {
    if (t->end > data_size)
      fail(path, "tensor '" + t->name + "': data_offsets [" + std::to_string(t->begin) + ", " +
                     std::to_string(t->end) + "] run past the end of the data section (" +
                     std::to_string(data_size) + " bytes): truncated file or tampered offsets");
    if (t->begin < covered)
      fail(path, "tensors '" + prev->name + "' and '" + t->name + "' have overlapping byte ranges");
    if (t->begin > covered)
      fail(path, "bytes [" + std::to_string(covered) + ", " + std::to_string(t->begin) +
                     ") of the data section belong to no tensor (tampered offsets)");
    covered = t->end;
    prev = t;
  }
  if (covered != data_size)
    fail(path, "the data section is " + std::to_string(data_size) +
                   " bytes but the tensors cover " + std::to_string(covered) +
                   " (trailing bytes or tampered offsets)");

  std::sort(tensors_.begin(), tensors_.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  const auto it =
      std::lower_bound(tensors_.begin(), tensors_.end(), name,
                       [](const TensorEntry& e, const std::string& n) { return e.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::string SafetensorsFile::read_raw(const std::string& name) const {
  const TensorEntry* e = find(name);
  if (!e) fail(path_, "no tensor named '" + name + "'");
  return bytes_.substr(data_start_ + e->begin, e->end - e->begin);
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name,
                                             const std::vector<int64_t>& expect_shape) const {
  const TensorEntry* e = find(name);
  if (!e) fail(path_, "no tensor named '" + name + "'");
  if (!is_float_family(e->dtype))
    fail(path_, "tensor '" + name + "' is " + dtype_name(e->dtype) +
                    ", not a floating-point dtype (F32, F16, BF16, F64)");
  if (!expect_shape.empty() && e->shape != expect_shape)
    fail(path_, "tensor '" + name + "' has shape " + shape_text(e->shape) + ", expected " +
                    shape_text(expect_shape));
  const size_t n = e->numel();
  std::vector<float> out(n);
  const char* src = bytes_.data() + data_start_ + e->begin;  // not necessarily aligned: memcpy
  switch (e->dtype) {
    case DType::F32: std::memcpy(out.data(), src, n * 4); break;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = float(d);
      }
      break;
    case DType::BF16:
    case DType::F16: {
      const bool bf = e->dtype == DType::BF16;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
      }
      break;
    }
    default: break;  // excluded above
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// writing

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name.empty()) fail(path, "cannot write a tensor with an empty name");
    if (t.name == "__metadata__") fail(path, "'__metadata__' is reserved, not a tensor name");
    if (!names.insert(t.name).second) fail(path, "tensor '" + t.name + "' given twice");
    size_t n = 0;
    if (!checked_numel(t.shape, &n))
      fail(path, "tensor '" + t.name + "' has an invalid shape " + shape_text(t.shape));
    if (n > 0 && t.data == nullptr) fail(path, "tensor '" + t.name + "' has no data");
  }

  // Data order: larger elements first, then by name, so every tensor of a given dtype starts at
  // a multiple of its element size (mmap readers can use the data in place), as the reference
  // writer does. The header itself lists the tensors sorted by name.
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    const size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });
  nlohmann::json header = nlohmann::json::object();  // std::map-backed: keys come out sorted
  size_t offset = 0;
  for (const TensorToWrite* t : order) {
    size_t n = 0;
    checked_numel(t->shape, &n);
    const size_t bytes = n * dtype_size(t->dtype);
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path,
         std::string("cannot encode the header (names and metadata must be UTF-8): ") + e.what());
  }
  // Pad with spaces (allowed trailing JSON whitespace) so the data section starts 8-aligned.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');

  namespace fs = std::filesystem;
  const fs::path final_path(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create " + tmp + ": " + std::strerror(errno));
  try {
    char len[8];
    const uint64_t n = text.size();
    std::memcpy(len, &n, 8);
    write_all(fd, len, 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const TensorToWrite* t : order) {
      size_t numel = 0;
      checked_numel(t->shape, &numel);
      write_all(fd, static_cast<const char*>(t->data), numel * dtype_size(t->dtype), tmp);
    }
    if (::fsync(fd) != 0) fail(path, std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(path, std::string("close failed: ") + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("rename into place failed: ") + std::strerror(err));
  }
  fsync_dir(final_path.parent_path());  // make the rename itself durable
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace flame::model
