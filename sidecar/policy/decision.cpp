#include "sidecar/policy/decision.h"

#include <cmath>
#include <cstdio>

#include "common/duration.h"
#include "common/json_text.h"
#include "common/enum_names.h"

namespace rs::sidecar {
namespace {

constexpr common::EnumName<DeploymentState> kDeploymentStates[] = {
    {DeploymentState::kHealthy, "healthy"},        {DeploymentState::kPending, "pending"},
    {DeploymentState::kFiring, "firing"},          {DeploymentState::kRollingBack, "rolling_back"},
    {DeploymentState::kRolledBack, "rolled_back"}, {DeploymentState::kRollbackFailed, "rollback_failed"}};

nlohmann::json time_or_null(const std::optional<WallTime>& t) {
  return t ? nlohmann::json(to_rfc3339(*t)) : nlohmann::json(nullptr);
}

// Reads an optional timestamp field; absent or null is "none".
bool read_time(const nlohmann::json& j, const char* key, std::optional<WallTime>* out, std::string* error) {
  if (!j.contains(key) || j[key].is_null()) return true;
  WallTime t;
  if (!j[key].is_string() || !parse_rfc3339(j[key].get<std::string>(), &t)) {
    *error = std::string("decision.") + key + " is not an RFC 3339 time";
    return false;
  }
  *out = t;
  return true;
}

bool read_duration(const nlohmann::json& j, const char* key, Duration* out, std::string* error) {
  if (!j.contains(key)) return true;
  std::string parse_error;
  auto d = j[key].is_string() ? common::parse_duration(j[key].get<std::string>(), &parse_error) : std::nullopt;
  if (!d) {
    *error = std::string("decision.") + key + " is not a duration";
    return false;
  }
  *out = std::chrono::duration_cast<Duration>(*d);
  return true;
}

// Reads an enum field by its name; an absent optional field keeps *out. The error names the
// field and the value, so a hand-edited state file says what is wrong.
template <typename E>
bool read_name(const nlohmann::json& j, const char* key, std::optional<E> (*parse)(std::string_view), bool required,
               E* out, std::string* error) {
  if (!j.contains(key)) {
    if (!required) return true;
    *error = std::string("decision.") + key + " is missing";
    return false;
  }
  std::optional<E> value = j[key].is_string() ? parse(j[key].get<std::string>()) : std::nullopt;
  if (!value) {
    *error = std::string("decision.") + key + " is not a known name: " + j[key].dump();
    return false;
  }
  *out = *value;
  return true;
}

constexpr common::EnumName<DecisionKind> kDecisionKinds[] = {{DecisionKind::kRollback, "rollback"},
                                                             {DecisionKind::kNotify, "notify"},
                                                             {DecisionKind::kHold, "hold"},
                                                             {DecisionKind::kNoop, "noop"}};
constexpr common::EnumName<Trigger> kTriggers[] = {
    {Trigger::kRule, "rule"}, {Trigger::kAlert, "alert"}, {Trigger::kManual, "manual"}};
constexpr common::EnumName<RollbackResult> kRollbackResults[] = {{RollbackResult::kRunning, ""},
                                                                 {RollbackResult::kSuccess, "success"},
                                                                 {RollbackResult::kNoop, "noop"},
                                                                 {RollbackResult::kFailure, "failure"}};
constexpr common::EnumName<Verification> kVerifications[] = {{Verification::kNone, ""},
                                                             {Verification::kPending, "pending"},
                                                             {Verification::kVerified, "verified"},
                                                             {Verification::kFailed, "failed"}};
constexpr common::EnumName<StepResult> kStepResults[] = {{StepResult::kChanged, "changed"},
                                                         {StepResult::kNoop, "noop"},
                                                         {StepResult::kFailure, "failure"},
                                                         {StepResult::kOk, "ok"}};

}  // namespace

const char* decision_kind_name(DecisionKind k) { return common::enum_name(kDecisionKinds, k); }
const char* trigger_name(Trigger t) { return common::enum_name(kTriggers, t); }
const char* rollback_result_name(RollbackResult r) { return common::enum_name(kRollbackResults, r); }
const char* verification_name(Verification v) { return common::enum_name(kVerifications, v); }
const char* step_result_name(StepResult r) { return common::enum_name(kStepResults, r); }
std::optional<DecisionKind> parse_decision_kind(std::string_view name) {
  return common::enum_from_name(kDecisionKinds, name);
}
std::optional<Trigger> parse_trigger(std::string_view name) { return common::enum_from_name(kTriggers, name); }
std::optional<RollbackResult> parse_rollback_result(std::string_view name) {
  return common::enum_from_name(kRollbackResults, name);
}
std::optional<Verification> parse_verification(std::string_view name) {
  return common::enum_from_name(kVerifications, name);
}
std::optional<StepResult> parse_step_result(std::string_view name) {
  return common::enum_from_name(kStepResults, name);
}

const char* deployment_state_name(DeploymentState s) { return common::enum_name(kDeploymentStates, s); }

std::optional<DeploymentState> parse_deployment_state(std::string_view name) {
  return common::enum_from_name(kDeploymentStates, name);
}

std::vector<std::string> deployment_state_names() {
  std::vector<std::string> names;
  for (const auto& entry : kDeploymentStates) names.emplace_back(entry.name);
  return names;
}

bool is_latched(DeploymentState s) {
  return s == DeploymentState::kRolledBack || s == DeploymentState::kRollbackFailed;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

nlohmann::json to_json(const Decision& d) {
  nlohmann::json actuators = nlohmann::json::array();
  for (const auto& a : d.actuators) {
    actuators.push_back({{"actuator", a.actuator},
                         {"result", step_result_name(a.result)},
                         {"detail", a.detail},
                         {"attempts", a.attempts}});
  }
  nlohmann::json value = nullptr;
  if (d.value) value = std::isfinite(*d.value) ? nlohmann::json(*d.value) : nlohmann::json(format_value(*d.value));
  return {{"id", d.id},
          {"kind", decision_kind_name(d.kind)},
          {"trigger", trigger_name(d.trigger)},
          {"rule", d.rule},
          {"severity", d.severity},
          {"query", d.query},
          {"comparison", d.comparison},
          {"value", value},
          {"threshold", d.threshold},
          {"for", common::format_duration(d.for_duration)},
          {"delay", common::format_duration(d.delay)},
          {"first_breach", time_or_null(d.first_breach)},
          {"firing_since", time_or_null(d.firing_since)},
          {"decided_at", to_rfc3339(d.decided_at)},
          {"dry_run", d.dry_run},
          {"reason", d.reason},
          {"also_firing", d.also_firing},
          {"details", d.details},
          {"result", rollback_result_name(d.result)},
          {"actuators", actuators},
          {"verification", verification_name(d.verification)},
          {"verification_detail", d.verification_detail},
          {"completed_at", time_or_null(d.completed_at)},
          {"duration_seconds", d.duration_seconds ? nlohmann::json(*d.duration_seconds) : nlohmann::json(nullptr)}};
}

bool decision_from_json(const nlohmann::json& j, Decision* out, std::string* error) {
  if (!j.is_object()) {
    *error = "decision is not an object";
    return false;
  }
  try {
    Decision d;
    if (!j.contains("id") || !common::json_integer(j["id"], &d.id)) {
      *error = "decision.id is not a non-negative integer";
      return false;
    }
    if (!read_name(j, "kind", parse_decision_kind, true, &d.kind, error) ||
        !read_name(j, "trigger", parse_trigger, true, &d.trigger, error)) {
      return false;
    }
    d.rule = j.at("rule").get<std::string>();
    d.severity = j.value("severity", "");
    d.query = j.value("query", "");
    d.comparison = j.value("comparison", "");
    if (j.contains("value") && !j["value"].is_null()) {
      const auto& v = j["value"];
      if (v.is_number()) {
        d.value = v.get<double>();
      } else if (v == "NaN") {
        d.value = std::nan("");
      } else if (v == "+Inf" || v == "-Inf") {
        d.value = v == "+Inf" ? INFINITY : -INFINITY;
      } else {
        *error = "decision.value is neither a number nor NaN/+Inf/-Inf";
        return false;
      }
    }
    d.threshold = j.value("threshold", 0.0);
    if (!read_duration(j, "for", &d.for_duration, error) || !read_duration(j, "delay", &d.delay, error)) return false;
    if (!read_time(j, "first_breach", &d.first_breach, error) ||
        !read_time(j, "firing_since", &d.firing_since, error) ||
        !read_time(j, "completed_at", &d.completed_at, error)) {
      return false;
    }
    std::optional<WallTime> decided;
    if (!read_time(j, "decided_at", &decided, error)) return false;
    if (!decided) {
      *error = "decision.decided_at is missing";
      return false;
    }
    d.decided_at = *decided;
    d.dry_run = j.value("dry_run", false);
    d.reason = j.value("reason", "");
    d.also_firing = j.value("also_firing", std::vector<std::string>{});
    if (j.contains("details")) d.details = j["details"];
    if (!read_name(j, "result", parse_rollback_result, false, &d.result, error) ||
        !read_name(j, "verification", parse_verification, false, &d.verification, error)) {
      return false;
    }
    d.verification_detail = j.value("verification_detail", "");
    for (const auto& a : j.value("actuators", nlohmann::json::array())) {
      ActuatorOutcome outcome{a.at("actuator").get<std::string>(), StepResult::kFailure, a.value("detail", ""), 0};
      if (a.contains("attempts") && !common::json_integer(a["attempts"], &outcome.attempts)) {
        *error = "decision.actuators[].attempts is not an integer";
        return false;
      }
      if (!read_name(a, "result", parse_step_result, true, &outcome.result, error)) return false;
      d.actuators.push_back(std::move(outcome));
    }
    if (j.contains("duration_seconds") && !j["duration_seconds"].is_null()) {
      d.duration_seconds = j["duration_seconds"].get<double>();
    }
    *out = std::move(d);
    return true;
  } catch (const nlohmann::json::exception& e) {
    *error = std::string("decision: ") + e.what();
    return false;
  }
}

void DecisionMachine::restore(DeploymentState state, std::optional<Decision> last_decision) {
  state_ = state;
  if (last_decision) next_id_ = last_decision->id + 1;
  last_decision_ = std::move(last_decision);
}

Decision DecisionMachine::evidence(const RuleTracker& tracker, DecisionKind kind, WallTime now) {
  const RuleConfig& rule = tracker.rule();
  const RuleStatus& status = tracker.status();
  Decision d;
  d.id = next_id_++;
  d.kind = kind;
  d.trigger = Trigger::kRule;
  d.rule = rule.name;
  d.severity = rule.severity;
  d.query = queries_text(rule);
  d.comparison = comparison_name(rule.comparison);
  d.value = status.value;
  d.threshold = rule.threshold;
  d.for_duration = rule.for_duration;
  d.delay = rule.delay;
  d.first_breach = status.pending_since;
  d.firing_since = status.firing_since;
  d.decided_at = now;
  d.dry_run = dry_run_;
  const std::string observed = status.value ? format_value(*status.value) : std::string("no data");
  const std::string how_long = format_timing(rule);
  // A judged rule (baseline, min_samples) carries its judge's evidence and says its comparison.
  const std::string judged = status.evidence.is_object() ? status.evidence.value("reason", "") : "";
  if (!status.evidence.is_null()) d.details = status.evidence;
  d.reason = judged.empty()
                 ? rule.name + " " + observed + " " + d.comparison + " " + format_value(rule.threshold) + " " + how_long
                 : rule.name + ": " + judged + ", " + how_long;
  if (kind == DecisionKind::kHold) d.reason = "dry run: would roll back: " + d.reason;
  return d;
}

std::vector<Decision> DecisionMachine::step(const std::vector<const RuleTracker*>& rules, WallTime now) {
  std::vector<Decision> decisions;
  if (is_latched(state_) || state_ == DeploymentState::kRollingBack) return decisions;

  std::optional<std::size_t> rollback_index;
  bool any_firing = false, any_pending = false;
  for (const RuleTracker* tracker : rules) {
    const RuleStatus& status = tracker->status();
    // By the episode, not the last observation: a rule held by no data or a query error keeps
    // its progress, so the deployment stays pending/firing instead of looking healthy.
    any_firing |= status.firing_since.has_value();
    any_pending |= status.pending_since.has_value();
    if (!status.actionable || !status.firing_since) continue;
    const std::string& name = tracker->rule().name;
    auto decided = decided_episodes_.find(name);
    if (decided != decided_episodes_.end() && decided->second == *status.firing_since) continue;
    decided_episodes_[name] = *status.firing_since;

    if (tracker->rule().action == RuleAction::kNotify) {
      decisions.push_back(evidence(*tracker, DecisionKind::kNotify, now));
    } else if (dry_run_) {
      decisions.push_back(evidence(*tracker, DecisionKind::kHold, now));
    } else if (!rollback_index) {
      rollback_index = decisions.size();
      decisions.push_back(evidence(*tracker, DecisionKind::kRollback, now));
    } else {
      decisions[*rollback_index].also_firing.push_back(name);
    }
  }

  if (rollback_index) {
    state_ = DeploymentState::kRollingBack;
    last_decision_ = decisions[*rollback_index];
  } else {
    state_ = any_firing    ? DeploymentState::kFiring
             : any_pending ? DeploymentState::kPending
                           : DeploymentState::kHealthy;
    if (!decisions.empty()) last_decision_ = decisions.back();
  }
  return decisions;
}

std::optional<Decision> DecisionMachine::external(Decision decision, WallTime now) {
  if (state_ == DeploymentState::kRolledBack || state_ == DeploymentState::kRollingBack) return std::nullopt;
  if (state_ == DeploymentState::kRollbackFailed && decision.trigger != Trigger::kManual) return std::nullopt;
  decision.id = next_id_++;
  decision.decided_at = now;
  decision.dry_run = dry_run_;
  decision.kind = dry_run_ ? DecisionKind::kHold : DecisionKind::kRollback;
  if (dry_run_) {
    decision.reason = "dry run: would roll back: " + decision.reason;
  } else {
    state_ = DeploymentState::kRollingBack;
  }
  last_decision_ = decision;
  return decision;
}

void DecisionMachine::update_last_decision(const Decision& updated) {
  if (last_decision_ && last_decision_->id == updated.id) last_decision_ = updated;
}

void DecisionMachine::finish_rollback(const Decision& completed) {
  state_ =
      completed.result == RollbackResult::kFailure ? DeploymentState::kRollbackFailed : DeploymentState::kRolledBack;
  last_decision_ = completed;
}

}  // namespace rs::sidecar
