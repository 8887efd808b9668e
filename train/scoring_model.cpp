// ScoringModel (scoring_model.h): dispatch to the CPU or the CUDA model.
#include "train/scoring_model.h"

#include <algorithm>

namespace flame::train {

const model::ModelConfig& ScoringModel::config() const {
#ifdef FLAME_WITH_CUDA
  if (gpu_) return gpu_->config();
#endif
  return cpu_->config();
}

int ScoringModel::max_B() const {
#ifdef FLAME_WITH_CUDA
  if (gpu_) return gpu_->max_B();
#endif
  return cpu_->max_B();
}

int ScoringModel::max_T() const {
#ifdef FLAME_WITH_CUDA
  if (gpu_) return gpu_->max_T();
#endif
  return cpu_->max_T();
}

void ScoringModel::forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg, int b,
                           int t) {
#ifdef FLAME_WITH_CUDA
  if (gpu_) {
    gpu_->forward(tokens, pos, seg, nullptr, nullptr, b, t);
    return;
  }
#endif
  cpu_->forward(tokens, pos, seg, nullptr, nullptr, b, t);
}

const float* ScoringModel::gather_logits(const std::vector<int>& rows,
                                         std::vector<float>& out) const {
  const size_t V = size_t(config().vocab_size);
  out.resize(rows.size() * V);
#ifdef FLAME_WITH_CUDA
  if (gpu_) {  // one V-float copy per scored position, not the whole (b,t,V) block
    for (size_t i = 0; i < rows.size(); ++i) gpu_->logits_row(rows[i], out.data() + i * V);
    return out.data();
  }
#endif
  const float* logits = cpu_->logits();
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy_n(logits + size_t(rows[i]) * V, V, out.data() + i * V);
  return out.data();
}

}  // namespace flame::train
