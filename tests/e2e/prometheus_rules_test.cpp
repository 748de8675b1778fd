// Rule evaluation against a real Prometheus (Debian's package, 1 s scrape) scraping an exporter
// the test controls, with the sidecar core in-process (real config loader, curl transport,
// system clock, self metrics, state store) and a recording actuator in place of a router.
// What must hold (DESIGN §5): rule values are the scraped values; while Prometheus is down every
// rule is nodata, errors are counted and nothing rolls back - even with missing: breach, since a
// query error is not "no data"; once Prometheus is back on the same port, evaluation recovers.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <memory>
#include <string>

#include "sidecar/app/prometheus_rules.h"
#include "sidecar/core/rule_queries.h"
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

// use_recording_rules: `rollback-sidecar rules` output loaded into a real Prometheus records every
// query slot (rule queries over two series, a baseline shared by two rules, min_samples, an slo
// rule's windows); a sidecar reading the recorded series gets the same values, states and
// decision as one reading the raw expressions, on the same data, one rule-group interval later
// at most. promtool accepts the file.
TEST(RecordingRules, TheSidecarGetsTheSameValuesAndDecisionFromTheRecordedSeries) {
  TempDir dir;
  FakeHttpServer exporter;
  exporter.set_metrics(exposition(0.25, 7));
  PrometheusServer::Options options;
  options.targets = {"127.0.0.1:" + std::to_string(exporter.port())};
  options.job = "exporter";
  options.scrape_interval = "1s";
  const std::string rules_path = dir.file("sidecar-rules.yml");
  options.rule_files = {rules_path};
  auto prometheus = std::make_unique<PrometheusServer>(options);

  auto config = [&](const std::string& name, bool recorded) {
    return "prometheus: {url: " + prometheus->url() + ", timeout: 2s}\n" +
           (recorded ? "use_recording_rules: true\n" : "") +
           "evaluation_interval: 1s\n"
           "deployment: {name: " +
           name +
           ", stage: prod, strategy: canary}\n"
           "rollback: {deadline: 2s, initial_backoff: 100ms, max_backoff: 200ms}\n"
           "rules:\n"
           // worst of two series (7); fires once b passes 10
           "  - {name: worst, query: 'demo_value{job=\"exporter\"}', above: 10, for: 2s}\n"
           // a (0.25) against the baseline b (7), guarded by the sum of both (7.25 >= 5)
           "  - {name: vs-b, query: 'demo_value{job=\"exporter\",kind=\"a\"}', above: 0.1, for: 1h,\n"
           "     baseline: {query: 'demo_value{job=\"exporter\",kind=\"b\"}', max_ratio: 2},\n"
           "     min_samples: {query: 'demo_value{job=\"exporter\"}', at_least: 5}}\n"
           // the same query, baseline and min_samples in a second rule: recorded once, read by both
           "  - {name: vs-b-strict, query: 'demo_value{job=\"exporter\",kind=\"a\"}', below: 0.01, for: 1h,\n"
           "     baseline: {query: 'demo_value{job=\"exporter\",kind=\"b\"}', max_ratio: 2},\n"
           "     min_samples: {query: 'demo_value{job=\"exporter\"}', at_least: 5}}\n"
           // an slo rule: one query per window length
           "  - {name: budget, query: 'max_over_time(demo_value{job=\"exporter\",kind=\"a\"}[{{window}}])', for: 1h,\n"
           "     slo: {objective: 0.99, period: 1h, windows: [{long: 10m, short: 1m, budget_share: 0.5}]}}\n"
           "actuators:\n"
           "  - {type: exec, command: [/bin/false]}\n";
  };
  RecordingActuator raw_actuator, recorded_actuator;
  auto raw = make_core(config("shop", false), &raw_actuator);
  auto recorded = make_core(config("shop", true), &recorded_actuator);
  ASSERT_TRUE(raw && recorded);
  const sidecar::RuleQueries slots = sidecar::rule_queries_for(recorded->loaded.config);
  ASSERT_EQ(slots.size(), 9u) << "4 rule queries + 2 baselines + 2 min_samples + the slo's short window";
  EXPECT_EQ(slots.queries()[0],
            "rollback_sidecar:slot_value{rollback_sidecar_deployment=\"shop\",rollback_sidecar_rule=\"worst\","
            "rollback_sidecar_slot=\"query\"}");
  // Shared expressions are recorded once and read by every slot holding them: vs-b's min_samples
  // is worst's query, vs-b-strict's baseline is vs-b's.
  EXPECT_EQ(slots.queries()[slots.of_rule(1).min_samples.value()], slots.queries()[0]);
  EXPECT_EQ(slots.queries()[slots.of_rule(2).baseline.value()], sidecar::recorded_selector("shop", "vs-b", "baseline"));

  const std::string rules = sidecar::render_prometheus_rules(recorded->loaded.config);
  rs::testing::write_file(rules_path, rules);
  EXPECT_NE(rules.find("name: rollback-sidecar-shop-queries"), std::string::npos) << rules;
  EXPECT_NE(rules.find("rollback_sidecar_slot: slo_10m"), std::string::npos) << rules;
  EXPECT_NE(rules.find("rollback_sidecar_slot: slo_1m"), std::string::npos) << rules;
  const std::string promtool = rs::testing::find_binary("promtool");
  ASSERT_FALSE(promtool.empty());
  rs::testing::Process check({promtool, "check", "rules", rules_path}, dir.file("promtool.log"));
  const int status = check.wait_exit(20s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << rs::testing::read_file(dir.file("promtool.log")) << rules;
  EXPECT_NE(rs::testing::read_file(dir.file("promtool.log")).find("SUCCESS: 9 rules found"), std::string::npos)
      << "4 alerts + 5 recording rules (9 slots, 5 distinct expressions):\n"
      << rs::testing::read_file(dir.file("promtool.log"));

  ASSERT_NO_THROW(prometheus->start());
  ASSERT_TRUE(prometheus->wait_scraped(40s)) << prometheus->log();
  // Every recording rule has written its series (worst's query: 2 series, the rest 1 each).
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        return prometheus->query_value("count(rollback_sidecar:slot_value{rollback_sidecar_deployment=\"shop\"})") ==
               "6";
      },
      30s, 200ms))
      << "the recording rules never wrote all 6 series:\n"
      << tail(prometheus->log());

  auto same = [&](std::string* why) {
    raw->engine->evaluate_once();
    recorded->engine->evaluate_once();
    for (const char* rule : {"worst", "vs-b", "vs-b-strict", "budget"}) {
      nlohmann::json a = raw->rule(rule), b = recorded->rule(rule);
      auto baseline = [](nlohmann::json& r) {
        return r["evidence"].is_object() && r["evidence"].contains("baseline") ? r["evidence"]["baseline"]
                                                                               : nlohmann::json();
      };
      if (a["value"].is_null() || a["value"] != b["value"] || a["state"] != b["state"] || baseline(a) != baseline(b)) {
        *why = std::string(rule) + ": raw " + a.dump() + "\nrecorded " + b.dump();
        return false;
      }
    }
    return true;
  };
  std::string why;
  ASSERT_TRUE(rs::testing::wait_until([&] { return same(&why); }, 20s, 200ms)) << why;
  EXPECT_EQ(recorded->rule("worst")["value"], 7) << "the worst of the two recorded series";
  EXPECT_EQ(recorded->rule("vs-b")["state"], "ok") << recorded->rule("vs-b").dump(2);
  EXPECT_EQ(recorded->rule("vs-b")["evidence"]["baseline"], 7) << recorded->rule("vs-b").dump(2);
  EXPECT_EQ(recorded->rule("vs-b-strict")["state"], "ok") << recorded->rule("vs-b-strict").dump(2);
  EXPECT_EQ(recorded->rule("budget")["state"], "pending") << "0.25 burns the budget:\n"
                                                          << recorded->rule("budget").dump(2);
  EXPECT_EQ(or_zero(recorded->metric("rollback_sidecar_query_errors_total")), 0) << recorded->exposition();

  // A sidecar reading recorded series of a deployment nothing records sees no data at all: the
  // values above came from the recorded series, not the expressions.
  RecordingActuator unused;
  auto unrecorded = make_core(config("not-recorded", true), &unused);
  ASSERT_TRUE(unrecorded);
  unrecorded->engine->evaluate_once();
  EXPECT_EQ(unrecorded->rule("worst")["state"], "nodata") << unrecorded->rule("worst").dump(2);

  // `check --online` compares the recorded series with the expressions: fine for "shop"; for a
  // deployment whose rule file is not loaded it names the missing series and exits 1.
  for (const std::string name : {"shop", "not-recorded"}) {
    const std::string file = dir.file(name + ".yml"), log = dir.file(name + "-check.log");
    rs::testing::write_file(file, config(name, true));
    rs::testing::Process online({kSidecarBinary, "check", "--config", file, "--online"}, log);
    const int exit = online.wait_exit(30s);
    const std::string out = rs::testing::read_file(log);
    ASSERT_TRUE(WIFEXITED(exit)) << out;
    if (name == "shop") {
      EXPECT_EQ(WEXITSTATUS(exit), 0) << out;
    } else {
      EXPECT_EQ(WEXITSTATUS(exit), 1) << out;
      EXPECT_NE(out.find("query worst query: no recorded series"), std::string::npos) << out;
      EXPECT_NE(out.find("load `rollback-sidecar rules --config"), std::string::npos) << out;
    }
  }

  // A breach: both decide, on the same rule and value; the recorded one at most one group
  // interval (1 s) plus one evaluation later.
  exporter.set_metrics(exposition(0.25, 12));
  std::optional<double> raw_decided, recorded_decided;
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        raw->engine->evaluate_once();
        recorded->engine->evaluate_once();
        if (!raw_decided && !raw_actuator.calls().empty()) raw_decided = now;
        if (!recorded_decided && !recorded_actuator.calls().empty()) recorded_decided = now;
        return raw_decided && recorded_decided;
      },
      30s, 100ms))
      << "raw decided: " << raw_decided.has_value() << ", recorded decided: " << recorded_decided.has_value();
  ASSERT_EQ(raw_actuator.calls().size(), 1u);
  ASSERT_EQ(recorded_actuator.calls().size(), 1u);
  EXPECT_EQ(raw_actuator.calls()[0].rule, "worst");
  EXPECT_EQ(recorded_actuator.calls()[0].rule, "worst");
  EXPECT_EQ(recorded_actuator.calls()[0].value, raw_actuator.calls()[0].value);
  std::cout << "decided after the change: raw " << *raw_decided << " s, recorded " << *recorded_decided << " s\n";
  EXPECT_LE(*recorded_decided - *raw_decided, 2.5) << "one group interval (1 s) of lag, plus scheduling";
}

}  // namespace
}  // namespace rs::e2e
