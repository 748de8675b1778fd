// `rollback-sidecar rules` output in a real Prometheus fires at the same evaluation (within one
// interval) at which the sidecar decides, on the same data.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <chrono>
#include <cmath>

#include "common/clock.h"
#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

double seconds_of(const std::string& rfc3339) {
  rs::WallTime t;
  if (!rs::parse_rfc3339(rfc3339, &t)) ADD_FAILURE() << "bad time " << rfc3339;
  return rs::to_unix_seconds(t);
}

TEST(PrometheusRules, GeneratedRuleFileIsValidAndFiresWhenTheSidecarDecides) {
  TempDir dir;
  FakeHttpServer exporter;
  exporter.set_metrics("# TYPE signal gauge\nsignal{service=\"shop\"} 0\n");

  PrometheusServer::Options options;
  options.targets = {"127.0.0.1:" + std::to_string(exporter.port())};
  // The rule file is generated below, before Prometheus starts.
  const std::string rules_path = dir.file("sidecar-rules.yml");
  options.rule_files = {rules_path};
  const int sidecar_port = free_port();
  // Prometheus's URL is only known after construction (the port is picked in the constructor).
  auto prometheus = std::make_unique<PrometheusServer>(options);
  write_file(dir.file("sidecar.yml"),
             "prometheus: {url: " + prometheus->url() +
                 "}\n"
                 "listen: 127.0.0.1:" +
                 std::to_string(sidecar_port) +
                 "\n"
                 "evaluation_interval: 1s\n"
                 "deployment: {name: shop, stage: prod, strategy: canary, vars: {service: shop}}\n"
                 "dry_run: true\n"
                 "rules:\n"
                 "  - {name: signal-high, query: 'max(signal{service=\"{{service}}\"})', above: 0.5, for: 3s, "
                 "severity: sev2}\n");

  Process generate({kBinary, "rules", "--config", dir.file("sidecar.yml")}, rules_path);
  int status = generate.wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(rules_path);
  const std::string rules = read_file(rules_path);
  EXPECT_NE(rules.find("alert: SignalHigh"), std::string::npos) << rules;
  EXPECT_NE(rules.find("for: 3s"), std::string::npos) << rules;
  EXPECT_NE(rules.find("severity: sev2"), std::string::npos) << rules;
  const std::string promtool = find_binary("promtool");
  ASSERT_FALSE(promtool.empty());
  Process check({promtool, "check", "rules", rules_path}, dir.file("promtool.log"));
  status = check.wait_exit(20s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir.file("promtool.log"));

  prometheus->start();
  ASSERT_TRUE(prometheus->wait_scraped(20s)) << prometheus->log();
  Process sidecar({kBinary, "--config", dir.file("sidecar.yml")}, dir.file("sidecar.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(sidecar_port);
  std::string why;
  ASSERT_TRUE(wait_http_ok(base + "/readyz", 10s, &why)) << why << sidecar.log();

  exporter.set_metrics("# TYPE signal gauge\nsignal{service=\"shop\"} 0.9\n");

  // Poll both sides; record when Prometheus first reports the alert firing.
  double prometheus_firing_seen = 0;
  nlohmann::json alert, decision;
  ASSERT_TRUE(wait_until(
      [&] {
        if (prometheus_firing_seen == 0) {
          auto alerts = nlohmann::json::parse(http_get(prometheus->url() + "/api/v1/alerts").body, nullptr, false);
          if (!alerts.is_discarded()) {
            for (const auto& a : alerts["data"]["alerts"]) {
              if (a["labels"]["alertname"] == "SignalHigh" && a["state"] == "firing") {
                alert = a;
                prometheus_firing_seen =
                    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
              }
            }
          }
        }
        auto s = nlohmann::json::parse(http_get(base + "/api/v1/status").body, nullptr, false);
        if (!s.is_discarded() && s["last_decision"].is_object()) decision = s["last_decision"];
        return prometheus_firing_seen != 0 && decision.is_object();
      },
      40s, 100ms))
      << sidecar.log() << "\n"
      << prometheus->log();

  const double sidecar_pending = seconds_of(decision["first_breach"]);
  const double sidecar_decided = seconds_of(decision["decided_at"]);
  const double prometheus_pending = seconds_of(alert["activeAt"]);
  std::cout << "pending: sidecar " << std::fixed << sidecar_pending << " prometheus " << prometheus_pending
            << "; decided/firing: sidecar " << sidecar_decided << " prometheus (seen) " << prometheus_firing_seen
            << "\n";
  EXPECT_EQ(decision["rule"], "signal-high");
  EXPECT_EQ(decision["kind"], "hold");
  // Same data, same `for`, both evaluating every 1 s: they differ by at most their phase
  // offset (< 1 interval); 0.5 s more covers the 100 ms polling here and a loaded machine.
  EXPECT_LE(std::fabs(sidecar_pending - prometheus_pending), 1.5);
  EXPECT_LE(std::fabs(sidecar_decided - prometheus_firing_seen), 1.5);
}

}  // namespace
}  // namespace rs::testing
