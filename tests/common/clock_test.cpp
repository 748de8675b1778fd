// RFC 3339 times: what real senders (Alertmanager: nanoseconds, offsets; Go: the zero time
// 0001-01-01) put in payloads parses or is refused without overflow, and whatever to_rfc3339
// writes (state file, audit log) parses again.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/clock.h"

namespace rs {
namespace {

using namespace std::chrono_literals;

long long millis_of(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

struct ParseCase {
  const char* text;
  bool ok;
  long long millis;  // since the epoch, when ok
};

// 2024-01-01T10:00:00Z
constexpr long long k20240101T10 = 1704103200000LL;

class ParseRfc3339 : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseRfc3339, AcceptsRealSendersFormsAndRefusesTheRestWithoutOverflow) {
  const ParseCase& c = GetParam();
  WallTime sentinel = WallTime(12345ms);
  WallTime t = sentinel;
  EXPECT_EQ(parse_rfc3339(c.text, &t), c.ok) << c.text;
  if (c.ok) {
    EXPECT_EQ(millis_of(t), c.millis) << c.text;
  } else {
    EXPECT_EQ(t, sentinel) << c.text << ": the output is left alone on failure";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseRfc3339,
    ::testing::Values(
        // What to_rfc3339 writes.
        ParseCase{"2024-01-01T10:00:00.000Z", true, k20240101T10},
        ParseCase{"2024-01-01T10:00:00Z", true, k20240101T10},
        // Alertmanager's nanoseconds (milliseconds kept, the rest truncated) and microseconds.
        ParseCase{"2024-01-01T10:00:00.123456789Z", true, k20240101T10 + 123},
        ParseCase{"2024-01-01T10:00:00.999999Z", true, k20240101T10 + 999},
        ParseCase{"2024-01-01T10:00:00.5Z", true, k20240101T10 + 500},
        // Offsets: the same instant.
        ParseCase{"2024-01-01T12:00:00+02:00", true, k20240101T10},
        ParseCase{"2024-01-01T12:00:00.123456789+02:00", true, k20240101T10 + 123},
        ParseCase{"2024-01-01T04:30:00-05:30", true, k20240101T10},
        ParseCase{"2024-01-01T10:00:00+00:00", true, k20240101T10},
        ParseCase{"2024-01-01t10:00:00z", true, k20240101T10},
        // AWS credential Expiration (STS XML, IMDS and container JSON), with and without a fraction.
        ParseCase{"2024-05-01T12:00:00Z", true, 1714564800000LL},
        ParseCase{"2024-05-01T12:00:00.000Z", true, 1714564800000LL},
        ParseCase{"2024-05-01T12:00:00.459123Z", true, 1714564800459LL},
        ParseCase{"2024-05-01T12:00:00+00:00", true, 1714564800000LL},
        // Leap day; the range's edges.
        ParseCase{"2024-02-29T00:00:00Z", true, 1709164800000LL}, ParseCase{"1970-01-01T00:00:00.000Z", true, 0},
        ParseCase{"2200-12-31T23:59:59.999Z", true, 7289654399999LL},
        // Out of range: Go's zero time (what bricked restarts), before 1970, after 2200, and an
        // offset that moves a 1970 local time before the epoch. None may overflow.
        ParseCase{"0001-01-01T00:00:00Z", false, 0}, ParseCase{"0000-01-01T00:00:00Z", false, 0},
        ParseCase{"1754-08-30T22:43:42.000Z", false, 0}, ParseCase{"1969-12-31T23:59:59.999Z", false, 0},
        ParseCase{"1970-01-01T00:30:00+01:00", false, 0}, ParseCase{"2201-01-01T00:00:00Z", false, 0},
        ParseCase{"2262-04-12T00:00:00Z", false, 0}, ParseCase{"9999-12-31T23:59:59.999999999Z", false, 0},
        // Malformed.
        ParseCase{"", false, 0}, ParseCase{"2024-01-01", false, 0},
        ParseCase{"2024-01-01T10:00:00", false, 0},                                                 // no zone
        ParseCase{"2024-01-01 10:00:00Z", false, 0}, ParseCase{"2024-01-01T10:00:00.Z", false, 0},  // empty fraction
        ParseCase{"2024-01-01T10:00:00ZZ", false, 0}, ParseCase{"2024-01-01T10:00:00+0200", false, 0},
        ParseCase{"2024-01-01T10:00:00+2:00", false, 0}, ParseCase{"2024-01-01T10:00:00+24:00", false, 0},
        ParseCase{"2024-13-01T10:00:00Z", false, 0}, ParseCase{"2023-02-29T10:00:00Z", false, 0},  // not a leap year
        ParseCase{"2024-04-31T10:00:00Z", false, 0}, ParseCase{"2024-01-01T24:00:00Z", false, 0},
        ParseCase{"-001-01-01T00:00:00Z", false, 0},  // a sign is no digit
        ParseCase{"+2024-01-01T10:00:00Z", false, 0}, ParseCase{" 2024-01-01T10:00:00Z", false, 0},
        ParseCase{"2024-01-01T10:00:00.1234567890123456789012345678901234567890123456789Z", false, 0},
        ParseCase{"1754-08-30T22:43:42.-871Z", false, 0}));  // what the overflow used to write

TEST(Rfc3339, OutOfRangeIsToldApartFromMalformed) {
  WallTime t;
  EXPECT_EQ(parse_rfc3339_checked("0001-01-01T00:00:00Z", &t), Rfc3339Result::kOutOfRange);
  EXPECT_EQ(parse_rfc3339_checked("3000-01-01T00:00:00Z", &t), Rfc3339Result::kOutOfRange);
  EXPECT_EQ(parse_rfc3339_checked("garbage", &t), Rfc3339Result::kMalformed);
  EXPECT_EQ(parse_rfc3339_checked("2024-01-01T10:00:00.123456789Z", &t), Rfc3339Result::kOk);
}

// Whatever time point the program holds, what it writes loads again: the state file can never
// be made unloadable by an odd time.
TEST(Rfc3339, WhatToRfc3339WritesAlwaysParsesAgain) {
  const WallTime cases[] = {
      WallTime{},
      WallTime(1ms),
      WallTime(-1ms),
      WallTime(-std::chrono::hours(24 * 365 * 215)),  // 1754, what the zero time overflowed to
      WallTime::min(),
      WallTime::max(),
      WallTime(std::chrono::hours(24 * 365 * 280)),  // 2249: past the range
      WallTime(std::chrono::hours(480000)) + 123ms,
      std::chrono::system_clock::now(),
  };
  for (const WallTime& t : cases) {
    const std::string text = to_rfc3339(t);
    WallTime back;
    ASSERT_TRUE(parse_rfc3339(text, &back)) << text;
    EXPECT_GE(back, min_rfc3339_time()) << text;
    EXPECT_LE(back, max_rfc3339_time()) << text;
    EXPECT_EQ(to_rfc3339(back), text);
  }
  // In range: exact to the millisecond.
  const WallTime t = WallTime(std::chrono::hours(480000)) + 123ms;
  WallTime back;
  ASSERT_TRUE(parse_rfc3339(to_rfc3339(t), &back));
  EXPECT_EQ(back, t);
  EXPECT_EQ(to_rfc3339(WallTime{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(to_rfc3339(WallTime(-1ms)), "1970-01-01T00:00:00.000Z") << "clamped, never a negative fraction";
  EXPECT_EQ(to_rfc3339(WallTime::max()), "2200-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace rs
