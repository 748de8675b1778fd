// Test environments (common/env/env.h): a real Env with the test's own clock, so engine and
// scheduler tests drive time while HTTP and processes stay real (or scripted where a test
// passes its own transport).
#pragma once

#include <mutex>
#include <vector>

#include "common/env/env.h"

namespace rs::fakes {

// Time moves only when something sleeps on it (or advance() is called), at once: a poll or a
// backoff against it never waits in real time. Sleeps are recorded. The monotonic clock starts an
// hour after the steady clock's epoch, so a deadline taken from it has passed by the real steady
// clock: code that still reads std::chrono::steady_clock::now() gives itself away. The wall clock
// starts at kWallStart and moves with it, unless a test steps it (NTP, a resumed VM).
class ManualClock : public Clock {
 public:
  static constexpr WallTime kWallStart = WallTime(std::chrono::hours(480000));
  static constexpr MonoTime kMonoStart = MonoTime(std::chrono::hours(1));

  WallTime wall() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return kWallStart + wall_step_ + (mono_ - kMonoStart);
  }
  MonoTime mono() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return mono_;
  }
  bool sleep_until(MonoTime t) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (interrupted_) return false;
    if (t > mono_) {
      sleeps_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(t - mono_));
      mono_ = t;
    }
    return true;
  }
  void interrupt() override {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    mono_ += d;
  }
  // The wall clock jumps; the monotonic clock does not.
  void step_wall(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    wall_step_ += d;
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  MonoTime mono_ = kMonoStart;
  std::chrono::milliseconds wall_step_{0};
  bool interrupted_ = false;
  std::vector<std::chrono::milliseconds> sleeps_;
};

// The clock must outlive whatever is built from the returned Env.
inline Env env_with_clock(Clock& clock) {
  Env env;
  env.clock = &clock;
  env.make_http = [] { return make_curl_transport(); };
  env.processes = posix_process_runner();
  return env;
}

}  // namespace rs::fakes
