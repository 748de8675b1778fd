// RuleJudge (one rule's judges together) and observe_series (a query's series to one
// observation): one table row per rule of the contract in sidecar/policy/rule_judge.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "sidecar/policy/rule_judge.h"

namespace rs::sidecar {
namespace {

const double kNaN = std::nan("");

struct SeriesCase {
  std::string name;
  std::vector<double> values;
  SeriesReduction reduction;
  Observation::Kind expect;
  double value = 0;           // when expect is kValue
  std::string message_has{};  // when not a value
};

class Series : public ::testing::TestWithParam<SeriesCase> {};

TEST_P(Series, ReduceToOneObservation) {
  const auto& c = GetParam();
  const Observation o = observe_series(c.values, c.reduction, Comparison::kAbove);
  ASSERT_EQ(static_cast<int>(o.kind), static_cast<int>(c.expect)) << o.error_message;
  if (c.expect == Observation::Kind::kValue) {
    EXPECT_DOUBLE_EQ(o.value, c.value);
  } else {
    EXPECT_NE(o.error_message.find(c.message_has), std::string::npos) << o.error_message;
  }
  if (c.expect == Observation::Kind::kError) {
    EXPECT_EQ(o.error_reason, "bad_value");
  }
}

using K = Observation::Kind;
INSTANTIATE_TEST_SUITE_P(
    Rows, Series,
    ::testing::Values(
        SeriesCase{"WorstOfSeveral", {0.1, 0.3, kNaN}, SeriesReduction::kWorst, K::kValue, 0.3},
        SeriesCase{"WorstOfNone", {}, SeriesReduction::kWorst, K::kNoData, 0, "empty result"},
        SeriesCase{"WorstAllNaN", {kNaN}, SeriesReduction::kWorst, K::kNoData, 0, "NaN"},
        SeriesCase{"SumOfSeveral", {1, 2, 3}, SeriesReduction::kSum, K::kValue, 6},
        SeriesCase{"SumOfNone", {}, SeriesReduction::kSum, K::kNoData, 0, "empty"},
        SeriesCase{"SingleOne", {0.02}, SeriesReduction::kSingle, K::kValue, 0.02},
        SeriesCase{"SingleNone", {}, SeriesReduction::kSingle, K::kNoData, 0, "empty"},
        SeriesCase{"SingleNaN", {kNaN}, SeriesReduction::kSingle, K::kNoData, 0, "NaN"},
        SeriesCase{"SingleSeveralIsBad", {0.1, 0.2}, SeriesReduction::kSingle, K::kError, 0, "returned 2 series"},
        SeriesCase{"CounterOne", {42}, SeriesReduction::kCounter, K::kValue, 42},
        SeriesCase{"CounterNoneIsZero", {}, SeriesReduction::kCounter, K::kValue, 0},
        SeriesCase{"CounterNaNIsBad", {kNaN}, SeriesReduction::kCounter, K::kError, 0, "NaN"},
        SeriesCase{"CounterSeveralIsBad", {1, 2, 3}, SeriesReduction::kCounter, K::kError, 0, "wrap it in sum()"}),
    [](const ::testing::TestParamInfo<SeriesCase>& row) { return row.param.name; });

RuleConfig threshold_rule() {
  RuleConfig r;
  r.name = "errors";
  r.query = "q";
  r.threshold = 0.05;
  return r;
}

RuleConfig test_rule(TestType type = TestType::kSequentialBinomial) {
  RuleConfig r;
  r.name = "seq";
  r.threshold = 1;
  TestConfig t;
  t.type = type;
  t.spec.latency_bound = type == TestType::kSequentialHistogram ? 0.5 : 0;
  t.queries = {"a", "b", "c", "d"};
  r.test = t;
  return r;
}

RuleAnswers counters(double ce, double ct, double be, double bt) {
  RuleAnswers a;
  a.counters = {Observation::of_value(ce), Observation::of_value(ct), Observation::of_value(be),
                Observation::of_value(bt)};
  return a;
}

TEST(RuleJudge, AThresholdRulePassesItsValueThroughForTheTrackerToCompare) {
  RuleJudge judge(threshold_rule());
  RuleAnswers a;
  a.value = Observation::of_value(0.07);
  const Observation o = judge.judge(a);
  EXPECT_EQ(o.kind, Observation::Kind::kValue);
  EXPECT_DOUBLE_EQ(o.value, 0.07);
  EXPECT_FALSE(o.judged_breach.has_value());
  EXPECT_FALSE(judge.has_test());
  EXPECT_TRUE(judge.test_state().is_null());
}

TEST(RuleJudge, BaselineAndMinSamplesJudgeTogether) {
  RuleConfig r = threshold_rule();
  r.threshold = 0;
  r.baseline = BaselineSpec{"b", 2, 0.01};
  r.min_samples = MinSamplesSpec{"n", 100};
  RuleJudge judge(r);
  RuleAnswers a;
  a.value = Observation::of_value(0.08);
  a.baseline = Observation::of_value(0.01);
  a.min_samples = Observation::of_value(500);
  Observation o = judge.judge(a);
  ASSERT_TRUE(o.judged_breach.has_value());
  EXPECT_TRUE(*o.judged_breach);
  EXPECT_EQ(o.evidence["min_samples"]["samples"], 500);

  a.min_samples = Observation::of_value(20);  // too few: insufficient, whatever the comparison says
  o = judge.judge(a);
  EXPECT_EQ(o.kind, Observation::Kind::kInsufficient);

  a.min_samples = Observation::of_value(500);
  a.baseline = Observation::error("bad_value", "baseline query returned 2 series");
  o = judge.judge(a);
  EXPECT_EQ(o.kind, Observation::Kind::kError);
  EXPECT_EQ(o.error_reason, "bad_value");
}

TEST(RuleJudge, ASequentialTestIsInsufficientThenFailsOnAClearRegression) {
  RuleJudge judge(test_rule());
  EXPECT_TRUE(judge.has_test());
  Observation o = judge.judge(counters(0, 0, 0, 0));  // the zero point
  EXPECT_EQ(o.kind, Observation::Kind::kInsufficient);
  EXPECT_EQ(o.evidence["verdict"], "insufficient");
  EXPECT_NE(o.error_message.find("needs"), std::string::npos) << o.error_message;
  // Canary 10% errors against baseline 1%, equal traffic: strong evidence within a few intervals.
  double ce = 0, ct = 0, be = 0, bt = 0;
  for (int i = 0; i < 60 && !(o.judged_breach && *o.judged_breach); ++i) {
    ce += 10, ct += 100, be += 1, bt += 100;
    o = judge.judge(counters(ce, ct, be, bt));
  }
  ASSERT_EQ(o.kind, Observation::Kind::kValue) << o.error_message;
  ASSERT_TRUE(o.judged_breach.has_value());
  EXPECT_TRUE(*o.judged_breach);
  EXPECT_EQ(o.evidence["verdict"], "fail");
  EXPECT_GE(o.evidence["e_value"].get<double>(), 100.0);
  EXPECT_NEAR(o.value, 10.0, 5.0);  // the estimated ratio of error rates
  EXPECT_NE(o.evidence["reason"].get<std::string>().find("worse than max_ratio 1"), std::string::npos);
  EXPECT_EQ(judge.test_verdict(), SequentialVerdict::kFail);
}

TEST(RuleJudge, AHealthyCanaryIsNotABreachAndMayPass) {
  RuleJudge judge(test_rule());
  Observation o = judge.judge(counters(0, 0, 0, 0));
  double ce = 0, ct = 0, be = 0, bt = 0;
  for (int i = 0; i < 200; ++i) {
    ce += 5, ct += 1000, be += 45, bt += 9000;
    o = judge.judge(counters(ce, ct, be, bt));
    ASSERT_FALSE(o.judged_breach && *o.judged_breach) << "step " << i << ": " << o.evidence.dump();
  }
  EXPECT_EQ(o.evidence["verdict"], "pass");
  EXPECT_NE(o.evidence["reason"].get<std::string>().find("passed"), std::string::npos);
}

TEST(RuleJudge, CounterErrorsHoldAndBadDataNeverDecides) {
  RuleJudge judge(test_rule());
  judge.judge(counters(0, 0, 0, 0));
  const nlohmann::json before = judge.test_state();

  RuleAnswers a = counters(1, 10, 1, 10);
  a.counters[1] = Observation::error("timeout", "query timed out");
  Observation o = judge.judge(a);
  EXPECT_EQ(o.kind, Observation::Kind::kError);
  EXPECT_EQ(o.error_reason, "timeout");
  EXPECT_NE(o.error_message.find("canary_total query failed"), std::string::npos) << o.error_message;
  EXPECT_EQ(judge.test_state(), before);

  for (const auto& bad : {counters(1.5, 10, 1, 10), counters(-1, 10, 1, 10), counters(20, 10, 1, 10)}) {
    o = judge.judge(bad);
    EXPECT_EQ(o.kind, Observation::Kind::kError);
    EXPECT_EQ(o.error_reason, "bad_data");
    EXPECT_NE(o.error_message.find("sequential-binomial"), std::string::npos) << o.error_message;
    EXPECT_EQ(judge.test_state(), before);
  }
  // A series-level problem (several series) arrives as an error and is passed on, state unchanged.
  a = counters(1, 10, 1, 10);
  a.counters[2] = observe_series({1, 2}, SeriesReduction::kCounter, Comparison::kAbove);
  o = judge.judge(a);
  EXPECT_EQ(o.error_reason, "bad_value");
  EXPECT_EQ(judge.test_state(), before);
}

TEST(RuleJudge, NoDataCountersCountAsZero) {
  RuleJudge judge(test_rule());
  RuleAnswers a = counters(0, 0, 0, 0);
  a.counters[0] = Observation::no_data("query returned an empty result");
  EXPECT_EQ(judge.judge(a).kind, Observation::Kind::kInsufficient);
  a = counters(0, 100, 3, 900);
  a.counters[0] = Observation::no_data("query returned an empty result");  // no 5xx series: zero errors
  const Observation o = judge.judge(a);
  EXPECT_EQ(o.evidence["canary_total"], 100);
  EXPECT_EQ(o.evidence["canary_errors"], 0);
}

TEST(RuleJudge, RestoredStateContinuesTheSameTest) {
  RuleJudge first(test_rule());
  first.judge(counters(0, 0, 0, 0));
  first.judge(counters(4, 100, 1, 100));
  RuleJudge second(test_rule());
  std::string why;
  ASSERT_TRUE(second.restore_test(first.test_state(), &why)) << why;
  const Observation a = first.judge(counters(9, 200, 2, 200));
  const Observation b = second.judge(counters(9, 200, 2, 200));
  EXPECT_EQ(a.evidence, b.evidence);

  RuleConfig other = test_rule();
  other.test->spec.max_ratio = 1.5;
  other.test->spec.pass_ratio = 2;
  RuleJudge foreign(other);
  EXPECT_FALSE(foreign.restore_test(first.test_state(), &why));
  EXPECT_NE(why.find("max_ratio"), std::string::npos) << why;
  EXPECT_FALSE(foreign.restore_test(nlohmann::json::object(), &why));
  EXPECT_FALSE(RuleJudge(threshold_rule()).restore_test(first.test_state(), &why));
}

TEST(RuleJudge, AHistogramTestCountsSlowRequests) {
  RuleJudge judge(test_rule(TestType::kSequentialHistogram));
  judge.judge(counters(0, 0, 0, 0));
  // within, count: canary 50% slow, baseline 1% slow.
  Observation o;
  double cw = 0, cc = 0, bw = 0, bc = 0;
  for (int i = 0; i < 30 && !(o.judged_breach && *o.judged_breach); ++i) {
    cw += 50, cc += 100, bw += 99, bc += 100;
    o = judge.judge(counters(cw, cc, bw, bc));
  }
  ASSERT_TRUE(o.judged_breach && *o.judged_breach) << o.evidence.dump();
  EXPECT_EQ(o.evidence["test"], "sequential-histogram");
  EXPECT_NE(o.evidence["reason"].get<std::string>().find("slow-request rate"), std::string::npos);
  o = judge.judge(counters(cc + 10, cc + 5, bw, bc));  // within above count
  EXPECT_EQ(o.error_reason, "bad_data");
}

}  // namespace
}  // namespace rs::sidecar
