// Delivers notifications (rollback started / succeeded / failed, ...) to the configured
// notifiers off the rollback path, at least once, in order per notifier.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/persist_health.h"
#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {

// The messages a decision yields: RollbackStarted when a rollback is decided, RollbackSucceeded
// or RollbackFailed when it ends (success/noop, failure), RollbackUnverified when its
// verification fails afterwards, RollbackDryRun for a dry run's "would roll back", RuleNotify for
// a rule with action: notify.
notifiers::Notification make_notification(const Config& config, const Decision& decision, const std::string& message,
                                          const std::string& state);

// Contract:
// - The DecisionObserver calls only queue messages and return at once; one worker thread
//   persists the outbox and sends. A slow or failing notifier never delays an actuator.
// - Each (message, notifier) is an outbox entry. Entries of one notifier go out in order: a
//   later message waits while an earlier one is being retried. Failed attempts are retried with
//   backoff (1s doubling to 5 min) until the notifier's give_up_after, measured from when the
//   message was queued; a non-retryable failure (e.g. HTTP 400) drops it at once.
// - Every attempt is counted (rollback_sidecar_notifications_total{notifier=<type>,
//   result=success|failure}); a dropped message also counts result="dropped" and is logged at
//   error. Every attempt is handed to `on_attempt` (the audit log's "notification" record).
// - At-least-once across crashes: the outbox (pending entries, and the ids of messages already
//   queued) is written atomically to `outbox_path` before the first attempt of a new entry and
//   after every change. After a restart, start() reloads it, and recover() queues the messages
//   the persisted last decision should have produced but that never reached the outbox (a kill
//   -9 between the decision and the outbox write). Receivers may see a message twice (same id).
// - Without an outbox path (no state_file) the outbox lives in memory only.
// - stop() ends the worker after the attempt in flight; undelivered entries stay in the outbox
//   file for the next start.
class NotificationDispatcher : public DecisionObserver {
 public:
  struct Target {
    notifiers::Notifier* notifier;
    NotifierSpec spec;
  };
  using AttemptSink = std::function<void(const nlohmann::json& fields)>;

  NotificationDispatcher(const Config& config, std::vector<Target> targets, SelfMetrics& metrics, Clock& clock,
                         std::string outbox_path, AttemptSink on_attempt);
  ~NotificationDispatcher() override;

  // Loads the outbox file (a corrupt file is moved aside to <path>.corrupt and logged, never
  // fatal: losing notifications must not stop a rollback) and starts the worker.
  void start();
  void recover(const std::optional<Decision>& last_decision);
  // Outbox write failures are reported here (logged once, /readyz) and the write is retried
  // about every second until it works; not owned, may be null; call before start().
  void set_persist_health(PersistHealth* health) { health_ = health; }
  void stop();
  std::size_t pending() const;

  void on_decision(const Decision& decision) override;
  void on_rollback_finished(const Decision& decision, const StatusView& status) override;
  // A failed verification sends RollbackUnverified; a verified one sends nothing.
  void on_verification_finished(const Decision& decision, WallTime at) override;
  void on_freeze(const FreezeEvent&) override {}

  // <state_file>.notifications, or "" without a state file.
  static std::string outbox_path_for(const std::string& state_file);

 private:
  struct Entry {
    std::string key;  // notification id + "|" + notifier describe()
    std::size_t target = 0;
    notifiers::Notification notification;
    WallTime queued_at;
    int attempts = 0;
    MonoTime next_attempt;
  };

  void enqueue(const Decision& decision, const std::string& message, DeploymentState state);
  void run();
  void persist_locked();
  void load();
  std::optional<std::size_t> next_due_locked(MonoTime now, MonoTime* earliest) const;
  void finish_attempt(std::size_t index, const notifiers::SendResult& result);

  const Config& config_;
  std::vector<Target> targets_;
  SelfMetrics& metrics_;
  Clock& clock_;
  std::string outbox_path_;
  AttemptSink on_attempt_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> entries_;
  std::deque<std::string> queued_ids_;  // notification ids already queued (bounded), for recover()
  bool dirty_ = false;
  std::optional<MonoTime> persist_retry_at_;  // the last outbox write failed: write again then
  PersistHealth* health_ = nullptr;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace rs::sidecar
