// docs/config_keys.md (config_docs.h): one table per reader, rows straight from fields().
#include "train/config_docs.h"

#include <sstream>

#include "core/config_fields.h"
#include "data/prepare.h"
#include "data/task.h"
#include "model/config.h"
#include "train/config.h"
#include "train/eval_suite.h"

namespace flame::train {

namespace {

template <class S>
std::string table(const std::string& prefix = "") {
  std::vector<config::DocRow> rows;
  config::doc_rows<S>(prefix, rows);
  return config::markdown_table(rows);
}

}  // namespace

std::string config_keys_markdown() {
  std::ostringstream os;
  os << "# Config keys\n\n"
        "Generated from the `fields()` tables (core/config_fields.h) by "
        "`flame::train::config_keys_markdown()`; do not edit by hand. After changing a table, "
        "regenerate with\n`FLAME_UPDATE_DOCS=1 build/test_train --gtest_filter=ConfigDocs.*` "
        "(ctest fails while this file is stale).\n\n"
        "An unknown key is an error that names the nearest valid key; a value of the wrong type "
        "is an error naming its key. *check* is the field's own range; checks that relate "
        "several keys live in each reader's validate.\n\n"
     << "## Run config (`flame train <config.yaml> [section.key=value ...]`)\n\n"
        "Any key can be overridden on the command line as `section.key=value`. The `model.*` "
        "keys other than `preset` and `init_from` override the preset's; the defaults shown are "
        "those of a model YAML that leaves a key out.\n\n"
     << table<RunConfig>()
     << "\n## Model config (`configs/models/*.yaml`, or a run's `model:` section)\n\n"
     << table<model::ModelConfig>()
     << "\n## Data config (`flame prepare <data config>`)\n\n"
     << table<data::PrepareConfig>()
     << "\n## Task cards (`configs/tasks/**.yaml`)\n\n"
     << table<data::TaskCard>()
     << "\n## Eval suites (`configs/eval/*.yaml`)\n\n"
     << table<SuiteKeys>() << "\nEach entry of `sources`:\n\n"
     << table<SourceKeys>("sources[i].");
  return os.str();
}

}  // namespace flame::train
