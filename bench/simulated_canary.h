// The simulated canary of bench/decision_quality (and its live pass, decision_quality_live): a
// canary and a baseline (stable) version, Poisson requests per 5-s evaluation, binomial errors
// (fixed seeds), and the judges compared, each a RuleJudge + RuleTracker as the engine runs them.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "sidecar/policy/judges.h"
#include "sidecar/policy/rule_judge.h"
#include "sidecar/policy/rule_tracker.h"
#include "sidecar/policy/sequential_test.h"

namespace rs::bench::sim {

using namespace rs::sidecar;
using namespace std::chrono_literals;

constexpr int kStepSeconds = 5;
constexpr int kWindowSteps = 12;  // 1m
constexpr double kBaselineP = 0.01;
constexpr double kBaselineTrafficFactor = 9;

// What the queries would return at one evaluation.
struct Snapshot {
  double canary_errors = 0, canary_total = 0, baseline_errors = 0, baseline_total = 0;                  // counters
  double win_canary_errors = 0, win_canary_total = 0, win_baseline_errors = 0, win_baseline_total = 0;  // 1m
};

inline Observation ratio(double errors, double total) {
  if (total <= 0) return Observation::no_data("no requests in the window");
  return Observation::of_value(errors / total);
}

// One judge: a rule as the config loader would make it, judged by RuleJudge and tracked by
// RuleTracker, exactly as the engine does each evaluation (the same classes, not a copy).
class Judge {
 public:
  explicit Judge(const RuleConfig& rule) : judge_(rule), tracker_(rule) {}
  // True when this evaluation decides a rollback.
  bool step(const Snapshot& s, rs::WallTime now) {
    RuleAnswers a;
    a.value = ratio(s.win_canary_errors, s.win_canary_total);
    a.baseline = ratio(s.win_baseline_errors, s.win_baseline_total);
    a.min_samples = Observation::of_value(s.win_canary_total);  // requests in the rule's 1m window
    a.counters = {Observation::of_value(s.canary_errors), Observation::of_value(s.canary_total),
                  Observation::of_value(s.baseline_errors), Observation::of_value(s.baseline_total)};
    const RuleStatus& st = tracker_.observe(judge_.judge(a), now);
    insufficient_ = st.state == RuleState::kInsufficient;
    return st.actionable;
  }
  // True while the judge says it has too few samples.
  bool insufficient() const { return insufficient_; }

 private:
  RuleJudge judge_;
  RuleTracker tracker_;
  bool insufficient_ = false;
};

inline RuleConfig rule_config(Duration for_duration, std::optional<BreachesSpec> breaches) {
  RuleConfig r;
  r.name = "errors";
  r.query = "error ratio over 1m";
  r.threshold = 0.05;
  r.for_duration = for_duration;
  r.breaches = breaches;
  return r;
}

inline const char* const kJudgeNames[] = {
    "threshold `> 5% for 5m`", "threshold + `min_samples: 100` + `breaches: \"6 of 10\"`",
    "`baseline` (x2 and +1 pt, min_samples 100, for 1m)", "`sequential-binomial` (false_rollback_rate 0.01)"};
constexpr int kJudges = 4;

inline std::vector<std::unique_ptr<Judge>> make_judges() {
  std::vector<std::unique_ptr<Judge>> j;
  j.push_back(std::make_unique<Judge>(rule_config(5min, std::nullopt)));
  RuleConfig guarded = rule_config(0s, BreachesSpec{6, 10});
  guarded.min_samples = MinSamplesSpec{"requests over 1m", 100};
  j.push_back(std::make_unique<Judge>(guarded));
  RuleConfig baseline = rule_config(1min, std::nullopt);
  baseline.threshold = 0;  // no absolute floor: canary vs baseline only
  baseline.baseline = BaselineSpec{"baseline error ratio over 1m", 2.0, 0.01};
  baseline.min_samples = MinSamplesSpec{"requests over 1m", 100};
  j.push_back(std::make_unique<Judge>(baseline));
  RuleConfig sequential = rule_config(0s, std::nullopt);
  sequential.query.clear();
  sequential.threshold = 1;  // max_ratio, as the loader sets it
  sequential.test = TestConfig{TestType::kSequentialBinomial, SequentialTestSpec{}, {"ce", "ct", "be", "bt"}};
  j.push_back(std::make_unique<Judge>(sequential));
  return j;
}

// Simulated traffic: per 5-s interval, Poisson requests per version and binomial errors.
class World {
 public:
  World(std::uint64_t seed, double canary_rps)
      : rng_(seed), canary_(canary_rps * kStepSeconds), baseline_(canary_rps * kBaselineTrafficFactor * kStepSeconds) {
    // Counters of long-running processes: the baseline's counter does not start at zero.
    snap_.baseline_total = 1e6;
    snap_.baseline_errors = 1e4;
  }
  const Snapshot& step(double canary_p) {
    double n = static_cast<double>(canary_(rng_)), m = static_cast<double>(baseline_(rng_));
    double e = static_cast<double>(std::binomial_distribution<long>(static_cast<long>(n), canary_p)(rng_));
    double f = static_cast<double>(std::binomial_distribution<long>(static_cast<long>(m), kBaselineP)(rng_));
    snap_.canary_errors += e;
    snap_.canary_total += n;
    snap_.baseline_errors += f;
    snap_.baseline_total += m;
    ring_[pos_] = {e, n, f, m};
    pos_ = (pos_ + 1) % kWindowSteps;
    snap_.win_canary_errors = snap_.win_canary_total = snap_.win_baseline_errors = snap_.win_baseline_total = 0;
    for (const auto& r : ring_) {
      snap_.win_canary_errors += r[0];
      snap_.win_canary_total += r[1];
      snap_.win_baseline_errors += r[2];
      snap_.win_baseline_total += r[3];
    }
    return snap_;
  }

 private:
  std::mt19937_64 rng_;
  std::poisson_distribution<long> canary_, baseline_;
  Snapshot snap_;
  std::array<std::array<double, 4>, kWindowSteps> ring_{};
  int pos_ = 0;
};

}  // namespace rs::bench::sim
