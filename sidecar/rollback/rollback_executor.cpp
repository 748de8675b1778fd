#include "sidecar/rollback/rollback_executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace rs::sidecar {

ExecutionReport RollbackExecutor::run(const actuators::DecisionContext& context) {
  return drive([&](actuators::Actuator& a, MonoTime deadline) { return a.rollback(context, deadline); }, "rollback");
}

ExecutionReport RollbackExecutor::set_canary_weight(int percent, const actuators::DecisionContext& context) {
  return drive(
      [&](actuators::Actuator& a, MonoTime deadline) { return a.set_canary_weight(percent, context, deadline); },
      "canary weight " + std::to_string(percent) + "%");
}

ExecutionReport RollbackExecutor::drive(const Call& call, const std::string& what) {
  ExecutionReport report;
  report.result = RollbackResult::kNoop;
  const MonoTime deadline = clock_.mono() + config_.deadline;
  for (actuators::Actuator* actuator : actuators_) {
    ActuatorOutcome outcome;
    outcome.actuator = actuator->describe();
    Duration backoff = config_.initial_backoff;
    while (true) {
      ++outcome.attempts;
      actuators::ActResult result = call(*actuator, deadline);
      outcome.detail = result.detail;
      if (result.ok) {
        outcome.result = result.change == actuators::Change::kChanged ? StepResult::kChanged : StepResult::kNoop;
      } else {
        outcome.result = StepResult::kFailure;
      }
      if (count_call_) count_call_(actuator->type(), step_result_name(outcome.result));
      if (result.ok) {
        spdlog::info("actuator {} ({}): {} ({})", outcome.actuator, what, step_result_name(outcome.result),
                     result.detail);
        break;
      }
      const bool time_left = clock_.mono() + backoff < deadline;
      if (!result.retryable || !time_left) {
        spdlog::error("actuator {} ({}) failed after {} attempt(s): {}", outcome.actuator, what, outcome.attempts,
                      result.detail);
        break;
      }
      spdlog::warn("actuator {} attempt {} failed, retrying in {}ms: {}", outcome.actuator, outcome.attempts,
                   backoff.count(), result.detail);
      if (!clock_.sleep_until(clock_.mono() + backoff)) {
        outcome.detail += " (retries stopped: shutting down)";
        report.interrupted = true;
        spdlog::error("actuator {} ({}) not retried: shutting down", outcome.actuator, what);
        break;
      }
      backoff = std::min(config_.max_backoff, backoff * 2);
    }
    report.actuators.push_back(outcome);
    if (outcome.result == StepResult::kFailure) {
      report.result = RollbackResult::kFailure;
      return report;
    }
    if (outcome.result == StepResult::kChanged) report.result = RollbackResult::kSuccess;
  }
  return report;
}

}  // namespace rs::sidecar
