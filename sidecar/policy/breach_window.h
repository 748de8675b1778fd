// `breaches: "M of N"`: the last N datapoints of a rule, firing when at least M of them breached
// (CloudWatch's "datapoints to alarm"). Pure: the caller feeds datapoints.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sidecar/policy/rule.h"

namespace rs::sidecar {

// Parses "M of N" (spaces around "of" optional beyond one, case-insensitive "of"):
// 1 <= M <= N <= 100. On failure returns nullopt and says why in *error, e.g.
//   "6 of 5": breaches "6 of 5": M (6) is larger than N (5); M of N needs 1 <= M <= N <= 100
std::optional<BreachesSpec> parse_breaches(const std::string& text, std::string* error);
std::string format_breaches(const BreachesSpec& spec);  // "3 of 5"
// How long a rule must breach, for logs and reasons: "for 5m" or "in 3 of 5 datapoints".
std::string format_timing(const RuleConfig& rule);

// Contract:
// - A datapoint is one evaluation that counted: a value (breach or not), or no data when the
//   rule's `missing` is `breach` (a breached datapoint) or `ok` (a non-breached one).
// - Evaluations that are not datapoints do not enter the window at all, so they neither breach
//   nor heal: a query error, no data with `missing: hold`, and `insufficient` (min_samples not
//   met). This is CloudWatch's treat-missing-data "missing"/"ignore": the window keeps the last N
//   datapoints that exist, however old.
// - firing() when at least M of the datapoints in the window breached. Before N datapoints
//   exist the window is judged on those it has (M breaches among fewer than N fire).
class BreachWindow {
 public:
  explicit BreachWindow(BreachesSpec spec);
  void add(bool breached);
  void clear();
  int breached() const { return breached_; }
  int datapoints() const { return static_cast<int>(count_); }
  bool firing() const { return breached_ >= spec_.m; }
  const BreachesSpec& spec() const { return spec_; }

 private:
  BreachesSpec spec_;
  std::vector<bool> ring_;  // n slots
  std::size_t next_ = 0;    // slot of the next datapoint
  std::size_t count_ = 0;   // datapoints held (<= n)
  int breached_ = 0;
};

}  // namespace rs::sidecar
