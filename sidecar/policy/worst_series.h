// Several series answer one query: the worst one is judged, so one bad instance is not
// averaged away. A rule's `baseline` query is reduced the same way (its worst series), and its
// `min_samples` query is a count, so its series are added up.
#pragma once

#include <optional>
#include <vector>

#include "sidecar/policy/rule.h"

namespace rs::sidecar {

// The value furthest in the `bad` direction (the highest for kAbove, the lowest for kBelow);
// NaN series are ignored. nullopt when no series has a number.
std::optional<double> worst_series(const std::vector<double>& values, Comparison bad);

// The sum of the series that have a number (NaN series are ignored); nullopt when none has one.
std::optional<double> sum_series(const std::vector<double>& values);

// The direction in which a condition that must hold (`healthy` above/below) goes bad.
inline Comparison opposite(Comparison c) { return c == Comparison::kAbove ? Comparison::kBelow : Comparison::kAbove; }

}  // namespace rs::sidecar
