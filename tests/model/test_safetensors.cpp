// safetensors reader/writer: round trips over every dtype and odd shapes, refusal of each kind
// of corrupt file with a message naming the problem, and exact bf16/f16 conversions.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/safetensors.h"
#include "model_test_util.h"
#include "tests/temp_dir.h"

namespace flame::model {
namespace {

namespace fs = std::filesystem;

class Safetensors : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }

  // A file from a literal header and data section (for corruptions).
  std::string raw_file(const std::string& header, const std::string& data,
                       const std::string& name = "raw.safetensors") const {
    std::string bytes(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    bytes += header + data;
    return write_bytes(bytes, name);
  }
  std::string write_bytes(const std::string& bytes, const std::string& name) const {
    std::ofstream f(path(name), std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
    return path(name);
  }
  static std::string read_bytes(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  flame_test::TempDir tmp_{"st"};
  const fs::path& dir_ = tmp_.path();
};

// The message of the flame::Error that opening `p` throws ("" when it opens).
std::string open_error(const std::string& p) {
  try {
    SafetensorsFile f(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string bytes_of(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

TEST_F(Safetensors, RoundTripsEveryDtypeOddShapesScalarsAndEmptyTensors) {
  testing::TestRng rng(7);
  std::vector<float> f32(3 * 5);
  for (float& x : f32) x = rng.uniform(-3, 3);
  std::vector<double> f64 = {1.5, -2.25, 0.1};
  std::vector<uint16_t> bf16 = {0x3F80, 0xC000, 0x7F80, 0x0001, 0x1234, 0x7FC0, 0x8000};
  std::vector<uint16_t> f16 = {0x3C00, 0x7BFF, 0x0001, 0xFC00, 0x5555, 0x0400};
  std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::min(), -1, 0, 42};
  std::vector<int32_t> i32 = {-7};  // 0-d scalar
  std::vector<int16_t> i16 = {-32768, 1, 32767};
  std::vector<int8_t> i8 = {-128, 0, 127, 5, 6};
  std::vector<uint8_t> u8 = {0, 255, 17};
  std::vector<uint8_t> boolean = {1, 0, 1, 1};
  const std::vector<TensorToWrite> in = {
      {"w.f32", DType::F32, {3, 5}, f32.data()}, {"a.f64", DType::F64, {3}, f64.data()},
      {"b.bf16", DType::BF16, {7}, bf16.data()}, {"c.f16", DType::F16, {2, 1, 3}, f16.data()},
      {"d.i64", DType::I64, {2, 2}, i64.data()}, {"scalar", DType::I32, {}, i32.data()},
      {"e.i16", DType::I16, {3}, i16.data()},    {"f.i8", DType::I8, {5}, i8.data()},
      {"g.u8", DType::U8, {3}, u8.data()},       {"h.bool", DType::BOOL, {2, 2}, boolean.data()},
      {"empty", DType::F32, {0, 3}, nullptr},    {"empty_bf16", DType::BF16, {4, 0}, nullptr},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "héllo \"q\""}};
  const std::string p = path("all.safetensors");
  write_safetensors(p, in, meta);

  const SafetensorsFile f(p);
  EXPECT_EQ(f.metadata(), meta);
  ASSERT_EQ(f.tensors().size(), in.size());
  for (size_t i = 1; i < f.tensors().size(); ++i)
    EXPECT_LT(f.tensors()[i - 1].name, f.tensors()[i].name) << "tensors() sorted by name";
  for (const auto& t : in) {
    SCOPED_TRACE(t.name);
    const TensorEntry* e = f.find(t.name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype, t.dtype);
    EXPECT_EQ(e->shape, t.shape);
    size_t n = 1;
    for (int64_t d : t.shape) n *= size_t(d);
    EXPECT_EQ(e->numel(), n);
    EXPECT_EQ(f.read_raw(t.name), n ? bytes_of(t.data, n * dtype_size(t.dtype)) : "");
  }
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_EQ(f.read_f32("w.f32", {3, 5}), f32);
  EXPECT_EQ(f.read_f32("a.f64"), (std::vector<float>{1.5f, -2.25f, 0.1f}));
  EXPECT_EQ(f.read_f32("b.bf16")[1], -2.0f);
  EXPECT_EQ(f.read_f32("c.f16")[1], 65504.0f);
  EXPECT_TRUE(f.read_f32("empty").empty());

  // Layout: header length 8-aligned, sorted keys in the header, the file exactly that long.
  const std::string bytes = read_bytes(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  std::string prev;
  for (const auto& [k, v] : header.items()) {
    EXPECT_LT(prev, k);
    prev = k;
  }
  EXPECT_EQ(header["w.f32"]["data_offsets"][0].get<size_t>() % 4, 0u) << "wide dtypes first";
  EXPECT_EQ(header["a.f64"]["data_offsets"][0].get<size_t>() % 8, 0u);
  // Writing the same thing twice gives the same bytes, and no temporary file is left behind.
  write_safetensors(path("again.safetensors"), in, meta);
  EXPECT_EQ(read_bytes(path("again.safetensors")), bytes);
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST_F(Safetensors, ReadF32RefusesWrongShapeIntegerDtypeAndAbsentTensor) {
  std::vector<float> v(6, 1.0f);
  std::vector<int32_t> ints(2, 3);
  write_safetensors(path("x.safetensors"),
                    {{"v", DType::F32, {2, 3}, v.data()}, {"ints", DType::I32, {2}, ints.data()}});
  const SafetensorsFile f(path("x.safetensors"));
  auto message = [&](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message([&] {
              f.read_f32("v", {3, 2});
            }).find("has shape [2,3], expected [3,2]"),
            std::string::npos);
  EXPECT_NE(message([&] { f.read_f32("ints"); }).find("is I32, not a floating-point dtype"),
            std::string::npos);
  EXPECT_NE(message([&] { f.read_f32("nope"); }).find("no tensor named 'nope'"), std::string::npos);
  EXPECT_NE(message([&] { f.read_raw("nope"); }).find("no tensor named 'nope'"), std::string::npos);
}

TEST_F(Safetensors, WriterRefusesDuplicateReservedAndMissingData) {
  float x = 1;
  auto msg = [&](const std::vector<TensorToWrite>& t) -> std::string {
    try {
      write_safetensors(path("w.safetensors"), t);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(msg({{"a", DType::F32, {1}, &x}, {"a", DType::F32, {1}, &x}}).find("given twice"),
            std::string::npos);
  EXPECT_NE(msg({{"__metadata__", DType::F32, {1}, &x}}).find("reserved"), std::string::npos);
  EXPECT_NE(msg({{"a", DType::F32, {1}, nullptr}}).find("has no data"), std::string::npos);
  EXPECT_NE(msg({{"a", DType::F32, {-1}, &x}}).find("invalid shape"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("w.safetensors")));
}

// Each corruption must be refused with its own reason, and the message must name the file.
TEST_F(Safetensors, RefusesEachKindOfCorruption) {
  const std::string data16(16, '\x01');
  struct Case {
    const char* what;
    std::string file;
    const char* expect;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"too short", write_bytes("abc", "short.safetensors"), "truncated: the file is 3 bytes"});
  {
    std::string b(8, '\0');
    const uint64_t n = 1000;
    std::memcpy(b.data(), &n, 8);
    cases.push_back({"header length past end", write_bytes(b + "{}", "len.safetensors"),
                     "header length 1000 runs past the end"});
  }
  cases.push_back({"bad json", raw_file("{\"a\": [1,", "", "json.safetensors"), "not valid JSON"});
  cases.push_back({"not an object", raw_file("[1, 2]", "", "arr.safetensors"),
                   "does not start with a JSON object"});
  cases.push_back(
      {"unknown dtype",
       raw_file(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", "xx", "dt.st"),
       "unknown dtype 'F8'"});
  cases.push_back(
      {"negative dim",
       raw_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "xxxx", "neg.st"),
       "negative dimension -1"});
  cases.push_back(
      {"shape/size mismatch",
       raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data16, "mm.st"),
       "needs 12 bytes but data_offsets [0, 16] hold 16"});
  cases.push_back(
      {"range past end",
       raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", data16, "end.st"),
       "run past the end of the data section (16 bytes)"});
  cases.push_back({"overlap",
                   raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                            data16, "ovl.st"),
                   "'a' and 'b' have overlapping byte ranges"});
  cases.push_back({"gap (tampered range)",
                   raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                            data16, "gap.st"),
                   "bytes [8, 12) of the data section belong to no tensor"});
  cases.push_back(
      {"trailing bytes",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data16, "tail.st"),
       "the tensors cover 8"});
  cases.push_back(
      {"end before begin",
       raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data16, "rev.st"),
       "end before begin"});
  cases.push_back({"duplicate name",
                   raw_file(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                            R"("a":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}})",
                            data16, "dup.st"),
                   "names 'a' twice"});
  cases.push_back({"metadata not string->string",
                   raw_file(R"({"__metadata__":{"k":1}})", "", "meta.st"),
                   "__metadata__['k'] is not a string"});
  cases.push_back({"missing field",
                   raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", "xxxx", "nof.st"),
                   "missing or non-array \"shape\""});
  cases.push_back(
      {"float dim",
       raw_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "xxxx", "fl.st"),
       "non-integer dimension"});
  cases.push_back(
      {"huge shape",
       raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
                "xxxx", "huge.st"),
       "is too large"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string msg = open_error(c.file);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("safetensors " + c.file + ": ", 0), 0u) << msg;
  }
  // The well-formed versions of the same shapes open: the refusals above are about the defects.
  EXPECT_EQ(
      open_error(raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data16)),
      "");
  EXPECT_EQ(open_error(raw_file("{}", "")), "");
}

TEST_F(Safetensors, RefusesEveryTruncationOfAValidFile) {
  std::vector<float> v(10, 0.5f);
  write_safetensors(path("ok.safetensors"), {{"v", DType::F32, {10}, v.data()}}, {{"k", "v"}});
  const std::string bytes = read_bytes(path("ok.safetensors"));
  for (size_t len = 0; len < bytes.size(); ++len) {
    const std::string msg = open_error(write_bytes(bytes.substr(0, len), "cut.safetensors"));
    EXPECT_FALSE(msg.empty()) << "a file cut to " << len << " bytes opened";
  }
  EXPECT_EQ(open_error(write_bytes(bytes, "whole.safetensors")), "");
}

TEST_F(Safetensors, EditedOffsetsAreRefused) {
  std::vector<float> a(4, 1.0f), b(4, 2.0f);
  write_safetensors(path("ok.safetensors"),
                    {{"a", DType::F32, {4}, a.data()}, {"b", DType::F32, {4}, b.data()}});
  std::string bytes = read_bytes(path("ok.safetensors"));
  // Point b at a's bytes, keeping the header the same length: b's range now overlaps a's.
  const size_t at = bytes.find("[16,32]");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 7, "[0,16] ");
  const std::string msg = open_error(write_bytes(bytes, "edited.safetensors"));
  EXPECT_NE(msg.find("overlapping byte ranges"), std::string::npos) << msg;
}

// ---- conversions

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

TEST(SafetensorsConversion, Bf16KnownValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);             // tie -> even (down)
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);         // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-INFINITY), 0xFF80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds up to infinity
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);
  // NaN stays NaN (quiet), sign kept, even when the payload is only in the dropped low bits.
  const uint16_t nan_low = f32_to_bf16(std::bit_cast<float>(0x7F800001u));
  EXPECT_EQ(nan_low & 0x7F80, 0x7F80);
  EXPECT_NE(nan_low & 0x007F, 0);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0xFFC00000u)), 0xFFC0);
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC1)));
}

TEST(SafetensorsConversion, Bf16IsRoundToNearestEvenOnRandomFloats) {
  testing::TestRng rng(11);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = uint32_t(rng.next());
    const float x = std::bit_cast<float>(u);
    if (std::isnan(x)) continue;
    const uint16_t got = f32_to_bf16(x);
    // Independent check: the two bf16 neighbours of x, compared in double.
    const uint16_t lo = uint16_t(u >> 16);
    const double dx = x, dlo = bf16_to_f32(lo);
    const uint16_t hi = uint16_t(lo + 1);
    const double dhi = (hi & 0x7F80) == 0x7F80 && (hi & 0x7F) == 0
                           ? std::copysign(std::ldexp(1.0, 128), dx)  // the overflow boundary
                           : double(bf16_to_f32(hi));
    const double dl = std::fabs(dx - dlo), dh = std::fabs(dhi - dx);
    const uint16_t want = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    ASSERT_EQ(got, want) << std::hex << "x bits 0x" << u;
  }
}

TEST(SafetensorsConversion, F16KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);  // largest half
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);  // below the tie
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // tie -> even = infinity
  EXPECT_EQ(f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xFC00);
  EXPECT_EQ(f32_to_f16(0x1p-14f), 0x0400);               // smallest normal
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);               // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);               // tie -> even = zero
  EXPECT_EQ(f32_to_f16(0x1p-25f * 1.0000001f), 0x0001);  // just above the tie
  EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);           // tie 1.5 units -> 2
  EXPECT_EQ(f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);    // tie at the top of subnormals
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3C00);        // tie -> even (down)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);    // tie -> even (up)
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  const uint16_t nan = f32_to_f16(std::bit_cast<float>(0x7F800001u));
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x8001), -0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x03FF), 1023 * 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x7C00), INFINITY);
  EXPECT_EQ(bits(f16_to_f32(0x8000)), 0x80000000u);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
}

// Every half and every bf16 value survives the trip through float unchanged.
TEST(SafetensorsConversion, AllHalfAndBf16ValuesRoundTripThroughFloat) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const bool f16_nan = (h & 0x7C00) == 0x7C00 && (h & 0x03FF);
    const uint16_t back = f32_to_f16(f16_to_f32(uint16_t(h)));
    if (f16_nan)
      ASSERT_TRUE((back & 0x7C00) == 0x7C00 && (back & 0x03FF)) << std::hex << h;
    else
      ASSERT_EQ(back, h) << std::hex << h;
    const bool bf_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
    const uint16_t back_bf = f32_to_bf16(bf16_to_f32(uint16_t(h)));
    if (bf_nan)
      ASSERT_TRUE(std::isnan(bf16_to_f32(back_bf))) << std::hex << h;
    else
      ASSERT_EQ(back_bf, h) << std::hex << h;
  }
}

TEST(SafetensorsConversion, F16IsRoundToNearestEvenOnRandomFloatsInRange) {
  testing::TestRng rng(5);
  for (int i = 0; i < 200000; ++i) {
    // Magnitudes around the half range, subnormals included.
    const float x = float(std::ldexp(rng.uniform(1.0, 2.0), rng.below(46) - 30)) *
                    (rng.below(2) ? 1.0f : -1.0f);
    const uint16_t got = f32_to_f16(x);
    const double dx = x;
    if (std::fabs(dx) >= 65520.0) {
      ASSERT_EQ(got & 0x7FFF, 0x7C00);
      continue;
    }
    // The nearest half by brute force over the two candidates around the truncation.
    const double dgot = f16_to_f32(got);
    const uint16_t other_up = uint16_t(got + 1), other_dn = uint16_t(got - 1);
    for (uint16_t o : {other_up, other_dn}) {
      if ((o & 0x7C00) == 0x7C00 || (o ^ got) & 0x8000) continue;
      const double d_o = std::fabs(double(f16_to_f32(o)) - dx), d_g = std::fabs(dgot - dx);
      ASSERT_TRUE(d_g < d_o || (d_g == d_o && (got & 1) == 0))
          << "x=" << x << " got 0x" << std::hex << got << " but 0x" << o << " is nearer";
    }
  }
}

}  // namespace
}  // namespace flame::model
