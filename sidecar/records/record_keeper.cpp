#include "sidecar/records/record_keeper.h"

#include <spdlog/spdlog.h>


namespace rs::sidecar {

RecordKeeper::RecordKeeper(const Config& config, SelfMetrics& metrics)
    : config_(config), metrics_(metrics), audit_(config.audit_log) {
  audit_.set_on_write_error([this] { metrics_.count_audit_write_error(); });
}

RecordKeeper::~RecordKeeper() { stop(); }

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
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
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

void RecordKeeper::record_startup(const std::string& version, const std::string& state) {
  const auto& d = config_.deployment;
  nlohmann::json fields = {{"version", version},
                           {"deployment", {{"name", d.name}, {"stage", d.stage}, {"strategy", d.strategy}, {"vars", d.vars}}},
                           {"identity", d.identity()},
                           {"state", state},
                           {"dry_run", config_.dry_run}};
  enqueue([this, fields] { audit_.record("startup", fields); });
}

void RecordKeeper::record_shutdown(const std::string& state) {
  enqueue([this, state] { audit_.record("shutdown", {{"reason", "signal"}, {"state", state}}); });
}

void RecordKeeper::record_notification(const nlohmann::json& fields) {
  enqueue([this, fields] { audit_.record("notification", fields); });
}

void RecordKeeper::on_decision(const Decision& decision) {
  nlohmann::json fields = {{"decision", to_json(decision)}};
  enqueue([this, fields] { audit_.record("decision", fields); });
}

void RecordKeeper::on_rollback_finished(const Decision& decision, const nlohmann::json& status) {
  enqueue([this, decision, status] {
    for (const auto& a : decision.actuators) {
      audit_.record("actuator_call", {{"decision_id", decision.id},
                                      {"actuator", a.actuator},
                                      {"attempts", a.attempts},
                                      {"result", a.result},
                                      {"detail", a.detail}});
    }
    std::string report;
    if (!config_.incidents_dir.empty() && decision.kind != "hold") write_incident(decision, status, &report);
    nlohmann::json completed = {{"decision_id", decision.id},
                                {"result", decision.result},
                                {"completed_at", decision.completed_at ? to_rfc3339(*decision.completed_at) : ""},
                                {"duration_seconds", decision.duration_seconds.value_or(0)},
                                {"actuators", to_json(decision)["actuators"]},
                                {"incident_report", report.empty() ? nlohmann::json(nullptr) : nlohmann::json(report)}};
    audit_.record("rollback_completed", completed);
    if (decision.verification == "pending") {  // the verdict comes with on_verification_finished
      audit_.record("verification", {{"decision_id", decision.id},
                                     {"result", decision.verification},
                                     {"detail", decision.verification_detail}});
    }
  });
}

void RecordKeeper::on_verification_finished(const Decision& decision, WallTime at) {
  enqueue([this, decision, at] {
    audit_.record("verification", {{"decision_id", decision.id},
                                   {"result", decision.verification},
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
    facts.timeline.push_back({at, "verification " + decision.verification + ": " + decision.verification_detail});
    std::string path;
    write_facts(facts, &path);
  });
}

void RecordKeeper::on_freeze(bool frozen, const std::string& reason, const std::string& actor) {
  enqueue([this, frozen, reason, actor] {
    if (frozen) audit_.record("freeze", {{"actor", actor}, {"reason", reason}});
    else audit_.record("unfreeze", {{"actor", actor}, {"reason", reason}});
  });
}

void RecordKeeper::write_incident(const Decision& decision, const nlohmann::json& status, std::string* path) {
  IncidentFacts facts;
  facts.deployment = config_.deployment;
  facts.decision = decision;
  for (const auto& r : status.value("rules", nlohmann::json::array())) {
    RuleSnapshot snapshot;
    snapshot.name = r.value("name", "");
    if (r.contains("value") && r["value"].is_number()) snapshot.value = r["value"].get<double>();
    snapshot.threshold = r.value("threshold", 0.0);
    snapshot.comparison = r.value("comparison", "");
    snapshot.state = r.value("state", "");
    facts.rules.push_back(snapshot);
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
  } else {
    spdlog::error("incident report for rollback #{} not written: {}", decision.id, error);
    metrics_.count_audit_write_error();
  }
}

}  // namespace rs::sidecar
