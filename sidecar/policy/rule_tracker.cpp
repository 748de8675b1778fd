#include "sidecar/policy/rule_tracker.h"

#include <cmath>

namespace rs::sidecar {

const char* rule_state_name(RuleState s) {
  switch (s) {
    case RuleState::kOk: return "ok";
    case RuleState::kPending: return "pending";
    case RuleState::kFiring: return "firing";
    case RuleState::kNoData: return "nodata";
    case RuleState::kInsufficient: return "insufficient";
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

Observation Observation::judged(double v, bool breach, nlohmann::json evidence) {
  Observation o;  // a judged NaN (e.g. an undefined ratio) still carries the judge's verdict
  o.kind = Kind::kValue;
  o.value = v;
  o.judged_breach = breach;
  o.evidence = std::move(evidence);
  return o;
}

Observation Observation::insufficient(std::string why, nlohmann::json evidence) {
  Observation o;
  o.kind = Kind::kInsufficient;
  o.error_message = std::move(why);
  o.evidence = std::move(evidence);
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

void RuleTracker::hold(MonoTime mono) {
  status_.state = RuleState::kNoData;
  if (status_.pending_since && !status_.firing_since && !hold_started_) hold_started_ = mono;
}

void RuleTracker::breach(WallTime now, MonoTime mono) {
  status_.breaching = true;
  if (hold_started_) {  // evidence is back: the held time does not count toward `for`
    held_ += mono - *hold_started_;
    hold_started_.reset();
  }
  if (!status_.pending_since) {
    status_.pending_since = now;
    pending_mono_ = mono;
  }
  if (!status_.firing_since && mono - pending_mono_ - held_ >= rule_.for_duration) {
    status_.firing_since = now;
    firing_mono_ = mono;
  }
  status_.state = status_.firing_since ? RuleState::kFiring : RuleState::kPending;
  status_.actionable = status_.firing_since && mono - firing_mono_ >= rule_.delay;
}

void RuleTracker::datapoint(bool breached, WallTime now, MonoTime mono) {
  window_.add(breached);
  status_.breaching = breached;
  status_.window_breached = window_.breached();
  status_.window_datapoints = window_.datapoints();
  if (window_.breached() == 0) {
    status_.state = RuleState::kOk;
    status_.pending_since.reset();
    status_.firing_since.reset();
    return;
  }
  if (!status_.pending_since) status_.pending_since = now;
  if (window_.firing()) {
    if (!status_.firing_since) {
      status_.firing_since = now;
      firing_mono_ = mono;
    }
    status_.state = RuleState::kFiring;
    status_.actionable = mono - firing_mono_ >= rule_.delay;
  } else {
    status_.firing_since.reset();
    status_.state = RuleState::kPending;
  }
}

const RuleStatus& RuleTracker::observe(const Observation& obs, WallTime now, MonoTime mono) {
  status_.last_evaluated = now;
  status_.actionable = false;
  status_.breaching = false;
  status_.evidence = obs.evidence;
  status_.error_reason = obs.kind == Observation::Kind::kError ? obs.error_reason : std::string();
  const bool windowed = rule_.breaches.has_value();
  switch (obs.kind) {
    case Observation::Kind::kValue: {
      status_.value = obs.value;
      status_.last_problem.clear();
      const bool breached =
          obs.judged_breach ? *obs.judged_breach : breaches(rule_.comparison, obs.value, rule_.threshold);
      if (windowed)
        datapoint(breached, now, mono);
      else if (breached)
        breach(now, mono);
      else
        reset();
      break;
    }
    case Observation::Kind::kNoData:
      status_.value.reset();
      status_.last_problem = obs.error_message.empty() ? "query returned no data" : obs.error_message;
      if (windowed && rule_.missing != Missing::kHold)
        datapoint(rule_.missing == Missing::kBreach, now, mono);
      else if (windowed)
        status_.state = RuleState::kNoData;
      else if (rule_.missing == Missing::kBreach)
        breach(now, mono);
      else if (rule_.missing == Missing::kOk)
        reset();
      else
        hold(mono);  // progress kept, the `for` clock stopped
      break;
    case Observation::Kind::kError:
      status_.value.reset();
      status_.last_problem = obs.error_reason + ": " + obs.error_message;
      if (windowed)
        status_.state = RuleState::kNoData;
      else
        hold(mono);
      break;
    case Observation::Kind::kInsufficient:
      status_.value.reset();
      status_.last_problem = obs.error_message.empty() ? "too few samples to judge" : obs.error_message;
      if (!windowed) hold(mono);
      status_.state = RuleState::kInsufficient;
      break;
  }
  return status_;
}

}  // namespace rs::sidecar
