// One rule's judges together: its query's answers at one evaluation in, the observation its
// RuleTracker takes out. The live loop (Engine) and the backtest (app/backtest) both judge
// through this class, so a replay of history decides exactly as the sidecar would have.
// Pure: no I/O, no clock; the caller reduces each query's series (observe_series) and supplies
// them. Owns the rule's sequential test (`test:`), whose state the caller persists.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/policy/judges.h"
#include "sidecar/policy/rule.h"
#include "sidecar/policy/rule_tracker.h"
#include "sidecar/policy/sequential_test.h"

namespace rs::sidecar {

// How the series one query returned become one observation.
enum class SeriesReduction {
  kWorst,    // the rule's own query: the worst series (worst_series); none -> no data
  kSum,      // a sample count (min_samples): the sum of the series; none -> no data
  kSingle,   // a baseline: exactly one series; none -> no data; several -> error bad_value
  kCounter,  // a test's counter: exactly one series; none -> 0 (nothing counted yet);
             // several -> error bad_value; NaN -> error bad_value
};
// `values`: one number per series (NaN where a series had no number).
Observation observe_series(const std::vector<double>& values, SeriesReduction reduction, Comparison comparison);

// The answers of one rule's queries at one evaluation, as observe_series made them.
struct RuleAnswers {
  Observation value;                       // the rule's query (a rule with `test` has none)
  std::optional<Observation> baseline;     // when the rule has `baseline`
  std::optional<Observation> min_samples;  // when the rule has `min_samples`
  std::array<Observation, 4> counters{};   // with `test`: in the order of rule.test->queries
  // With `slo`: per rule.slo->windows entry, the error ratio over its long and its short window.
  std::vector<std::pair<Observation, Observation>> windows;

  // Whether any answer is an error (a failed query, or a series the reduction refused): an error
  // the judge returns without one is the judge's own (bad data).
  bool any_error() const;
};

// Contract:
// - judge() is called once per evaluation, in time order; it returns what RuleTracker::observe
//   takes: the plain value (threshold rules: the tracker compares), or a judged value with the
//   judges' evidence, insufficient, no data, or an error.
// - A query error in any answer -> an error observation (the rule holds; never healthy, never a
//   breach). Bad data the judges refuse (a negative value for a ratio, counters that are not
//   whole numbers, errors above requests) -> an error with reason "bad_data" or "bad_value";
//   a sequential test's state does not change then.
// - With `test`, the value is the estimated error-rate ratio canary/baseline and the test's
//   verdict decides: fail -> breach (latched by the test), pass/undecided -> not a breach,
//   insufficient -> insufficient.
// - With `slo`, the value is the first window pair's long-window burn rate; the rule breaches while
//   any pair burns (judge_burn_rate).
class RuleJudge {
 public:
  explicit RuleJudge(const RuleConfig& rule);
  RuleJudge(RuleJudge&&) noexcept;
  RuleJudge& operator=(RuleJudge&&) noexcept;
  ~RuleJudge();

  Observation judge(const RuleAnswers& answers);

  bool has_test() const { return rule_.test.has_value(); }
  // The sequential test's state (to_json(SequentialTestState)); null without a test.
  nlohmann::json test_state() const;
  // Continues a persisted test. False (and *error) when the state is malformed or was taken
  // with another max_ratio; the test is then unchanged (it starts afresh).
  bool restore_test(const nlohmann::json& state, std::string* error);
  // The test's verdict (kInsufficient without a test).
  SequentialVerdict test_verdict() const;

 private:
  Observation judge_test(const std::array<Observation, 4>& counters);

  RuleConfig rule_;
  std::unique_ptr<SequentialBinomialTest> binomial_;    // test type sequential-binomial
  std::unique_ptr<SequentialHistogramTest> histogram_;  // test type sequential-histogram
};

}  // namespace rs::sidecar
