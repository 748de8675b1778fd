// The deployment's decision machine: healthy -> pending -> firing -> rolling_back ->
// rolled_back | rollback_failed, with the latch, and the decisions it takes with their evidence.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

enum class DeploymentState { kHealthy, kPending, kFiring, kRollingBack, kRolledBack, kRollbackFailed };
const char* deployment_state_name(DeploymentState s);  // "healthy", ..., "rolling_back", ...
std::optional<DeploymentState> parse_deployment_state(std::string_view name);
std::vector<std::string> deployment_state_names();
// rolled_back and rollback_failed hold until a new deployment is configured.
bool is_latched(DeploymentState s);

// Kinds, triggers, results and verdicts. Each name is a wire format (state file, audit log,
// status API, exec environment, metric labels), written in one table per enum (decision.cpp).
enum class DecisionKind {
  kRollback,  // roll back now
  kNotify,    // the rule's action is notify: tell people, change nothing
  kHold,      // dry run: would roll back
  kNoop,      // a rollback found all traffic already on stable
};
enum class Trigger { kRule, kAlert, kManual };
// A rollback's outcome; kRunning ("") until it finishes.
enum class RollbackResult { kRunning, kSuccess, kNoop, kFailure };
// Post-rollback verification (rollback.verify); kNone ("") when not configured or not begun.
enum class Verification { kNone, kPending, kVerified, kFailed };
// One step of a rollback run: an actuator call (changed | noop | failure) or a stable-health
// check (ok | failure).
enum class StepResult { kChanged, kNoop, kFailure, kOk };

const char* decision_kind_name(DecisionKind k);      // "rollback" | "notify" | "hold" | "noop"
const char* trigger_name(Trigger t);                 // "rule" | "alert" | "manual"
const char* rollback_result_name(RollbackResult r);  // "" | "success" | "noop" | "failure"
const char* verification_name(Verification v);       // "" | "pending" | "verified" | "failed"
const char* step_result_name(StepResult r);          // "changed" | "noop" | "failure" | "ok"
std::optional<DecisionKind> parse_decision_kind(std::string_view name);
std::optional<Trigger> parse_trigger(std::string_view name);
std::optional<RollbackResult> parse_rollback_result(std::string_view name);
std::optional<Verification> parse_verification(std::string_view name);
std::optional<StepResult> parse_step_result(std::string_view name);

// What one actuator (or stable-health check) did during a rollback.
struct ActuatorOutcome {
  std::string actuator;  // describe() of the actuator, or the check's name
  StepResult result = StepResult::kFailure;
  std::string detail;
  int attempts = 0;
};

// A decision and its evidence. Rollback decisions also carry what the actuators did.
struct Decision {
  std::uint64_t id = 0;
  DecisionKind kind = DecisionKind::kRollback;
  Trigger trigger = Trigger::kRule;
  std::string rule;
  std::string severity;
  std::string query;  // as sent to Prometheus
  std::string comparison;
  std::optional<double> value;
  double threshold = 0;
  Duration for_duration{0};
  Duration delay{0};
  std::optional<WallTime> first_breach;
  std::optional<WallTime> firing_since;
  WallTime decided_at;
  bool dry_run = false;
  std::string reason;                    // one line for humans
  std::vector<std::string> also_firing;  // other rules that were actionable at the same time
  // Trigger-specific evidence: the alert's labels, annotations, startsAt, generatorURL and
  // fingerprint; the manual request's actor; a judged rule's evidence (RuleStatus::evidence:
  // baseline comparison, min_samples). Null for plain threshold rules.
  nlohmann::json details;
  // Rollback execution (kind rollback/noop):
  RollbackResult result = RollbackResult::kRunning;
  std::vector<ActuatorOutcome> actuators;  // also the stable-health checks
  Verification verification = Verification::kNone;
  std::string verification_detail;
  std::optional<WallTime> completed_at;
  std::optional<double> duration_seconds;  // decision -> router state verified (monotonic)
};

nlohmann::json to_json(const Decision& d);
// Strict inverse of to_json; returns false and names the bad field in *error.
bool decision_from_json(const nlohmann::json& j, Decision* out, std::string* error);

// "0.0312", "NaN", "+Inf": how values appear in logs, evidence and exec environments.
std::string format_value(double v);

// Contract:
// - step() is called after every evaluation with every rule's tracker, in config order. While
//   not latched or rolling back, the state is firing if any rule fires, pending if any is
//   pending, healthy otherwise (nodata changes nothing).
// - A rule's firing episode (identified by its firing_since) yields at most one decision:
//   notify for action notify; for action rollback, hold when dry_run, otherwise the first such
//   rule in config order yields the rollback and the others are listed in its also_firing.
// - A rollback decision moves the state to rolling_back; finish_rollback() then latches
//   rolled_back (success or noop) or rollback_failed. Latched states ignore step().
class DecisionMachine {
 public:
  explicit DecisionMachine(bool dry_run) : dry_run_(dry_run) {}

  // Restores a persisted state (on startup). rolling_back means a rollback was interrupted:
  // the caller re-runs it (actuators are idempotent).
  void restore(DeploymentState state, std::optional<Decision> last_decision);

  // Decisions to take now; at most one has kind rollback.
  std::vector<Decision> step(const std::vector<const RuleTracker*>& rules, WallTime now);

  void finish_rollback(const Decision& completed);
  // Replaces the last decision's record (same id) with a later view of it, e.g. its verification.
  void update_last_decision(const Decision& updated);

  // A rollback asked for by an alert or a person (`decision.trigger` alert | manual), with
  // its evidence filled in by the caller; id, kind, dry_run and decided_at are set here.
  // Returns nullopt when the deployment is rolled back or already rolling back (nothing to do),
  // or rollback_failed and the trigger is not manual: a person may retry a failed rollback
  // (after fixing the router), an alert may not (its repeats would hammer a broken router).
  // In dry run the decision is "hold" and the state does not change.
  std::optional<Decision> external(Decision decision, WallTime now);

  DeploymentState state() const { return state_; }
  const std::optional<Decision>& last_decision() const { return last_decision_; }

 private:
  Decision evidence(const RuleTracker& rule, DecisionKind kind, WallTime now);

  bool dry_run_;
  DeploymentState state_ = DeploymentState::kHealthy;
  std::optional<Decision> last_decision_;
  std::map<std::string, WallTime> decided_episodes_;  // rule -> firing_since already decided
  std::uint64_t next_id_ = 1;
};

}  // namespace rs::sidecar
