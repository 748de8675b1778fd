// One rollback run, start to finish: stagger -> preflight -> actuators -> after-switch health
// -> the verification to await. The engine decides and records; this runs.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "common/clock.h"
#include "sidecar/config/config.h"
#include "sidecar/policy/decision.h"
#include "sidecar/rollback/rollback_checks.h"
#include "sidecar/rollback/rollback_executor.h"

namespace rs::sidecar {

struct RollbackRunReport {
  RollbackResult result = RollbackResult::kFailure;
  // The preflight check, each actuator, the after-switch check, in order. Details quote process
  // output and HTTP bodies and are made valid UTF-8 here, before they reach any record.
  std::vector<ActuatorOutcome> steps;
  // Shutdown cut the stagger or the retries short: the rollback did not finish, the state stays
  // rolling_back, and the next start resumes it. Nothing else in the report is meaningful then.
  bool interrupted = false;
  double duration_seconds = 0;  // decision -> router state verified (monotonic clock)
  // What is left to check: kNone (rollback.verify off, or nothing changed), kPending (the
  // verification window starts now), kFailed (the stable version failed its health check right
  // after the switch: final at once).
  Verification verification = Verification::kNone;
  std::string verification_detail;
};

// Contract:
// - replica_index * stagger is waited first (on the injected clock), so one replica acts first.
// - With rollback.preflight, traffic is moved only when the stable version is healthy; an
//   unhealthy stable version is a failure and no actuator runs.
// - Actuators run under `actuation` (held by promotion steps too), so a promotion step can never
//   land after a rollback and undo it.
// - After a successful switch the stable version's health URL is checked again (when preflight
//   has one); with rollback.verify that check's failure fails the verification.
// - Never throws; logs what it does, naming the decision id.
class RollbackRun {
 public:
  // `stable_check` may be null (no rollback.preflight). All references must outlive the run.
  RollbackRun(const RollbackConfig& config, RollbackExecutor& executor, StableHealthCheck* stable_check, Clock& clock,
              std::mutex& actuation)
      : config_(config), executor_(executor), stable_check_(stable_check), clock_(clock), actuation_(actuation) {}

  RollbackRunReport run(std::uint64_t decision_id, const actuators::DecisionContext& context, MonoTime decided_mono);

 private:
  const RollbackConfig& config_;
  RollbackExecutor& executor_;
  StableHealthCheck* stable_check_;
  Clock& clock_;
  std::mutex& actuation_;
};

}  // namespace rs::sidecar
