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

}  // namespace rs::sidecar
