// PLACEHOLDER: being written; every function throws until implemented.
#include "data/converters/converters.h"
#include "kernels/check.h"

namespace flame::data::converters {

void hh_rlhf(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter hh_rlhf is not implemented yet (task " + card.name + ")");
}

void pandalm(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter pandalm is not implemented yet (task " + card.name + ")");
}

void autoj(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter autoj is not implemented yet (task " + card.name + ")");
}

void faireval(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter faireval is not implemented yet (task " + card.name + ")");
}

void cobbler(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter cobbler is not implemented yet (task " + card.name + ")");
}

void bartscore_pointwise(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter bartscore_pointwise is not implemented yet (task " + card.name + ")");
}

void bartscore_pairwise(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter bartscore_pairwise is not implemented yet (task " + card.name + ")");
}

}  // namespace flame::data::converters
