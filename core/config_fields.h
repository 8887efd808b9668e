// Config fields declared once. A config struct lists its keys in a static `fields()` table
//
//   static const config::Fields<OptimConfig>& fields() {
//     static const config::Fields<OptimConfig> f = {
//         config::field("lr", &OptimConfig::lr, "peak learning rate (AdamW)").check(config::above(0)),
//         ...};
//     return f;
//   }
//
// and everything else comes from that one table: reading YAML (wrong types and unknown keys are
// errors naming the key, unknown ones with the nearest valid key), writing YAML, the per-field
// checks, and the Markdown key reference (docs/config_keys.md). Defaults are the members'
// initialisers, so they are written once too. Cross-field checks stay in each struct's validate.
#pragma once
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"

namespace flame::config {

// How one reader phrases its errors: each keeps the wording its users (and tests) know.
struct Wording {
  explicit Wording(std::string p = "") : prefix(std::move(p)) {}
  std::string prefix;                 // before every message, e.g. "config error: "
  std::string noun = "key";           // unknown key 'x' | unknown field 'x'
  std::string expects = " expects ";  // <key> expects an integer (got 'x')
  bool key_colon = false;             // "<key>: unknown key", "<key>: must be ...": eval suites
  bool value_first = false;           // "<key> (<got>) must be ...": the model config
};

// Edit distance (insert, delete, substitute), for "did you mean".
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// The candidate closest to `key`, or "" when none is close enough to be a plausible typo.
inline std::string nearest(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  const size_t limit = std::max<size_t>(2, std::min(key.size(), best.size()) / 3);
  return best_d <= limit ? best : "";
}

inline std::string describe(const YAML::Node& v) {
  if (!v || v.IsNull()) return "null";
  if (v.IsSequence()) return "a list";
  if (v.IsMap()) return "a map";
  return "'" + v.Scalar() + "'";
}

// Where a reader is: its wording and the dotted path of the section being read.
struct Ctx {
  Wording w;
  std::string path;

  std::string key(const std::string& k) const { return path.empty() ? k : path + "." + k; }
  Ctx at(std::string p) const { return {w, std::move(p)}; }
  [[noreturn]] void fail(const std::string& msg) const { throw Error(w.prefix + msg); }
  [[noreturn]] void wrong_type(const std::string& k, const std::string& expected,
                               const YAML::Node& v) const {
    fail(w.key_colon ? k + ": must be " + expected + " (got " + describe(v) + ")"
                     : k + w.expects + expected + " (got " + describe(v) + ")");
  }
  [[noreturn]] void unknown(const std::string& k, const std::string& near) const {
    const std::string hint = near.empty() ? "" : " (did you mean '" + near + "'?)";
    fail(w.key_colon ? k + ": unknown " + w.noun + hint
                     : "unknown " + w.noun + " '" + k + "'" + hint);
  }
  [[noreturn]] void missing(const std::string& k) const {
    fail(w.key_colon ? k + ": required" : "missing required " + w.noun + " '" + k + "'");
  }
  [[noreturn]] void must(const std::string& k, const std::string& what,
                         const std::string& got) const {
    if (w.key_colon) fail(k + ": must be " + what + " (got " + got + ")");
    if (w.value_first) fail(k + " (" + got + ") must be " + what);
    fail(k + " must be " + what + " (got " + got + ")");
  }
};

// Shortest text that reads back as the same number ("0.003", not "0.0030000000000000001").
template <class F>
std::string shortest(F x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

// An enum's names come from `choices(E{})`, found by argument-dependent lookup next to the enum:
//   inline const config::Choices<Decay>& choices(Decay) { static const ... = {{Decay::cosine,
//   "cosine"}, ...}; return c; }
template <class E>
using Choices = std::vector<std::pair<E, const char*>>;

template <class E>
std::string choice_list(const char* sep = "|") {
  std::string s;
  for (const auto& [e, n] : choices(E{})) s += (s.empty() ? "" : sep) + std::string(n);
  return s;
}
template <class E>
const char* choice_name(E e) {
  for (const auto& [v, n] : choices(E{}))
    if (v == e) return n;
  return "?";
}

template <class S>
struct Field;
template <class S>
using Fields = std::vector<Field<S>>;

template <class T>
concept Section = requires { T::fields(); };

template <class S>
void read_fields(const YAML::Node& node, S& out, const Ctx& c,
                 const std::vector<std::string>& also_known = {});
template <class S>
YAML::Node to_yaml(const S& s);
template <class S>
void check_fields(const S& s, const Ctx& c);

// One row of the key reference.
struct DocRow {
  std::string key, type, def, check, doc;
};
template <class S>
void doc_rows(const std::string& prefix, std::vector<DocRow>& rows);

// --- Codecs: YAML <-> one value type ------------------------------------------------------------

template <class T>
struct Codec;

template <>
struct Codec<std::string> {
  static std::string type() { return "string"; }
  static void read(const YAML::Node& v, std::string& out, const Ctx& c, const std::string& k) {
    if (!v.IsScalar()) c.wrong_type(k, "a string", v);
    out = v.Scalar();
  }
  static YAML::Node write(const std::string& x) { return YAML::Node(x); }
  static std::string show(const std::string& x) { return "'" + x + "'"; }
};

template <>
struct Codec<bool> {
  static std::string type() { return "boolean"; }
  static void read(const YAML::Node& v, bool& out, const Ctx& c, const std::string& k) {
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) c.wrong_type(k, "a boolean", v);
  }
  static YAML::Node write(bool x) { return YAML::Node(x); }
  static std::string show(bool x) { return x ? "true" : "false"; }
};

template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
struct Codec<T> {
  static constexpr bool is_unsigned = std::is_unsigned_v<T>;
  static std::string type() { return is_unsigned ? "non-negative integer" : "integer"; }
  static void read(const YAML::Node& v, T& out, const Ctx& c, const std::string& k) {
    const char* what = is_unsigned ? "a non-negative integer" : "an integer";
    if constexpr (is_unsigned) {
      unsigned long long x = 0;
      if (!v.IsScalar() || v.Scalar().starts_with("-") ||
          !YAML::convert<unsigned long long>::decode(v, x))
        c.wrong_type(k, what, v);
      out = static_cast<T>(x);
    } else {
      long long x = 0;
      if (!v.IsScalar() || !YAML::convert<long long>::decode(v, x)) c.wrong_type(k, what, v);
      if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max())
        c.wrong_type(k, "a " + std::to_string(sizeof(T) * 8) + "-bit integer", v);
      out = static_cast<T>(x);
    }
  }
  static YAML::Node write(T x) { return YAML::Node(x); }
  static std::string show(T x) { return std::to_string(x); }
};

template <class T>
  requires std::is_floating_point_v<T>
struct Codec<T> {
  static std::string type() { return "number"; }
  static void read(const YAML::Node& v, T& out, const Ctx& c, const std::string& k) {
    double x = 0;
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, x) || !std::isfinite(x))
      c.wrong_type(k, "a number", v);
    out = static_cast<T>(x);
  }
  static YAML::Node write(T x) { return YAML::Node(shortest(x)); }
  static std::string show(T x) { return shortest(x); }
};

template <class E>
  requires std::is_enum_v<E>
struct Codec<E> {
  static std::string type() { return choice_list<E>(" | "); }
  static void read(const YAML::Node& v, E& out, const Ctx& c, const std::string& k) {
    if (!v.IsScalar()) c.wrong_type(k, "a string (" + choice_list<E>() + ")", v);
    for (const auto& [e, n] : choices(E{}))
      if (v.Scalar() == n) {
        out = e;
        return;
      }
    c.wrong_type(k, choice_list<E>(), v);
  }
  static YAML::Node write(E x) { return YAML::Node(choice_name(x)); }
  static std::string show(E x) { return choice_name(x); }
};

// A list of strings; a single scalar counts as a one-element list (`tasks: all`).
template <>
struct Codec<std::vector<std::string>> {
  static std::string type() { return "list of strings"; }
  static void read(const YAML::Node& v, std::vector<std::string>& out, const Ctx& c,
                   const std::string& k) {
    out.clear();
    if (v.IsScalar()) return out.push_back(v.Scalar());
    if (!v.IsSequence()) c.wrong_type(k, "a list of strings", v);
    for (const auto& e : v) {
      if (!e.IsScalar()) c.wrong_type(k, "a list of strings", v);
      out.push_back(e.Scalar());
    }
  }
  static YAML::Node write(const std::vector<std::string>& x) {
    YAML::Node n(YAML::NodeType::Sequence);
    for (const auto& s : x) n.push_back(s);
    return n;
  }
  static std::string show(const std::vector<std::string>& x) { return YAML::Dump(write(x)); }
};

// A map from names to values; each value is read (and checked) under <key>.<name>.
template <class V>
struct Codec<std::map<std::string, V>> {
  static std::string type() { return "map of name: " + Codec<V>::type(); }
  static void read(const YAML::Node& v, std::map<std::string, V>& out, const Ctx& c,
                   const std::string& k) {
    if (v.IsNull()) return out.clear();
    if (!v.IsMap()) c.wrong_type(k, "a map of name: " + Codec<V>::type(), v);
    out.clear();
    for (const auto& kv : v) Codec<V>::read(kv.second, out[kv.first.Scalar()], c,
                                            k + "." + kv.first.Scalar());
  }
  static YAML::Node write(const std::map<std::string, V>& x) {
    YAML::Node n(YAML::NodeType::Map);
    for (const auto& [name, val] : x) n[name] = Codec<V>::write(val);
    return n;
  }
};

// A value that may be absent (nullopt: not given, so not written either).
template <class V>
struct Codec<std::optional<V>> {
  static std::string type() { return Codec<V>::type(); }
  static void read(const YAML::Node& v, std::optional<V>& out, const Ctx& c,
                   const std::string& k) {
    V x{};
    Codec<V>::read(v, x, c, k);
    out = std::move(x);
  }
  static YAML::Node write(const std::optional<V>& x) {
    return x ? Codec<V>::write(*x) : YAML::Node();
  }
};

// A nested section (a struct with its own fields()).
template <Section S>
struct Codec<S> {
  static std::string type() { return "section"; }
  static void read(const YAML::Node& v, S& out, const Ctx& c, const std::string& k) {
    read_fields(v, out, c.at(k));
  }
  static YAML::Node write(const S& x) { return to_yaml(x); }
};

// A list of sections, read as <key>[i].
template <Section S>
struct Codec<std::vector<S>> {
  static std::string type() { return "list of sections"; }
  static void read(const YAML::Node& v, std::vector<S>& out, const Ctx& c, const std::string& k) {
    if (!v.IsSequence()) c.wrong_type(k, "a list", v);
    out.assign(v.size(), S{});
    for (size_t i = 0; i < v.size(); ++i)
      read_fields(v[i], out[i], c.at(k + "[" + std::to_string(i) + "]"));
  }
  static YAML::Node write(const std::vector<S>& x) {
    YAML::Node n(YAML::NodeType::Sequence);
    for (const auto& s : x) n.push_back(to_yaml(s));
    return n;
  }
};

// --- Checks ------------------------------------------------------------------------------------

// A range on a numeric field; `what` completes "<key> must be ...".
struct Range {
  std::function<bool(double)> ok;
  std::string what;
};
inline Range above(double lo) { return {[=](double x) { return x > lo; }, "> " + shortest(lo)}; }
inline Range at_least(double lo, std::string what = "") {
  return {[=](double x) { return x >= lo; }, what.empty() ? ">= " + shortest(lo) : what};
}
// [lo, hi] or, with open_hi, [lo, hi).
inline Range within(double lo, double hi, bool open_hi = false) {
  return {[=](double x) { return x >= lo && (open_hi ? x < hi : x <= hi); },
          "in [" + shortest(lo) + ", " + shortest(hi) + (open_hi ? ")" : "]")};
}

// --- Fields ------------------------------------------------------------------------------------

template <class S>
struct Field {
  std::string key, doc, type, check_text;
  bool required = false;
  std::function<void(S&, const YAML::Node&, const Ctx&)> read;
  std::function<YAML::Node(const S&)> write;
  std::function<bool(const S&)> written = [](const S&) { return true; };
  std::function<void(const S&, const Ctx&)> check;
  std::function<void(const std::string&, std::vector<DocRow>&)> sub_rows;  // nested sections
};

template <class X>
constexpr bool is_optional = false;
template <class X>
constexpr bool is_optional<std::optional<X>> = true;
template <class X>
constexpr bool is_map = false;
template <class X>
constexpr bool is_map<std::map<std::string, X>> = true;

// The declaration of one field of S holding a T; converts to Field<S> at the end of the chain.
template <class S, class T>
class Decl {
 public:
  Decl(std::string key, std::function<T&(S&)> get, std::string doc) : get_(std::move(get)) {
    f_.key = std::move(key);
    f_.doc = std::move(doc);
    f_.type = Codec<T>::type();
    auto g = get_;
    // The key is bound here (not from the node), so messages name it.
    const std::string k = f_.key;
    f_.read = [g, k](S& s, const YAML::Node& v, const Ctx& c) { Codec<T>::read(v, g(s), c, c.key(k)); };
    f_.write = [g](const S& s) { return Codec<T>::write(g(const_cast<S&>(s))); };
    if constexpr (is_optional<T>) f_.written = [g](const S& s) { return g(const_cast<S&>(s)).has_value(); };
    if constexpr (Section<T>) {
      f_.check = [g, k](const S& s, const Ctx& c) { check_fields(g(const_cast<S&>(s)), c.at(c.key(k))); };
      f_.sub_rows = [](const std::string& prefix, std::vector<DocRow>& rows) {
        doc_rows<T>(prefix, rows);
      };
    }
  }

  // A per-value check: `ok(value)` or "<key> must be <what> (got <value>)". On a map it checks
  // every value, naming <key>.<name>.
  template <class Pred>
  Decl&& check(Pred ok, std::string what) && {
    auto g = get_;
    const std::string k = f_.key;
    f_.check_text = what;
    f_.check = [g, k, ok, what](const S& s, const Ctx& c) {
      const T& v = g(const_cast<S&>(s));
      if constexpr (is_map<T>) {
        for (const auto& [name, x] : v)
          if (!ok(x)) c.must(c.key(k) + "." + name, what, Codec<typename T::mapped_type>::show(x));
      } else {
        if (!ok(v)) c.must(c.key(k), what, Codec<T>::show(v));
      }
    };
    return std::move(*this);
  }
  Decl&& check(Range r) && {
    return std::move(*this).check([ok = r.ok](const auto& x) { return ok(double(x)); }, r.what);
  }
  // Written by to_yaml only when `when(value)` holds (e.g. only when non-empty).
  template <class Pred>
  Decl&& write_if(Pred when) && {
    auto g = get_;
    f_.written = [g, when](const S& s) { return bool(when(g(const_cast<S&>(s)))); };
    return std::move(*this);
  }
  Decl&& required() && {
    f_.required = true;
    return std::move(*this);
  }
  operator Field<S>() && { return std::move(f_); }

 private:
  Field<S> f_;
  std::function<T&(S&)> get_;
};

// field("lr", &OptimConfig::lr, "peak learning rate") for a member ...
template <class S, class T>
Decl<S, T> field(std::string key, T S::*m, std::string doc) {
  return Decl<S, T>(std::move(key), [m](S& s) -> T& { return s.*m; }, std::move(doc));
}
// ... or field<S, T>("vocab_size", [](S& s) -> T& { return s.train.vocab_size; }, doc) for a
// key that lives deeper in the struct than the YAML shows.
template <class S, class T>
Decl<S, T> field(std::string key, T& (*get)(S&), std::string doc) {
  return Decl<S, T>(std::move(key), get, std::move(doc));
}

// The keys of member `m` (itself a struct with fields()) spliced in at P's own level: the run's
// model section holds preset and init_from beside every ModelConfig key. Their checks are left
// to the member's own validate, so they run once.
template <class P, class S>
void lift(Fields<P>& out, S P::*m) {
  for (const Field<S>& f : S::fields()) {
    Field<P> g;
    g.key = f.key, g.doc = f.doc, g.type = f.type, g.check_text = f.check_text;
    g.required = f.required;
    g.read = [m, r = f.read](P& p, const YAML::Node& v, const Ctx& c) { r(p.*m, v, c); };
    g.write = [m, w = f.write](const P& p) { return w(p.*m); };
    g.written = [m, w = f.written](const P& p) { return w(p.*m); };
    g.sub_rows = f.sub_rows;
    out.push_back(std::move(g));
  }
}

template <class S>
std::vector<std::string> keys() {
  std::vector<std::string> k;
  for (const auto& f : S::fields()) k.push_back(f.key);
  return k;
}

// Reads the keys present in `node` into `out` (absent ones keep their values). Every key must be
// a field of S or one of also_known (read by the caller).
template <class S>
void read_fields(const YAML::Node& node, S& out, const Ctx& c,
                 const std::vector<std::string>& also_known) {
  const auto& fields = S::fields();
  if (!node || node.IsNull()) {
    for (const auto& f : fields)
      if (f.required) c.missing(c.key(f.key));
    return;
  }
  if (!node.IsMap())
    c.fail((c.path.empty() ? std::string("the top level") : c.path) +
           (c.w.key_colon ? ": must be a map of keys (got " : " must be a map of keys (got ") +
           describe(node) + ")");
  std::vector<std::string> known = keys<S>();
  known.insert(known.end(), also_known.begin(), also_known.end());
  for (const auto& kv : node) {
    const std::string k = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      const std::string near = nearest(k, known);
      c.unknown(c.key(k), near.empty() ? "" : c.key(near));
    }
  }
  const YAML::Node& map = node;  // const lookups: a missing key must not be inserted
  for (const auto& f : fields) {
    if (const YAML::Node v = map[f.key])
      f.read(out, v, c);
    else if (f.required)
      c.missing(c.key(f.key));
  }
}

// Every field's own check, in declaration order, nested sections included.
template <class S>
void check_fields(const S& s, const Ctx& c) {
  for (const auto& f : S::fields())
    if (f.check) f.check(s, c);
}

// Every field (that its write_if lets through), in declaration order.
template <class S>
YAML::Node to_yaml(const S& s) {
  YAML::Node n(YAML::NodeType::Map);
  for (const auto& f : S::fields())
    if (f.written(s)) n[f.key] = f.write(s);
  return n;
}

// --- The key reference --------------------------------------------------------------------------

template <class S>
void doc_rows(const std::string& prefix, std::vector<DocRow>& rows) {
  const S defaults{};
  for (const auto& f : S::fields()) {
    const std::string key = prefix + f.key;
    if (f.sub_rows) {
      f.sub_rows(key + ".", rows);
      continue;
    }
    std::string def;
    if (f.required) {
      def = "(required)";
    } else if (f.written(defaults)) {
      YAML::Emitter e;
      e << YAML::Flow << f.write(defaults);
      def = e.c_str();
    }
    rows.push_back({key, f.type, def, f.check_text, f.doc});
  }
}

// One Markdown table: key | type | default | check | meaning.
inline std::string markdown_table(const std::vector<DocRow>& rows) {
  auto cell = [](const std::string& s) {  // a table cell: no column breaks, no HTML tags
    std::string out;
    for (char ch : s) out += ch == '|' ? "\\|" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : std::string(1, ch);
    return out;
  };
  std::ostringstream os;
  os << "| key | type | default | check | meaning |\n|---|---|---|---|---|\n";
  for (const auto& r : rows)
    os << "| `" << r.key << "` | " << cell(r.type) << " | "
       << (r.def.empty() ? "" : "`" + r.def + "`") << " | " << cell(r.check) << " | " << cell(r.doc) << " |\n";
  return os.str();
}

}  // namespace flame::config
