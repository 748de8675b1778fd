// Baseline comparison, the min_samples guard and the threshold judge: one table row per rule of
// the contract in sidecar/policy/judges.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "sidecar/policy/judges.h"

namespace rs::sidecar {
namespace {

Observation seen(const std::string& what) {
  if (what == "nodata") return Observation::no_data("empty result");
  if (what == "error") return Observation::error("timeout", "query timed out");
  if (what == "nan") return Observation::of_value(std::nan(""));
  return Observation::of_value(std::stod(what));
}

struct BaselineCase {
  std::string name;
  std::string canary, baseline;
  Comparison comparison;
  double max_ratio, min_difference;
  std::optional<double> threshold;
  std::string expect;  // judgement_name
};

class Baseline : public ::testing::TestWithParam<BaselineCase> {};

TEST_P(Baseline, BreachesOnlyWhenWorseByBothRatioAndDifference) {
  const auto& c = GetParam();
  Judgement j = judge_baseline(seen(c.canary), seen(c.baseline), c.comparison,
                               BaselineSpec{"q", c.max_ratio, c.min_difference}, c.threshold);
  EXPECT_EQ(judgement_name(j.kind), c.expect) << j.reason;
  EXPECT_FALSE(j.reason.empty());
  if ((j.kind == Judgement::Kind::kOk || j.kind == Judgement::Kind::kBreach) && c.canary != "inf") {
    EXPECT_EQ(j.evidence["canary"], std::stod(c.canary));
    EXPECT_EQ(j.evidence["baseline"], std::stod(c.baseline));
    EXPECT_EQ(j.evidence["max_ratio"], c.max_ratio);
  }
}

const auto kAbove = Comparison::kAbove;
const auto kBelow = Comparison::kBelow;

INSTANTIATE_TEST_SUITE_P(
    Rows, Baseline,
    ::testing::Values(
        BaselineCase{"WorseByBoth", "0.05", "0.01", kAbove, 2, 0.01, std::nullopt, "breach"},
        BaselineCase{"RatioOnlyIsNotEnough", "0.0003", "0.0001", kAbove, 2, 0.01, std::nullopt, "ok"},
        BaselineCase{"DifferenceOnlyIsNotEnough", "0.55", "0.5", kAbove, 2, 0.01, std::nullopt, "ok"},
        BaselineCase{"EqualToRatioTimesBaselineIsNotABreach", "0.04", "0.02", kAbove, 2, 0.0, std::nullopt, "ok"},
        BaselineCase{"EqualDifferenceIsNotABreach", "0.06", "0.01", kAbove, 1, 0.05, std::nullopt, "ok"},
        BaselineCase{"ZeroBaselineAnyDifferenceAboveMin", "0.02", "0", kAbove, 2, 0.01, std::nullopt, "breach"},
        BaselineCase{"BothZero", "0", "0", kAbove, 1, 0, std::nullopt, "ok"},
        BaselineCase{"ThresholdAlsoRequired", "0.03", "0.01", kAbove, 2, 0.01, 0.05, "ok"},
        BaselineCase{"ThresholdCrossed", "0.06", "0.01", kAbove, 2, 0.01, 0.05, "breach"},
        BaselineCase{"BelowWorseByBoth", "50", "100", kBelow, 1.5, 10, std::nullopt, "breach"},
        BaselineCase{"BelowWithinRatio", "80", "100", kBelow, 1.5, 10, std::nullopt, "ok"},
        BaselineCase{"BelowWithinDifference", "0.5", "1", kBelow, 1.5, 10, std::nullopt, "ok"},
        BaselineCase{"InfiniteCanary", "inf", "0.01", kAbove, 2, 0.01, std::nullopt, "breach"},
        BaselineCase{"CanaryNoData", "nodata", "0.01", kAbove, 2, 0.01, std::nullopt, "nodata"},
        BaselineCase{"CanaryNaNIsNoData", "nan", "0.01", kAbove, 2, 0.01, std::nullopt, "nodata"},
        BaselineCase{"BaselineNoData", "0.5", "nodata", kAbove, 2, 0.01, std::nullopt, "nodata"},
        BaselineCase{"BaselineErrorBeatsCanaryNoData", "nodata", "error", kAbove, 2, 0.01, std::nullopt, "error"},
        BaselineCase{"CanaryError", "error", "0.01", kAbove, 2, 0.01, std::nullopt, "error"},
        BaselineCase{"NegativeBaselineIsBadData", "0.5", "-1", kAbove, 2, 0.01, std::nullopt, "error"},
        BaselineCase{"NegativeCanaryIsBadData", "-0.5", "1", kBelow, 2, 0.01, std::nullopt, "error"}),
    [](const ::testing::TestParamInfo<BaselineCase>& row) { return row.param.name; });

TEST(Baseline, EvidenceNamesTheNumbersCompared) {
  Judgement j = judge_baseline(seen("0.05"), seen("0.01"), kAbove, BaselineSpec{"q", 2, 0.01});
  EXPECT_DOUBLE_EQ(j.evidence["ratio"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(j.evidence["difference"].get<double>(), 0.04);
  EXPECT_EQ(j.evidence["ratio_exceeded"], true);
  EXPECT_EQ(j.evidence["difference_exceeded"], true);
  Judgement zero = judge_baseline(seen("0.05"), seen("0"), kAbove, BaselineSpec{"q", 2, 0.01});
  EXPECT_TRUE(zero.evidence["ratio"].is_null());
  Judgement bad = judge_baseline(seen("0.5"), seen("-1"), kAbove, BaselineSpec{"q", 2, 0.01});
  EXPECT_EQ(bad.error_reason, "bad_value");
  EXPECT_NE(bad.reason.find("baseline value -1 is negative"), std::string::npos) << bad.reason;
}

TEST(Baseline, ToObservationFeedsTheTrackerTheVerdict) {
  Observation breach = judge_baseline(seen("0.05"), seen("0.01"), kAbove, BaselineSpec{"q", 2, 0.01}).to_observation();
  EXPECT_EQ(breach.kind, Observation::Kind::kValue);
  EXPECT_EQ(breach.judged_breach, true);
  EXPECT_DOUBLE_EQ(breach.value, 0.05);
  EXPECT_EQ(breach.evidence["verdict"], "breach");
  Observation nodata =
      judge_baseline(seen("0.05"), seen("nodata"), kAbove, BaselineSpec{"q", 2, 0.01}).to_observation();
  EXPECT_EQ(nodata.kind, Observation::Kind::kNoData);
  EXPECT_NE(nodata.error_message.find("baseline"), std::string::npos) << nodata.error_message;
  Observation error = judge_baseline(seen("error"), seen("0.01"), kAbove, BaselineSpec{"q", 2, 0.01}).to_observation();
  EXPECT_EQ(error.kind, Observation::Kind::kError);
  EXPECT_EQ(error.error_reason, "timeout");
}

struct GuardCase {
  std::string name;
  std::string samples;
  double at_least;
  std::string main;    // threshold judge input value
  std::string expect;  // final judgement
};

class MinSamples : public ::testing::TestWithParam<GuardCase> {};

TEST_P(MinSamples, BelowItTheRuleIsInsufficientNeverABreach) {
  const auto& c = GetParam();
  Judgement guard = judge_min_samples(seen(c.samples), MinSamplesSpec{"q", c.at_least});
  Judgement j = apply_min_samples(guard, judge_threshold(seen(c.main), kAbove, 0.05));
  EXPECT_EQ(judgement_name(j.kind), c.expect) << j.reason;
  EXPECT_TRUE(j.evidence.contains("min_samples")) << j.evidence.dump();
}

INSTANTIATE_TEST_SUITE_P(Rows, MinSamples,
                         ::testing::Values(GuardCase{"EnoughAndBreaching", "300", 100, "0.5", "breach"},
                                           GuardCase{"EnoughAndHealthy", "300", 100, "0.01", "ok"},
                                           GuardCase{"ExactlyEnough", "100", 100, "0.5", "breach"},
                                           GuardCase{"TooFewBreachingIsInsufficient", "99", 100, "1.0", "insufficient"},
                                           GuardCase{"TooFewHealthyIsInsufficient", "3", 100, "0.0", "insufficient"},
                                           GuardCase{"NoTrafficIsInsufficient", "nodata", 100, "0.5", "insufficient"},
                                           GuardCase{"NaNSamplesIsInsufficient", "nan", 100, "0.5", "insufficient"},
                                           GuardCase{"SamplesQueryErrorHolds", "error", 100, "0.5", "error"},
                                           GuardCase{"EnoughButMainNoData", "300", 100, "nodata", "nodata"},
                                           GuardCase{"EnoughButMainError", "300", 100, "error", "error"}),
                         [](const ::testing::TestParamInfo<GuardCase>& row) { return row.param.name; });

TEST(MinSamples, TheEvidenceSaysWhatItWouldHaveBeen) {
  Judgement j = apply_min_samples(judge_min_samples(seen("12"), MinSamplesSpec{"q", 100}),
                                  judge_threshold(seen("0.5"), kAbove, 0.05));
  EXPECT_EQ(j.evidence["would_have_been"], "breach");
  EXPECT_EQ(j.evidence["min_samples"]["samples"], 12.0);
  EXPECT_EQ(j.evidence["min_samples"]["at_least"], 100.0);
  EXPECT_NE(j.reason.find("12 samples, fewer than min_samples 100"), std::string::npos) << j.reason;
  Observation o = j.to_observation();
  EXPECT_EQ(o.kind, Observation::Kind::kInsufficient);
}

TEST(Threshold, JudgesLikeTheTracker) {
  EXPECT_EQ(judge_threshold(seen("0.06"), kAbove, 0.05).kind, Judgement::Kind::kBreach);
  EXPECT_EQ(judge_threshold(seen("0.05"), kAbove, 0.05).kind, Judgement::Kind::kOk);
  EXPECT_EQ(judge_threshold(seen("0.04"), kBelow, 0.05).kind, Judgement::Kind::kBreach);
  EXPECT_EQ(judge_threshold(seen("nodata"), kAbove, 0.05).kind, Judgement::Kind::kNoData);
  EXPECT_EQ(judge_threshold(seen("error"), kAbove, 0.05).kind, Judgement::Kind::kError);
}

// Burn rate: SLO 99.9% (budget 0.001) over 30d, the workbook's two pairs: 2% in 1h (burn 14.4:
// error ratio > 0.0144) and 5% in 6h (burn 6: error ratio > 0.006).
SloSpec workbook_slo() {
  SloSpec spec;
  spec.objective = 0.999;
  spec.period = std::chrono::hours(24 * 30);
  SloWindow fast{std::chrono::hours(1), std::chrono::minutes(5), 0.02, 14.4, "l1", "s1"};
  SloWindow slow{std::chrono::hours(6), std::chrono::minutes(30), 0.05, 6, "l2", "s2"};
  spec.windows = {fast, slow};
  return spec;
}

struct BurnCase {
  std::string name;
  std::string fast_long, fast_short, slow_long, slow_short;
  std::string expect;  // judgement_name
};

class BurnRate : public ::testing::TestWithParam<BurnCase> {};

TEST_P(BurnRate, BothWindowsOfAPairMustBurn) {
  const auto& c = GetParam();
  const Judgement j = judge_burn_rate(
      {{seen(c.fast_long), seen(c.fast_short)}, {seen(c.slow_long), seen(c.slow_short)}}, workbook_slo());
  EXPECT_EQ(judgement_name(j.kind), c.expect) << j.reason << "\n" << j.evidence.dump(2);
  EXPECT_FALSE(j.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BurnRate,
    ::testing::Values(BurnCase{"Healthy", "0.0005", "0.0005", "0.0005", "0.0005", "ok"},
                      BurnCase{"FastPairBurns", "0.02", "0.03", "0.004", "0.02", "breach"},
                      BurnCase{"ShortWindowRecoveredIsNotBurning", "0.02", "0.001", "0.004", "0.001", "ok"},
                      BurnCase{"ShortSpikeAloneIsNotBurning", "0.005", "0.5", "0.004", "0.5", "ok"},
                      BurnCase{"SlowPairBurns", "0.01", "0.01", "0.007", "0.008", "breach"},
                      BurnCase{"AtTheLimitIsNotABreach", "0.0144", "0.0144", "0.006", "0.006", "ok"},
                      BurnCase{"NoDataInOnePairDoesNotBurnIt", "nodata", "0.03", "0.007", "0.008", "breach"},
                      BurnCase{"NoDataAnywhere", "nodata", "nodata", "nodata", "nan", "nodata"},
                      BurnCase{"AnErrorHolds", "0.02", "error", "0.007", "0.008", "error"},
                      BurnCase{"ANegativeRatioIsBad", "-0.1", "0.03", "0.007", "0.008", "error"}),
    [](const ::testing::TestParamInfo<BurnCase>& row) { return row.param.name; });

TEST(BurnRate, TheValueIsTheFastPairsLongBurnAndTheEvidenceHasEveryWindow) {
  const Judgement j = judge_burn_rate({{seen("0.02"), seen("0.03")}, {seen("0.004"), seen("0.02")}}, workbook_slo());
  ASSERT_TRUE(j.value);
  EXPECT_NEAR(*j.value, 20.0, 1e-9) << "0.02 / 0.001";
  EXPECT_DOUBLE_EQ(j.evidence["budget"].get<double>(), 1 - 0.999);
  ASSERT_EQ(j.evidence["windows"].size(), 2u);
  EXPECT_EQ(j.evidence["windows"][0]["long"], "1h");
  EXPECT_EQ(j.evidence["windows"][0]["burning"], true);
  EXPECT_EQ(j.evidence["windows"][1]["burning"], false);
  EXPECT_NEAR(j.evidence["windows"][1]["short_burn"].get<double>(), 20.0, 1e-9);
  EXPECT_NE(j.reason.find("burning the error budget 20x over 1h"), std::string::npos) << j.reason;
  EXPECT_NE(j.reason.find("2% of the 30d budget in 1h"), std::string::npos) << j.reason;
  const Judgement bad = judge_burn_rate({{seen("-0.1"), seen("0.03")}, {seen("0"), seen("0")}}, workbook_slo());
  EXPECT_EQ(bad.error_reason, "bad_value");
}
}  // namespace
}  // namespace rs::sidecar
