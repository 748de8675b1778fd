#include "common/clock.h"

#include <cstdio>

#include <ctime>
#include <string>

namespace rs {

bool SystemClock::sleep_until(MonoTime t) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, t, [&] { return interrupted_; });
  return !interrupted_;
}

void SystemClock::interrupt() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

double to_unix_seconds(WallTime t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

namespace {

// days_from_civil (Howard Hinnant): days since 1970-01-01 of a proleptic Gregorian date.
constexpr long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

constexpr long long kMsPerDay = 86400000LL;
// See min_rfc3339_time() in clock.h for why these bounds.
constexpr long long kMinMillis = 0;                                            // 1970-01-01T00:00:00.000Z
constexpr long long kMaxMillis = days_from_civil(2201, 1, 1) * kMsPerDay - 1;  // 2200-12-31T23:59:59.999Z
// The longest real form ("2024-01-01T10:00:00.123456789+02:00") has 35 characters; anything much
// longer is not a time a sender meant, and the bound keeps the scan of hostile input short.
constexpr std::size_t kMaxRfc3339Length = 64;

WallTime from_millis(long long ms) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds(ms)));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The `n` characters at `pos` are all digits: their value into *out.
bool digits_at(const std::string& text, std::size_t pos, std::size_t n, int* out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (std::size_t k = pos; k < pos + n; ++k) {
    if (!is_digit(text[k])) return false;
    v = v * 10 + (text[k] - '0');
  }
  *out = v;
  return true;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

}  // namespace

WallTime min_rfc3339_time() { return from_millis(kMinMillis); }
WallTime max_rfc3339_time() { return from_millis(kMaxMillis); }

std::string to_rfc3339(WallTime t) {
  // Clamped, so that what is written (state file, audit log) always loads again.
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  if (ms < kMinMillis) ms = kMinMillis;
  if (ms > kMaxMillis) ms = kMaxMillis;
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

Rfc3339Result parse_rfc3339_checked(const std::string& text, WallTime* out) {
  if (text.size() < 20 || text.size() > kMaxRfc3339Length) return Rfc3339Result::kMalformed;
  int y, mo, d, h, mi, s;
  if (!digits_at(text, 0, 4, &y) || text[4] != '-' || !digits_at(text, 5, 2, &mo) || text[7] != '-' ||
      !digits_at(text, 8, 2, &d) || (text[10] != 'T' && text[10] != 't') || !digits_at(text, 11, 2, &h) ||
      text[13] != ':' || !digits_at(text, 14, 2, &mi) || text[16] != ':' || !digits_at(text, 17, 2, &s)) {
    return Rfc3339Result::kMalformed;
  }
  // s == 60: a leap second (RFC 3339 allows it); it counts as the next minute's first second.
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60) {
    return Rfc3339Result::kMalformed;
  }
  std::size_t i = 19;
  long long ms = 0;
  if (i < text.size() && text[i] == '.') {  // any number of fraction digits; milliseconds kept
    std::size_t digits = 0;
    for (++i; i < text.size() && is_digit(text[i]); ++i, ++digits) {
      if (digits < 3) ms = ms * 10 + (text[i] - '0');
    }
    if (digits == 0) return Rfc3339Result::kMalformed;
    for (; digits < 3; ++digits) ms *= 10;
  }
  long long offset_minutes = 0;
  if (i + 1 == text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && text[i + 3] == ':') {
    int oh = 0, om = 0;
    if (!digits_at(text, i + 1, 2, &oh) || !digits_at(text, i + 4, 2, &om) || oh > 23 || om > 59) {
      return Rfc3339Result::kMalformed;
    }
    offset_minutes = (text[i] == '+' ? 1 : -1) * (oh * 60 + om);
    i += 6;
  } else {
    return Rfc3339Result::kMalformed;
  }
  // Years have 4 digits (0000..9999), so this cannot overflow long long; the range check comes
  // before anything is converted to WallTime, which could (Go's zero time 0001-01-01 did).
  const long long days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const long long millis = ((days * 24 + h) * 60 + mi - offset_minutes) * 60000LL + s * 1000LL + ms;
  if (millis < kMinMillis || millis > kMaxMillis) return Rfc3339Result::kOutOfRange;
  *out = from_millis(millis);
  return Rfc3339Result::kOk;
}

bool parse_rfc3339(const std::string& text, WallTime* out) {
  return parse_rfc3339_checked(text, out) == Rfc3339Result::kOk;
}

}  // namespace rs
