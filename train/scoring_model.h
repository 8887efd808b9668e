// The model as the scorer uses it: forward without targets and the logits at a few positions, on
// whichever device the model lives. Passed by value (it is one pointer); converts implicitly from
// a Model.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace flame::train {

class ScoringModel {
 public:
  ScoringModel(model::Model& m) : m_(&m) {}  // NOLINT: implicit on purpose
  const model::ModelConfig& config() const { return m_->config(); }
  int max_B() const { return m_->max_B(); }
  int max_T() const { return m_->max_T(); }
  // Forward without targets over a (b,t) batch (host arrays, as Model::forward).
  void forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg, int b, int t) {
    m_->forward(tokens, pos, seg, nullptr, nullptr, b, t);
  }
  // The logits at flattened positions `rows` (index into b*t) of the last forward, copied to
  // `out` as (rows.size(), V); returns out.data(). One V-float copy per scored position, not the
  // whole (b,t,V) block.
  const float* gather_logits(const std::vector<int>& rows, std::vector<float>& out) const;
  model::Model& model() const { return *m_; }

 private:
  model::Model* m_;
};

}  // namespace flame::train
