// Greedy decoding with the CPU model: judge explanations ("explanation: ..." after the verdict).
// Uses the model's KV cache (Model::decode) when prompt + output fit the context; a longer
// prompt keeps BOS and its tail and reruns the forward per token.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/task.h"
#include "data/tokenizer.h"
#include "model/model.h"

namespace flame::train {

// Appends up to max_new argmax tokens to `prompt` and returns them (without the prompt); stops
// after emitting `stop` (not included). A prompt longer than the model's max_T - 1 keeps its
// first token (BOS) and its tail.
std::vector<int32_t> generate_greedy(model::Model& model, const std::vector<int32_t>& prompt,
                                     int max_new, int32_t stop);

// The explanation a judge gives for `verdict`: the model continues
// "<input>\n<first output field>: <verdict>\n<explanation field>: " until EOS or a newline.
// The explanation field is the card's second output field, else "explanation".
std::string explain(model::Model& model, const data::Tokenizer& tok, const data::TaskCard& card,
                    const data::Example& ex, const std::string& verdict, int max_new);

}  // namespace flame::train
