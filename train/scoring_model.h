// The model the scorer runs on: a view over the CPU model or (GPU builds) the CUDA model, so the
// evaluator, `flame eval` and `flame judge` share one scoring path on either device. Passed by
// value (it is two pointers); converts implicitly from either model.
#pragma once
#include <cstdint>
#include <vector>

#include "model/cuda_model.h"  // empty unless FLAME_WITH_CUDA
#include "model/model.h"

namespace flame::train {

class ScoringModel {
 public:
  ScoringModel(model::Model& m) : cpu_(&m) {}  // NOLINT: implicit on purpose
#ifdef FLAME_WITH_CUDA
  ScoringModel(model::CudaModel& m) : gpu_(&m) {}  // NOLINT
#endif
  const model::ModelConfig& config() const;
  int max_B() const;
  int max_T() const;
  // Forward without targets over a (b,t) batch (host arrays, as Model::forward).
  void forward(const int32_t* tokens, const int32_t* pos, const int32_t* seg, int b, int t);
  // The logits at flattened positions `rows` (index into b*t) of the last forward, copied to
  // `out` as (rows.size(), V); returns out.data().
  const float* gather_logits(const std::vector<int>& rows, std::vector<float>& out) const;
  // The model behind the view, for paths that differ by device (generation): exactly one of
  // the two is non-null.
  model::Model* cpu_model() const { return cpu_; }
#ifdef FLAME_WITH_CUDA
  model::CudaModel* cuda_model() const { return gpu_; }
#endif

 private:
  model::Model* cpu_ = nullptr;
#ifdef FLAME_WITH_CUDA
  model::CudaModel* gpu_ = nullptr;
#endif
};

}  // namespace flame::train
