// HDF5 token shards (shard.h). Plain HDF5 C API: contiguous 1-D datasets and scalar attributes.
#include "data/shard.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/hdf5_check.h"

namespace fs = std::filesystem;

namespace flame::data {

namespace {

// Closes an HDF5 id with its matching close function when it goes out of scope.
struct H5Id {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  H5Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() {
    if (id >= 0 && close) close(id);
  }
  operator hid_t() const { return id; }
};

void quiet_hdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

template <class T> hid_t h5_type();
template <> hid_t h5_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t h5_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t h5_type<uint8_t>() { return H5T_NATIVE_UINT8; }

template <class T>
void write_vec(hid_t group, const char* name, const std::vector<T>& v) {
  const hsize_t n = v.size();
  H5Id space(HDF5_CHECK(H5Screate_simple(1, &n, nullptr)), H5Sclose);
  H5Id ds(HDF5_CHECK(H5Dcreate2(group, name, h5_type<T>(), space, H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT)),
          H5Dclose);
  if (n) HDF5_CHECK(H5Dwrite(ds, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()));
}

void write_attr(hid_t obj, const char* name, const std::string& value) {
  H5Id type(HDF5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  HDF5_CHECK(H5Tset_size(type, std::max<size_t>(1, value.size())));
  H5Id space(HDF5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  H5Id a(HDF5_CHECK(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  const std::string v = value.empty() ? std::string(1, '\0') : value;
  HDF5_CHECK(H5Awrite(a, type, v.data()));
}

void write_attr(hid_t obj, const char* name, int64_t value) {
  H5Id space(HDF5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  H5Id a(HDF5_CHECK(H5Acreate2(obj, name, H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT)),
         H5Aclose);
  HDF5_CHECK(H5Awrite(a, H5T_NATIVE_INT64, &value));
}

void write_split(hid_t file, const char* name, const ShardSplit& s) {
  H5Id g(HDF5_CHECK(H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), H5Gclose);
  write_vec(g, "tokens", s.tokens);
  write_vec(g, "example_offsets", s.example_offsets);
  write_vec(g, "target_offsets", s.target_offsets);
  write_vec(g, "labels", s.labels);
}

nlohmann::json counts_json(const PrepareCounts& c) {
  return {{"records", c.records}, {"bad", c.bad},         {"skipped", c.skipped},
          {"truncated", c.truncated}, {"dropped", c.dropped}, {"bytes", c.bytes}};
}

// --- reading: every failure names the shard and what is wrong --------------------------------

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& why) const { throw Error("shard " + path + ": " + why); }

  bool has(hid_t obj, const char* name) const { return H5Aexists(obj, name) > 0; }

  std::string str_attr(hid_t obj, const char* name) const {
    if (!has(obj, name)) fail(std::string("missing attribute '") + name + "' (not a flame shard?)");
    H5Id a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
    H5Id type(H5Aget_type(a), H5Tclose);
    if (a < 0 || type < 0 || H5Tget_class(type) != H5T_STRING)
      fail(std::string("attribute '") + name + "' is not a string");
    const size_t n = H5Tget_size(type);
    std::string v(n, '\0');
    H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem, n);
    if (H5Aread(a, mem, v.data()) < 0) fail(std::string("cannot read attribute '") + name + "'");
    while (!v.empty() && v.back() == '\0') v.pop_back();
    return v;
  }

  int64_t int_attr(hid_t obj, const char* name) const {
    if (!has(obj, name)) fail(std::string("missing attribute '") + name + "' (not a flame shard?)");
    H5Id a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
    int64_t v = 0;
    if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &v) < 0)
      fail(std::string("cannot read attribute '") + name + "'");
    return v;
  }

  template <class T>
  std::vector<T> vec(hid_t group, const std::string& where, const char* name) const {
    if (H5Lexists(group, name, H5P_DEFAULT) <= 0) fail("missing dataset " + where + "/" + name);
    H5Id ds(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose);
    H5Id space(H5Dget_space(ds), H5Sclose);
    if (ds < 0 || space < 0 || H5Sget_simple_extent_ndims(space) != 1)
      fail("dataset " + where + "/" + name + " is not a 1-D array");
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space, &n, nullptr);
    std::vector<T> v(n);
    if (n && H5Dread(ds, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
      fail("cannot read dataset " + where + "/" + name + " (truncated or corrupt file)");
    return v;
  }

  ShardSplit split(hid_t file, const char* name, int64_t expect_n) const {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) fail(std::string("missing group /") + name);
    H5Id g(H5Gopen2(file, name, H5P_DEFAULT), H5Gclose);
    const std::string w = std::string("/") + name;
    ShardSplit s;
    s.tokens = vec<int32_t>(g, w, "tokens");
    s.example_offsets = vec<int64_t>(g, w, "example_offsets");
    s.target_offsets = vec<int64_t>(g, w, "target_offsets");
    s.labels = vec<int32_t>(g, w, "labels");
    const size_t n = s.target_offsets.size();
    if (int64_t(n) != expect_n)
      fail(w + " holds " + std::to_string(n) + " examples, the attributes say " +
           std::to_string(expect_n));
    if (s.example_offsets.size() != n + 1 || s.labels.size() != n)
      fail(w + ": example_offsets/labels sizes do not match target_offsets");
    if (s.example_offsets.front() != 0 || s.example_offsets.back() != int64_t(s.tokens.size()))
      fail(w + ": example_offsets do not span the tokens");
    for (size_t i = 0; i < n; ++i)
      if (!(s.example_offsets[i] < s.target_offsets[i] &&
            s.target_offsets[i] < s.example_offsets[i + 1]))
        fail(w + ": example " + std::to_string(i) + " has inconsistent offsets");
    return s;
  }
};

}  // namespace

void ShardSplit::add(const TokenizedExample& ex, int label) {
  tokens.insert(tokens.end(), ex.input.begin(), ex.input.end());
  target_offsets.push_back(int64_t(tokens.size()));
  tokens.insert(tokens.end(), ex.target.begin(), ex.target.end());
  example_offsets.push_back(int64_t(tokens.size()));
  labels.push_back(label);
}

TokenizedExample ShardSplit::example(size_t i, int task) const {
  FLAME_CHECK(i < size(), "example " << i << " of " << size());
  TokenizedExample ex;
  ex.input.assign(tokens.begin() + example_offsets[i], tokens.begin() + target_offsets[i]);
  ex.target.assign(tokens.begin() + target_offsets[i], tokens.begin() + example_offsets[i + 1]);
  ex.task = task;
  return ex;
}

std::string examples_to_json(const std::vector<Example>& exs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& ex : exs) a.push_back({{"inputs", ex.inputs}, {"outputs", ex.outputs}});
  return a.dump();
}

std::vector<Example> examples_from_json(const std::string& text) {
  const auto a = nlohmann::json::parse(text);
  FLAME_CHECK(a.is_array(), "examples JSON is not an array");
  std::vector<Example> out;
  for (const auto& e : a) {
    Example ex;
    ex.inputs = e.at("inputs").get<std::vector<std::pair<std::string, std::string>>>();
    ex.outputs = e.at("outputs").get<std::vector<std::pair<std::string, std::string>>>();
    out.push_back(std::move(ex));
  }
  return out;
}

void write_shard(const std::string& path, const TaskShard& s) {
  quiet_hdf5();
  FLAME_CHECK(s.dev_examples.size() == s.dev.size(),
              "shard " << path << ": " << s.dev_examples.size() << " dev examples for "
                       << s.dev.size() << " tokenized ones");
  const std::string tmp = path + ".tmp";
  {
    H5Id f(HDF5_CHECK(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)), H5Fclose);
    write_attr(f, "format_version", int64_t(kShardFormatVersion));
    write_attr(f, "tokenizer", s.tokenizer);
    write_attr(f, "task", s.card.name);
    write_attr(f, "card", task_card_yaml(s.card));
    write_attr(f, "source", s.source);
    write_attr(f, "report", counts_json(s.counts).dump());
    write_attr(f, "n_train", int64_t(s.train.size()));
    write_attr(f, "n_dev", int64_t(s.dev.size()));
    write_split(f, "train", s.train);
    write_split(f, "dev", s.dev);
    const std::string js = examples_to_json(s.dev_examples);
    H5Id g(HDF5_CHECK(H5Gopen2(f, "dev", H5P_DEFAULT)), H5Gclose);
    write_vec(g, "examples_json", std::vector<uint8_t>(js.begin(), js.end()));
    HDF5_CHECK(H5Fflush(f, H5F_SCOPE_GLOBAL));
  }
  fs::rename(tmp, path);
}

TaskShard read_shard(const std::string& path, const std::string& expect_tokenizer) {
  quiet_hdf5();
  Reader r{path};
  if (!fs::is_regular_file(path)) r.fail("file not found");
  if (H5Fis_hdf5(path.c_str()) <= 0) r.fail("not an HDF5 file (truncated or corrupt)");
  H5Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (f < 0) r.fail("cannot open as HDF5 (truncated or corrupt)");
  const int64_t version = r.int_attr(f, "format_version");
  if (version != kShardFormatVersion)
    r.fail("format version " + std::to_string(version) + ", but this flame reads version " +
           std::to_string(kShardFormatVersion) + " (re-run flame prepare)");
  TaskShard s;
  s.tokenizer = r.str_attr(f, "tokenizer");
  if (!expect_tokenizer.empty() && s.tokenizer != expect_tokenizer)
    r.fail("made with tokenizer " + s.tokenizer + ", but this run uses " + expect_tokenizer +
           " (re-run flame prepare with this tokenizer, or use the shards' own)");
  try {
    s.card = parse_task_card(r.str_attr(f, "card"), path);
  } catch (const Error& e) {
    r.fail(std::string("bad task card attribute: ") + e.what());
  }
  s.source = r.str_attr(f, "source");
  try {
    const auto rep = nlohmann::json::parse(r.str_attr(f, "report"));
    s.counts.records = rep.at("records");
    s.counts.bad = rep.at("bad");
    s.counts.skipped = rep.at("skipped").get<std::map<std::string, long>>();
    s.counts.truncated = rep.at("truncated");
    s.counts.dropped = rep.at("dropped");
    s.counts.bytes = rep.at("bytes");
  } catch (const nlohmann::json::exception& e) {
    r.fail(std::string("bad report attribute: ") + e.what());
  }
  s.train = r.split(f, "train", r.int_attr(f, "n_train"));
  s.dev = r.split(f, "dev", r.int_attr(f, "n_dev"));
  H5Id g(H5Gopen2(f, "dev", H5P_DEFAULT), H5Gclose);
  const auto js = r.vec<uint8_t>(g, "/dev", "examples_json");
  try {
    s.dev_examples = examples_from_json(std::string(js.begin(), js.end()));
  } catch (const std::exception& e) {
    r.fail(std::string("bad /dev/examples_json: ") + e.what());
  }
  if (s.dev_examples.size() != s.dev.size()) r.fail("/dev/examples_json does not match /dev");
  const long n_labels = long(s.card.labels.size());
  for (const auto* sp : {&s.train, &s.dev})
    for (int32_t l : sp->labels)
      if (l < -1 || l >= n_labels) r.fail("label index " + std::to_string(l) + " out of range");
  return s;
}

}  // namespace flame::data
