// A Sev-2 alert from a real Prometheus, routed by a real Alertmanager to the sidecar's webhook
// with bearer credentials, rolls the deployment back exactly once.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

TEST(AlertmanagerTrigger, FiringSev2AlertRollsBackOnceAndOthersDoNothing) {
  const std::string alertmanager_bin = find_binary("prometheus-alertmanager");
  ASSERT_FALSE(alertmanager_bin.empty()) << "prometheus-alertmanager not installed (scripts/install-deps.sh)";
  TempDir dir;

  // The service's own signals, as an exporter Prometheus scrapes.
  FakeHttpServer exporter;
  exporter.set_metrics(
      "# TYPE service_error_ratio gauge\n"
      "service_error_ratio{service=\"checkout\"} 0.4\n"
      "service_error_ratio{service=\"payments\"} 0.4\n");
  write_file(dir.file("rules.yml"),
             "groups:\n"
             "  - name: slo\n"
             "    interval: 1s\n"
             "    rules:\n"
             "      - alert: CheckoutErrors\n"
             "        expr: service_error_ratio{service=\"checkout\"} > 0.05\n"
             "        labels: {severity: sev2, service: checkout}\n"
             "        annotations: {summary: checkout 5xx above 5%}\n"
             "      - alert: PaymentsErrors\n"
             "        expr: service_error_ratio{service=\"payments\"} > 0.05\n"
             "        labels: {severity: sev2, service: payments}\n"
             "      - alert: CheckoutWarning\n"
             "        expr: service_error_ratio{service=\"checkout\"} > 0.01\n"
             "        labels: {severity: sev4, service: checkout}\n");

  // The sidecar: healthy rule data (its own Prometheus is a fake answering 0), exec actuator.
  FakeHttpServer rules_prometheus;
  rules_prometheus.set_route("/api/v1/query", 200, vector_reply("0"));
  write_file(dir.file("token"), "am-token-91c2\n");
  write_file(dir.file("rollback.sh"),
             "#!/bin/sh\necho \"$ROLLBACK_TRIGGER $ROLLBACK_RULE\" >> " + dir.file("calls") + "\n");
  ::chmod(dir.file("rollback.sh").c_str(), 0755);
  const int sidecar_port = free_port();
  const std::string sidecar = "http://127.0.0.1:" + std::to_string(sidecar_port);
  write_file(dir.file("sidecar.yml"),
             "prometheus: {url: " + rules_prometheus.url() +
                 "}\n"
                 "listen: 127.0.0.1:" +
                 std::to_string(sidecar_port) +
                 "\n"
                 "evaluation_interval: 500ms\n"
                 "deployment: {name: checkout, stage: prod, strategy: canary, vars: {service: checkout}}\n"
                 "state_file: " +
                 dir.file("state.json") +
                 "\n"
                 "rules: [{name: error-rate, query: 'vector(0)', above: 0.05}]\n"
                 "actuators: [{type: exec, command: [" +
                 dir.file("rollback.sh") +
                 "]}]\n"
                 "api: {bearer_token_file: " +
                 dir.file("token") +
                 "}\n"
                 "alerts: {match: {severity: 'sev1|sev2', service: '{{service}}'}}\n");
  Process sidecar_process({kBinary, "--config", dir.file("sidecar.yml")}, dir.file("sidecar.log"));
  std::string why;
  ASSERT_TRUE(wait_http_ok(sidecar + "/readyz", 10s, &why)) << why << sidecar_process.log();

  // Alertmanager: one notification per alert, repeated quickly so the test sees resends.
  const int am_port = free_port();
  write_file(dir.file("alertmanager.yml"),
             "route:\n"
             "  receiver: sidecar\n"
             "  group_by: [alertname]\n"
             "  group_wait: 1s\n"
             "  group_interval: 1s\n"
             "  repeat_interval: 2s\n"
             "receivers:\n"
             "  - name: sidecar\n"
             "    webhook_configs:\n"
             "      - url: " +
                 sidecar +
                 "/api/v1/alerts\n"
                 "        send_resolved: true\n"
                 "        http_config:\n"
                 "          authorization: {type: Bearer, credentials_file: " +
                 dir.file("token") + "}\n");
  Process alertmanager(
      {alertmanager_bin, "--config.file=" + dir.file("alertmanager.yml"), "--storage.path=" + dir.file("am-data"),
       "--web.listen-address=127.0.0.1:" + std::to_string(am_port), "--cluster.listen-address="},
      dir.file("alertmanager.log"));
  ASSERT_TRUE(wait_http_ok("http://127.0.0.1:" + std::to_string(am_port) + "/-/ready", 20s, &why))
      << why << alertmanager.log();

  PrometheusServer::Options options;
  options.targets = {"127.0.0.1:" + std::to_string(exporter.port())};
  options.rule_files = {dir.file("rules.yml")};
  options.extra_config =
      "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:" + std::to_string(am_port) +
      "']\n";
  PrometheusServer prometheus(options);
  prometheus.start();

  auto status = [&] { return nlohmann::json::parse(http_get(sidecar + "/api/v1/status").body); };
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 60s))
      << sidecar_process.log() << "\n--- alertmanager ---\n"
      << alertmanager.log();
  auto decision = status()["last_decision"];
  EXPECT_EQ(decision["trigger"], "alert");
  EXPECT_EQ(decision["rule"], "CheckoutErrors");
  EXPECT_EQ(decision["details"]["labels"]["service"], "checkout");
  EXPECT_EQ(decision["details"]["annotations"]["summary"], "checkout 5xx above 5%");
  EXPECT_NE(decision["details"]["generatorURL"].get<std::string>().find("/graph"), std::string::npos);

  // Alertmanager repeats the firing alert; none of the repeats acts again.
  auto metric = [&](const std::string& series) { return metric_value(http_get(sidecar + "/metrics").body, series); };
  ASSERT_TRUE(
      wait_until([&] { return metric("rollback_sidecar_alerts_received_total{result=\"duplicate\"}") >= 1; }, 30s))
      << sidecar_process.log();
  EXPECT_GE(metric("rollback_sidecar_alerts_received_total{result=\"ignored\"}"), 2);  // payments, sev4
  EXPECT_EQ(read_file(dir.file("calls")), "alert CheckoutErrors\n");
  EXPECT_EQ(metric("rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"alert\"}"), 1);
  EXPECT_EQ(sidecar_process.log().find("am-token-91c2"), std::string::npos);
}

}  // namespace
}  // namespace rs::testing
