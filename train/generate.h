// Greedy decoding for judge explanations ("explanation: ..." after the verdict), on the model's
// device. Uses a KV cache (Model::decode) when prompt + output fit the context; a longer prompt
// keeps BOS and its tail and reruns the forward per token.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/task.h"
#include "data/tokenizer.h"
#include "model/model.h"
#include "train/scoring_model.h"

namespace flame::train {

// Appends up to max_new argmax tokens to `prompt` and returns them (without the prompt); stops
// after emitting `stop` (not included). A prompt longer than the model's max_T - 1 keeps its
// first token (BOS) and its tail.
std::vector<int32_t> generate_greedy(model::Model& model, const std::vector<int32_t>& prompt,
                                     int max_new, int32_t stop);

// generate_greedy for each prompt, on the model's device: the prompts that fit the context
// decode together, up to max_B() rows sharing one KvCache (prefill in calls of at most
// max_B*max_T tokens, then one decode call per step for the rows still running); longer ones take
// the sliding window, one forward per token. The GPU computes in bf16, so where the CPU's top two
// logits nearly tie it may pick the other one (and continue from there).
std::vector<std::vector<int32_t>> generate_greedy_batch(
    ScoringModel model, const std::vector<std::vector<int32_t>>& prompts, int max_new,
    int32_t stop);

// The explanation a judge gives for `verdict`: the model continues
// "<input>\n<first output field>: <verdict>\n<explanation field>: " until EOS or a newline.
// The explanation field is the card's second output field, else "explanation".
std::string explain(model::Model& model, const data::Tokenizer& tok, const data::TaskCard& card,
                    const data::Example& ex, const std::string& verdict, int max_new);

// explain() for examples[i] with verdicts[i], all generated together (generate_greedy_batch).
std::vector<std::string> explain_batch(ScoringModel model, const data::Tokenizer& tok,
                                       const data::TaskCard& card,
                                       const std::vector<data::Example>& examples,
                                       const std::vector<std::string>& verdicts, int max_new);

}  // namespace flame::train
