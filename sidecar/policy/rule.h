// What a rule is, as the policy judges it: the comparison, the missing-data rule, the action,
// and one rule as it applies to this deployment's stage. Pure data; the config loader fills it.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/policy/sequential_test.h"

namespace rs::sidecar {

using Duration = std::chrono::milliseconds;

enum class Comparison { kAbove, kBelow };
enum class Missing { kHold, kBreach, kOk };  // what an empty/NaN result counts as
enum class RuleAction { kRollback, kNotify };

const char* comparison_name(Comparison c);
// Whether `value` is on the bad side of `threshold` (strictly: equal is not a breach; NaN never is).
inline bool breaches(Comparison c, double value, double threshold) {
  return c == Comparison::kAbove ? value > threshold : value < threshold;
}
const char* missing_name(Missing m);
const char* action_name(RuleAction a);

// `breaches: "M of N"`: the rule fires when at least `m` of its last `n` datapoints breached
// (CloudWatch's datapoints-to-alarm). 1 <= m <= n <= 100; parse_breaches() in breach_window.h.
struct BreachesSpec {
  int m = 1;
  int n = 1;
  bool operator==(const BreachesSpec& o) const { return m == o.m && n == o.n; }
};

// `min_samples: {query, at_least}`: the rule is judged only when `query` (e.g. the canary's
// request count over the rule's window) is at least `at_least`. judge_min_samples() in judges.h.
struct MinSamplesSpec {
  std::string query;  // templated
  double at_least = 0;
};

// `baseline: {query, max_ratio, min_difference}`: `query` is the stable version's value of the
// same metric at the same evaluation time. judge_baseline() in judges.h.
struct BaselineSpec {
  std::string query;            // templated
  double max_ratio = 1.0;       // >= 1
  double min_difference = 0.0;  // >= 0, in the metric's unit
};

// `test: {type, <four counter queries>, false_rollback_rate, max_ratio, pass_ratio}`: an
// anytime-valid sequential test on counters (sequential_test.h) instead of a query and threshold.
enum class TestType { kSequentialBinomial, kSequentialHistogram };
const char* test_type_name(TestType t);  // "sequential-binomial" | "sequential-histogram"
struct TestConfig {
  TestType type = TestType::kSequentialBinomial;
  SequentialTestSpec spec;
  // Templated counter queries, in the order of BinomialCounters / HistogramCounters.
  std::array<std::string, 4> queries;
};
// The config key of counter query `i` (0..3) of a test of type `t`: binomial canary_errors,
// canary_total, baseline_errors, baseline_total; histogram canary_within, canary_count,
// baseline_within, baseline_count.
const char* test_counter_key(TestType t, int i);

// `slo: {objective, period, windows: [{long, short, budget_share}]}`: the rule's query is an error
// ratio over `{{window}}`, judged by how fast it burns the error budget (1 - objective):
// multi-window, multi-burn-rate (Google SRE workbook, ch. 5). A window pair burns when both its
// long and its short window's error ratio exceed burn_rate x budget; burn_rate is the pace at
// which the canary alone would spend `budget_share` of the period's budget within the long window
// (burn_rate = budget_share x period / long). judge_burn_rate() in judges.h.
struct SloWindow {
  Duration long_window{0};
  Duration short_window{0};
  double budget_share = 0;  // (0, 1]
  double burn_rate = 0;     // derived: budget_share * period / long_window
  std::string long_query;   // the rule's query with {{window}} = long_window, templated
  std::string short_query;  // ... = short_window
};
struct SloSpec {
  double objective = 0.999;  // (0, 1)
  Duration period{std::chrono::hours(24 * 30)};
  std::vector<SloWindow> windows;  // at least one
  double budget() const { return 1 - objective; }
};

// One rule as it applies to this deployment's stage, queries already templated.
struct RuleConfig {
  std::string name;
  std::string query;  // as sent to Prometheus
  Comparison comparison = Comparison::kAbove;
  double threshold = 0;
  Duration for_duration{0};
  // When set, `M of N` replaces `for` (for_duration is then ignored): see RuleTracker.
  std::optional<BreachesSpec> breaches;
  // Judges beside the threshold (judges.h): the canary against the stable version, and the
  // samples guard. With `baseline`, `threshold` is an absolute floor that must be crossed too.
  std::optional<BaselineSpec> baseline;
  std::optional<MinSamplesSpec> min_samples;
  // With `test` the rule has no query of its own: the test judges (`query` is empty, the
  // comparison is `above` and `threshold` is the test's max_ratio, so the rule's value, the
  // estimated error-rate ratio canary/baseline, reads against it).
  std::optional<TestConfig> test;
  // With `slo` the rule's value is the first window pair's long-window burn rate and `threshold`
  // that pair's burn_rate (comparison above); `query` is the first long window's query.
  std::optional<SloSpec> slo;
  Duration delay{0};
  Missing missing = Missing::kHold;
  std::string severity = "sev2";
  RuleAction action = RuleAction::kRollback;
  std::string stage_override;  // the stage whose override applied, "" if none
  int line = 0;                // where the rule starts in the file (1-based)
};

// The rule's PromQL as a person reads it in a decision, a report or a notification: its query, or
// for a rule with `test` one "key: query" line per counter.
std::string queries_text(const RuleConfig& rule);

// A PromQL condition: `query` compared against `threshold`.
struct QueryCondition {
  std::string query;  // templated
  Comparison comparison = Comparison::kAbove;
  double threshold = 0;
  bool holds(double value) const { return breaches(comparison, value, threshold); }
};

}  // namespace rs::sidecar
