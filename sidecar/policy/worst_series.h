// Several series answer one query: the worst one is judged, so one bad instance is not
// averaged away.
#pragma once

#include <optional>
#include <vector>

#include "sidecar/policy/rule.h"

namespace rs::sidecar {

// The value furthest in the `bad` direction (the highest for kAbove, the lowest for kBelow);
// NaN series are ignored. nullopt when no series has a number.
std::optional<double> worst_series(const std::vector<double>& values, Comparison bad);

// The direction in which a condition that must hold (`healthy` above/below) goes bad.
inline Comparison opposite(Comparison c) { return c == Comparison::kAbove ? Comparison::kBelow : Comparison::kAbove; }

}  // namespace rs::sidecar
