// Time source seam: production uses the system clocks; tests drive a manual clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace rs {

using WallTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;

// Contract: wall() is for evidence timestamps and `for`/`delay` windows (what humans and
// Prometheus see); mono() is for deadlines and measured durations. sleep_until() returns
// early (false) when interrupt() is called, so shutdown never waits out an interval.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime wall() const = 0;
  virtual MonoTime mono() const = 0;
  // Sleeps until `t` (mono). Returns true when the time was reached, false if interrupted.
  virtual bool sleep_until(MonoTime t) = 0;
  virtual void interrupt() = 0;
};

class SystemClock : public Clock {
 public:
  WallTime wall() const override { return std::chrono::system_clock::now(); }
  MonoTime mono() const override { return std::chrono::steady_clock::now(); }
  bool sleep_until(MonoTime t) override;
  void interrupt() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool interrupted_ = false;
};

// Seconds since the epoch, for JSON and metrics.
double to_unix_seconds(WallTime t);

// The instants this program reads and writes as RFC 3339: [1970-01-01T00:00:00.000Z,
// 2200-12-31T23:59:59.999Z]. Anything outside is a placeholder (Go's zero time 0001-01-01, which
// Alertmanager and other Go senders emit for "unset") or garbage, never a real event time of a
// deployment; and the bounds sit well inside what WallTime (int64 nanoseconds: 1677..2262) holds,
// so no arithmetic on a parsed time can overflow.
WallTime min_rfc3339_time();
WallTime max_rfc3339_time();

// RFC 3339 in UTC with milliseconds, e.g. "2026-11-22T21:10:29.123Z". Times outside
// [min_rfc3339_time(), max_rfc3339_time()] are clamped to the nearest bound, so the result
// always parses again with parse_rfc3339 (state files stay loadable).
std::string to_rfc3339(WallTime t);

enum class Rfc3339Result {
  kOk,
  kMalformed,   // not RFC 3339 text
  kOutOfRange,  // well-formed, but outside [min_rfc3339_time(), max_rfc3339_time()]
};
// Parses RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" ('t'/'z' also accepted; any
// number of fraction digits, e.g. Alertmanager's nanoseconds; milliseconds kept, the rest
// truncated). *out is set only on kOk.
Rfc3339Result parse_rfc3339_checked(const std::string& text, WallTime* out);
// parse_rfc3339_checked(...) == kOk. Accepts everything to_rfc3339 writes.
bool parse_rfc3339(const std::string& text, WallTime* out);

}  // namespace rs
