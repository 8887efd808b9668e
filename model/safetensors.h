// safetensors files (the Hugging Face format): an 8-byte little-endian header length N, N bytes
// of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data section; offsets are relative to the data section's start.
//
// Reading validates everything before any tensor is touched and never reads past the end of the
// file: the file size, the header length, the JSON, each dtype (known), each shape (non-negative,
// its element count times the dtype size equal to the byte range), each range (inside the data
// section, no two overlapping). A failure throws flame::Error("safetensors <path>: <why>").
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/half.h"

namespace flame::model {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
const char* dtype_name(DType d);      // "F32", "BF16", ... (the safetensors spelling)
size_t dtype_size(DType d);           // bytes per element
DType parse_dtype(const std::string& s);  // throws flame::Error naming an unknown dtype

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte range in the data section
  size_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // reads and validates; throws flame::Error
  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }  // sorted by name
  const TensorEntry* find(const std::string& name) const;              // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor converted to float (F32, F16, BF16, F64). Throws naming the tensor when it is
  // absent, of another dtype family, or (when expect_shape is non-empty) of another shape.
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& expect_shape = {}) const;
  // The tensor's bytes exactly as stored.
  std::string read_raw(const std::string& name) const;

 private:
  std::string path_;
  std::string bytes_;  // the whole file
  size_t data_start_ = 0;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel * dtype_size bytes, little-endian
};

// Writes tensors (sorted by name in the header, data 8-byte aligned) and metadata to `path`
// through a temporary file renamed into place, fsync'ed before the rename. Throws flame::Error.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// "[2,3]": how messages (here and in hf_interop) print a shape.
std::string shape_text(const std::vector<int64_t>& shape);

// bf16/f16 <-> f32 conversions (core/half.h), for reading and writing other dtypes.
using flame::bf16_to_f32;
using flame::f16_to_f32;
using flame::f32_to_bf16;
using flame::f32_to_f16;

}  // namespace flame::model
