// Keeps the record of decisions off the rollback path: audit log lines and incident reports are
// written by one background thread, in order, so an fsync never delays an actuator.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "sidecar/records/audit_log.h"
#include "sidecar/records/incident_report.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/persist_health.h"
#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {

// Contract: the DecisionObserver calls only queue work and return at once. The worker writes
// audit records (decision, actuator_call, verification, rollback_completed, freeze/unfreeze,
// startup/shutdown) and, after every finished rollback and every verification verdict, the
// incident report; write failures are never thrown: they are counted (audit_write_errors_total
// once per record, persist_errors_total{file="audit"|"incident"} per attempt), logged once until
// the disk takes writes again (PersistHealth), and the refused records (at most 1000, in order)
// and the last refused incident report are written again every second until they are. stop()
// drains what is queued, then ends the worker. Records queued but not yet written when the
// process is killed (-9) are lost; the state file still holds the decision, and a rollback that
// was cut short is re-run (and re-recorded) on the next start.
class RecordKeeper : public DecisionObserver {
 public:
  RecordKeeper(const Config& config, SelfMetrics& metrics);
  ~RecordKeeper() override;

  // Opens the audit log (false + error naming the path if it cannot) and starts the worker.
  bool start(std::string* error);
  void record_startup(const std::string& version, const std::string& state);
  void record_shutdown(const std::string& state);
  // One notification delivery attempt (fields from NotificationDispatcher).
  void record_notification(const nlohmann::json& fields);
  void stop();
  // Where audit and incident write failures are reported (logged once, /readyz); not owned;
  // call before start(). Without it the keeper reports to a PersistHealth of its own.
  void set_persist_health(PersistHealth* health);

  void on_decision(const Decision& decision) override;
  void on_rollback_finished(const Decision& decision, const StatusView& status) override;
  void on_verification_finished(const Decision& decision, WallTime at) override;
  void on_freeze(const FreezeEvent& event) override;

 private:
  void enqueue(std::function<void()> work);
  void run();
  void write_incident(const Decision& decision, const StatusView& status, std::string* path);
  void write_facts(const IncidentFacts& facts, std::string* path);
  void audit(const std::string& event, const nlohmann::json& fields);  // worker thread only
  void retry_unwritten();                                              // worker thread only

  static constexpr std::size_t kMaxUnwritten = 1000;
  static constexpr std::chrono::seconds kRetryEvery{1};

  const Config& config_;
  SelfMetrics& metrics_;
  AuditLog audit_;
  PersistHealth own_health_;
  PersistHealth* health_ = nullptr;
  // The last incident's facts (worker thread only), so a later verdict rewrites the report with
  // the rules as they stood at decision time.
  std::optional<IncidentFacts> last_incident_;
  // Records the disk refused (full, read-only), oldest first, and the last incident report not
  // written; the worker writes them again every second, so nothing is lost to a brief full disk.
  std::deque<std::pair<std::string, nlohmann::json>> unwritten_;
  std::optional<IncidentFacts> unwritten_incident_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace rs::sidecar
