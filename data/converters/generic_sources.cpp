// PLACEHOLDER: being written; every function throws until implemented.
#include "data/converters/converters.h"
#include "kernels/check.h"

namespace flame::data::converters {

void fields(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter fields is not implemented yet (task " + card.name + ")");
}

}  // namespace flame::data::converters
