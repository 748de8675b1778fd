// The deployment's decision machine: healthy -> pending -> firing -> rolling_back ->
// rolled_back | rollback_failed, with the latch, and the decisions it takes with their evidence.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

enum class DeploymentState { kHealthy, kPending, kFiring, kRollingBack, kRolledBack, kRollbackFailed };
const char* deployment_state_name(DeploymentState s);  // "healthy", ..., "rolling_back", ...
std::optional<DeploymentState> parse_deployment_state(const std::string& name);
std::vector<std::string> deployment_state_names();
// rolled_back and rollback_failed hold until a new deployment is configured.
bool is_latched(DeploymentState s);

// What one actuator did during a rollback.
struct ActuatorOutcome {
  std::string actuator;  // describe() of the actuator
  std::string result;    // "changed" | "noop" | "failure"
  std::string detail;
  int attempts = 0;
};

// A decision and its evidence. Rollback decisions also carry what the actuators did.
struct Decision {
  std::uint64_t id = 0;
  std::string kind;     // "rollback" | "notify" | "hold" (dry run: would roll back) | "noop"
  std::string trigger = "rule";  // "rule" | "alert" | "manual"
  std::string rule;
  std::string severity;
  std::string query;    // as sent to Prometheus
  std::string comparison;
  std::optional<double> value;
  double threshold = 0;
  Duration for_duration{0};
  Duration delay{0};
  std::optional<WallTime> first_breach;
  std::optional<WallTime> firing_since;
  WallTime decided_at;
  bool dry_run = false;
  std::string reason;                      // one line for humans
  std::vector<std::string> also_firing;    // other rules that were actionable at the same time
  // Trigger-specific evidence: the alert's labels, annotations, startsAt, generatorURL and
  // fingerprint; the manual request's actor. Null for rules.
  nlohmann::json details;
  // Rollback execution (kind rollback/noop):
  std::string result;                      // "" while running | "success" | "noop" | "failure"
  std::vector<ActuatorOutcome> actuators;  // also the stable-health checks ("ok" | "failure")
  std::string verification;                // "" (not configured) | "pending" | "verified" | "failed"
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

  // Decisions to take now; at most one has kind "rollback".
  std::vector<Decision> step(const std::vector<const RuleTracker*>& rules, WallTime now);

  void finish_rollback(const Decision& completed);
  // Replaces the last decision's record (same id) with a later view of it, e.g. its verification.
  void update_last_decision(const Decision& updated);

  // A rollback asked for by an alert or a person (`decision.trigger` "alert" | "manual"), with
  // its evidence filled in by the caller; id, kind, dry_run and decided_at are set here.
  // Returns nullopt when the deployment is rolled back or already rolling back (nothing to do),
  // or rollback_failed and the trigger is not "manual": a person may retry a failed rollback
  // (after fixing the router), an alert may not (its repeats would hammer a broken router).
  // In dry run the decision is "hold" and the state does not change.
  std::optional<Decision> external(Decision decision, WallTime now);

  DeploymentState state() const { return state_; }
  const std::optional<Decision>& last_decision() const { return last_decision_; }

 private:
  Decision evidence(const RuleTracker& rule, const std::string& kind, WallTime now);

  bool dry_run_;
  DeploymentState state_ = DeploymentState::kHealthy;
  std::optional<Decision> last_decision_;
  std::map<std::string, WallTime> decided_episodes_;  // rule -> firing_since already decided
  std::uint64_t next_id_ = 1;
};

}  // namespace rs::sidecar
