// Rule evaluation against a real Prometheus (Debian's package, 1 s scrape) scraping an exporter
// the test controls, with the sidecar core in-process (real config loader, curl transport,
// system clock, self metrics, state store) and a recording actuator in place of a router.
// What must hold (DESIGN §5): rule values are the scraped values; while Prometheus is down every
// rule is nodata, errors are counted and nothing rolls back - even with missing: breach, since a
// query error is not "no data"; once Prometheus is back on the same port, evaluation recovers.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <thread>
#include <iostream>
#include <memory>
#include <string>

#include "tests/e2e/e2e_support.h"
#include "tests/e2e/sidecar_core.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

using rs::testing::FakeHttpServer;
using rs::testing::PrometheusServer;
using rs::testing::TempDir;

std::string exposition(double a, double b) {
  std::ostringstream out;
  out << "# HELP demo_value A gauge the test sets.\n# TYPE demo_value gauge\n"
      << "demo_value{kind=\"a\"} " << a << "\n"
      << "demo_value{kind=\"b\"} " << b << "\n";
  return out.str();
}

class PrometheusRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    exporter_.set_metrics(exposition(0.25, 7));
    PrometheusServer::Options options;
    options.targets = {"127.0.0.1:" + std::to_string(exporter_.port())};
    options.job = "exporter";
    options.scrape_interval = "1s";
    prometheus_ = std::make_unique<PrometheusServer>(options);
    ASSERT_NO_THROW(prometheus_->start());
    // Every rule would roll back on no data, so the sidecar starts once the data is there (the
    // first scrape comes a few seconds after Prometheus starts: its target discovery).
    ASSERT_TRUE(prometheus_->wait_scraped(40s)) << "Prometheus never scraped the exporter:\n" << prometheus_->log();
    // Every rule would roll back on no data (missing: breach, short `for`): only values keep
    // them ok, and a query error must never count as no data.
    const std::string yaml =
        "prometheus: {url: " + prometheus_->url() +
        ", timeout: 2s}\n"
        "evaluation_interval: 1s\n"
        "deployment: {name: rules, stage: prod, strategy: canary, vars: {a: a, b: b}}\n"
        "state_file: " +
        dir_.file("state.json") +
        "\n"
        "rollback: {deadline: 2s, initial_backoff: 100ms, max_backoff: 200ms}\n"
        "rules:\n"
        "  - {name: gauge-a, query: 'demo_value{job=\"exporter\",kind=\"{{a}}\"}', above: 0.5, for: 1s,"
        " missing: breach, severity: sev1}\n"
        "  - {name: gauge-b, query: 'demo_value{job=\"exporter\",kind=\"{{b}}\"}', above: 1000, for: 1s,"
        " missing: breach}\n"
        "  - {name: sum-ab, query: 'sum(demo_value{job=\"exporter\"})', above: 1000, for: 1s, missing: breach}\n"
        // Valid config needs an actuator; the engine gets the recording one instead.
        "actuators:\n"
        "  - {type: exec, command: [/bin/false]}\n";
    core_ = make_core(yaml, &actuator_);
    ASSERT_TRUE(core_);
  }

  void TearDown() override {
    if (HasFailure()) {
      if (core_) std::cerr << "sidecar status:\n" << core_->status().dump(2) << "\n";
      if (prometheus_) std::cerr << "Prometheus log:\n" << tail(prometheus_->log()) << "\n";
    }
  }

  // Evaluates every 200 ms until `pred` holds or `timeout` passes.
  bool evaluate_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    return rs::testing::wait_until(
        [&] {
          core_->engine->evaluate_once();
          return pred();
        },
        timeout, 200ms);
  }

  bool rule_has_value(const std::string& rule, double expected) {
    auto r = core_->rule(rule);
    return r["value"].is_number() && r["value"].get<double>() == expected;
  }

  bool values_are(double a, double b) {
    return rule_has_value("gauge-a", a) && rule_has_value("gauge-b", b) && rule_has_value("sum-ab", a + b);
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return core_->metric(name, labels);
  }

  TempDir dir_;
  FakeHttpServer exporter_;
  std::unique_ptr<PrometheusServer> prometheus_;
  RecordingActuator actuator_;
  std::unique_ptr<SidecarCore> core_;
};

TEST_F(PrometheusRulesTest, RuleValuesAreTheExportersGaugesAndFollowChanges) {
  ASSERT_TRUE(evaluate_until([&] { return values_are(0.25, 7); }, 20s))
      << "rule values never matched the exporter's gauges (0.25, 7, sum 7.25)";
  for (const char* rule : {"gauge-a", "gauge-b", "sum-ab"}) {
    EXPECT_EQ(core_->rule(rule)["state"], "ok") << rule;
    EXPECT_EQ(metric("rollback_sidecar_rule_state", {{"rule", rule}, {"state", "ok"}}), 1) << rule;
  }
  EXPECT_EQ(metric("rollback_sidecar_rule_value", {{"rule", "gauge-a"}}), 0.25);
  EXPECT_EQ(metric("rollback_sidecar_rule_value", {{"rule", "gauge-b"}}), 7);
  EXPECT_EQ(metric("rollback_sidecar_rule_threshold", {{"rule", "gauge-a"}}), 0.5);
  EXPECT_EQ(core_->rule("gauge-a")["query"], "demo_value{job=\"exporter\",kind=\"a\"}") << "templated query";

  // A new value is scraped and evaluated (not a cached or stale one).
  exporter_.set_metrics(exposition(0.25, 42.5));
  ASSERT_TRUE(evaluate_until([&] { return values_are(0.25, 42.5); }, 20s))
      << "rule values did not follow the exporter to 42.5";
  EXPECT_EQ(metric("rollback_sidecar_rule_value", {{"rule", "gauge-b"}}), 42.5);

  EXPECT_EQ(or_zero(metric("rollback_sidecar_query_errors_total")), 0) << "no query should have failed:\n"
                                                                       << core_->exposition();
  EXPECT_EQ(core_->status()["state"], "healthy");
  EXPECT_TRUE(actuator_.calls().empty());
}

TEST_F(PrometheusRulesTest, PrometheusDownIsNodataNeverARollbackAndEvaluationRecoversAfterRestart) {
  ASSERT_TRUE(evaluate_until([&] { return values_are(0.25, 7); }, 20s))
      << "rule values never matched the exporter's gauges before the outage";

  const int port = prometheus_->port();
  prometheus_->stop();
  ASSERT_EQ(rs::testing::http_get(prometheus_->url() + "/-/ready").status, 0) << "Prometheus should be down";

  // Well past every rule's `for` (1s): had an error counted as missing: breach, all three
  // rules would have fired and rolled back by now.
  int outage_evaluations = 0;
  const auto outage_end = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < outage_end) {
    core_->engine->evaluate_once();
    ++outage_evaluations;
    for (const char* rule : {"gauge-a", "gauge-b", "sum-ab"}) {
      auto r = core_->rule(rule);
      ASSERT_EQ(r["state"], "nodata") << rule << " while Prometheus is down: " << r.dump();
      ASSERT_TRUE(r["value"].is_null()) << r.dump();
      ASSERT_FALSE(r["breaching"].get<bool>()) << "a query error must never breach: " << r.dump();
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_GE(outage_evaluations, 5);
  auto problem = core_->rule("gauge-a")["problem"];
  EXPECT_TRUE(problem.is_string() && problem.get<std::string>().find("connect") != std::string::npos)
      << "the rule should say the query could not connect: " << problem.dump();
  for (const char* rule : {"gauge-a", "gauge-b", "sum-ab"}) {
    EXPECT_EQ(metric("rollback_sidecar_query_errors_total", {{"rule", rule}, {"reason", "connect"}}),
              outage_evaluations)
        << rule << ": every failed query is counted\n"
        << core_->exposition();
    EXPECT_EQ(metric("rollback_sidecar_rule_state", {{"rule", rule}, {"state", "nodata"}}), 1) << rule;
    EXPECT_TRUE(std::isnan(metric("rollback_sidecar_rule_value", {{"rule", rule}}))) << rule;
  }
  EXPECT_TRUE(actuator_.calls().empty()) << "nothing may roll back on query errors";
  EXPECT_EQ(core_->status()["state"], "healthy");
  EXPECT_TRUE(core_->status()["last_decision"].is_null()) << core_->status()["last_decision"].dump(2);
  EXPECT_EQ(metric("rollback_sidecar_rollbacks_total"), 0);
  EXPECT_EQ(or_zero(metric("rollback_sidecar_decisions_total")), 0) << core_->exposition();

  // The exporter moves on while Prometheus is down, so recovery must come from a fresh scrape,
  // not from the samples Prometheus replays from its WAL.
  exporter_.set_metrics(exposition(0.25, 99));
  ASSERT_NO_THROW(prometheus_->start());
  ASSERT_EQ(prometheus_->port(), port) << "restart should reuse the port the sidecar is configured with";
  ASSERT_TRUE(evaluate_until([&] { return values_are(0.25, 99); }, 40s))
      << "evaluation did not recover with the new value 99 after Prometheus restarted";
  for (const char* rule : {"gauge-a", "gauge-b", "sum-ab"}) {
    EXPECT_EQ(core_->rule(rule)["state"], "ok") << rule;
    EXPECT_TRUE(core_->rule(rule)["problem"].is_null()) << core_->rule(rule).dump();
  }
  const double errors_after_outage = metric("rollback_sidecar_query_errors_total");
  core_->engine->evaluate_once();
  EXPECT_EQ(metric("rollback_sidecar_query_errors_total"), errors_after_outage) << "no new errors once recovered";
  EXPECT_TRUE(actuator_.calls().empty());
  EXPECT_EQ(core_->status()["state"], "healthy");

  // Control: the same config does roll back on a real breach, so the quiet outage above meant
  // something.
  exporter_.set_metrics(exposition(0.9, 99));
  ASSERT_TRUE(evaluate_until([&] { return !actuator_.calls().empty(); }, 30s))
      << "gauge-a at 0.9 (above 0.5 for 1s) should have rolled back";
  EXPECT_EQ(actuator_.calls().size(), 1u);
  EXPECT_EQ(actuator_.calls()[0].rule, "gauge-a");
  EXPECT_EQ(actuator_.calls()[0].value, "0.9");
  EXPECT_EQ(core_->status()["state"], "rolled_back");
  EXPECT_EQ(metric("rollback_sidecar_rollbacks_total", {{"result", "success"}, {"trigger", "rule"}}), 1);
}

}  // namespace
}  // namespace rs::e2e
