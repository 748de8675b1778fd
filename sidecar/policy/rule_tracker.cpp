#include "sidecar/policy/rule_tracker.h"

#include <cmath>

namespace rs::sidecar {

const char* rule_state_name(RuleState s) {
  switch (s) {
    case RuleState::kOk: return "ok";
    case RuleState::kPending: return "pending";
    case RuleState::kFiring: return "firing";
    case RuleState::kNoData: return "nodata";
  }
  return "?";
}

Observation Observation::of_value(double v) {
  if (std::isnan(v)) return no_data("query returned NaN");
  Observation o;
  o.kind = Kind::kValue;
  o.value = v;
  return o;
}

Observation Observation::no_data(std::string why) {
  Observation o;
  o.kind = Kind::kNoData;
  o.error_message = std::move(why);
  return o;
}

Observation Observation::error(std::string reason, std::string message) {
  Observation o;
  o.kind = Kind::kError;
  o.error_reason = std::move(reason);
  o.error_message = std::move(message);
  return o;
}

void RuleTracker::reset() {
  hold_started_.reset();
  held_ = std::chrono::nanoseconds{0};
  status_.state = RuleState::kOk;
  status_.breaching = false;
  status_.pending_since.reset();
  status_.firing_since.reset();
}

void RuleTracker::hold(WallTime now) {
  status_.state = RuleState::kNoData;
  if (status_.pending_since && !status_.firing_since && !hold_started_) hold_started_ = now;
}

void RuleTracker::breach(WallTime now) {
  status_.breaching = true;
  if (hold_started_) {  // evidence is back: the held time does not count toward `for`
    held_ += now - *hold_started_;
    hold_started_.reset();
  }
  if (!status_.pending_since) status_.pending_since = now;
  if (!status_.firing_since && now - *status_.pending_since - held_ >= rule_.for_duration) status_.firing_since = now;
  status_.state = status_.firing_since ? RuleState::kFiring : RuleState::kPending;
  status_.actionable = status_.firing_since && now - *status_.firing_since >= rule_.delay;
}

const RuleStatus& RuleTracker::observe(const Observation& obs, WallTime now) {
  status_.last_evaluated = now;
  status_.actionable = false;
  status_.breaching = false;
  switch (obs.kind) {
    case Observation::Kind::kValue: {
      status_.value = obs.value;
      status_.last_problem.clear();
      bool breached = rule_.comparison == Comparison::kAbove ? obs.value > rule_.threshold : obs.value < rule_.threshold;
      if (breached) breach(now);
      else reset();
      break;
    }
    case Observation::Kind::kNoData:
      status_.value.reset();
      status_.last_problem = obs.error_message.empty() ? "query returned no data" : obs.error_message;
      if (rule_.missing == Missing::kBreach) breach(now);
      else if (rule_.missing == Missing::kOk) reset();
      else hold(now);  // progress kept, the `for` clock stopped
      break;
    case Observation::Kind::kError:
      status_.value.reset();
      status_.last_problem = obs.error_reason + ": " + obs.error_message;
      hold(now);
      break;
  }
  return status_;
}

}  // namespace rs::sidecar
