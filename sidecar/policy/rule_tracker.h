// Per-rule state over evaluations: ok -> pending -> firing, with `for`, `delay` and `missing`.
// Pure logic: the caller supplies each evaluation's observation and time.
#pragma once

#include <optional>
#include <string>

#include "common/clock.h"
#include "sidecar/policy/rule.h"

namespace rs::sidecar {

enum class RuleState { kOk, kPending, kFiring, kNoData };
const char* rule_state_name(RuleState s);  // "ok" | "pending" | "firing" | "nodata"

// What one evaluation saw for a rule.
struct Observation {
  enum class Kind { kValue, kNoData, kError };
  Kind kind = Kind::kNoData;
  double value = 0;            // kValue: a finite or infinite number (NaN is kNoData)
  std::string error_reason;    // kError: promql::ErrorReason name ("timeout", "parse", ...)
  std::string error_message;   // kError / kNoData: what happened, for status and logs

  static Observation of_value(double v);
  static Observation no_data(std::string why);
  static Observation error(std::string reason, std::string message);
};

struct RuleStatus {
  RuleState state = RuleState::kOk;   // as exported in rule_state
  bool breaching = false;             // this evaluation counted as a breach
  bool actionable = false;            // firing and `delay` elapsed, breaching now: act
  std::optional<double> value;        // last observed value (none for nodata/error)
  std::string last_problem;           // last no-data/error message, "" when the last one had data
  std::optional<WallTime> pending_since;  // first breach of the current episode
  std::optional<WallTime> firing_since;   // when `for` was satisfied
  std::optional<WallTime> last_evaluated;
};

// Contract (DESIGN §5):
// - value above/below threshold is a breach; the first breach starts `pending`;
// - `firing` once every evaluation since the first breach breached and `for` has elapsed;
// - one non-breaching evaluation resets to ok;
// - no data counts per `missing`: breach, ok (resets), or hold (state kept, shown as nodata);
// - a query error always holds: never healthy, never a breach;
// - while held, a pending rule's `for` clock stops: time without evidence never counts toward
//   `for`, so a breach right after a long outage does not fire at once;
// - actionable when firing, `delay` has elapsed since firing, and this evaluation breached
//   (the delay's re-check).
class RuleTracker {
 public:
  explicit RuleTracker(const RuleConfig& rule) : rule_(rule) {}
  const RuleStatus& observe(const Observation& obs, WallTime now);
  const RuleStatus& status() const { return status_; }
  const RuleConfig& rule() const { return rule_; }

 private:
  void breach(WallTime now);
  void reset();
  void hold(WallTime now);

  std::optional<WallTime> hold_started_;  // a pending rule is being held since
  std::chrono::nanoseconds held_{0};      // total held time in this episode before firing

  RuleConfig rule_;
  RuleStatus status_;
};

}  // namespace rs::sidecar
