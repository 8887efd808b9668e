// PLACEHOLDER: being written; every function throws until implemented.
#include "data/converters/converters.h"
#include "kernels/check.h"

namespace flame::data::converters {

void summedits(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter summedits is not implemented yet (task " + card.name + ")");
}

void qags(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter qags is not implemented yet (task " + card.name + ")");
}

void begin(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter begin is not implemented yet (task " + card.name + ")");
}

void halueval(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter halueval is not implemented yet (task " + card.name + ")");
}

void factcheck_response(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter factcheck_response is not implemented yet (task " + card.name + ")");
}

void factcheck_claims(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter factcheck_claims is not implemented yet (task " + card.name + ")");
}

void wice(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter wice is not implemented yet (task " + card.name + ")");
}

void cola(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter cola is not implemented yet (task " + card.name + ")");
}

void ice_score(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter ice_score is not implemented yet (task " + card.name + ")");
}

void mr_gsm8k(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter mr_gsm8k is not implemented yet (task " + card.name + ")");
}

void wmt_mqm(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter wmt_mqm is not implemented yet (task " + card.name + ")");
}

void mlqe_pe(const TaskCard& card, const ConvertInput&, ExampleSink&) {
  throw Error("converter mlqe_pe is not implemented yet (task " + card.name + ")");
}

}  // namespace flame::data::converters
