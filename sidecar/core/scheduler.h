// Fixed-rate ticks without drift or overlap.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

#include "common/clock.h"
#include "sidecar/config/config.h"

namespace rs::sidecar {

// Contract: run() calls tick() at start, start+interval, start+2*interval, ... (monotonic
// clock), on the calling thread, so ticks never overlap. When a tick runs past one or more
// scheduled times, those ticks are skipped (not queued) and on_overrun(skipped) is called; the
// next tick stays on the original grid, so there is no drift. run() returns soon after
// stop() (it interrupts the clock's sleep); a tick in progress finishes first.
// A retime hook (scrape-aligned evaluation) may move the grid: after each tick it is asked with
// (now, next) and may answer another time after `now` for the next tick, from which the grid
// then continues; ticks still run one at a time on this thread, so they never overlap. How far
// a tick may move (never far past `next`) is the hook's contract (scrape_aligner.h).
class Scheduler {
 public:
  using Retime = std::function<std::optional<MonoTime>(MonoTime now, MonoTime next)>;

  Scheduler(Clock& clock, Duration interval, std::function<void()> tick,
            std::function<void(std::uint64_t skipped)> on_overrun, Retime retime = nullptr)
      : clock_(clock),
        interval_(interval),
        tick_(std::move(tick)),
        on_overrun_(std::move(on_overrun)),
        retime_(std::move(retime)) {}

  void run();
  void stop();

 private:
  Clock& clock_;
  Duration interval_;
  std::function<void()> tick_;
  std::function<void(std::uint64_t)> on_overrun_;
  Retime retime_;
  std::atomic<bool> stopped_{false};
};

}  // namespace rs::sidecar
