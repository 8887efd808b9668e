// Converter names (as task cards spell them) -> functions.
#include <map>

#include "data/converters/converters.h"
#include "core/error.h"

namespace flame::data {

namespace {

std::map<std::string, ConvertFn>& registry() {
  namespace c = converters;
  static std::map<std::string, ConvertFn> r = {
      {"synthetic", c::synthetic},
      {"hh_rlhf", c::hh_rlhf},
      {"pandalm", c::pandalm},
      {"autoj", c::autoj},
      {"faireval", c::faireval},
      {"cobbler", c::cobbler},
      {"bartscore_pointwise", c::bartscore_pointwise},
      {"bartscore_pairwise", c::bartscore_pairwise},
      {"summedits", c::summedits},
      {"qags", c::qags},
      {"begin", c::begin},
      {"halueval", c::halueval},
      {"factcheck_response", c::factcheck_response},
      {"factcheck_claims", c::factcheck_claims},
      {"wice", c::wice},
      {"cola", c::cola},
      {"ice_score", c::ice_score},
      {"mr_gsm8k", c::mr_gsm8k},
      {"wmt_mqm", c::wmt_mqm},
      {"mlqe_pe", c::mlqe_pe},
      {"fields", c::fields},
  };
  return r;
}

}  // namespace

const ConvertFn& find_converter(const std::string& name) {
  const auto& r = registry();
  const auto it = r.find(name);
  if (it != r.end()) return it->second;
  std::string known;
  for (const auto& [k, v] : r) known += (known.empty() ? "" : ", ") + k;
  throw Error("unknown converter '" + name + "' (known: " + known + ")");
}

void register_converter(const std::string& name, ConvertFn fn) {
  FLAME_CHECK(!name.empty() && fn, "register_converter needs a name and a function");
  FLAME_CHECK(registry().emplace(name, std::move(fn)).second,
              "a converter named " << name << " is already registered");
}

std::vector<std::string> converter_names() {
  std::vector<std::string> out;
  for (const auto& [k, v] : registry()) out.push_back(k);
  return out;
}

}  // namespace flame::data
