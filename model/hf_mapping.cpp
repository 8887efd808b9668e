// The one interpreter of the family tables (hf_families.h): import runs each row's transform,
// export its inverse, and the docs render the same rows.
#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

#include "core/error.h"
#include "model/hf_families.h"
#include "model/hf_interop.h"

namespace flame::model::hf {

using nlohmann::json;

namespace {

const std::string kLayer = "{l}";

// Shortest decimal that reads back as the same float ("1e-05", not "9.999999747378752e-06"),
// so config.json shows the value the user meant.
double clean_double(float f) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::stod(std::string(buf, r.ptr));
}

size_t numel(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

std::vector<float> transposed(const float* src, int64_t rows, int64_t cols) {
  std::vector<float> t(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[size_t(c * rows + r)] = src[r * cols + c];
  return t;
}

}  // namespace

std::string expand(const std::string& pattern, int layer) {
  const size_t at = pattern.find(kLayer);
  if (at == std::string::npos) return pattern;
  return pattern.substr(0, at) + std::to_string(layer) + pattern.substr(at + kLayer.size());
}

const TensorRow* row_for(const HfFamily& f, const std::string& flame_name, int* layer) {
  for (const TensorRow& row : f.tensors) {
    const size_t at = row.flame.find(kLayer);
    if (at == std::string::npos) {
      if (row.flame != flame_name) continue;
      if (layer) *layer = -1;
      return &row;
    }
    const std::string pre = row.flame.substr(0, at), post = row.flame.substr(at + kLayer.size());
    if (flame_name.size() <= pre.size() + post.size() || !flame_name.starts_with(pre) ||
        !flame_name.ends_with(post))
      continue;
    const std::string digits =
        flame_name.substr(pre.size(), flame_name.size() - pre.size() - post.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (layer) *layer = std::stoi(digits);
    return &row;
  }
  return nullptr;
}

int64_t rows_of(Rows r, const ModelConfig& cfg) {
  switch (r) {
    case Rows::q_heads:
      return int64_t(cfg.n_head) * cfg.head_dim();
    case Rows::kv_heads:
      return int64_t(cfg.n_kv_head) * cfg.head_dim();
    case Rows::d_ff:
      return cfg.d_ff;
  }
  return 0;
}

void write_config_keys(const HfFamily& f, const ModelConfig& m, json& out) {
  for (const ConfigKey& k : f.config) {
    if (auto* i = std::get_if<int ModelConfig::*>(&k.field))
      out[k.hf] = m.*(*i);
    else if (auto* x = std::get_if<float ModelConfig::*>(&k.field))
      out[k.hf] = clean_double(m.*(*x));
    else
      out[k.hf] = m.*std::get<bool ModelConfig::*>(k.field);
  }
}

// ---------------------------------------------------------------------------------------------
// tensors

std::vector<HfTensor> to_hf_tensors(const HfFamily& f, const ModelConfig& cfg,
                                    const std::vector<float>& params) {
  std::map<std::string, const ParamInfo*> actual;
  const std::vector<ParamInfo> layout = param_layout(cfg);
  for (const ParamInfo& p : layout) actual[p.name] = &p;
  std::vector<HfTensor> out;
  for (const ParamInfo& p : param_layout(f.stored_config(cfg))) {
    int l = -1;
    const TensorRow* row = row_for(f, p.name, &l);
    FLAME_CHECK(row, "internal: the " << f.name << " table has no row for " << p.name);
    std::vector<float> zeros;
    const float* src;
    if (const auto it = actual.find(p.name); it != actual.end()) {
      FLAME_CHECK(it->second->shape == p.shape, "internal: " << p.name << " changes shape");
      src = params.data() + it->second->offset;
    } else {
      zeros.assign(p.numel(), 0.0f);
      src = zeros.data();
    }
    switch (row->transform) {
      case Transform::copy:
        out.push_back({expand(row->hf[0].name, l), p.shape, {src, src + p.numel()}});
        break;
      case Transform::transpose:
        out.push_back({expand(row->hf[0].name, l),
                       {p.shape[1], p.shape[0]},
                       transposed(src, p.shape[0], p.shape[1])});
        break;
      case Transform::stack_rows: {
        const float* const base = src;
        for (const HfPart& part : row->hf) {
          std::vector<int64_t> shape = p.shape;
          shape[0] = rows_of(part.rows, cfg);
          const size_t n = numel(shape);
          out.push_back({expand(part.name, l), shape, {src, src + n}});
          src += n;
        }
        FLAME_CHECK(src == base + p.numel(),
                    "internal: the parts of " << p.name << " do not add up to its rows");
        break;
      }
    }
  }
  return out;
}

std::vector<float> from_hf_tensors(const HfFamily& f, const ModelConfig& cfg,
                                   const GetHfTensor& get) {
  const std::vector<ParamInfo> layout = param_layout(cfg);
  size_t n = 0;
  for (const ParamInfo& p : layout) n += p.numel();
  std::vector<float> params(n, 0.0f);
  for (const ParamInfo& p : layout) {
    int l = -1;
    const TensorRow* row = row_for(f, p.name, &l);
    FLAME_CHECK(row, "internal: the " << f.name << " table has no row for " << p.name);
    float* dst = params.data() + p.offset;
    const std::string purpose = "'" + p.name + "'";
    switch (row->transform) {
      case Transform::copy: {
        const std::vector<float> v = get(expand(row->hf[0].name, l), p.shape, purpose);
        std::copy(v.begin(), v.end(), dst);
        break;
      }
      case Transform::transpose: {
        const std::vector<float> v =
            get(expand(row->hf[0].name, l), {p.shape[1], p.shape[0]}, purpose);
        const std::vector<float> t = transposed(v.data(), p.shape[1], p.shape[0]);
        std::copy(t.begin(), t.end(), dst);
        break;
      }
      case Transform::stack_rows: {
        int64_t rows = 0;
        for (const HfPart& part : row->hf) {
          std::vector<int64_t> shape = p.shape;
          shape[0] = rows_of(part.rows, cfg);
          rows += shape[0];
          FLAME_CHECK(rows <= p.shape[0],
                      "internal: the parts of " << p.name << " exceed its rows");
          const std::vector<float> v = get(expand(part.name, l), shape, purpose);
          dst = std::copy(v.begin(), v.end(), dst);
        }
        FLAME_CHECK(rows == p.shape[0],
                    "internal: the parts of " << p.name << " do not add up to its rows");
        break;
      }
    }
  }
  return params;
}

// ---------------------------------------------------------------------------------------------
// docs

namespace {

// Names that differ in one place, shown once: "a.{q,k,v}_proj.weight".
std::string brace_names(const std::vector<std::string>& names, std::vector<std::string>* middles) {
  if (names.size() == 1) {
    if (middles) *middles = {""};
    return names[0];
  }
  size_t pre = 0, shortest = names[0].size();
  for (const auto& n : names) shortest = std::min(shortest, n.size());
  while (pre < shortest && std::all_of(names.begin(), names.end(),
                                       [&](const auto& n) { return n[pre] == names[0][pre]; }))
    ++pre;
  size_t post = 0;
  while (post < shortest - pre && std::all_of(names.begin(), names.end(), [&](const auto& n) {
           return n[n.size() - 1 - post] == names[0][names[0].size() - 1 - post];
         }))
    ++post;
  std::string mid;
  std::vector<std::string> parts;
  for (const auto& n : names) {
    parts.push_back(n.substr(pre, n.size() - pre - post));
    mid += (mid.empty() ? "" : ",") + parts.back();
  }
  if (middles) *middles = parts;
  return names[0].substr(0, pre) + "{" + mid + "}" + names[0].substr(names[0].size() - post);
}

const char* rows_doc(Rows r) {
  switch (r) {
    case Rows::q_heads:
      return "Hq D";
    case Rows::kv_heads:
      return "Hkv D";
    case Rows::d_ff:
      return "F";
  }
  return "?";
}

std::string transform_doc(const TensorRow& row, const std::vector<std::string>& middles) {
  switch (row.transform) {
    case Transform::copy:
      return "copy";
    case Transform::transpose:
      return "transpose (Conv1D stores (in, out))";
    case Transform::stack_rows: {
      std::string s = "stack rows ";
      for (size_t i = 0; i < row.hf.size(); ++i)
        s += (i ? ", " : "") + middles[i] + " (" + rows_doc(row.hf[i].rows) + ")";
      return s;
    }
  }
  return "?";
}

std::string marker(const char* which, const std::string& name) {
  return std::string("<!-- ") + which + " generated: hf-mapping " + name;
}

}  // namespace

std::string mapping_markdown(const HfFamily& f) {
  std::ostringstream md;
  md << "| flame | Hugging Face | Transform (export: the inverse) | Note |\n"
     << "|---|---|---|---|\n";
  for (const TensorRow& row : f.tensors) {
    std::vector<std::string> names, middles;
    for (const HfPart& p : row.hf) names.push_back(p.name);
    const std::string hf = brace_names(names, &middles);
    md << "| `" << row.flame << "` | `" << hf << "` | " << transform_doc(row, middles) << " | "
       << row.doc_note << " |\n";
  }
  md << "\n| flame config | config.json | when absent or null |\n|---|---|---|\n";
  for (const ConfigKey& k : f.config)
    md << "| `" << k.flame << "` | `" << k.hf << "` | "
       << (k.fallback.value ? k.fallback.doc : "required") << " |\n";
  return md.str();
}

std::string regenerate_mapping_sections(const std::string& doc) {
  std::string out = doc;
  for (const HfFamily& f : families()) {
    const std::string begin = marker("BEGIN", f.name) + " ", end = marker("END", f.name) + " -->";
    const size_t b = out.find(begin);
    if (b == std::string::npos || out.find(begin, b + 1) != std::string::npos)
      throw Error("expected one line starting '" + begin + "' in the document");
    const size_t body = out.find("-->\n", b);
    const size_t e = out.find(end, b);
    if (body == std::string::npos || e == std::string::npos || e < body)
      throw Error("no '" + end + "' after '" + begin + "'");
    // Blank lines around the tables: a table right after an HTML comment line renders in some
    // Markdown viewers as part of the comment block.
    std::string section(1, '\n');
    section += mapping_markdown(f);
    section += '\n';
    out.replace(body + 4, e - (body + 4), section);
  }
  return out;
}

}  // namespace flame::model::hf
