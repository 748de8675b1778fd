#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "sidecar/policy/worst_series.h"

namespace rs::sidecar {
namespace {

const double kNaN = std::nan("");
const double kInf = std::numeric_limits<double>::infinity();

struct Case {
  const char* name;
  std::vector<double> values;
  Comparison bad;
  std::optional<double> worst;
};

class WorstSeries : public ::testing::TestWithParam<Case> {};

TEST_P(WorstSeries, JudgesTheWorstSeriesAndIgnoresNaN) {
  EXPECT_EQ(worst_series(GetParam().values, GetParam().bad), GetParam().worst);
}

INSTANTIATE_TEST_SUITE_P(Table, WorstSeries,
                         ::testing::Values(Case{"AboveTakesTheHighest", {0.1, 0.7, 0.3}, Comparison::kAbove, 0.7},
                                           Case{"BelowTakesTheLowest", {0.1, 0.7, 0.3}, Comparison::kBelow, 0.1},
                                           Case{"NaNIsIgnored", {kNaN, 0.2, kNaN}, Comparison::kAbove, 0.2},
                                           Case{"OnlyNaNIsNone", {kNaN, kNaN}, Comparison::kAbove, std::nullopt},
                                           Case{"EmptyIsNone", {}, Comparison::kBelow, std::nullopt},
                                           Case{"InfinityIsAValue", {1, kInf}, Comparison::kAbove, kInf},
                                           Case{"MinusInfinityIsAValue", {1, -kInf}, Comparison::kBelow, -kInf}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(WorstSeries, AConditionThatMustHoldGoesBadTheOtherWay) {
  EXPECT_EQ(opposite(Comparison::kAbove), Comparison::kBelow);
  EXPECT_EQ(worst_series({0.9, 0.95}, opposite(Comparison::kAbove)), 0.9) << "must stay above: the lowest is worst";
}

// min_samples counts: the series are added up, NaN ones ignored, none with a number is no data.
TEST(SumSeries, AddsTheSeriesThatHaveANumber) {
  EXPECT_EQ(sum_series({40, 60}), 100);
  EXPECT_EQ(sum_series({kNaN, 7, kNaN}), 7);
  EXPECT_EQ(sum_series({0}), 0) << "a zero count is a count, not no data";
  EXPECT_EQ(sum_series({kNaN}), std::nullopt);
  EXPECT_EQ(sum_series({}), std::nullopt);
}

}  // namespace
}  // namespace rs::sidecar
