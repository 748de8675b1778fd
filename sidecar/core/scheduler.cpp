#include "sidecar/core/scheduler.h"

namespace rs::sidecar {

void Scheduler::run() {
  MonoTime next = clock_.mono();
  while (!stopped_) {
    tick_();
    next += interval_;
    const MonoTime now = clock_.mono();
    if (now >= next) {
      // Skip every grid point already passed; the next tick is the first one in the future.
      const auto behind = (now - next) / interval_ + 1;
      next += interval_ * behind;
      if (on_overrun_) on_overrun_(static_cast<std::uint64_t>(behind));
    }
    if (retime_ && !stopped_) {
      const std::optional<MonoTime> moved = retime_(now, next);
      if (moved && *moved > now) next = *moved;
    }
    if (stopped_ || !clock_.sleep_until(next)) break;
  }
}

void Scheduler::stop() {
  stopped_ = true;
  clock_.interrupt();
}

}  // namespace rs::sidecar
