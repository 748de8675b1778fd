#include "sidecar/records/record_keeper.h"

#include <spdlog/spdlog.h>

namespace rs::sidecar {

RecordKeeper::RecordKeeper(const Config& config, SelfMetrics& metrics)
    : config_(config), metrics_(metrics), audit_(config.audit_log), own_health_(metrics) {
  set_persist_health(&own_health_);
}

RecordKeeper::~RecordKeeper() { stop(); }

void RecordKeeper::set_persist_health(PersistHealth* health) {
  if (!health) health = &own_health_;
  health_ = health;
  audit_.set_on_write_result([health](const std::string& error) {
    if (error.empty())
      health->succeeded(PersistFile::kAudit);
    else
      health->failed(PersistFile::kAudit, error);
  });
}

bool RecordKeeper::start(std::string* error) {
  if (!audit_.open(error)) return false;
  worker_ = std::thread([this] { run(); });
  return true;
}

void RecordKeeper::enqueue(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !worker_.joinable()) return;
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void RecordKeeper::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (!unwritten_.empty() || unwritten_incident_) {
      // A full or read-only disk: try the held records again every second until they are written.
      if (!cv_.wait_for(lock, kRetryEvery, [this] { return stopping_ || !queue_.empty(); })) {
        lock.unlock();
        retry_unwritten();
        lock.lock();
        continue;
      }
    } else {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    }
    if (queue_.empty()) {  // stopping and drained: one last try for what the disk refused
      lock.unlock();
      retry_unwritten();
      if (!unwritten_.empty() || unwritten_incident_) {
        spdlog::error("audit log {}: {} record(s){} not written at shutdown: the disk still refuses them",
                      audit_.path(), unwritten_.size(), unwritten_incident_ ? " and an incident report" : "");
      }
      return;
    }
    auto work = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    try {
      work();
    } catch (const std::exception& e) {
      spdlog::error("writing the record failed: {}", e.what());
      metrics_.count_audit_write_error();
    } catch (...) {  // an exception leaving this thread would end the sidecar
      spdlog::error("writing the record failed: unknown exception");
      metrics_.count_audit_write_error();
    }
    lock.lock();
  }
}

void RecordKeeper::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
}

// Audit records keep their order: while earlier ones wait for the disk, a new one queues behind
// them (bounded; the oldest are dropped and counted when the disk stays full for long).
void RecordKeeper::audit(const std::string& event, const nlohmann::json& fields) {
  if (!audit_.enabled()) return;
  if (unwritten_.empty() && audit_.record(event, fields)) return;
  metrics_.count_audit_write_error();  // once per record held back, not per retry
  unwritten_.emplace_back(event, fields);
  if (unwritten_.size() > kMaxUnwritten) {
    spdlog::warn("audit log {}: dropping the held {} record: more than {} records wait for the disk", audit_.path(),
                 unwritten_.front().first, kMaxUnwritten);
    unwritten_.pop_front();
  }
  if (unwritten_.size() > 1) retry_unwritten();
}

void RecordKeeper::retry_unwritten() {
  while (!unwritten_.empty() && audit_.record(unwritten_.front().first, unwritten_.front().second)) {
    unwritten_.pop_front();
  }
  if (unwritten_incident_) {
    const IncidentFacts facts = *unwritten_incident_;
    std::string path;
    write_facts(facts, &path);
  }
}

void RecordKeeper::record_startup(const std::string& version, const std::string& state) {
  const auto& d = config_.deployment;
  nlohmann::json fields = {
      {"version", version},
      {"deployment", {{"name", d.name}, {"stage", d.stage}, {"strategy", d.strategy}, {"vars", d.vars}}},
      {"identity", d.identity()},
      {"state", state},
      {"dry_run", config_.dry_run}};
  enqueue([this, fields] { audit("startup", fields); });
}

void RecordKeeper::record_shutdown(const std::string& state) {
  enqueue([this, state] { audit("shutdown", {{"reason", "signal"}, {"state", state}}); });
}

void RecordKeeper::record_notification(const nlohmann::json& fields) {
  enqueue([this, fields] { audit("notification", fields); });
}

void RecordKeeper::on_decision(const Decision& decision) {
  nlohmann::json fields = {{"decision", to_json(decision)}};
  enqueue([this, fields] { audit("decision", fields); });
}

void RecordKeeper::on_rollback_finished(const Decision& decision, const StatusView& status) {
  enqueue([this, decision, status] {
    for (const auto& a : decision.actuators) {
      audit("actuator_call", {{"decision_id", decision.id},
                              {"actuator", a.actuator},
                              {"attempts", a.attempts},
                              {"result", step_result_name(a.result)},
                              {"detail", a.detail}});
    }
    std::string report;
    if (!config_.incidents_dir.empty() && decision.kind != DecisionKind::kHold)
      write_incident(decision, status, &report);
    nlohmann::json completed = {{"decision_id", decision.id},
                                {"result", rollback_result_name(decision.result)},
                                {"completed_at", decision.completed_at ? to_rfc3339(*decision.completed_at) : ""},
                                {"duration_seconds", decision.duration_seconds.value_or(0)},
                                {"actuators", to_json(decision)["actuators"]},
                                {"incident_report", report.empty() ? nlohmann::json(nullptr) : nlohmann::json(report)}};
    audit("rollback_completed", completed);
    if (decision.verification == Verification::kPending) {  // the verdict comes with on_verification_finished
      audit("verification", {{"decision_id", decision.id},
                             {"result", verification_name(decision.verification)},
                             {"detail", decision.verification_detail}});
    }
  });
}

void RecordKeeper::on_verification_finished(const Decision& decision, WallTime at) {
  enqueue([this, decision, at] {
    audit("verification", {{"decision_id", decision.id},
                           {"result", verification_name(decision.verification)},
                           {"detail", decision.verification_detail}});
    if (config_.incidents_dir.empty()) return;
    IncidentFacts facts;
    if (last_incident_ && last_incident_->decision.id == decision.id) {
      facts = *last_incident_;
    } else {  // e.g. verified after a restart: the rules at decision time are gone
      facts.deployment = config_.deployment;
      facts.timeline = decision_timeline(decision);
    }
    facts.decision = decision;
    facts.timeline.push_back({at, std::string("verification ") + verification_name(decision.verification) + ": " +
                                      decision.verification_detail});
    std::string path;
    write_facts(facts, &path);
  });
}

void RecordKeeper::on_freeze(const FreezeEvent& event) {
  enqueue([this, event] {
    if (event.frozen)
      audit("freeze", {{"actor", event.actor}, {"reason", event.reason}, {"since", to_rfc3339(event.at)}});
    else
      audit("unfreeze", {{"actor", event.actor}, {"reason", event.reason}});
  });
}

void RecordKeeper::write_incident(const Decision& decision, const StatusView& status, std::string* path) {
  IncidentFacts facts;
  facts.deployment = config_.deployment;
  facts.decision = decision;
  for (const auto& r : status.rules) {
    facts.rules.push_back({r.rule->name, r.status.value, r.rule->threshold, r.rule->comparison, r.status.state});
  }
  facts.timeline = decision_timeline(decision);
  write_facts(facts, path);
}

void RecordKeeper::write_facts(const IncidentFacts& facts, std::string* path) {
  const Decision& decision = facts.decision;
  last_incident_ = facts;
  std::string error;
  if (write_incident_report(config_.incidents_dir, facts, path, &error)) {
    spdlog::info("incident report for rollback #{} written to {}", decision.id, *path);
    health_->succeeded(PersistFile::kIncident);
    if (unwritten_incident_ && unwritten_incident_->decision.id == decision.id) unwritten_incident_.reset();
  } else {
    if (!unwritten_incident_) metrics_.count_audit_write_error();  // once per report, not per retry
    unwritten_incident_ = facts;  // written when the disk takes it (the worker retries every second)
    health_->failed(PersistFile::kIncident,
                    "incident report for rollback #" + std::to_string(decision.id) + " not written: " + error);
  }
}

}  // namespace rs::sidecar
