// RuleTracker over sequences of observations (DESIGN §5): `for`, reset, `missing`, errors,
// `delay`, held time. One table row per behaviour.
#include <gtest/gtest.h>

#include <cmath>

#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {
namespace {

// One evaluation: time in seconds since start, and what was seen: a number, "nodata" or "error".
struct Step {
  double at;
  std::string seen;
  std::string expect_state;
  bool expect_actionable = false;
};

struct Case {
  std::string name;
  RuleConfig rule;
  std::vector<Step> steps;
};

RuleConfig rule(Duration for_duration, Missing missing = Missing::kHold, Duration delay = Duration{0},
                Comparison comparison = Comparison::kAbove) {
  RuleConfig r;
  r.name = "errors";
  r.threshold = 0.05;
  r.comparison = comparison;
  r.for_duration = for_duration;
  r.missing = missing;
  r.delay = delay;
  return r;
}

Observation seen(const std::string& what) {
  if (what == "nodata") return Observation::no_data("empty result");
  if (what == "error") return Observation::error("timeout", "query timed out");
  return Observation::of_value(std::stod(what));
}

using namespace std::chrono_literals;

class RuleTrackerTable : public ::testing::TestWithParam<Case> {};

TEST_P(RuleTrackerTable, FollowsTheContract) {
  const Case& c = GetParam();
  RuleTracker tracker(c.rule);
  const WallTime start = WallTime(std::chrono::hours(480000));
  for (const auto& step : c.steps) {
    const auto& s =
        tracker.observe(seen(step.seen), start + std::chrono::milliseconds(static_cast<long>(step.at * 1000)));
    EXPECT_EQ(rule_state_name(s.state), step.expect_state) << "at " << step.at << "s seeing " << step.seen;
    EXPECT_EQ(s.actionable, step.expect_actionable) << "at " << step.at << "s seeing " << step.seen;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, RuleTrackerTable,
    ::testing::Values(
        Case{"ForNeedsEveryEvaluationToBreach",
             rule(3s),
             {{0, "0.1", "pending"}, {1, "0.1", "pending"}, {2, "0.1", "pending"}, {3, "0.1", "firing", true}}},
        Case{"OneGoodEvaluationResets",
             rule(3s),
             {{0, "0.1", "pending"},
              {1, "0.1", "pending"},
              {2, "0.01", "ok"},
              {3, "0.1", "pending"},
              {5, "0.1", "pending"},
              {6, "0.1", "firing", true}}},
        Case{"ZeroForFiresAtOnce", rule(0s), {{0, "0.1", "firing", true}, {1, "0.01", "ok"}}},
        Case{"EqualToTheThresholdIsNotABreach", rule(0s), {{0, "0.05", "ok"}}},
        Case{"BelowRulesBreachUnderTheThreshold",
             rule(0s, Missing::kHold, 0s, Comparison::kBelow),
             {{0, "0.1", "ok"}, {1, "0.01", "firing", true}}},
        Case{"InfinityIsABreach", rule(0s), {{0, "inf", "firing", true}}},
        Case{"MissingHoldKeepsStateAndStopsTheClock",
             rule(3s, Missing::kHold),
             {{0, "0.1", "pending"},
              {1, "nodata", "nodata"},
              {5, "nodata", "nodata"},
              {6, "0.1", "pending"},
              // 6 s since the first breach, 5 s of it held: 1 s of evidence so far.
              {7, "0.1", "pending"},
              {8, "0.1", "firing", true}}},
        Case{"MissingBreachCountsAsBad",
             rule(2s, Missing::kBreach),
             {{0, "nodata", "pending"}, {1, "nodata", "pending"}, {2, "nodata", "firing", true}}},
        Case{"MissingOkResets",
             rule(2s, Missing::kOk),
             {{0, "0.1", "pending"}, {1, "nodata", "ok"}, {2, "0.1", "pending"}}},
        Case{"QueryErrorsNeverHealNorFire",
             rule(0s, Missing::kBreach),
             {{0, "error", "nodata"}, {1, "error", "nodata"}, {2, "error", "nodata"}}},
        // Held from the error (1 s) to the next breach (2 s): at 3 s there are 2 s of evidence.
        Case{"AnErrorDuringPendingHolds",
             rule(2s),
             {{0, "0.1", "pending"}, {1, "error", "nodata"}, {2, "0.1", "pending"}, {3, "0.1", "firing", true}}},
        Case{"DelayWaitsThenRechecks",
             rule(0s, Missing::kHold, 2s),
             {{0, "0.1", "firing"}, {1, "0.1", "firing"}, {2, "0.1", "firing", true}}},
        Case{"DelayRecheckFailsWhenTheValueRecovered",
             rule(0s, Missing::kHold, 2s),
             {{0, "0.1", "firing"}, {2, "0.01", "ok"}, {3, "0.1", "firing"}}},
        Case{"BelowEqualToTheThresholdIsNotABreach",
             rule(0s, Missing::kHold, 0s, Comparison::kBelow),
             {{0, "0.05", "ok"}, {1, "0.0499", "firing", true}}},
        Case{"JustAboveTheThresholdIsABreach", rule(0s), {{0, "0.0500001", "firing", true}}},
        Case{"NegativeInfinityBreachesABelowRule",
             rule(0s, Missing::kHold, 0s, Comparison::kBelow),
             {{0, "-inf", "firing", true}}},
        Case{"ForThenDelay",
             rule(2s, Missing::kHold, 1s),
             {{0, "0.1", "pending"}, {1, "0.1", "pending"}, {2, "0.1", "firing"}, {3, "0.1", "firing", true}}},
        Case{"ForCountsFromTheFirstBreachNotFromTheFirstEvaluation",
             rule(2s),
             {{0, "0.01", "ok"},
              {1, "0.01", "ok"},
              {2, "0.1", "pending"},
              {3, "0.1", "pending"},
              {4, "0.1", "firing", true}}},
        Case{"NoDataBeforeAnyBreachHoldsNothing",
             rule(1s, Missing::kHold),
             {{0, "nodata", "nodata"}, {1, "0.01", "ok"}, {2, "0.1", "pending"}, {3, "0.1", "firing", true}}},
        Case{"MissingBreachThenAGoodValueResets",
             rule(1s, Missing::kBreach),
             {{0, "nodata", "pending"}, {1, "0.01", "ok"}, {2, "nodata", "pending"}, {3, "0.1", "firing", true}}},
        Case{"AnErrorWhileFiringIsNeverActionable",
             rule(0s),
             {{0, "0.1", "firing", true}, {1, "error", "nodata"}, {2, "0.1", "firing", true}}},
        Case{"ALongOutageDoesNotFireAtOnceAfterwards",
             rule(3s, Missing::kHold),
             {{0, "0.1", "pending"},
              {1, "error", "nodata"},
              {600, "nodata", "nodata"},
              {601, "0.1", "pending"},
              {602, "0.1", "pending"},
              {603, "0.1", "firing", true}}}),
    [](const ::testing::TestParamInfo<Case>& row) { return row.param.name; });

TEST(RuleTracker, KeepsTheEpisodeTimesAndTheLastValue) {
  RuleTracker tracker(rule(2s));
  const WallTime t0 = WallTime(std::chrono::hours(480000));
  tracker.observe(Observation::of_value(0.2), t0);
  tracker.observe(Observation::of_value(0.3), t0 + 1s);
  const auto& s = tracker.observe(Observation::of_value(0.4), t0 + 2s);
  EXPECT_EQ(s.pending_since, t0);
  EXPECT_EQ(s.firing_since, t0 + 2s);
  ASSERT_TRUE(s.value);
  EXPECT_DOUBLE_EQ(*s.value, 0.4);
  const auto& after_error = tracker.observe(Observation::error("timeout", "query timed out after 2s"), t0 + 3s);
  EXPECT_FALSE(after_error.value);
  EXPECT_NE(after_error.last_problem.find("timed out"), std::string::npos) << after_error.last_problem;
  EXPECT_FALSE(after_error.actionable) << "an error is never a reason to act";
}

}  // namespace
}  // namespace rs::sidecar
