// Greedy decoding (generate.h).
#include "train/generate.h"

#include <algorithm>

#include "data/render.h"
#include "kernels/check.h"

namespace flame::train {

std::vector<int32_t> generate_greedy(model::Model& model, const std::vector<int32_t>& prompt,
                                     int max_new, int32_t stop) {
  FLAME_CHECK(!prompt.empty(), "generate: empty prompt");
  const int V = model.config().vocab_size, T = model.max_T();
  std::vector<int32_t> out;
  auto argmax = [&](const float* l) { return int32_t(std::max_element(l, l + V) - l); };
  if (int(prompt.size()) + max_new <= std::min(T, model.config().max_seq_len)) {
    // Everything fits one context: the KV cache makes each new token O(length).
    model::KvCache cache = model.new_kv_cache(int(prompt.size()) + std::max(max_new, 1));
    std::vector<float> logits = model.decode(cache, prompt.data(), int(prompt.size()));
    for (int k = 0; k < max_new; ++k) {
      const int32_t next = argmax(logits.data());
      if (next == stop) break;
      out.push_back(next);
      if (k + 1 < max_new) logits = model.decode(cache, &next, 1);
    }
    return out;
  }
  // Longer than the context: the model sees BOS + the newest T-1 tokens, one full forward per
  // new token (the window slides, so cached keys would sit at the wrong positions).
  std::vector<int32_t> seq = prompt, window, pos, seg;
  for (int k = 0; k < max_new; ++k) {
    window.assign(seq.begin(), seq.end());
    if (int(window.size()) > T) window.erase(window.begin() + 1, window.end() - (T - 1));
    const int t = int(window.size());
    pos.resize(size_t(t));
    seg.assign(size_t(t), 1);
    for (int i = 0; i < t; ++i) pos[size_t(i)] = i;
    model.forward(window.data(), pos.data(), seg.data(), nullptr, nullptr, 1, t);
    const int32_t next = argmax(model.logits() + size_t(t - 1) * size_t(V));
    if (next == stop) break;
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

std::string explain(model::Model& model, const data::Tokenizer& tok, const data::TaskCard& card,
                    const data::Example& ex, const std::string& verdict, int max_new) {
  const std::string field = card.output_fields.size() > 1 ? card.output_fields[1] : "explanation";
  const std::string input = data::render_input(card, ex);
  // As training saw it: BOS + encode(input), then the target text encoded on its own.
  std::vector<int32_t> prompt{tok.bos_id()};
  const auto in = tok.encode(input);
  prompt.insert(prompt.end(), in.begin(), in.end());
  const auto head = tok.encode(card.output_fields.front() + ": " + verdict + "\n" + field + ": ");
  prompt.insert(prompt.end(), head.begin(), head.end());
  std::string text = tok.decode(generate_greedy(model, prompt, max_new, tok.eos_id()));
  if (const auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  return text;
}

}  // namespace flame::train
