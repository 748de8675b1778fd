#include "sidecar/rollback/rollback_run.h"

#include <spdlog/spdlog.h>

#include "common/duration.h"
#include "common/utf8.h"

namespace rs::sidecar {

RollbackRunReport RollbackRun::run(std::uint64_t decision_id, const actuators::DecisionContext& context,
                                   MonoTime decided_mono) {
  RollbackRunReport report;
  const Duration wait = config_.stagger * config_.replica_index;
  if (wait.count() > 0) {
    spdlog::info("rollback #{}: replica {} waits {} so one replica acts first", decision_id, config_.replica_index,
                 common::format_duration(wait));
    if (!clock_.sleep_until(clock_.mono() + wait)) {  // shutting down: resumes on the next start
      report.interrupted = true;
      return report;
    }
  }
  bool stable_healthy = true;
  if (stable_check_) {
    CheckResult preflight = stable_check_->run();
    stable_healthy = preflight.ok;
    report.steps.push_back({"preflight: stable version health", preflight.ok ? StepResult::kOk : StepResult::kFailure,
                            preflight.detail, 1});
    if (!preflight.ok) {
      report.result = RollbackResult::kFailure;
      spdlog::critical(
          "rollback #{} NOT DONE: the stable version is not healthy ({}); traffic was not moved. "
          "Fix the stable version, then roll back by hand or with POST /api/v1/rollback",
          decision_id, preflight.detail);
    }
  }
  if (stable_healthy) {
    std::lock_guard<std::mutex> actuating(actuation_);
    ExecutionReport actuated = executor_.run(context);
    if (actuated.interrupted) {
      spdlog::warn("rollback #{} interrupted by shutdown; it resumes on the next start", decision_id);
      report.interrupted = true;
      return report;
    }
    report.result = actuated.result;
    report.steps.insert(report.steps.end(), actuated.actuators.begin(), actuated.actuators.end());
  }
  report.duration_seconds = std::chrono::duration<double>(clock_.mono() - decided_mono).count();
  bool healthy_after_switch = true;
  if (report.result == RollbackResult::kSuccess && stable_check_ && stable_check_->checks_http()) {
    CheckResult after = stable_check_->run_http();
    healthy_after_switch = after.ok;
    report.steps.push_back(
        {"after switch: stable version health", after.ok ? StepResult::kOk : StepResult::kFailure, after.detail, 1});
    if (!after.ok)
      spdlog::error("rollback #{}: traffic is on stable but stable is not healthy: {}", decision_id, after.detail);
  }
  for (auto& step : report.steps) step.detail = common::valid_utf8(step.detail);
  if (report.result == RollbackResult::kSuccess && config_.verify.enabled) {
    if (healthy_after_switch) {
      report.verification = Verification::kPending;
    } else {
      report.verification = Verification::kFailed;
      report.verification_detail = report.steps.back().detail;
    }
  }
  return report;
}

}  // namespace rs::sidecar
