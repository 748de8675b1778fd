// Per-rule state over evaluations: ok -> pending -> firing, with `for`, `delay` and `missing`.
// Pure logic: the caller supplies each evaluation's observation and time.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sidecar/policy/breach_window.h"
#include "sidecar/policy/rule.h"

namespace rs::sidecar {

enum class RuleState { kOk, kPending, kFiring, kNoData, kInsufficient };
// "ok" | "pending" | "firing" | "nodata" | "insufficient"
const char* rule_state_name(RuleState s);

// What one evaluation saw for a rule.
struct Observation {
  // kInsufficient: too few samples to judge (min_samples, a sequential test still gathering
  // events); never a breach, never healthy: held like no data with `missing: hold`.
  enum class Kind { kValue, kNoData, kError, kInsufficient };
  Kind kind = Kind::kNoData;
  double value = 0;  // kValue: a finite or infinite number (NaN is kNoData)
  // kValue: when set, a judge (baseline, sequential test; see judges.h) already decided whether
  // this value breaches, and the rule's threshold is not consulted.
  std::optional<bool> judged_breach;
  std::string error_reason;   // kError: promql::ErrorReason name ("timeout", "parse", ...)
  std::string error_message;  // kError / kNoData / kInsufficient: what happened, for status and logs
  nlohmann::json evidence;    // the judge's evidence (null for plain values)

  static Observation of_value(double v);
  static Observation judged(double v, bool breach, nlohmann::json evidence);
  static Observation no_data(std::string why);
  static Observation error(std::string reason, std::string message);
  static Observation insufficient(std::string why, nlohmann::json evidence = nullptr);
};

struct RuleStatus {
  RuleState state = RuleState::kOk;       // as exported in rule_state
  bool breaching = false;                 // this evaluation counted as a breach
  bool actionable = false;                // firing and `delay` elapsed, breaching now: act
  std::optional<double> value;            // last observed value (none for nodata/error)
  std::string last_problem;               // last no-data/error message, "" when the last one had data
  std::string error_reason;               // the last observation's query-error reason, "" unless it was one
  std::optional<WallTime> pending_since;  // first breach of the current episode
  std::optional<WallTime> firing_since;   // when `for` was satisfied
  std::optional<WallTime> last_evaluated;
  nlohmann::json evidence;    // last observation's judge evidence (null for plain values)
  int window_breached = 0;    // with `breaches`: breached datapoints in the window
  int window_datapoints = 0;  // with `breaches`: datapoints in the window
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
// - insufficient (Observation::insufficient) holds like a query error, shown as `insufficient`.
// With `breaches: "M of N"` set (rule.breaches), `for` is not used (BreachWindow has the datapoint
// rules):
// - each value, and no data with `missing: breach | ok`, is a datapoint (breached or not);
//   errors, insufficient and no data with `missing: hold` are not datapoints and change nothing
//   but the shown state (nodata / insufficient);
// - firing while at least M of the last N datapoints breached (firing_since: when it got there);
//   pending while at least one but fewer than M breached (pending_since: the first breach since
//   the window last held no breach); ok when none did;
// - actionable when firing now and `delay` has elapsed since firing_since (the re-check is
//   "still M of N", not "this datapoint breached").
class RuleTracker {
 public:
  explicit RuleTracker(const RuleConfig& rule) : rule_(rule), window_(rule.breaches.value_or(BreachesSpec{})) {}
  // `now` stamps the status (what humans and Prometheus see); `mono` measures `for`, `delay` and
  // held time, so a wall-clock step (NTP, a VM resume) neither fires nor resets a rule. Without
  // `mono` (a backtest replaying history, where wall time is the timeline) wall time measures.
  const RuleStatus& observe(const Observation& obs, WallTime now, MonoTime mono);
  const RuleStatus& observe(const Observation& obs, WallTime now) {
    return observe(obs, now, MonoTime(std::chrono::duration_cast<MonoTime::duration>(now.time_since_epoch())));
  }
  const RuleStatus& status() const { return status_; }
  const RuleConfig& rule() const { return rule_; }

 private:
  void breach(WallTime now, MonoTime mono);
  void reset();
  void hold(MonoTime mono);
  void datapoint(bool breached, WallTime now, MonoTime mono);  // `breaches` mode

  // pending_since / firing_since on the monotonic clock, which all durations are measured on.
  MonoTime pending_mono_{};
  MonoTime firing_mono_{};
  std::optional<MonoTime> hold_started_;  // a pending rule is being held since
  std::chrono::nanoseconds held_{0};      // total held time in this episode before firing

  RuleConfig rule_;
  BreachWindow window_;  // used only with rule_.breaches
  RuleStatus status_;
};

}  // namespace rs::sidecar
