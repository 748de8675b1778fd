// One evaluation cycle: query every rule, track its state, decide, roll back, persist, export.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actuators/actuator.h"
#include "promql/client.h"
#include "sidecar/clock.h"
#include "sidecar/config.h"
#include "sidecar/decision.h"
#include "sidecar/rollback_executor.h"
#include "sidecar/rule_tracker.h"
#include "sidecar/self_metrics.h"
#include "sidecar/state_store.h"

namespace rs::sidecar {

// Contract:
// - restore() must be called once before the first evaluate_once(); it fails only when the
//   state file exists but cannot be read (the sidecar must not start and forget a latch).
// - evaluate_once() is called from one thread (the scheduler); it never throws. A rollback
//   runs inside it, so no evaluation overlaps a rollback.
// - status(), ready() and state() are safe from any thread at any time.
class Engine {
 public:
  Engine(const Config& config, std::vector<actuators::Actuator*> actuators, promql::Client& client, Clock& clock,
         SelfMetrics& metrics, const StateStore& store);

  bool restore(std::string* error);
  void evaluate_once();

  nlohmann::json status() const;  // the /api/v1/status document
  bool ready() const { return ready_.load(); }  // true after the first complete evaluation
  DeploymentState state() const;

 private:
  void restore_from(const std::optional<PersistedState>& saved);
  Observation observe_outcome(std::size_t index, const promql::QueryOutcome& outcome);
  void log_rule_transition(const RuleTracker& tracker, RuleState before);
  void take_decision(Decision decision);
  void execute_rollback(Decision decision, MonoTime decided_mono);
  void persist();
  void publish_state();

  const Config& config_;
  promql::Client& client_;
  Clock& clock_;
  SelfMetrics& metrics_;
  const StateStore& store_;
  RollbackExecutor executor_;

  mutable std::mutex mu_;  // guards everything below that status() reads
  std::vector<RuleTracker> trackers_;
  DecisionMachine machine_;
  std::optional<WallTime> last_evaluation_;
  std::uint64_t evaluations_ = 0;
  std::optional<Decision> resume_;          // interrupted rollback to finish first
  std::vector<std::string> last_warnings_;  // per rule, so repeated Prometheus warnings log once
  std::vector<std::string> last_errors_;    // per rule, so a persisting query error logs once
  std::atomic<bool> ready_{false};
};

}  // namespace rs::sidecar
