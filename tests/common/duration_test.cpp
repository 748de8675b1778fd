#include "common/duration.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace rs::common {
namespace {

using std::chrono::milliseconds;

struct GoodCase {
  const char* text;
  std::int64_t millis;
};

class ParseDurationGood : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ParseDurationGood, Parses) {
  std::string error;
  auto parsed = parse_duration(GetParam().text, &error);
  ASSERT_TRUE(parsed.has_value()) << GetParam().text << ": " << error;
  EXPECT_EQ(parsed->count(), GetParam().millis) << GetParam().text;
}

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

INSTANTIATE_TEST_SUITE_P(
    Table, ParseDurationGood,
    ::testing::Values(GoodCase{"0", 0}, GoodCase{"0s", 0}, GoodCase{"500ms", 500}, GoodCase{"30s", 30'000},
                      GoodCase{"5m", 300'000}, GoodCase{"1h", 3'600'000}, GoodCase{"1h30m", 5'400'000},
                      GoodCase{"1d", kDay}, GoodCase{"2w", 14 * kDay}, GoodCase{"1y", 365 * kDay},
                      GoodCase{"1m30s500ms", 90'500},
                      GoodCase{"1y2w3d4h5m6s7ms", 365 * kDay + 17 * kDay + 4 * 3'600'000 + 5 * 60'000 + 6'000 + 7},
                      GoodCase{"90m", 5'400'000}, GoodCase{"007s", 7'000}));

struct BadCase {
  const char* text;
  const char* error_mentions;
};

class ParseDurationBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseDurationBad, RejectsWithReason) {
  std::string error;
  auto parsed = parse_duration(GetParam().text, &error);
  EXPECT_FALSE(parsed.has_value()) << GetParam().text << " parsed as " << parsed->count();
  EXPECT_NE(error.find(GetParam().error_mentions), std::string::npos) << GetParam().text << ": " << error;
}

INSTANTIATE_TEST_SUITE_P(Table, ParseDurationBad,
                         ::testing::Values(BadCase{"", "empty"}, BadCase{"5", "missing unit"},
                                           BadCase{"5x", "unknown unit"}, BadCase{"1m1h", "largest first"},
                                           BadCase{"1h1h", "largest first"}, BadCase{"1s500ms500ms", "largest first"},
                                           BadCase{"-5s", "expected a number"}, BadCase{" 5s", "expected a number"},
                                           BadCase{"5s ", "expected a number"}, BadCase{"1.5h", "unknown unit"},
                                           BadCase{"h", "expected a number"}, BadCase{"00", "missing unit"},
                                           BadCase{"5S", "unknown unit"}, BadCase{"99999999999999999999s", "too large"},
                                           BadCase{"300000000y", "overflows"},
                                           BadCase{"292277024y10200000w", "overflows"}));

TEST(ParseDuration, ErrorIsOptionalAndNamesTheInput) {
  EXPECT_FALSE(parse_duration("5x").has_value());
  std::string error;
  parse_duration("5x", &error);
  EXPECT_NE(error.find("\"5x\""), std::string::npos) << error;
}

TEST(ParseDuration, LargestRepresentableValueParses) {
  auto parsed = parse_duration(std::to_string(std::numeric_limits<std::int64_t>::max()) + "ms");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->count(), std::numeric_limits<std::int64_t>::max());
}

struct FormatCase {
  std::int64_t millis;
  const char* text;
};

class FormatDuration : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FormatDuration, Formats) { EXPECT_EQ(format_duration(milliseconds(GetParam().millis)), GetParam().text); }

INSTANTIATE_TEST_SUITE_P(Table, FormatDuration,
                         ::testing::Values(FormatCase{0, "0s"}, FormatCase{500, "500ms"}, FormatCase{1'000, "1s"},
                                           FormatCase{90'500, "1m30s500ms"}, FormatCase{5'400'000, "1h30m"},
                                           FormatCase{kDay, "1d"}, FormatCase{14 * kDay, "2w"},
                                           FormatCase{90 * kDay, "90d"},  // not 12w6d
                                           FormatCase{365 * kDay, "1y"}, FormatCase{366 * kDay, "366d"},
                                           FormatCase{-1'500, "-1s500ms"}));

TEST(FormatDuration, RoundTripsThroughParse) {
  const std::int64_t cases[] = {1, 999, 61'001, 3'600'000, 7 * kDay + 1, 400 * kDay + 3'723'004};
  for (std::int64_t ms : cases) {
    auto parsed = parse_duration(format_duration(milliseconds(ms)));
    ASSERT_TRUE(parsed.has_value()) << format_duration(milliseconds(ms));
    EXPECT_EQ(parsed->count(), ms);
  }
}

}  // namespace
}  // namespace rs::common
