#include "promql/range.h"

#include <algorithm>

namespace rs::promql {

std::int64_t StepGrid::index_of(std::int64_t ms) const {
  if (step_ms <= 0 || ms < start_ms) return -1;
  const std::int64_t offset = ms - start_ms;
  if (offset % step_ms != 0) return -1;
  const std::int64_t k = offset / step_ms;
  return k < steps ? k : -1;
}

bool make_grid(std::int64_t start_ms, std::int64_t end_ms, std::int64_t step_ms, StepGrid* grid, std::string* error,
               std::int64_t max_steps) {
  if (step_ms <= 0) {
    *error = "the step must be longer than 0";
    return false;
  }
  if (end_ms < start_ms) {
    *error = "the end is before the start";
    return false;
  }
  const std::int64_t steps = (end_ms - start_ms) / step_ms + 1;
  if (steps > max_steps) {
    *error = std::to_string(steps) + " evaluations, more than " + std::to_string(max_steps) +
             ": use a longer step or a shorter range";
    return false;
  }
  *grid = StepGrid{start_ms, step_ms, steps};
  return true;
}

std::vector<StepGrid> split_grid(const StepGrid& grid, std::int64_t max_steps) {
  max_steps = std::max<std::int64_t>(max_steps, 1);
  std::vector<StepGrid> pieces;
  for (std::int64_t first = 0; first < grid.steps; first += max_steps) {
    pieces.push_back(StepGrid{grid.at(first), grid.step_ms, std::min(max_steps, grid.steps - first)});
  }
  return pieces;
}

}  // namespace rs::promql
