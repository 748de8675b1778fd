// The evaluation grid of range queries, in whole milliseconds, and its split into requests that
// Prometheus accepts (at most 11,000 points per series). Pure arithmetic, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rs::promql {

// Prometheus refuses a range query whose (end - start) / step exceeds 11,000 ("exceeded maximum
// resolution of 11,000 points per timeseries"); a request of at most this many steps is safe.
constexpr std::int64_t kMaxStepsPerRequest = 11000;

// The evaluations start_ms, start_ms + step_ms, ..., start_ms + (steps - 1) * step_ms.
struct StepGrid {
  std::int64_t start_ms = 0;  // unix milliseconds
  std::int64_t step_ms = 0;   // > 0
  std::int64_t steps = 0;     // >= 1

  std::int64_t at(std::int64_t k) const { return start_ms + k * step_ms; }
  std::int64_t last_ms() const { return at(steps - 1); }
  // The index of the evaluation at exactly `ms`, or -1 when `ms` is not on the grid.
  std::int64_t index_of(std::int64_t ms) const;
};

// The grid from start to end (both unix milliseconds) by step: every start + k*step <= end, so
// `end` is the last evaluation only when it lies on the grid. False with *error when step <= 0,
// end < start, or the range needs more than max_steps evaluations in all.
bool make_grid(std::int64_t start_ms, std::int64_t end_ms, std::int64_t step_ms, StepGrid* grid, std::string* error,
               std::int64_t max_steps = 100'000'000);

// Consecutive pieces of `grid` of at most `max_steps` evaluations each, on the same step grid:
// piece i+1 starts one step after piece i ends, so no evaluation is lost or repeated.
// `max_steps` < 1 is taken as 1.
std::vector<StepGrid> split_grid(const StepGrid& grid, std::int64_t max_steps = kMaxStepsPerRequest);

}  // namespace rs::promql
