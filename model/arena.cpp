// The arena table (arena.h): one row per tensor, its element type and its width per row.
#include "model/arena.h"

#include <algorithm>

namespace flame::model {

namespace {

enum class Elem { act, f32, i32 };
// Elements per row of the micro-batch, from the model's dims.
enum class Width { C, QKV, Hq, F, F2, V, one, C_or_F, QKV_or_F2 };

size_t width(Width w, const ModelDims& d) {
  switch (w) {
    case Width::C: return size_t(d.C);
    case Width::QKV: return size_t(d.QKV);
    case Width::Hq: return size_t(d.Hq);
    case Width::F: return size_t(d.F);
    case Width::F2: return size_t(d.F2);
    case Width::V: return size_t(d.V);
    case Width::one: return 1;
    case Width::C_or_F: return size_t(std::max(d.C, d.F));
    case Width::QKV_or_F2: return size_t(std::max(d.QKV, d.F2));
  }
  return 0;
}

struct LayerSlot {
  size_t LayerActs::*field;
  Elem elem;
  Width width;
};
struct GlobalSlot {
  size_t Arena::*field;
  Elem elem;
  Width width;
};

constexpr LayerSlot kLayerSlots[] = {
    {&LayerActs::ln1, Elem::act, Width::C},      {&LayerActs::ln1_mean, Elem::f32, Width::one},
    {&LayerActs::ln1_rstd, Elem::f32, Width::one}, {&LayerActs::qkv, Elem::act, Width::QKV},
    {&LayerActs::atty, Elem::act, Width::C},     {&LayerActs::lse, Elem::f32, Width::Hq},
    {&LayerActs::res2, Elem::act, Width::C},     {&LayerActs::ln2, Elem::act, Width::C},
    {&LayerActs::ln2_mean, Elem::f32, Width::one}, {&LayerActs::ln2_rstd, Elem::f32, Width::one},
    {&LayerActs::fch, Elem::act, Width::F2},     {&LayerActs::fch_act, Elem::act, Width::F},
    {&LayerActs::res3, Elem::act, Width::C},
};
// Before the blocks: encoded; after them, in this order.
constexpr GlobalSlot kTailSlots[] = {
    {&Arena::lnf, Elem::act, Width::C},         {&Arena::lnf_mean, Elem::f32, Width::one},
    {&Arena::lnf_rstd, Elem::f32, Width::one},  {&Arena::logits, Elem::act, Width::V},
    {&Arena::losses, Elem::f32, Width::one},    {&Arena::delta, Elem::act, Width::C},
    {&Arena::dres, Elem::act, Width::C},        {&Arena::dln, Elem::act, Width::C},
    {&Arena::dmid, Elem::act, Width::C_or_F},   {&Arena::dwide, Elem::act, Width::QKV_or_F2},
    {&Arena::tokens, Elem::i32, Width::one},    {&Arena::pos, Elem::i32, Width::one},
    {&Arena::seg, Elem::i32, Width::one},       {&Arena::targets, Elem::i32, Width::one},
    {&Arena::mask, Elem::f32, Width::one},
};

}  // namespace

Arena plan_arena(const ModelDims& d, size_t N, size_t act_bytes) {
  Arena a;
  size_t top = 0;
  auto take = [&](Elem e, Width w) {
    const size_t off = top;
    const size_t elem_bytes = e == Elem::act ? act_bytes : 4;
    top += (N * width(w, d) * elem_bytes + 255) & ~size_t(255);
    return off;
  };
  a.encoded = take(Elem::act, Width::C);
  a.la.resize(size_t(d.L));
  for (LayerActs& la : a.la)
    for (const LayerSlot& s : kLayerSlots) la.*s.field = take(s.elem, s.width);
  for (const GlobalSlot& s : kTailSlots) a.*s.field = take(s.elem, s.width);
  a.bytes = top;
  return a;
}

}  // namespace flame::model
