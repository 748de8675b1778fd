#include "sidecar/core/self_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

namespace rs::sidecar {
namespace {
constexpr const char* kRuleStates[] = {"ok", "pending", "firing", "nodata", "insufficient"};
}  // namespace

struct SelfMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Gauge>& rule_value =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_rule_value")
          .Help("Last value a rule's query returned (NaN when it returned none).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& rule_threshold =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_rule_threshold")
          .Help("Threshold a rule compares against, after stage overrides.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& rule_state =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_rule_state")
          .Help("1 for the rule's current state (ok, pending, firing, nodata, insufficient), 0 for the others.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& decisions =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_decisions_total")
          .Help("Decisions taken, by decision (rollback, notify, hold, noop), rule and severity.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& rollbacks =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_rollbacks_total")
          .Help("Rollbacks that changed the router, by result and trigger.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& rollback_duration =
      prometheus::BuildHistogram()
          .Name("rollback_sidecar_rollback_duration_seconds")
          .Help("Time from the rollback decision to the router state being verified.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& detection = prometheus::BuildHistogram()
                                                             .Name("rollback_sidecar_detection_seconds")
                                                             .Help("Time from a rule's first breach to the decision.")
                                                             .Register(*registry);
  prometheus::Family<prometheus::Histogram>& query_duration = prometheus::BuildHistogram()
                                                                  .Name("rollback_sidecar_query_duration_seconds")
                                                                  .Help("Duration of each rule's Prometheus query.")
                                                                  .Register(*registry);
  prometheus::Family<prometheus::Counter>& query_errors =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_query_errors_total")
          .Help("Queries that returned no usable result, by rule and reason.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& actuator_calls =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_actuator_calls_total")
          .Help("Actuator calls, by actuator type and result (changed, noop, failure).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& deployment_state =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_deployment_state")
          .Help("1 for the deployment's current state, 0 for the others.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& last_evaluation =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_last_evaluation_timestamp_seconds")
          .Help("Unix time of the last completed evaluation.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& overruns =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_evaluation_overruns_total")
          .Help("Evaluation ticks skipped because the previous evaluation was still running.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& sample_lag =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_evaluation_sample_lag_seconds")
          .Help(
              "Age of the newest sample the rules read when the last evaluation started (evaluation_alignment: "
              "scrape); NaN before the first.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& alignment_waits =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_alignment_waits_total")
          .Help(
              "Scrape-aligned evaluations that found their scrape's samples not yet queryable and waited, by "
              "result: landed (then evaluated with them) or missed (evaluated without them after the longest "
              "wait).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& dry_run =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_dry_run")
          .Help("1 when the sidecar only records decisions and acts on nothing.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& freeze =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_freeze")
          .Help("1 while the deployment is frozen (promotion stops; rollbacks still happen).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& rollback_verified =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_rollback_verified")
          .Help("1 when the last rollback passed rollback.verify, 0 while it is pending or after it failed.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& canary_weight =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_canary_weight")
          .Help("Percent of traffic the promotion has given the canary (set and verified).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& promotion_step =
      prometheus::BuildGauge()
          .Name("rollback_sidecar_promotion_step")
          .Help("Current promotion step (1-based; 0 before the first).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& api_requests = prometheus::BuildCounter()
                                                              .Name("rollback_sidecar_api_requests_total")
                                                              .Help("HTTP API requests, by endpoint and status code.")
                                                              .Register(*registry);
  prometheus::Family<prometheus::Counter>& alerts = prometheus::BuildCounter()
                                                        .Name("rollback_sidecar_alerts_received_total")
                                                        .Help(
                                                            "Alertmanager alerts received, by result (matched, "
                                                            "ignored, ignored_stale, resolved, duplicate, rejected).")
                                                        .Register(*registry);
  prometheus::Family<prometheus::Counter>& cloudwatch =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_cloudwatch_messages_total")
          .Help("CloudWatch alarm messages (EventBridge events, SNS messages) received, by result.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& notifications = prometheus::BuildCounter()
                                                               .Name("rollback_sidecar_notifications_total")
                                                               .Help("Notification attempts, by notifier and result.")
                                                               .Register(*registry);
  prometheus::Family<prometheus::Counter>& audit_errors = prometheus::BuildCounter()
                                                              .Name("rollback_sidecar_audit_write_errors_total")
                                                              .Help("Audit log records that could not be written.")
                                                              .Register(*registry);
  prometheus::Family<prometheus::Counter>& persist_errors =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_persist_errors_total")
          .Help(
              "Writes of the state file, audit log, incident reports or notification outbox that failed (full or "
              "read-only disk), by file.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& auth_failures =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_http_auth_failures_total")
          .Help(
              "HTTP requests refused for their credentials, by reason (basic_missing, basic_wrong, bearer_missing, "
              "bearer_wrong).")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& tls_handshake_errors =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_tls_handshake_errors_total")
          .Help("TLS handshakes on the listen port that failed or timed out.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& web_config_reload_errors =
      prometheus::BuildCounter()
          .Name("rollback_sidecar_web_config_reload_errors_total")
          .Help("Changed TLS certificate, key or CA files that could not be loaded (the previous ones stay in use).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& build_info = prometheus::BuildGauge()
                                                          .Name("rollback_sidecar_build_info")
                                                          .Help("Always 1; the version label names the build.")
                                                          .Register(*registry);

  // Histogram::Add constructs a histogram before looking the labels up; keep the instances.
  prometheus::Histogram* rollback_duration_h = nullptr;
  prometheus::Histogram* detection_h = nullptr;
  std::map<std::string, prometheus::Histogram*> query_duration_h;

  std::vector<std::string> deployment_states;
  std::mutex mu;  // guards the read-modify-write of the one-hot state gauges
};

SelfMetrics::SelfMetrics(const std::string& version, const std::vector<std::string>& rules,
                         const std::vector<std::string>& deployment_states)
    : impl_(std::make_unique<Impl>()) {
  impl_->deployment_states = deployment_states;
  impl_->build_info.Add({{"version", version}}).Set(1);
  impl_->dry_run.Add({}).Set(0);
  impl_->freeze.Add({}).Set(0);
  impl_->audit_errors.Add({});
  for (const char* reason : {"basic_missing", "basic_wrong", "bearer_missing", "bearer_wrong"}) {
    impl_->auth_failures.Add({{"reason", reason}});
  }
  impl_->tls_handshake_errors.Add({});
  impl_->web_config_reload_errors.Add({});
  for (const char* file : {"state", "audit", "incident", "outbox"}) impl_->persist_errors.Add({{"file", file}});
  for (const char* result : {"matched", "ignored", "ignored_stale", "resolved", "duplicate", "rejected"}) {
    impl_->alerts.Add({{"result", result}});
  }
  for (const char* result : {"matched", "duplicate", "ignored", "ignored_stale", "not_alarm", "subscription_confirmed",
                             "subscription_logged", "unsubscribed", "rejected_auth", "rejected_malformed",
                             "rejected_signature", "rejected_topic", "rejected_stale", "error"}) {
    impl_->cloudwatch.Add({{"result", result}});
  }
  impl_->last_evaluation.Add({}).Set(0);
  impl_->overruns.Add({});
  impl_->sample_lag.Add({}).Set(std::nan(""));
  for (const char* result : {"landed", "missed"}) impl_->alignment_waits.Add({{"result", result}});
  for (const auto& rule : rules) {
    impl_->rule_value.Add({{"rule", rule}}).Set(std::nan(""));
    for (const char* state : kRuleStates) impl_->rule_state.Add({{"rule", rule}, {"state", state}}).Set(0);
  }
  for (const auto& state : deployment_states) impl_->deployment_state.Add({{"state", state}}).Set(0);
  for (const char* result : {"success", "failure", "unverified"}) {
    for (const char* trigger : {"rule", "alert", "manual"})
      impl_->rollbacks.Add({{"result", result}, {"trigger", trigger}});
  }
  impl_->rollback_duration_h = &impl_->rollback_duration.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                  10, 30, 60, 300, 900, 1800});
  impl_->detection_h =
      &impl_->detection.Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200});
  for (const auto& rule : rules) query_histogram(rule);
}

SelfMetrics::~SelfMetrics() = default;

void SelfMetrics::declare_rule(const std::string& rule, const std::string& severity) {
  for (const char* decision : {"rollback", "notify", "hold", "noop"}) {
    impl_->decisions.Add({{"decision", decision}, {"rule", rule}, {"severity", severity}});
  }
  for (const char* reason : {"timeout", "connect", "http", "prometheus", "parse", "oversize", "unsupported", "auth",
                             "transport", "partial"}) {
    impl_->query_errors.Add({{"rule", rule}, {"reason", reason}});
  }
}

void SelfMetrics::declare_actuator(const std::string& actuator_type) {
  for (const char* result : {"changed", "noop", "failure"}) {
    impl_->actuator_calls.Add({{"actuator", actuator_type}, {"result", result}});
  }
}

void SelfMetrics::declare_notifier(const std::string& notifier_type) {
  for (const char* result : {"success", "failure", "dropped"}) {
    impl_->notifications.Add({{"notifier", notifier_type}, {"result", result}});
  }
}

void SelfMetrics::set_rule(const std::string& rule, double value, double threshold, const std::string& state) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->rule_value.Add({{"rule", rule}}).Set(value);
  impl_->rule_threshold.Add({{"rule", rule}}).Set(threshold);
  for (const char* s : kRuleStates) impl_->rule_state.Add({{"rule", rule}, {"state", s}}).Set(state == s ? 1 : 0);
}

void SelfMetrics::count_decision(const std::string& decision, const std::string& rule, const std::string& severity) {
  impl_->decisions.Add({{"decision", decision}, {"rule", rule}, {"severity", severity}}).Increment();
}

void SelfMetrics::count_rollback(const std::string& result, const std::string& trigger) {
  impl_->rollbacks.Add({{"result", result}, {"trigger", trigger}}).Increment();
}

void SelfMetrics::observe_rollback_duration(double seconds) { impl_->rollback_duration_h->Observe(seconds); }

void SelfMetrics::observe_detection(double seconds) { impl_->detection_h->Observe(seconds); }

void SelfMetrics::observe_query_duration(const std::string& rule, double seconds) {
  query_histogram(rule).Observe(seconds);
}

prometheus::Histogram& SelfMetrics::query_histogram(const std::string& rule) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& slot = impl_->query_duration_h[rule];
  if (!slot) {
    slot = &impl_->query_duration.Add({{"rule", rule}}, prometheus::Histogram::BucketBoundaries{
                                                            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  }
  return *slot;
}

void SelfMetrics::count_query_error(const std::string& rule, const std::string& reason) {
  impl_->query_errors.Add({{"rule", rule}, {"reason", reason}}).Increment();
}

void SelfMetrics::count_actuator_call(const std::string& actuator, const std::string& result) {
  impl_->actuator_calls.Add({{"actuator", actuator}, {"result", result}}).Increment();
}

void SelfMetrics::set_deployment_state(const std::string& state) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& s : impl_->deployment_states) impl_->deployment_state.Add({{"state", s}}).Set(s == state ? 1 : 0);
}

void SelfMetrics::set_last_evaluation(double unix_seconds) { impl_->last_evaluation.Add({}).Set(unix_seconds); }

void SelfMetrics::count_evaluation_overruns(double missed_ticks) { impl_->overruns.Add({}).Increment(missed_ticks); }
void SelfMetrics::set_evaluation_sample_lag(double seconds) { impl_->sample_lag.Add({}).Set(seconds); }
void SelfMetrics::count_alignment_wait(bool landed) {
  impl_->alignment_waits.Add({{"result", landed ? "landed" : "missed"}}).Increment();
}

void SelfMetrics::set_dry_run(bool dry_run) { impl_->dry_run.Add({}).Set(dry_run ? 1 : 0); }

void SelfMetrics::set_rollback_verified(bool verified) { impl_->rollback_verified.Add({}).Set(verified ? 1 : 0); }

void SelfMetrics::set_promotion(int canary_weight_percent, int step) {
  impl_->canary_weight.Add({}).Set(canary_weight_percent);
  impl_->promotion_step.Add({}).Set(step);
}

void SelfMetrics::set_freeze(bool frozen) { impl_->freeze.Add({}).Set(frozen ? 1 : 0); }

void SelfMetrics::count_api_request(const std::string& endpoint, int code) {
  impl_->api_requests.Add({{"endpoint", endpoint}, {"code", std::to_string(code)}}).Increment();
}

void SelfMetrics::count_alert(const std::string& result) { impl_->alerts.Add({{"result", result}}).Increment(); }
void SelfMetrics::count_cloudwatch(const std::string& result) {
  impl_->cloudwatch.Add({{"result", result}}).Increment();
}

void SelfMetrics::count_notification(const std::string& notifier, const std::string& result) {
  impl_->notifications.Add({{"notifier", notifier}, {"result", result}}).Increment();
}

void SelfMetrics::count_audit_write_error() { impl_->audit_errors.Add({}).Increment(); }
void SelfMetrics::count_persist_error(const std::string& file) {
  impl_->persist_errors.Add({{"file", file}}).Increment();
}

std::string SelfMetrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry->Collect());
  return out.str();
}

prometheus::Registry& SelfMetrics::registry() { return *impl_->registry; }

void SelfMetrics::count_auth_failure(const std::string& reason) {
  impl_->auth_failures.Add({{"reason", reason}}).Increment();
}

void SelfMetrics::count_tls_handshake_error() { impl_->tls_handshake_errors.Add({}).Increment(); }

void SelfMetrics::count_web_config_reload_error() { impl_->web_config_reload_errors.Add({}).Increment(); }

}  // namespace rs::sidecar
