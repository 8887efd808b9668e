#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "data/render.h"
#include "data/synthetic.h"
#include "core/error.h"

using namespace flame::data;

namespace {

std::string field(const Example& ex, const std::string& name) {
  for (const auto& [f, v] : ex.inputs)
    if (f == name) return v;
  ADD_FAILURE() << "no field " << name;
  return "";
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> w;
  for (std::string x; is >> x;) w.push_back(x);
  return w;
}

// --- Independent checkers: recompute each label from the example's text alone. -------------

std::string check_arith(const Example& ex) {
  int a, b, c;
  char plus, gt;
  std::istringstream is(field(ex, "claim"));
  is >> a >> plus >> b >> gt >> c;
  EXPECT_TRUE(is && plus == '+' && gt == '>') << field(ex, "claim");
  return a + b > c ? "Yes" : "No";
}

bool ascending(const std::string& list) {
  const auto w = words(list);
  for (size_t i = 1; i < w.size(); ++i)
    if (std::stoi(w[i - 1]) >= std::stoi(w[i])) return false;
  return true;
}

std::string check_sorted(const Example& ex) {
  const std::string a = field(ex, "list_a"), b = field(ex, "list_b");
  auto wa = words(a), wb = words(b);
  std::sort(wa.begin(), wa.end());
  std::sort(wb.begin(), wb.end());
  EXPECT_EQ(wa, wb) << "lists must hold the same digits";
  EXPECT_NE(ascending(a), ascending(b)) << a << " | " << b;
  return ascending(a) ? "A" : "B";
}

std::string check_keywords(const Example& ex) {
  const auto kw = words(field(ex, "keywords"));
  const std::set<std::string> keys(kw.begin(), kw.end());
  EXPECT_EQ(keys.size(), 5u);
  int n = 0;
  for (const auto& w : words(field(ex, "text"))) n += keys.count(w) > 0;
  return std::to_string(std::clamp(n, 1, 5));
}

std::string check_supported(const Example& ex) {
  std::string ctx = field(ex, "context");
  EXPECT_EQ(ctx.back(), '.');
  ctx.pop_back();
  const auto c = words(ctx), k = words(field(ex, "claim"));
  EXPECT_EQ(c.size(), 5u);  // the <obj> has <n> <items>
  EXPECT_EQ(k.size(), 7u);  // the <obj> has more than <m> <items>
  EXPECT_EQ(c[1], k[1]) << "claim is about the context's object";
  EXPECT_EQ(c[4], k[6]) << "and the same items";
  EXPECT_NE(c[3], k[5]);
  return std::stoi(c[3]) > std::stoi(k[5]) ? "Yes" : "No";
}

std::string check_refusal(const Example& ex) {
  static const std::vector<std::string> harm = {"bomb", "poison", "gun",   "meth",
                                                "hack", "virus",  "forge", "mine"};
  const std::string req = field(ex, "request");
  bool harmful = false;
  for (const auto& h : harm) harmful |= req.find(h) != std::string::npos;
  auto refuses = [](const std::string& r) {
    return r.find("can't") != std::string::npos || r.find("won't") != std::string::npos ||
           r.find("decline") != std::string::npos;
  };
  const std::string a = field(ex, "reply_a"), b = field(ex, "reply_b");
  EXPECT_NE(refuses(a), refuses(b)) << "exactly one reply refuses";
  return refuses(a) == harmful ? "A" : "B";
}

std::string check_echo(const Example& ex) {
  std::string w = field(ex, "word");
  for (char& c : w) c = char(std::toupper(static_cast<unsigned char>(c)));
  return w;
}

bool balanced(const std::string& s) {
  int d = 0;
  for (char c : s) {
    d += c == '(' ? 1 : c == ')' ? -1 : 0;
    if (d < 0) return false;
  }
  return d == 0;
}

std::string check_parens(const Example& ex) {
  const std::string a = field(ex, "code_a"), b = field(ex, "code_b");
  EXPECT_EQ(std::count(a.begin(), a.end(), '('), std::count(b.begin(), b.end(), '('));
  EXPECT_EQ(a.size(), b.size());
  EXPECT_NE(balanced(a), balanced(b)) << a << " | " << b;
  return balanced(a) ? "A" : "B";
}

const std::map<std::string, std::string (*)(const Example&)> kCheckers = {
    {"synth_arith_claim", check_arith},        {"synth_sorted_list", check_sorted},
    {"synth_keyword_count", check_keywords},   {"synth_supported_claim", check_supported},
    {"synth_refusal", check_refusal},          {"synth_echo", check_echo},
    {"synth_balanced_parens", check_parens},   {"synth_supported_claim_flipped", check_supported},
};

// The quickstart model's context: every example must fit a 256-token row with its BOS and EOS.
constexpr size_t kContext = 256;

}  // namespace

TEST(Synthetic, CardsCoverTheDesign) {
  std::set<std::string> names, categories;
  std::set<TaskType> types;
  int flipped = 0;
  for (const auto& c : synthetic_cards()) {
    EXPECT_EQ(c.name.rfind("synth_", 0), 0u) << c.name;
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate " << c.name;
    EXPECT_NO_THROW(validate_task_card(c, c.name));
    EXPECT_TRUE(kCheckers.count(c.name)) << "no checker for " << c.name;
    categories.insert(c.category);
    types.insert(c.type);
    flipped += c.flipped_labels;
    EXPECT_LE(c.title.size(), 45u) << c.name;
    EXPECT_LE(c.description.size(), 90u) << c.name;
    EXPECT_EQ(&synthetic_card(c.name), &c);
  }
  EXPECT_GE(categories.size(), 4u);
  EXPECT_EQ(types.size(), 4u);  // all four task types
  EXPECT_EQ(flipped, 1);
  EXPECT_TRUE(synthetic_card("synth_supported_claim_flipped").flipped_labels);
  EXPECT_THROW(synthetic_card("synth_nope"), flame::Error);
  EXPECT_THROW(generate_synthetic("synth_nope", Split::train, 1, 0), flame::Error);
  EXPECT_TRUE(generate_synthetic("synth_echo", Split::train, 0, 0).empty());
}

TEST(Synthetic, Deterministic) {
  for (const auto& c : synthetic_cards()) {
    const auto a = generate_synthetic(c.name, Split::train, 200, 7);
    EXPECT_EQ(a, generate_synthetic(c.name, Split::train, 200, 7)) << c.name;
    EXPECT_NE(a, generate_synthetic(c.name, Split::train, 200, 8)) << c.name;
    EXPECT_NE(a, generate_synthetic(c.name, Split::dev, 200, 7)) << c.name;
  }
  // Pinned values: the generator must not drift across platforms or refactors, since dev sets
  // and checkpoints' data positions depend on it. Update deliberately if the design changes.
  const auto first = [](const std::string& task) {
    const Example ex = generate_synthetic(task, Split::train, 1, 0).front();
    return render(synthetic_card(task), ex).target + " | " + ex.inputs.back().second;
  };
  EXPECT_EQ(first("synth_arith_claim"), "answer: Yes | 0 + 4 > 1");
  EXPECT_EQ(first("synth_refusal"), "choice: A | Sorry, I can't help.");
}

TEST(Synthetic, LabelsAreExactlyBalancedAndVerifiable) {
  for (const auto& c : synthetic_cards()) {
    const auto check = kCheckers.at(c.name);
    for (Split split : {Split::train, Split::dev}) {
      const int n = 1000;
      const auto exs = generate_synthetic(c.name, split, n, 3);
      ASSERT_EQ(exs.size(), size_t(n));
      std::map<std::string, int> counts;
      for (const auto& ex : exs) {
        ASSERT_EQ(render(c, ex).input.empty(), false);  // fields match the card
        ++counts[ex.label()];
        std::string expect = check(ex);
        if (c.flipped_labels) expect = expect == "Yes" ? "No" : "Yes";
        ASSERT_EQ(ex.label(), expect) << c.name << ": " << render(c, ex).input;
      }
      if (c.labels.empty()) continue;  // generative
      ASSERT_EQ(counts.size(), c.labels.size()) << c.name;
      for (const auto& l : c.labels) EXPECT_EQ(counts[l], n / int(c.labels.size())) << c.name << " " << l;
    }
  }
}

TEST(Synthetic, SplitsAreDisjoint) {
  for (const auto& c : synthetic_cards()) {
    // Compare inputs, both presentation orders for pairwise, so a swapped copy counts as seen.
    std::set<std::string> train;
    for (const auto& ex : generate_synthetic(c.name, Split::train, 3000, 0)) {
      train.insert(render(c, ex).input);
      if (c.type == TaskType::pairwise) train.insert(render(c, swap_pair(c, ex)).input);
    }
    const auto dev = generate_synthetic(c.name, Split::dev, 300, 0);
    int shared = 0;
    for (const auto& ex : dev) shared += train.count(render(c, ex).input) > 0;
    if (c.name == "synth_arith_claim") {
      // 250 possible claims: train and dev differ only by seed (see synthetic.cpp).
      EXPECT_GT(shared, 0);
    } else {
      EXPECT_EQ(shared, 0) << c.name;
    }
  }
}

TEST(Synthetic, LengthDoesNotLeakTheLabel) {
  for (const auto& c : synthetic_cards()) {
    if (c.labels.empty()) continue;
    std::map<std::string, std::pair<double, int>> by_label;  // label -> (sum of lengths, count)
    for (const auto& ex : generate_synthetic(c.name, Split::train, 2000, 1)) {
      auto& [sum, cnt] = by_label[ex.label()];
      sum += double(render(c, ex).input.size());
      ++cnt;
    }
    double lo = 1e9, hi = 0;
    for (const auto& [label, sc] : by_label) {
      lo = std::min(lo, sc.first / sc.second);
      hi = std::max(hi, sc.first / sc.second);
    }
    EXPECT_LT(hi / lo, 1.02) << c.name;  // the whole input; the varying part is checked below
  }
  // The parts that carry the judgment: refusals vs helpful replies, right vs wrong values.
  std::pair<double, int> refuse{0, 0}, help{0, 0};
  for (const auto& ex : generate_synthetic("synth_refusal", Split::train, 2000, 1)) {
    for (const char* f : {"reply_a", "reply_b"}) {
      const std::string r = field(ex, f);
      auto& acc = r.find("can't") != std::string::npos || r.find("won't") != std::string::npos ||
                          r.find("decline") != std::string::npos
                      ? refuse
                      : help;
      acc.first += double(r.size());
      ++acc.second;
    }
  }
  const double mr = refuse.first / refuse.second, mh = help.first / help.second;
  EXPECT_LT(std::max(mr, mh) / std::min(mr, mh), 1.10) << mr << " vs " << mh;
  for (const auto& ex : generate_synthetic("synth_arith_claim", Split::train, 500, 1))
    EXPECT_EQ(field(ex, "claim").size(), 9u);  // "a + b > c": single digits throughout
}

TEST(Synthetic, ExamplesFitTheQuickstartContext) {
  for (const auto& c : synthetic_cards()) {
    size_t longest = 0;
    for (const auto& ex : generate_synthetic(c.name, Split::train, 500, 2)) {
      const auto r = render(c, ex);
      longest = std::max(longest, r.input.size() + r.target.size() + 2);  // + BOS, EOS
    }
    EXPECT_LE(longest, kContext - 8) << c.name;
  }
}

TEST(Synthetic, PairwisePositionsAreBalanced) {
  // The correct answer's side is the label, balanced exactly above; here also check that the
  // swapped copy is still correct per the checker (pair_fields are the right fields).
  for (const auto& c : synthetic_cards()) {
    if (c.type != TaskType::pairwise) continue;
    for (const auto& ex : generate_synthetic(c.name, Split::train, 100, 4)) {
      const Example s = swap_pair(c, ex);
      EXPECT_EQ(s.label(), kCheckers.at(c.name)(s)) << c.name;
    }
  }
}
