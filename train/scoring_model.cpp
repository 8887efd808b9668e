// ScoringModel (scoring_model.h).
#include "train/scoring_model.h"

namespace flame::train {

const float* ScoringModel::gather_logits(const std::vector<int>& rows,
                                         std::vector<float>& out) const {
  const size_t V = size_t(config().vocab_size);
  out.resize(rows.size() * V);
  for (size_t i = 0; i < rows.size(); ++i) m_->logits_row(rows[i], out.data() + i * V);
  return out.data();
}

}  // namespace flame::train
