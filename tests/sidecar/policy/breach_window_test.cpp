// `breaches: "M of N"`: parsing, the window, and RuleTracker with a window instead of `for`.
#include <gtest/gtest.h>

#include "sidecar/policy/breach_window.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

struct ParseCase {
  std::string text;
  int m = 0, n = 0;       // expected when valid
  std::string error_has;  // expected in the error when invalid ("" = valid)
};

class ParseBreaches : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseBreaches, AcceptsMOfNAndNamesWhatIsWrong) {
  const auto& c = GetParam();
  std::string error;
  auto spec = parse_breaches(c.text, &error);
  if (c.error_has.empty()) {
    ASSERT_TRUE(spec) << c.text << ": " << error;
    EXPECT_EQ(spec->m, c.m);
    EXPECT_EQ(spec->n, c.n);
    EXPECT_EQ(format_breaches(*spec), std::to_string(c.m) + " of " + std::to_string(c.n));
  } else {
    EXPECT_FALSE(spec) << c.text;
    EXPECT_NE(error.find(c.error_has), std::string::npos) << c.text << " -> " << error;
    EXPECT_NE(error.find("1 <= M <= N <= 100"), std::string::npos) << error;
    EXPECT_NE(error.find("\"" + c.text + "\""), std::string::npos) << error;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Texts, ParseBreaches,
    ::testing::Values(
        ParseCase{"3 of 5", 3, 5, ""}, ParseCase{"1 of 1", 1, 1, ""}, ParseCase{"100 of 100", 100, 100, ""},
        ParseCase{"  2  OF  4 ", 2, 4, ""}, ParseCase{"6 of 5", 0, 0, "M (6) is larger than N (5)"},
        ParseCase{"0 of 5", 0, 0, "M must be at least 1"}, ParseCase{"3 of 101", 0, 0, "N (101) is larger than 100"},
        ParseCase{"3/5", 0, 0, "expected \"M of N\""}, ParseCase{"3of5", 0, 0, "expected \"M of N\""},
        ParseCase{"", 0, 0, "expected a number M"}, ParseCase{"-1 of 5", 0, 0, "expected a number M"},
        ParseCase{"3 of", 0, 0, "expected a number N"}, ParseCase{"3 of 5 evaluations", 0, 0, "unexpected text"},
        ParseCase{"2.5 of 5", 0, 0, "expected \"M of N\""}, ParseCase{"99999999 of 5", 0, 0, "expected a number M"}));

TEST(BreachWindow, CountsTheLastNDatapoints) {
  BreachWindow w({2, 3});
  w.add(true);
  EXPECT_FALSE(w.firing());
  w.add(false);
  w.add(true);
  EXPECT_TRUE(w.firing());  // T F T
  w.add(false);             // F T F
  EXPECT_FALSE(w.firing());
  EXPECT_EQ(w.breached(), 1);
  EXPECT_EQ(w.datapoints(), 3);
  w.add(true);  // T F T
  EXPECT_TRUE(w.firing());
  w.clear();
  EXPECT_EQ(w.breached(), 0);
  EXPECT_EQ(w.datapoints(), 0);
}

struct Step {
  double at;
  std::string seen;  // a number, "nodata", "error", "insufficient"
  std::string expect_state;
  bool expect_actionable = false;
};

struct Case {
  std::string name;
  RuleConfig rule;
  std::vector<Step> steps;
};

RuleConfig windowed(int m, int n, Missing missing = Missing::kHold, Duration delay = Duration{0}) {
  RuleConfig r;
  r.name = "errors";
  r.threshold = 0.05;
  r.breaches = BreachesSpec{m, n};
  r.for_duration = 1h;  // ignored with breaches
  r.missing = missing;
  r.delay = delay;
  return r;
}

Observation seen(const std::string& what) {
  if (what == "nodata") return Observation::no_data("empty result");
  if (what == "error") return Observation::error("timeout", "query timed out");
  if (what == "insufficient") return Observation::insufficient("12 samples, fewer than min_samples 100");
  return Observation::of_value(std::stod(what));
}

class WindowedTracker : public ::testing::TestWithParam<Case> {};

TEST_P(WindowedTracker, FollowsTheContract) {
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
    Rules, WindowedTracker,
    ::testing::Values(
        Case{"ThreeOfFiveFiresOnTheThirdBreachEvenWithGoodOnesBetween",
             windowed(3, 5),
             {{0, "0.1", "pending"},
              {5, "0.01", "pending"},
              {10, "0.1", "pending"},
              {15, "0.01", "pending"},
              {20, "0.1", "firing", true}}},
        Case{"OldBreachesLeaveTheWindow",
             windowed(2, 3),
             {{0, "0.1", "pending"},
              {5, "0.01", "pending"},
              {10, "0.01", "pending"},
              {15, "0.01", "ok"},
              {20, "0.1", "pending"}}},
        Case{"FiringEndsWhenFewerThanMRemain",
             windowed(2, 3),
             {{0, "0.1", "pending"},
              {5, "0.1", "firing", true},
              {10, "0.01", "firing", true},
              {15, "0.01", "pending"},
              {20, "0.01", "ok"}}},
        Case{"OneOfOneIsAPlainThreshold", windowed(1, 1), {{0, "0.1", "firing", true}, {5, "0.01", "ok"}}},
        Case{"ErrorsAreNotDatapoints",
             windowed(2, 2),
             {{0, "0.1", "pending"}, {5, "error", "nodata"}, {10, "error", "nodata"}, {15, "0.1", "firing", true}}},
        Case{"NoDataHeldIsNotADatapoint",
             windowed(2, 2, Missing::kHold),
             {{0, "0.1", "pending"}, {5, "nodata", "nodata"}, {10, "0.1", "firing", true}}},
        Case{"NoDataAsBreachIsABreachedDatapoint",
             windowed(2, 3, Missing::kBreach),
             {{0, "nodata", "pending"}, {5, "nodata", "firing", true}}},
        Case{"NoDataAsOkIsAGoodDatapoint",
             windowed(2, 2, Missing::kOk),
             {{0, "0.1", "pending"}, {5, "nodata", "pending"}, {10, "0.1", "pending"}, {15, "0.1", "firing", true}}},
        Case{"InsufficientIsNotADatapointAndShowsItself",
             windowed(2, 3),
             {{0, "insufficient", "insufficient"},
              {5, "0.1", "pending"},
              {10, "insufficient", "insufficient"},
              {15, "0.1", "firing", true}}},
        Case{"DelayCountsFromFiringAndRechecksMOfN",
             windowed(2, 3, Missing::kHold, 10s),
             {{0, "0.1", "pending"}, {5, "0.1", "firing"}, {10, "0.01", "firing"}, {15, "0.1", "firing", true}}},
        Case{"DelayRecheckFailsWhenNoLongerMOfN",
             windowed(2, 2, Missing::kHold, 10s),
             {{0, "0.1", "pending"},
              {5, "0.1", "firing"},
              {15, "0.01", "pending"},
              {20, "0.1", "pending"},
              {25, "0.1", "firing"},
              {35, "0.1", "firing", true}}}),
    [](const ::testing::TestParamInfo<Case>& row) { return row.param.name; });

TEST(WindowedTracker, ShowsTheWindowAndKeepsTheEpisode) {
  RuleTracker tracker(windowed(2, 4));
  const WallTime t0 = WallTime(std::chrono::hours(480000));
  tracker.observe(Observation::of_value(0.2), t0);
  tracker.observe(Observation::of_value(0.01), t0 + 5s);
  const auto& s = tracker.observe(Observation::of_value(0.3), t0 + 10s);
  EXPECT_EQ(s.window_breached, 2);
  EXPECT_EQ(s.window_datapoints, 3);
  EXPECT_EQ(s.pending_since, t0);
  EXPECT_EQ(s.firing_since, t0 + 10s);
}

TEST(RuleTrackerWithFor, InsufficientHoldsLikeNoDataAndStopsTheClock) {
  RuleConfig r;
  r.name = "errors";
  r.threshold = 0.05;
  r.for_duration = 10s;
  RuleTracker tracker(r);
  const WallTime t0 = WallTime(std::chrono::hours(480000));
  EXPECT_EQ(tracker.observe(Observation::of_value(0.1), t0).state, RuleState::kPending);
  const auto& s = tracker.observe(Observation::insufficient("3 samples"), t0 + 5s);
  EXPECT_EQ(s.state, RuleState::kInsufficient);
  EXPECT_FALSE(s.actionable);
  EXPECT_EQ(s.last_problem, "3 samples");
  // 600 s insufficient do not count toward `for`.
  EXPECT_EQ(tracker.observe(Observation::insufficient("3 samples"), t0 + 600s).state, RuleState::kInsufficient);
  EXPECT_EQ(tracker.observe(Observation::of_value(0.1), t0 + 605s).state, RuleState::kPending);
  EXPECT_EQ(tracker.observe(Observation::of_value(0.1), t0 + 615s).state, RuleState::kFiring);
}

TEST(RuleTrackerWithFor, AJudgedValueOverridesTheThreshold) {
  RuleConfig r;
  r.name = "errors";
  r.threshold = 0.05;
  RuleTracker tracker(r);
  const WallTime t0 = WallTime(std::chrono::hours(480000));
  // 0.01 is under the threshold, but a baseline judge said breach (and carries its evidence).
  const auto& s = tracker.observe(Observation::judged(0.01, true, {{"baseline", 0.001}}), t0);
  EXPECT_EQ(s.state, RuleState::kFiring);
  EXPECT_EQ(s.evidence["baseline"], 0.001);
  EXPECT_EQ(tracker.observe(Observation::judged(0.9, false, nullptr), t0 + 5s).state, RuleState::kOk);
}

}  // namespace
}  // namespace rs::sidecar
