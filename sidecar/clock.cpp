#include "sidecar/clock.h"

#include <ctime>
#include <string>

namespace rs::sidecar {

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

double to_unix_seconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string to_rfc3339(WallTime t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace rs::sidecar
