// The embedded synthetic tasks as a converter, so `flame prepare` writes them to shards through
// the same path as real data. Options: examples (default 4000), seed (default 1234). The card's
// name picks the generator task.
#include "data/converters/converters.h"
#include "data/synthetic.h"

namespace flame::data::converters {

void synthetic(const TaskCard& card, const ConvertInput&, ExampleSink& sink) {
  const int n = int(option_double(card, "examples", 4000));
  const auto seed = uint64_t(option_double(card, "seed", 1234));
  for (auto& ex : generate_synthetic(card.name, Split::train, n, seed)) {
    sink.record();
    sink.emit(std::move(ex));
  }
}

}  // namespace flame::data::converters
