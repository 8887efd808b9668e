// Converters: raw public datasets (in their original formats) -> unified Examples.
//
// A task card names its converter and the converter's options (`options:` in the card; `files`
// is a comma-separated list of paths relative to the raw-data root). A converter reads the files,
// turns each source record into zero or more Examples and hands them to an ExampleSink, which
//   - checks every Example against the card (input/output field names, label in card.labels),
//   - counts records, examples, deliberate skips (per reason: ties, NA labels, ...),
//   - counts malformed records (bad JSON, missing field, unknown label) with file and line.
// A malformed record never stops the conversion; whoever runs it decides (from the report)
// whether too large a fraction was bad. Converters emit ONE presentation order of a pair; the
// preparer adds the swapped order (card option both_orders) after the train/dev split, so both
// orders of a pair always land in the same split.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/task.h"

namespace flame::data {

struct ConvertReport {
  long records = 0;                     // source records read (lines, array items, rows...)
  long examples = 0;                    // examples emitted
  long bad = 0;                         // malformed records skipped
  std::map<std::string, long> skipped;  // deliberately dropped, by reason ("tie", "NA label")
  std::vector<std::string> bad_samples; // "file:line N: why", the first kMaxBadSamples
  size_t bytes = 0;                     // raw bytes read (compressed size for .gz/.tar.gz)
  static constexpr size_t kMaxBadSamples = 20;
  double bad_fraction() const { return records ? double(bad) / double(records) : 0.0; }
};

class ExampleSink {
 public:
  explicit ExampleSink(const TaskCard& card) : card_(card) {}
  const TaskCard& card() const { return card_; }
  // One more source record seen (call once per record, before emitting its examples).
  void record() { ++report_.records; }
  // Checks the example against the card and keeps it; throws flame::Error on a mismatch (which
  // for_each_* turns into a bad record).
  void emit(Example ex);
  // A malformed record at `where` ("path:line 12", "path:record 3"): counted, first few kept.
  void bad(const std::string& where, const std::string& why);
  // A well-formed record deliberately not used (e.g. "tie", "NA label").
  void skip(const std::string& reason) { ++report_.skipped[reason]; }
  void add_bytes(size_t n) { report_.bytes += n; }

  const ConvertReport& report() const { return report_; }
  std::vector<Example>& examples() { return examples_; }

 private:
  const TaskCard& card_;
  ConvertReport report_;
  std::vector<Example> examples_;
};

// Where a converter finds its inputs.
struct ConvertInput {
  std::string raw_dir;  // root of the raw datasets (e.g. ../shared/data/raw)
  // The card's `files` option resolved under raw_dir (throws flame::Error when the option is
  // missing or a file does not exist, naming the task and the path).
  std::vector<std::string> files(const TaskCard& card) const;
};

using ConvertFn = std::function<void(const TaskCard&, const ConvertInput&, ExampleSink&)>;

// The registry (data/converters/registry.cpp): name -> function. Unknown names throw
// flame::Error listing the known ones.
const ConvertFn& find_converter(const std::string& name);
std::vector<std::string> converter_names();
// Adds a converter at run time (plugins, tests); a taken name throws flame::Error. Not
// thread-safe: register before converting.
void register_converter(const std::string& name, ConvertFn fn);

// Runs the card's converter. Throws flame::Error only for problems that are not per-record:
// unknown converter, missing files, unreadable archive.
ConvertReport convert(const TaskCard& card, const ConvertInput& in, std::vector<Example>& out);

// Card options with defaults; a present but malformed value throws flame::Error naming it.
std::string option(const TaskCard& card, const std::string& key, const std::string& fallback);
bool option_bool(const TaskCard& card, const std::string& key, bool fallback);
double option_double(const TaskCard& card, const std::string& key, double fallback);

// --- Helpers for converters ------------------------------------------------------------------
// Field access that throws flame::Error("missing field 'k'" / "field 'k' is not a string"), so a
// record lacking a field becomes a counted bad record.
const nlohmann::json& field(const nlohmann::json& rec, const std::string& key);
std::string str_field(const nlohmann::json& rec, const std::string& key);

// Maps a scalar to a score label on a scale of `n_levels` equal-width bins over [lo, hi]
// ("1".."n"); values outside [lo, hi] throw flame::Error.
std::string bin_label(double value, double lo, double hi, int n_levels);

}  // namespace flame::data
