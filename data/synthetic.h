// The embedded default data: a seeded generator of synthetic judgment tasks whose labels can be
// verified by a program, in all four task types and several categories. Same (task, split, seed)
// -> same examples on every machine; train and dev never share an example.
#pragma once
#include <cstdint>
#include <vector>

#include "data/task.h"

namespace flame::data {

enum class Split { train, dev };

// Every synthetic task card (also written as YAML under configs/tasks/synthetic/).
const std::vector<TaskCard>& synthetic_cards();
const TaskCard& synthetic_card(const std::string& name);  // throws flame::Error if unknown

// n examples of the named task. Labels balanced (A/B, Yes/No, score levels) by construction.
std::vector<Example> generate_synthetic(const std::string& task, Split split, int n,
                                        uint64_t seed);

}  // namespace flame::data
