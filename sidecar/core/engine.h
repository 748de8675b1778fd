// One evaluation cycle: query every rule, track its state, decide, roll back, persist, export.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "actuators/actuator.h"
#include "promql/client.h"
#include "common/clock.h"
#include "common/env/env.h"
#include "sidecar/config/config.h"
#include "sidecar/policy/decision.h"
#include "sidecar/policy/promotion_machine.h"
#include "sidecar/rollback/rollback_checks.h"
#include "sidecar/rollback/rollback_executor.h"
#include "sidecar/rollback/rollback_run.h"
#include "sidecar/policy/rule_judge.h"
#include "sidecar/policy/rule_tracker.h"
#include "sidecar/core/persist_health.h"
#include "sidecar/core/rule_queries.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/core/state_store.h"
#include "sidecar/core/status_view.h"

namespace rs::sidecar {

// A freeze set (frozen) or lifted, by whom, why, and when (the freeze's `since` when set).
struct FreezeEvent {
  bool frozen = false;
  std::string reason;
  std::string actor;
  WallTime at;
};

// Told about decisions and rollbacks (audit log, notifiers, incident reports). Calls come from
// the thread that decided, so implementations must return quickly: anything slow (network,
// fsync) is queued, never done inline, so an observer never delays an actuator.
class DecisionObserver {
 public:
  virtual ~DecisionObserver() = default;
  // Any decision (rollback, notify, hold), before a rollback's actuators run.
  virtual void on_decision(const Decision& decision) = 0;
  // A rollback finished (result success | noop | failure); `status` is the engine's view then.
  virtual void on_rollback_finished(const Decision& decision, const StatusView& status) = 0;
  // The rollback's verification reached its verdict at `at` (decision.verification is
  // verified | failed); at most once per rollback, after on_rollback_finished.
  virtual void on_verification_finished(const Decision& decision, WallTime at) = 0;
  // Freeze set or lifted.
  virtual void on_freeze(const FreezeEvent& event) = 0;
};

// A rollback asked for from outside the rules.
struct RollbackRequest {
  Trigger trigger = Trigger::kManual;  // alert | manual
  std::string name;                    // alertname, or "manual"
  std::string severity;                // alert's severity label; "" for manual
  std::string reason;                  // one line for humans
  std::optional<WallTime> started_at;  // alert's startsAt (detection time is measured from it)
  nlohmann::json details;              // evidence: alert labels/annotations/..., or actor
};

// What an intake should do with a firing alert (Engine::admit_alert).
enum class AlertAdmission {
  kNew,        // first time: act on it
  kDuplicate,  // already acted on (a retry, a repeat, a resend after a restart)
  kStale,      // started before this deployment began: about an earlier deployment
};

struct RollbackRequestResult {
  bool accepted = false;  // a decision was taken (rollback, or hold in dry run)
  std::uint64_t decision_id = 0;
  DecisionKind kind = DecisionKind::kRollback;  // rollback | hold, when accepted
  std::string state;                            // deployment state after the request
  std::string message;                          // why not accepted, or what happens next
};
// {"accepted", "state", "message"} (+ "decision_id", "decision" when accepted): how the API and
// the intakes answer a request.
nlohmann::json to_json(const RollbackRequestResult& r);

// Contract:
// - restore() must be called once before the first evaluate_once(); it fails only when the
//   state file exists but cannot be read (the sidecar must not start and forget a latch).
// - evaluate_once() is called from one thread (the scheduler); it never throws. A rollback
//   runs inside it, so no evaluation overlaps a rollback.
// - status(), ready() and state() are safe from any thread at any time.
class Engine {
 public:
  // Time and the preflight's HTTP come from `env` (its clock must outlive the engine).
  Engine(const Config& config, std::vector<actuators::Actuator*> actuators, promql::Client& client, const Env& env,
         SelfMetrics& metrics, const StateStore& store);

  bool restore(std::string* error);
  void evaluate_once();

  // Takes a rollback decision for an alert or a person and runs the actuators on a background
  // thread (the call returns at once). Not accepted when already rolling back or latched.
  RollbackRequestResult request_rollback(const RollbackRequest& request);
  // De-duplication and staleness of a firing alert, by its key (identity@startsAt) and startsAt
  // (none when unknown: Go's zero time or out of range, never stale). New keys are remembered
  // (the last kMaxSeenAlerts) in the state file, so a resend after a restart is a duplicate.
  AlertAdmission admit_alert(const std::string& key, std::optional<WallTime> started_at);
  // When this deployment identity was first seen (persisted); none when an older state file of
  // the same identity did not record it.
  std::optional<WallTime> deployment_since() const;
  static constexpr std::size_t kMaxSeenAlerts = 1000;
  // Freeze blocks promotion, never a rollback; it is persisted and survives restarts.
  void set_freeze(const std::string& reason, const std::string& actor);
  // False when there was no freeze; `reason` (optional) is passed on to the observers.
  bool clear_freeze(const std::string& actor, const std::string& reason = "");
  void add_observer(DecisionObserver* observer);  // before the first evaluation
  // The scheduler moved its tick grid (scrape alignment): the next evaluation's time starts a new
  // grid instead of being snapped to the old one. Any thread.
  void restart_grid();
  // What the status shows under "alignment" (scrape_aligner.h); called under the engine's lock,
  // so it must not call back into the engine. Before the first evaluation. Without one the
  // status says "fixed".
  void set_alignment_source(std::function<AlignmentView()> source) { alignment_source_ = std::move(source); }
  // cleanup.actuators: run cleanup.delay after a successful rollback (before the first evaluation).
  void set_cleanup_actuators(std::vector<actuators::Actuator*> actuators);
  // Waits for a background rollback to end (call after the scheduler stopped).
  void shutdown();
  ~Engine();

  StatusView status_view() const;
  nlohmann::json status() const { return to_json(status_view()); }  // the /api/v1/status document
  std::optional<Freeze> freeze() const;
  bool ready() const { return ready_.load(); }  // true after the first complete evaluation
  DeploymentState state() const;
  // Whether a rule is pending or firing: its `for` or `delay` is being measured in time.
  bool timing_a_rule() const;
  std::optional<Decision> last_decision() const;  // the latest decision, as persisted
  // Write health of the state file; the records (audit, incidents, outbox) report here too, and
  // /readyz answers 503 while any of them fails.
  PersistHealth& persist_health() { return persist_health_; }

 private:
  void restore_from(const std::optional<PersistedState>& saved);
  // One answer in query slot `slot` (queries_) as an observation: a query error counted under
  // the rule's name and logged; several series reduced (worst, or summed for min_samples).
  Observation read_answer(std::size_t slot, const promql::QueryOutcome& outcome);
  // Rule `index`'s observation from its answers: its value alone, or the judges' verdict when it
  // has `baseline` and/or `min_samples` (judges.h).
  Observation judge_rule(std::size_t index, const std::vector<promql::QueryOutcome>& outcomes);
  void log_rule_transition(const RuleTracker& tracker, RuleState before);
  void take_decision(Decision decision);
  void execute_rollback(Decision decision, MonoTime decided_mono);
  void persist();
  // Under mu_: whether the tests' state should be written now (a verdict changed, or it is due).
  bool tests_due(MonoTime mono);
  void publish_state();
  StatusView status_view_locked() const;
  void observe_verification(const promql::QueryOutcome& outcome, WallTime now);
  void record_verdict();
  void advance_promotion(WallTime now);
  void run_cleanup_if_due();
  WallTime evaluation_time();
  MonoTime evaluation_mono();

  const Config& config_;
  promql::Client& client_;
  Clock& clock_;
  SelfMetrics& metrics_;
  const StateStore& store_;
  PersistHealth persist_health_;
  // The last state write failed (full or read-only disk): the next tick writes it again, so the
  // latch reaches the disk when space returns even if nothing changes any more.
  std::atomic<bool> persist_pending_{false};
  std::mutex persist_mu_;  // one state write at a time (ticks and a background rollback)
  RollbackExecutor executor_;

  mutable std::mutex mu_;  // guards everything below that status() reads
  std::vector<RuleTracker> trackers_;
  std::vector<RuleHistory> history_;  // per rule: its recent evaluations, for the status page's chart
  DecisionMachine machine_;
  PromotionMachine promotion_;
  std::optional<WallTime> last_evaluation_;
  std::optional<WallTime> grid_origin_;  // wall time of the evaluation the schedule grid starts at
  // The same grid on the monotonic clock, which measures the rules' `for` and `delay`.
  std::optional<MonoTime> mono_grid_origin_;
  std::optional<MonoTime> last_mono_;
  std::atomic<bool> restart_grid_{false};
  std::function<AlignmentView()> alignment_source_;
  std::uint64_t evaluations_ = 0;
  std::optional<Decision> resume_;  // interrupted rollback to finish first
  const RuleQueries queries_;       // every rule's queries, one batch per evaluation
  // The same batch plus the verification's query (built once: no copy per tick).
  const std::vector<std::string> queries_verifying_;
  std::vector<RuleJudge> judges_;               // per rule: its judges (and sequential test state)
  std::vector<std::string> last_judge_errors_;  // per rule, so bad data a judge refuses logs once
  // Sequential tests are persisted on a verdict change and at most every kTestPersistEvery
  // otherwise: their counters are cumulative, so a restart from an older state loses no events.
  static constexpr std::chrono::seconds kTestPersistEvery{30};
  std::optional<MonoTime> tests_persisted_;
  std::vector<SequentialVerdict> test_verdicts_;  // per rule, as last persisted
  std::vector<std::string> last_warnings_;        // per query slot, so repeated Prometheus warnings log once
  std::vector<std::string> last_errors_;          // per query slot, so a persisting query error logs once
  std::optional<Freeze> freeze_;
  std::optional<WallTime> deployment_since_;
  std::deque<std::string> seen_alerts_;  // oldest first, at most kMaxSeenAlerts
  std::set<std::string> seen_alert_set_;
  // Held while actuators run (rollback or promotion step), so a promotion step can never land
  // after a rollback and undo it.
  std::mutex actuation_mu_;
  std::unique_ptr<RollbackExecutor> cleanup_executor_;
  std::optional<MonoTime> cleanup_due_;
  std::optional<Decision> cleanup_for_;
  std::unique_ptr<StableHealthCheck> stable_check_;  // rollback.preflight, when configured
  RollbackRun rollback_run_;
  RollbackVerification verification_;  // rollback.verify
  std::atomic<bool> verification_changed_{false};
  std::optional<std::pair<Decision, WallTime>> verdict_to_record_;  // told to observers outside mu_
  std::atomic<bool> ready_{false};
  std::vector<DecisionObserver*> observers_;
  std::thread background_;  // an alert's or a person's rollback
  std::mutex background_mu_;
};

}  // namespace rs::sidecar
