// The small byte-vocabulary decoder (GPT-2 style: ModelConfig's defaults otherwise) the train
// tests build models from: 2 heads, d_ff = 2 * d_model, vocab 258 (bytes + BOS/EOS).
#pragma once
#include "model/config.h"

namespace flame_test {

inline flame::model::ModelConfig small_model_config(int d_model = 32, int max_seq_len = 64,
                                                     int n_layer = 2) {
  flame::model::ModelConfig c;
  c.n_layer = n_layer;
  c.n_head = 2;
  c.n_kv_head = 2;
  c.d_model = d_model;
  c.d_ff = 2 * d_model;
  c.vocab_size = 258;
  c.max_seq_len = max_seq_len;
  return c;
}

}  // namespace flame_test
