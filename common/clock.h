// Time source seam: production uses the system clocks; tests drive a manual clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

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
// RFC 3339 in UTC with milliseconds, e.g. "2026-11-22T21:10:29.123Z".
std::string to_rfc3339(WallTime t);
// Inverse of to_rfc3339 (UTC "Z" only; milliseconds optional). False when `text` is not one.
bool parse_rfc3339(const std::string& text, WallTime* out);

}  // namespace rs
