// The sidecar's own metrics: every name of DESIGN §4 (and the additions) is exported, the label
// combinations dashboards rely on exist at 0 from the start, and promtool's linter is clean.
#include <gtest/gtest.h>

#include <cmath>
#include <sys/wait.h>

#include "sidecar/policy/decision.h"
#include "sidecar/core/self_metrics.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

// Every family with samples, serialized.
std::string busy_exposition() {
  SelfMetrics m("1.2.3", {"error-rate", "latency-p95"}, deployment_state_names());
  m.declare_rule("error-rate", "sev1");
  m.declare_rule("latency-p95", "sev2");
  m.declare_actuator("haproxy");
  m.declare_notifier("alertmanager");
  m.set_rule("error-rate", 0.31, 0.05, "firing");
  m.set_rule("latency-p95", std::nan(""), 2, "nodata");
  m.count_decision("rollback", "error-rate", "sev1");
  m.count_rollback("success", "rule");
  m.observe_rollback_duration(0.004);
  m.observe_detection(95);
  m.observe_query_duration("error-rate", 0.012);
  m.count_query_error("latency-p95", "timeout");
  m.count_actuator_call("haproxy", "changed");
  m.set_deployment_state("rolled_back");
  m.set_last_evaluation(1.7e9);
  m.count_evaluation_overruns(1);
  m.set_dry_run(false);
  m.set_freeze(true);
  m.set_promotion(25, 2);
  m.set_rollback_verified(true);
  m.count_api_request("/api/v1/rollback", 202);
  m.count_alert("matched");
  m.count_notification("alertmanager", "success");
  m.count_audit_write_error();
  m.count_persist_error("state");
  m.count_auth_failure("basic_wrong");
  m.count_tls_handshake_error();
  m.count_web_config_reload_error();
  return m.serialize();
}

TEST(SelfMetrics, ExportsEveryDocumentedNameWithZerosForDeclaredLabels) {
  SelfMetrics fresh("1.2.3", {"error-rate"}, deployment_state_names());
  fresh.declare_rule("error-rate", "sev1");
  fresh.declare_actuator("haproxy");
  fresh.declare_notifier("webhook");
  const std::string text = fresh.serialize();
  for (const char* series : {"rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"rule\"} 0",
                             "rollback_sidecar_rollbacks_total{result=\"failure\",trigger=\"manual\"} 0",
                             "rollback_sidecar_deployment_state{state=\"rollback_failed\"} 0",
                             "rollback_sidecar_actuator_calls_total{actuator=\"haproxy\",result=\"failure\"} 0",
                             "rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"dropped\"} 0",
                             "rollback_sidecar_persist_errors_total{file=\"state\"} 0",
                             "rollback_sidecar_persist_errors_total{file=\"audit\"} 0",
                             "rollback_sidecar_persist_errors_total{file=\"incident\"} 0",
                             "rollback_sidecar_persist_errors_total{file=\"outbox\"} 0",
                             "rollback_sidecar_alerts_received_total{result=\"ignored_stale\"} 0",
                             "rollback_sidecar_cloudwatch_messages_total{result=\"ignored_stale\"} 0",
                             "rollback_sidecar_build_info{version=\"1.2.3\"} 1"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
  const std::string busy = busy_exposition();
  for (const char* name : {"rule_value",
                           "rule_threshold",
                           "rule_state",
                           "decisions_total",
                           "rollbacks_total",
                           "rollback_duration_seconds",
                           "detection_seconds",
                           "query_duration_seconds",
                           "query_errors_total",
                           "actuator_calls_total",
                           "deployment_state",
                           "last_evaluation_timestamp_seconds",
                           "build_info",
                           "evaluation_overruns_total",
                           "dry_run",
                           "freeze",
                           "rollback_verified",
                           "canary_weight",
                           "promotion_step",
                           "api_requests_total",
                           "alerts_received_total",
                           "notifications_total",
                           "audit_write_errors_total",
                           "http_auth_failures_total",
                           "tls_handshake_errors_total",
                           "web_config_reload_errors_total"}) {
    EXPECT_NE(busy.find("# TYPE rollback_sidecar_" + std::string(name) + " "), std::string::npos) << name;
  }
}

TEST(SelfMetrics, PromtoolCheckMetricsIsClean) {
  const std::string promtool = testing::find_binary("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (scripts/install-deps.sh installs prometheus)";
  testing::TempDir dir;
  testing::write_file(dir.file("metrics.txt"), busy_exposition());
  testing::Process check({"/bin/sh", "-c", promtool + " check metrics < " + dir.file("metrics.txt")},
                         dir.file("promtool.log"));
  const int status = check.wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::read_file(dir.file("promtool.log"));
  EXPECT_EQ(testing::read_file(dir.file("promtool.log")), "") << "promtool prints lint findings";
}

TEST(SelfMetrics, InsufficientIsARuleStateOfItsOwn) {
  SelfMetrics m("1.2.3", {"error-rate"}, deployment_state_names());
  m.declare_rule("error-rate", "sev1");
  m.set_rule("error-rate", std::nan(""), 0.05, "insufficient");
  const std::string text = m.serialize();
  EXPECT_NE(text.find(R"(rollback_sidecar_rule_state{rule="error-rate",state="insufficient"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(rollback_sidecar_rule_state{rule="error-rate",state="nodata"} 0)"), std::string::npos) << text;
}

}  // namespace
}  // namespace rs::sidecar
