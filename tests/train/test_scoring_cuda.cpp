// Scoring on the GPU (flame eval/judge --device cuda): the same label probabilities as the CPU
// scorer on the same weights, within bf16 noise. Only built with the CUDA backend; skipped
// without a device.
#include <gtest/gtest.h>

#ifdef FLAME_WITH_CUDA
#include <cmath>

#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "kernels/cuda_check.h"
#include "model/model.h"
#include "model/param_layout.h"
#include "train/evaluate.h"

using namespace flame;

TEST(ScoringCuda, LabelProbabilitiesMatchTheCpu) {
  if (!cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  model::ModelConfig c;  // head_dim 64 (the CUDA attention supports 64 and 128)
  c.n_layer = 2;
  c.n_head = 2;
  c.n_kv_head = 2;
  c.d_model = 128;
  c.d_ff = 256;
  c.vocab_size = 258;
  c.max_seq_len = 512;
  model::Model cpu(c, 4, 512);
  cpu.init_weights(17);
  model::Model gpu(c, 4, 512, model::Device::cuda);
  gpu.load_params(cpu.params());
  const data::ByteTokenizer tok;
  for (const char* task : {"synth_refusal", "synth_arith_claim", "synth_keyword_count"}) {
    const auto& card = data::synthetic_card(task);
    const auto exs = data::generate_synthetic(task, data::Split::dev, 24, 3);
    const auto pc = train::label_probs(cpu, tok, card, exs);
    const auto pg = train::label_probs(gpu, tok, card, exs);
    ASSERT_EQ(pc.size(), pg.size());
    double worst = 0;
    for (size_t e = 0; e < pc.size(); ++e)
      for (size_t l = 0; l < pc[e].size(); ++l) worst = std::max(worst, std::abs(pc[e][l] - pg[e][l]));
    EXPECT_LT(worst, 0.03) << task << ": bf16 GPU vs fp32 CPU label probabilities";
  }
}
#else
TEST(ScoringCuda, NotBuilt) { GTEST_SKIP() << "built without the CUDA backend"; }
#endif
