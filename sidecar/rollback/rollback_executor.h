// Runs the configured actuators in order to move all traffic back to stable.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "common/clock.h"
#include "sidecar/config/config.h"
#include "sidecar/policy/decision.h"

namespace rs::sidecar {

struct ExecutionReport {
  // kSuccess: something changed; kNoop: all traffic was already on stable; kFailure.
  RollbackResult result = RollbackResult::kNoop;
  std::vector<ActuatorOutcome> actuators;
  bool interrupted = false;  // shutdown cut the retries short: the rollback did not finish
};

// Contract: actuators run one after another in config order. A failed call is retried with
// exponential backoff (initial_backoff doubling up to max_backoff) while the shared deadline
// allows and the failure is retryable; the first actuator that finally fails stops the run
// (later ones are not called) and the result is "failure". Each call is counted in
// actuator_calls_total{actuator=<type>, result=changed|noop|failure} and logged; a final failure
// is logged at error naming the actuator and reason. Shutdown (Clock::interrupt) cuts the
// retries short; the caller keeps the state rolling_back so the next start resumes.
class RollbackExecutor {
 public:
  // Told about every actuator call (type, "changed" | "noop" | "failure"); the core counts them
  // in actuator_calls_total. A callback, not the metrics object: rollback/ sits below core/.
  using CallCounter = std::function<void(const std::string& actuator, const std::string& result)>;

  RollbackExecutor(std::vector<actuators::Actuator*> actuators, RollbackConfig config, Clock& clock,
                   CallCounter count_call = nullptr)
      : actuators_(std::move(actuators)), config_(config), clock_(clock), count_call_(std::move(count_call)) {}

  ExecutionReport run(const actuators::DecisionContext& context);
  // The same drive (order, retries, deadline, counting) for a promotion step.
  ExecutionReport set_canary_weight(int percent, const actuators::DecisionContext& context);

 private:
  using Call = std::function<actuators::ActResult(actuators::Actuator&, MonoTime deadline)>;
  ExecutionReport drive(const Call& call, const std::string& what);

  std::vector<actuators::Actuator*> actuators_;
  RollbackConfig config_;
  Clock& clock_;
  CallCounter count_call_;
};

}  // namespace rs::sidecar
