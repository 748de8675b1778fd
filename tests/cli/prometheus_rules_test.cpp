// `rollback-sidecar rules` output in a real Prometheus fires at the same evaluation (within one
// interval) at which the sidecar decides, on the same data.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

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

// Judged rules export what the engine judges: the baseline comparison (ratio and difference and
// the floor), the min_samples guard and "M of N"; `promtool test rules` proves each expression
// fires on the data that should roll back and stays quiet on the data that should not. A
// sequential test has no PromQL form: it is listed as not exported.
TEST(PrometheusRules, JudgedRulesExportTheirConditionsAndPromtoolFiresThemOnTheRightData) {
  TempDir dir;
  write_file(dir.file("sidecar.yml"),
             "prometheus: {url: 'http://127.0.0.1:9'}\n"
             "evaluation_interval: 1m\n"
             "deployment: {name: shop, stage: prod, strategy: canary, vars: {canary: v2, stable: v1}}\n"
             "dry_run: true\n"
             "rules:\n"
             "  - {name: vs-stable, query: 'err{version=\"{{canary}}\"}', above: 0.01, for: 0s,\n"
             "     baseline: {query: 'err{version=\"{{stable}}\"}', max_ratio: 2, min_difference: 0.01}}\n"
             "  - {name: guarded, query: 'err{version=\"{{canary}}\"}', above: 0.05, breaches: '2 of 3',\n"
             "     min_samples: {query: 'req{version=\"{{canary}}\"}', at_least: 100}}\n"
             "  - {name: budget, query: 'ratio{window=\"{{window}}\"}', slo: {objective: 0.999,\n"
             "     windows: [{long: 1h, short: 5m, budget_share: 0.02}]}}\n"
             "  - name: seq\n"
             "    test: {type: sequential-binomial, canary_errors: 'sum(e)', canary_total: 'sum(t)',\n"
             "           baseline_errors: 'sum(be)', baseline_total: 'sum(bt)'}\n");
  const std::string rules_path = dir.file("rules.yml");
  Process generate({kBinary, "rules", "--config", dir.file("sidecar.yml")}, rules_path);
  int status = generate.wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(rules_path);
  const std::string rules = read_file(rules_path);
  EXPECT_NE(rules.find("# rule seq: sequential-binomial test not exported"), std::string::npos) << rules;
  EXPECT_EQ(rules.find("alert: Seq"), std::string::npos) << rules;
  EXPECT_NE(rules.find("scalar(err{version=\"v1\"})"), std::string::npos) << rules;
  EXPECT_NE(rules.find("count_over_time("), std::string::npos) << rules;

  // Series every minute. vs-stable: canary 0.06 against stable 0.02 (x3, +0.04: fires) for the
  // first 3 minutes, then stable 0.05 (x1.2: quiet). guarded: canary 0.08 with 500 then 50
  // requests: fires once 2 of 3 evaluations breached with enough samples, quiet once the samples
  // are too few.
  write_file(
      dir.file("test.yml"),
      "rule_files: [rules.yml]\n"
      "evaluation_interval: 1m\n"
      "tests:\n"
      "  - interval: 1m\n"
      "    input_series:\n"
      "      - {series: 'err{version=\"v2\"}', values: '0.06 0.06 0.06 0.06 0.06 0.06 0.06 0.06 0.06 0.06'}\n"
      "      - {series: 'err{version=\"v1\"}', values: '0.02 0.02 0.02 0.05 0.05 0.05 0.05 0.05 0.05 0.05'}\n"
      "      - {series: 'req{version=\"v2\"}', values: '500 500 500 500 500 50 50 50 50 50'}\n"
      "    alert_rule_test:\n"
      "      - {eval_time: 2m, alertname: VsStable, exp_alerts: [{exp_labels: {severity: sev2, rule: vs-stable,"
      " deployment: shop, stage: prod, action: rollback, version: v2}, exp_annotations: {"
      "description: '0.06 is above the threshold 0.01; rollback-sidecar rolls back when this fires.',"
      " query: 'err{version=\"v2\"}', summary: 'shop: vs-stable above 0.01 and worse than the baseline for 0s'}}]}\n"
      "      - {eval_time: 5m, alertname: VsStable, exp_alerts: []}\n"
      "      - {eval_time: 0m, alertname: Guarded, exp_alerts: []}\n"
      "      - {eval_time: 2m, alertname: Guarded, exp_alerts: [{exp_labels: {severity: sev2, rule: guarded,"
      " deployment: shop, stage: prod, action: rollback, version: v2}, exp_annotations: {"
      "description: '3 of the last 3 evaluations breached above 0.05; rollback-sidecar rolls back when this"
      " fires.', query: 'err{version=\"v2\"}', summary: 'shop: guarded above 0.05 in 2 of 3 datapoints'}}]}\n"
      "      - {eval_time: 7m, alertname: Guarded, exp_alerts: []}\n");
  const std::string promtool = find_binary("promtool");
  ASSERT_FALSE(promtool.empty());
  Process check({promtool, "check", "rules", rules_path}, dir.file("check.log"));
  status = check.wait_exit(20s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir.file("check.log")) << rules;
  Process test({promtool, "test", "rules", dir.file("test.yml")}, dir.file("test.log"), {}, dir.path());
  status = test.wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir.file("test.log")) << rules;
}
// use_recording_rules: a second group records every query slot (rule queries, baseline,
// min_samples, each test counter, each slo window length) as rollback_sidecar:slot_value with the
// deployment, rule and slot labels added to the expression's own labels; promtool accepts it and
// `promtool test rules` shows the recorded samples keep the series' labels (several series stay
// several: the sidecar reduces them as before).
TEST(PrometheusRules, UseRecordingRulesAddsOneRecordingRulePerQuerySlot) {
  TempDir dir;
  write_file(dir.file("sidecar.yml"),
             "prometheus: {url: 'http://127.0.0.1:9'}\n"
             "use_recording_rules: true\n"
             "evaluation_interval: 1m\n"
             "deployment: {name: shop, stage: prod, strategy: canary, vars: {canary: v2, stable: v1}}\n"
             "dry_run: true\n"
             "rules:\n"
             "  - {name: vs-stable, query: 'err{version=\"{{canary}}\"}', above: 0.01,\n"
             "     baseline: {query: 'err{version=\"{{stable}}\"}', max_ratio: 2},\n"
             "     min_samples: {query: 'sum(req{version=\"{{canary}}\"})', at_least: 100}}\n"
             "  - {name: budget, query: 'ratio{window=\"{{window}}\"}', slo: {objective: 0.999,\n"
             "     windows: [{long: 1h, short: 5m, budget_share: 0.02}, {long: 6h, short: 1h, budget_share: 0.05}]}}\n"
             "  - name: seq\n"
             "    test: {type: sequential-binomial, canary_errors: 'sum(e)', canary_total: 'sum(t)',\n"
             "           baseline_errors: 'sum(be)', baseline_total: 'sum(bt)'}\n");
  const std::string rules_path = dir.file("rules.yml");
  Process generate({kBinary, "rules", "--config", dir.file("sidecar.yml")}, rules_path);
  int status = generate.wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(rules_path);
  const std::string rules = read_file(rules_path);
  const YAML::Node doc = YAML::Load(rules);
  ASSERT_EQ(doc["groups"].size(), 2u) << rules;
  const YAML::Node group = doc["groups"][1];
  EXPECT_EQ(group["name"].as<std::string>(), "rollback-sidecar-shop-queries");
  EXPECT_EQ(group["interval"].as<std::string>(), "1m") << "evaluated as often as the sidecar evaluates";
  std::vector<std::string> slots;
  for (const auto& r : group["rules"]) {
    EXPECT_EQ(r["record"].as<std::string>(), "rollback_sidecar:slot_value");
    EXPECT_EQ(r["labels"]["rollback_sidecar_deployment"].as<std::string>(), "shop");
    slots.push_back(r["labels"]["rollback_sidecar_rule"].as<std::string>() + "/" +
                    r["labels"]["rollback_sidecar_slot"].as<std::string>() + " = " + r["expr"].as<std::string>());
  }
  // The slo's 1h window serves both pairs (long of the first, short of the second): recorded once.
  EXPECT_EQ(slots, (std::vector<std::string>{
                       "vs-stable/query = err{version=\"v2\"}",
                       "budget/slo_1h = ratio{window=\"1h\"}",
                       "seq/canary_errors = sum(e)",
                       "vs-stable/baseline = err{version=\"v1\"}",
                       "vs-stable/min_samples = sum(req{version=\"v2\"})",
                       "budget/slo_5m = ratio{window=\"5m\"}",
                       "budget/slo_6h = ratio{window=\"6h\"}",
                       "seq/canary_total = sum(t)",
                       "seq/baseline_errors = sum(be)",
                       "seq/baseline_total = sum(bt)",
                   }))
      << rules;

  write_file(dir.file("test.yml"),
             "rule_files: [rules.yml]\n"
             "evaluation_interval: 1m\n"
             "tests:\n"
             "  - interval: 1m\n"
             "    input_series:\n"
             "      - {series: 'err{version=\"v2\",instance=\"a\"}', values: '0.5 0.5'}\n"
             "      - {series: 'err{version=\"v2\",instance=\"b\"}', values: '0.25 0.25'}\n"
             "    promql_expr_test:\n"
             "      - expr: "
             "'rollback_sidecar:slot_value{rollback_sidecar_rule=\"vs-stable\",rollback_sidecar_slot=\"query\"}'\n"
             "        eval_time: 1m\n"
             "        exp_samples:\n"
             "          - {labels: "
             "'rollback_sidecar:slot_value{instance=\"a\",version=\"v2\",rollback_sidecar_deployment=\"shop\","
             "rollback_sidecar_rule=\"vs-stable\",rollback_sidecar_slot=\"query\"}', value: 0.5}\n"
             "          - {labels: "
             "'rollback_sidecar:slot_value{instance=\"b\",version=\"v2\",rollback_sidecar_deployment=\"shop\","
             "rollback_sidecar_rule=\"vs-stable\",rollback_sidecar_slot=\"query\"}', value: 0.25}\n");
  const std::string promtool = find_binary("promtool");
  ASSERT_FALSE(promtool.empty());
  Process check({promtool, "check", "rules", rules_path}, dir.file("check.log"));
  status = check.wait_exit(20s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir.file("check.log")) << rules;
  Process test({promtool, "test", "rules", dir.file("test.yml")}, dir.file("test.log"), {}, dir.path());
  status = test.wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir.file("test.log")) << rules;
}

// A query whose series already carry a label the recording adds cannot be recorded faithfully:
// `check` refuses it, naming the key and line; without use_recording_rules it is fine.
TEST(PrometheusRules, AQueryNamingARecordingLabelIsRefusedWithUseRecordingRules) {
  TempDir dir;
  const std::string body =
      "prometheus: {url: 'http://127.0.0.1:9'}\n"
      "evaluation_interval: 1m\n"
      "deployment: {name: shop, stage: prod, strategy: canary}\n"
      "dry_run: true\n"
      "rules:\n"
      "  - {name: ok, query: 'max(rollback_sidecar_rule_value)', above: 1}\n"
      "  - {name: meta, query: 'sum by (rollback_sidecar_rule) (x)', above: 1}\n";
  write_file(dir.file("plain.yml"), body);
  write_file(dir.file("recorded.yml"), "use_recording_rules: true\n" + body);
  Process plain({kBinary, "check", "--config", dir.file("plain.yml")}, dir.file("plain.log"));
  int status = plain.wait_exit(10s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir.file("plain.log"));
  Process recorded({kBinary, "check", "--config", dir.file("recorded.yml")}, dir.file("recorded.log"));
  status = recorded.wait_exit(10s);
  const std::string out = read_file(dir.file("recorded.log"));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << out;
  EXPECT_NE(out.find(dir.file("recorded.yml") + ":8: rules[1].query: cannot be recorded with use_recording_rules: "
                                                "true: it names rollback_sidecar_rule"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("rules[0]"), std::string::npos) << "rollback_sidecar_rule_value is another name:\n" << out;
}

}  // namespace
}  // namespace rs::testing
