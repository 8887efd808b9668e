// Greedy decoding (generate.h).
#include "train/generate.h"

#include <algorithm>

#include "data/render.h"
#include "core/error.h"

namespace flame::train {

namespace {

int32_t argmax(const float* logits, int V) {
  return int32_t(std::max_element(logits, logits + V) - logits);
}

// Whether prompt + output fit one context: then a KV cache serves the whole generation. One rule
// for both devices, so they take the same path for the same prompt.
bool fits_context(const std::vector<int32_t>& prompt, int max_new, const ScoringModel& model) {
  return int(prompt.size()) + max_new <= std::min(model.max_T(), model.config().max_seq_len);
}

// Longer than the context: the model sees BOS + the newest T-1 tokens, one full forward per new
// token (the window slides, so cached keys would sit at the wrong positions).
std::vector<int32_t> generate_window(ScoringModel model, const std::vector<int32_t>& prompt,
                                     int max_new, int32_t stop) {
  const int V = model.config().vocab_size, T = model.max_T();
  std::vector<int32_t> seq = prompt, window, pos, seg, out;
  std::vector<float> logits;
  for (int k = 0; k < max_new; ++k) {
    window.assign(seq.begin(), seq.end());
    if (int(window.size()) > T) window.erase(window.begin() + 1, window.end() - (T - 1));
    const int t = int(window.size());
    pos.resize(size_t(t));
    seg.assign(size_t(t), 1);
    for (int i = 0; i < t; ++i) pos[size_t(i)] = i;
    model.forward(window.data(), pos.data(), seg.data(), 1, t);
    const int32_t next = argmax(model.gather_logits({t - 1}, logits), V);
    if (next == stop) break;
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

// The prompts prompts[i], i in `which` (each fits the context: prompt + max_new <= max_T),
// decoded in groups of up to max_B rows through one KV cache; their tokens go to out[i].
void generate_cached(model::Model& lm, const std::vector<std::vector<int32_t>>& prompts,
                     const std::vector<size_t>& which, int max_new, int32_t stop,
                     std::vector<std::vector<int32_t>>& out) {
  const int V = lm.config().vocab_size;
  int max_len = 1;
  for (size_t i : which) max_len = std::max(max_len, int(prompts[i].size()) + max_new);
  model::KvCache cache =
      lm.new_kv_cache(int(std::min(which.size(), size_t(lm.max_B()))), max_len);
  const int rows = cache.rows;
  // The new tokens of each row for one decode call (empty: the row waits).
  std::vector<std::vector<int32_t>> feed(static_cast<size_t>(rows));
  std::vector<float> last(size_t(rows) * V);  // each row's latest logits
  auto step = [&] {
    const std::vector<float> logits = lm.decode(cache, feed);
    for (int r = 0; r < rows; ++r)
      if (!feed[size_t(r)].empty())
        std::copy_n(logits.begin() + ptrdiff_t(r) * V, V, last.begin() + ptrdiff_t(r) * V);
  };
  for (size_t g = 0; g < which.size(); g += size_t(rows)) {
    const int n = int(std::min(size_t(rows), which.size() - g));
    const auto prompt = [&](int r) -> const std::vector<int32_t>& { return prompts[which[g + r]]; };
    std::fill(cache.len.begin(), cache.len.end(), 0);  // the rows start over
    // Prefill: the group's prompts in one call. It fits the arena: n <= max_B rows of at most
    // max_T - max_new tokens each.
    for (int r = 0; r < rows; ++r) feed[size_t(r)] = r < n ? prompt(r) : std::vector<int32_t>{};
    step();
    // One call per step for the rows still running, as generate_greedy does per prompt.
    std::vector<bool> done(size_t(n), false);
    for (int k = 0; k < max_new; ++k) {
      bool any = false;
      for (int r = 0; r < rows; ++r) {
        feed[size_t(r)].clear();
        if (r >= n || done[size_t(r)]) continue;
        const int32_t next = argmax(last.data() + size_t(r) * V, V);
        done[size_t(r)] = next == stop || k + 1 == max_new;
        if (next == stop) continue;
        out[which[g + r]].push_back(next);
        if (!done[size_t(r)]) {
          feed[size_t(r)] = {next};
          any = true;
        }
      }
      if (!any) break;
      step();
    }
  }
}

// As training saw it: BOS + encode(input), then the target text encoded on its own.
std::vector<int32_t> explain_prompt(const data::Tokenizer& tok, const data::TaskCard& card,
                                    const data::Example& ex, const std::string& verdict) {
  const std::string field = card.output_fields.size() > 1 ? card.output_fields[1] : "explanation";
  std::vector<int32_t> prompt{tok.bos_id()};
  const auto in = tok.encode(data::render_input(card, ex));
  prompt.insert(prompt.end(), in.begin(), in.end());
  const auto head = tok.encode(card.output_fields.front() + ": " + verdict + "\n" + field + ": ");
  prompt.insert(prompt.end(), head.begin(), head.end());
  return prompt;
}

// The generated tokens as text, up to the first newline.
std::string explanation_text(const data::Tokenizer& tok, const std::vector<int32_t>& generated) {
  std::string text = tok.decode(generated);
  if (const auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  return text;
}

}  // namespace

std::vector<int32_t> generate_greedy(model::Model& model, const std::vector<int32_t>& prompt,
                                     int max_new, int32_t stop) {
  return generate_greedy_batch(model, {prompt}, max_new, stop).front();
}

std::vector<std::vector<int32_t>> generate_greedy_batch(
    ScoringModel model, const std::vector<std::vector<int32_t>>& prompts, int max_new,
    int32_t stop) {
  for (size_t i = 0; i < prompts.size(); ++i)
    FLAME_CHECK(!prompts[i].empty(), "generate: prompt " << i << " is empty");
  std::vector<std::vector<int32_t>> out(prompts.size());
  std::vector<size_t> cached;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (fits_context(prompts[i], max_new, model))
      cached.push_back(i);
    else
      out[i] = generate_window(model, prompts[i], max_new, stop);
  }
  if (!cached.empty() && max_new > 0)
    generate_cached(model.model(), prompts, cached, max_new, stop, out);
  return out;
}

std::string explain(model::Model& model, const data::Tokenizer& tok, const data::TaskCard& card,
                    const data::Example& ex, const std::string& verdict, int max_new) {
  return explanation_text(
      tok, generate_greedy(model, explain_prompt(tok, card, ex, verdict), max_new, tok.eos_id()));
}

std::vector<std::string> explain_batch(ScoringModel model, const data::Tokenizer& tok,
                                       const data::TaskCard& card,
                                       const std::vector<data::Example>& examples,
                                       const std::vector<std::string>& verdicts, int max_new) {
  FLAME_CHECK(examples.size() == verdicts.size(), "explain_batch: " << examples.size()
                                                                    << " examples but "
                                                                    << verdicts.size()
                                                                    << " verdicts");
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < examples.size(); ++i)
    prompts.push_back(explain_prompt(tok, card, examples[i], verdicts[i]));
  std::vector<std::string> texts;
  for (const auto& gen : generate_greedy_batch(model, prompts, max_new, tok.eos_id()))
    texts.push_back(explanation_text(tok, gen));
  return texts;
}

}  // namespace flame::train
