// Dev evaluation: build scoring queries per task type, pack them into rows, run the model
// forward once per micro-batch, and turn the next-token distributions into task metrics.
#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "data/render.h"
#include "core/error.h"
#include "train/metrics.h"

namespace flame::train {

namespace {

// Where a query landed: row (-1: does not fit), first column, tokens kept, and how many were
// dropped after BOS (the training packer's rule for an over-long example: keep BOS, cut the
// input's left side).
struct Slot {
  int row = 0, col = 0, len = 0, dropped = 0;
};

}  // namespace

std::vector<QueryResult> score_queries(ScoringModel model, const std::vector<Query>& queries) {
  const int B = model.max_B(), T = model.max_T(), V = model.config().vocab_size;
  std::vector<QueryResult> results(queries.size());
  std::vector<Slot> slots(queries.size());

  // First-fit decreasing packing: longest queries first, each into the first row with room.
  // On the CPU this cuts eval compute roughly by the average fill of a row.
  std::vector<size_t> order(queries.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return queries[a].tokens.size() > queries[b].tokens.size();
  });
  std::vector<int> fill;  // tokens used per row
  for (size_t qi : order) {
    const Query& q = queries[qi];
    FLAME_CHECK(q.n_prompt >= 1 && q.n_prompt <= (int)q.tokens.size(), "bad query prompt length");
    FLAME_CHECK(q.tokens.size() + 1 == q.n_prompt + std::max<size_t>(q.cont.size(), 1),
                "query tokens must be prompt + continuation minus its last token");
    const int len = std::min<int>(q.tokens.size(), T);
    // The scored positions (the prompt's last token onwards) must survive the truncation, which
    // keeps the first token (BOS) and drops from the left of what follows it. A continuation too
    // long for a row scores as wrong instead of aborting a run at its final evaluation.
    if ((int)q.tokens.size() - q.n_prompt + 1 > T - 1) {
      slots[qi].row = -1;
      results[qi].cand_probs.assign(q.candidates.size(), 1.0 / std::max<size_t>(q.candidates.size(), 1));
      results[qi].cont_logprob = -INFINITY;
      results[qi].cont_argmax = false;
      continue;
    }
    Slot s{0, 0, len, (int)q.tokens.size() - len};
    size_t r = 0;
    while (r < fill.size() && fill[r] + len > T) ++r;
    if (r == fill.size()) fill.push_back(0);
    s.row = (int)r;
    s.col = fill[r];
    fill[r] += len;
    slots[qi] = s;
  }

  // Queries grouped by row, so each micro-batch knows whom to read out.
  std::vector<std::vector<size_t>> by_row(fill.size());
  for (size_t qi = 0; qi < queries.size(); ++qi)
    if (slots[qi].row >= 0) by_row[slots[qi].row].push_back(qi);

  std::vector<int32_t> tokens, pos, seg;
  std::vector<float> gathered;
  for (size_t r0 = 0; r0 < fill.size(); r0 += B) {
    const int b = (int)std::min<size_t>(B, fill.size() - r0);
    // Rows are in decreasing fill order, so the first row of the chunk is the longest.
    const int t = *std::max_element(fill.begin() + r0, fill.begin() + r0 + b);
    tokens.assign((size_t)b * t, 0);
    pos.assign((size_t)b * t, 0);
    seg.assign((size_t)b * t, 0);
    for (int rr = 0; rr < b; ++rr) {
      int segment = 0;
      for (size_t qi : by_row[r0 + rr]) {
        const Slot& s = slots[qi];
        ++segment;
        for (int i = 0; i < s.len; ++i) {
          const size_t at = (size_t)rr * t + s.col + i;
          tokens[at] = queries[qi].tokens[i == 0 ? 0 : s.dropped + i];
          pos[at] = i;
          seg[at] = segment;
        }
      }
    }
    model.forward(tokens.data(), pos.data(), seg.data(), b, t);

    // Read each query's positions: log-softmax at the prompt's last token and along the
    // continuation. The positions are gathered first (on the GPU a copy per position, not the
    // whole logits block); queries are independent, so the reading spreads over the cores.
    std::vector<size_t> todo;
    for (int rr = 0; rr < b; ++rr) todo.insert(todo.end(), by_row[r0 + rr].begin(), by_row[r0 + rr].end());
    std::vector<int> flat;
    std::vector<size_t> first(todo.size());
    for (size_t k = 0; k < todo.size(); ++k) {
      const Query& q = queries[todo[k]];
      const Slot& s = slots[todo[k]];
      first[k] = flat.size();
      const int n = std::max<int>(1, int(q.cont.size()));
      for (int i = 0; i < n; ++i)
        flat.push_back((s.row - int(r0)) * t + s.col + (q.n_prompt - 1 + i) - s.dropped);
    }
    const float* rows = model.gather_logits(flat, gathered);
#pragma omp parallel for schedule(dynamic, 4)
    for (size_t k = 0; k < todo.size(); ++k) {
      const size_t qi = todo[k];
      const Query& q = queries[qi];
      QueryResult& res = results[qi];
      auto row_logits = [&](int token_index) {  // logits after the query's token_index
        return rows + (first[k] + size_t(token_index - (q.n_prompt - 1))) * V;
      };
      const float* l0 = row_logits(q.n_prompt - 1);
      if (!q.candidates.empty()) {
        double mx = -INFINITY;
        for (int32_t c : q.candidates) mx = std::max(mx, (double)l0[c]);
        double z = 0;
        res.cand_probs.resize(q.candidates.size());
        for (size_t i = 0; i < q.candidates.size(); ++i)
          z += res.cand_probs[i] = std::exp(l0[q.candidates[i]] - mx);
        for (double& p : res.cand_probs) p /= z;
      }
      for (size_t i = 0; i < q.cont.size(); ++i) {
        const float* l = row_logits(q.n_prompt - 1 + (int)i);
        const float mx = *std::max_element(l, l + V);
        double z = 0;
        for (int v = 0; v < V; ++v) z += std::exp((double)l[v] - mx);
        res.cont_logprob += l[q.cont[i]] - mx - std::log(z);
        // argmax ties count as correct only if the target is the first maximal id
        if ((int)(std::max_element(l, l + V) - l) != q.cont[i]) res.cont_argmax = false;
      }
    }
  }
  return results;
}

namespace {

// How the labels continue a prompt, tokenized exactly as training saw them: the target
// "<field>: <label>" is encoded on its own after the encoded input, so the prompt is the input's
// tokens plus the tokens every label's target shares (with SentencePiece, encoding the prompt
// text "...<field>: " in one piece would tokenize the boundary differently from training).
struct LabelTokens {
  std::vector<int32_t> shared;               // target tokens common to every label
  std::vector<std::vector<int32_t>> rest;    // per label: its remaining (non-empty) tokens
};

LabelTokens label_tokens(const data::Tokenizer& tok, const data::TaskCard& card) {
  std::vector<std::vector<int32_t>> full;
  for (const auto& l : card.labels) full.push_back(tok.encode(card.output_fields.front() + ": " + l));
  size_t p = 0;
  for (bool same = true; same; ++p)
    for (const auto& f : full) same = same && p < f.size() && f[p] == full[0][p];
  --p;  // the loop overshoots by one
  // Every label needs at least one token of its own (a label that is a prefix of another).
  for (const auto& f : full) p = std::min(p, f.size() - 1);
  LabelTokens lt;
  lt.shared.assign(full[0].begin(), full[0].begin() + long(p));
  for (const auto& f : full) {
    lt.rest.emplace_back(f.begin() + long(p), f.end());
    FLAME_CHECK(!lt.rest.back().empty(), "task " << card.name << ": empty label");
  }
  return lt;
}

std::vector<int32_t> prompt_tokens(const data::Tokenizer& tok, const data::TaskCard& card,
                                   const data::Example& ex, const std::vector<int32_t>& shared) {
  const std::string text = data::render_input(card, ex);
  std::vector<int32_t> t{tok.bos_id()};
  const auto body = tok.encode(text);
  t.insert(t.end(), body.begin(), body.end());
  t.insert(t.end(), shared.begin(), shared.end());
  return t;
}

int argmax(const std::vector<double>& p) {
  return (int)(std::max_element(p.begin(), p.end()) - p.begin());
}

}  // namespace

std::vector<std::vector<double>> label_probs(ScoringModel model, const data::Tokenizer& tok,
                                             const data::TaskCard& card,
                                             const std::vector<data::Example>& exs) {
  const size_t L = card.labels.size();
  FLAME_CHECK(L >= 2, "task " << card.name << " has " << L << " labels; scoring needs >= 2");
  const LabelTokens lt = label_tokens(tok, card);
  const auto& label_toks = lt.rest;
  std::set<int32_t> firsts;
  for (const auto& t : label_toks) firsts.insert(t.front());
  const bool first_token = firsts.size() == L;

  std::vector<Query> qs;
  for (const auto& ex : exs) {
    const auto p = prompt_tokens(tok, card, ex, lt.shared);
    if (first_token) {
      Query q{p, (int)p.size(), {}, {}};
      for (const auto& t : label_toks) q.candidates.push_back(t.front());
      qs.push_back(std::move(q));
    } else {
      for (const auto& t : label_toks) {
        Query q{p, (int)p.size(), {}, t};
        q.tokens.insert(q.tokens.end(), t.begin(), t.end() - 1);
        qs.push_back(std::move(q));
      }
    }
  }
  const auto res = score_queries(model, qs);
  std::vector<std::vector<double>> probs(exs.size());
  for (size_t e = 0; e < exs.size(); ++e) {
    if (first_token) {
      probs[e] = res[e].cand_probs;
      continue;
    }
    std::vector<double> lp(L);
    for (size_t l = 0; l < L; ++l) lp[l] = res[e * L + l].cont_logprob;
    const double mx = *std::max_element(lp.begin(), lp.end());
    double z = 0;
    for (double& x : lp) z += x = std::exp(x - mx);
    for (double& x : lp) x /= z;
    probs[e] = lp;
  }
  return probs;
}

int label_index(const data::TaskCard& card, const std::string& label) {
  auto it = std::find(card.labels.begin(), card.labels.end(), label);
  FLAME_CHECK(it != card.labels.end(), "task " << card.name << ": label '" << label
                                               << "' is not one of the card's labels");
  return (int)(it - card.labels.begin());
}

std::vector<double> label_values(const data::TaskCard& card) {
  std::vector<double> values;
  for (size_t i = 0; i < card.labels.size(); ++i) {
    try {
      size_t used = 0;
      values.push_back(std::stod(card.labels[i], &used));
      if (used != card.labels[i].size()) throw std::invalid_argument("");
    } catch (const std::exception&) {
      values.assign(card.labels.size(), 0);
      std::iota(values.begin(), values.end(), 0.0);
      break;
    }
  }
  return values;
}

namespace {

nlohmann::json eval_pairwise(ScoringModel model, const data::Tokenizer& tok,
                             const data::TaskCard& card, const std::vector<data::Example>& exs) {
  const size_t L = card.labels.size();  // A, B (, Tie)
  FLAME_CHECK(L == 2 || L == 3, "pairwise task " << card.name << " needs labels A, B (, Tie)");
  std::vector<data::Example> swapped;
  for (const auto& ex : exs) swapped.push_back(data::swap_pair(card, ex));
  const auto po = label_probs(model, tok, card, exs);
  const auto ps = label_probs(model, tok, card, swapped);
  // Each outcome averaged over both presentation orders; a model that ignores the content gives
  // exactly equal averages, and such a tie is a coin flip (metrics.h pairwise_metrics).
  std::vector<PairJudgment> pairs(exs.size());
  for (size_t e = 0; e < exs.size(); ++e)
    pairs[e] = PairJudgment{po[e], ps[e], label_index(card, exs[e].label()), 0, 0};
  const PairwiseMetrics m = pairwise_metrics(pairs);
  return {{"metric", "accuracy"},
          {"value", m.accuracy},
          {"accuracy_single_order", m.accuracy_single_order},
          {"position_consistency", m.order_consistency}};
}

nlohmann::json eval_pointwise(ScoringModel model, const data::Tokenizer& tok,
                              const data::TaskCard& card, const std::vector<data::Example>& exs) {
  const std::vector<double> values = label_values(card);  // by index for a non-numeric scale
  const auto probs = label_probs(model, tok, card, exs);
  long correct = 0;
  std::vector<double> expected, truth;
  for (size_t e = 0; e < exs.size(); ++e) {
    const int t = label_index(card, exs[e].label());
    correct += argmax(probs[e]) == t;
    double s = 0;
    for (size_t l = 0; l < values.size(); ++l) s += probs[e][l] * values[l];
    expected.push_back(s);
    truth.push_back(values[t]);
  }
  return {{"metric", "accuracy"},
          {"value", correct / (double)std::max<size_t>(exs.size(), 1)},
          {"pearson", pearson(expected, truth)}};
}

nlohmann::json eval_classification(ScoringModel model, const data::Tokenizer& tok,
                                   const data::TaskCard& card,
                                   const std::vector<data::Example>& exs) {
  const auto probs = label_probs(model, tok, card, exs);
  long correct = 0;
  for (size_t e = 0; e < exs.size(); ++e) correct += argmax(probs[e]) == label_index(card, exs[e].label());
  return {{"metric", "accuracy"}, {"value", correct / (double)std::max<size_t>(exs.size(), 1)}};
}

nlohmann::json eval_generative(ScoringModel model, const data::Tokenizer& tok,
                               const data::TaskCard& card, const std::vector<data::Example>& exs) {
  // Teacher forcing with an all-argmax check equals greedy decoding's exact match: greedy emits
  // exactly the target iff every target token (and the EOS after it) is the argmax given the
  // correct prefix — one forward instead of one per generated token.
  std::vector<Query> qs;
  for (const auto& ex : exs) {
    const auto r = data::render(card, ex);
    Query q;
    q.tokens.push_back(tok.bos_id());
    const auto in = tok.encode(r.input);
    q.tokens.insert(q.tokens.end(), in.begin(), in.end());
    q.n_prompt = (int)q.tokens.size();
    q.cont = tok.encode(r.target);
    q.cont.push_back(tok.eos_id());
    q.tokens.insert(q.tokens.end(), q.cont.begin(), q.cont.end() - 1);
    qs.push_back(std::move(q));
  }
  const auto res = score_queries(model, qs);
  long exact = 0;
  double lp = 0;
  long ntok = 0;
  for (size_t i = 0; i < res.size(); ++i) {
    exact += res[i].cont_argmax;
    lp += res[i].cont_logprob;
    ntok += qs[i].cont.size();
  }
  return {{"metric", "exact_match"},
          {"value", exact / (double)std::max<size_t>(exs.size(), 1)},
          {"target_token_loss", ntok ? -lp / ntok : 0.0}};
}

}  // namespace

nlohmann::json evaluate_examples(ScoringModel model, const data::Tokenizer& tok,
                                 const data::TaskCard& card,
                                 const std::vector<data::Example>& exs) {
  switch (card.type) {
    case data::TaskType::pairwise: return eval_pairwise(model, tok, card, exs);
    case data::TaskType::pointwise: return eval_pointwise(model, tok, card, exs);
    case data::TaskType::classification: return eval_classification(model, tok, card, exs);
    case data::TaskType::generative: return eval_generative(model, tok, card, exs);
  }
  throw Error("task " + card.name + ": unknown task type");
}

nlohmann::json evaluate(ScoringModel model, const data::Tokenizer& tok,
                        const std::vector<EvalTask>& tasks, int max_examples) {
  nlohmann::json out = {{"tasks", nlohmann::json::object()},
                        {"categories", nlohmann::json::object()}};
  std::map<std::string, std::vector<double>> by_category;
  std::vector<double> pc;  // pairwise + classification values
  for (const auto& t : tasks) {
    const size_t n = std::min<size_t>(t.examples.size(), std::max(max_examples, 0));
    if (n == 0) continue;
    const std::vector<data::Example> exs(t.examples.begin(), t.examples.begin() + n);
    nlohmann::json r = evaluate_examples(model, tok, t.card, exs);
    r["type"] = data::task_type_name(t.card.type);
    r["category"] = t.card.category;
    r["n"] = n;
    if (t.card.flipped_labels) {
      // Accuracy against deliberately wrong labels measures how much was learnt from them; it
      // says nothing about the category, so it stays out of the means.
      r["flipped_labels"] = true;
    } else {
      by_category[t.card.category].push_back(r["value"].get<double>());
      if (t.card.type == data::TaskType::pairwise || t.card.type == data::TaskType::classification)
        pc.push_back(r["value"].get<double>());
    }
    out["tasks"][t.card.name] = r;
  }
  auto mean = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  };
  for (const auto& [cat, v] : by_category) out["categories"][cat] = mean(v);
  out["mean_pairwise_classification"] = pc.empty() ? nlohmann::json(nullptr) : nlohmann::json(mean(pc));
  return out;
}

}  // namespace flame::train
