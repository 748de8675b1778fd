#include "sidecar/policy/worst_series.h"

#include <cmath>

namespace rs::sidecar {

std::optional<double> worst_series(const std::vector<double>& values, Comparison bad) {
  std::optional<double> worst;
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (!worst || breaches(bad, v, *worst)) worst = v;
  }
  return worst;
}

std::optional<double> sum_series(const std::vector<double>& values) {
  std::optional<double> sum;
  for (double v : values) {
    if (!std::isnan(v)) sum = sum.value_or(0.0) + v;
  }
  return sum;
}

}  // namespace rs::sidecar
