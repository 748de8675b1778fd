// The sidecar's own Prometheus metrics (DESIGN §4), served on /metrics.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
class Histogram;
}  // namespace prometheus

namespace rs::sidecar {

// Contract: every method is thread-safe and cheap (no I/O). Label sets that dashboards and
// alert rules rely on (every rule_state/deployment_state value, every rollbacks_total
// result x trigger) exist from startup with 0, so rate() and absent() work from the start.
class SelfMetrics {
 public:
  // `rules` are the configured rule names; `deployment_states` every DecisionMachine state name.
  SelfMetrics(const std::string& version, const std::vector<std::string>& rules,
              const std::vector<std::string>& deployment_states);
  ~SelfMetrics();
  SelfMetrics(const SelfMetrics&) = delete;
  SelfMetrics& operator=(const SelfMetrics&) = delete;

  // Creates a rule's and an actuator's counters at 0 (decisions by kind, query errors by reason,
  // actuator calls by result), so increase() sees their first event.
  void declare_rule(const std::string& rule, const std::string& severity);
  void declare_actuator(const std::string& actuator_type);
  void declare_notifier(const std::string& notifier_type);  // success/failure/dropped at 0

  // A rule's last evaluation. `value` NaN means no value (nodata/error): the gauge shows NaN.
  void set_rule(const std::string& rule, double value, double threshold, const std::string& state);
  void count_decision(const std::string& decision, const std::string& rule, const std::string& severity);
  void count_rollback(const std::string& result, const std::string& trigger);
  void observe_rollback_duration(double seconds);
  void observe_detection(double seconds);
  void observe_query_duration(const std::string& rule, double seconds);
  void count_query_error(const std::string& rule, const std::string& reason);
  void count_actuator_call(const std::string& actuator, const std::string& result);
  // count_actuator_call as a callback for the rollback executor (which cannot see this class).
  std::function<void(const std::string&, const std::string&)> actuator_call_counter() {
    return [this](const std::string& actuator, const std::string& result) { count_actuator_call(actuator, result); };
  }
  void set_deployment_state(const std::string& state);
  void set_last_evaluation(double unix_seconds);
  void count_evaluation_overruns(double missed_ticks);
  // Scrape-aligned evaluation (scrape_aligner.h): the newest sample's age when an evaluation
  // started, and each wait for a scrape's samples (landed, or missed after the longest wait).
  void set_evaluation_sample_lag(double seconds);
  void count_alignment_wait(bool landed);
  void set_dry_run(bool dry_run);
  void set_freeze(bool frozen);
  // Progressive promotion: the canary's traffic share (percent) and the step (1-based; 0 before).
  void set_promotion(int canary_weight_percent, int step);
  // 1 when the last rollback was verified by rollback.verify, 0 while pending or when it failed.
  void set_rollback_verified(bool verified);
  // HTTP API requests by endpoint (route pattern) and status code.
  void count_api_request(const std::string& endpoint, int code);
  // Alertmanager alerts received, by what became of them: matched, ignored (labels do not
  // match), ignored_stale (started before this deployment began), resolved, duplicate (already
  // acted on, also before a restart), rejected (bad payload).
  void count_alert(const std::string& result);
  // CloudWatch alarm messages (POST /api/v1/cloudwatch), by result: matched, duplicate, ignored,
  // ignored_stale, not_alarm, subscription_confirmed, subscription_logged, unsubscribed, rejected_auth,
  // rejected_malformed, rejected_signature, rejected_topic, rejected_stale, error.
  void count_cloudwatch(const std::string& result);
  void count_notification(const std::string& notifier, const std::string& result);
  void count_audit_write_error();
  // A state / audit / incident / outbox write that failed (file: "state" | "audit" | "incident" |
  // "outbox"); PersistHealth calls it.
  void count_persist_error(const std::string& file);
  // The listen port's guards (web_config_file): requests refused by basic auth or the bearer
  // token, by reason (basic_missing, basic_wrong, bearer_missing, bearer_wrong); failed TLS
  // handshakes; certificate files that changed but could not be loaded (the old ones stay).
  void count_auth_failure(const std::string& reason);
  void count_tls_handshake_error();
  void count_web_config_reload_error();

  // Prometheus text exposition format 0.0.4 of every metric.
  std::string serialize() const;
  prometheus::Registry& registry();

 private:
  prometheus::Histogram& query_histogram(const std::string& rule);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::sidecar
