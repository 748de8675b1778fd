// Engine::evaluate_once end to end in-process: config through the real loader, a scripted
// Prometheus behind the HttpTransport seam, a manual clock, a scripted actuator, a real state
// store. Checks the DESIGN §5 semantics as the engine applies them: one rollback per breach,
// query errors never heal and never roll back, dry run acts on nothing, the latch survives a
// restart, and the status document and metrics show each rule's value/threshold/state.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/fakes/env.h"
#include "actuators/actuator.h"
#include "promql/client.h"
#include "common/http/http_transport.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/records/notification_dispatcher.h"
#include "sidecar/records/record_keeper.h"
#include "tests/e2e/e2e_support.h"  // metric_sum, or_zero
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using actuators::ActResult;
using e2e::metric_sum;
using e2e::or_zero;

using fakes::ManualClock;
constexpr WallTime kWallStart = ManualClock::kWallStart;

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// One form field of an /api/v1/query POST body, decoded.
std::string form_field(const std::string& body, const std::string& name) {
  const std::string key = name + "=";
  std::size_t at = body.rfind(key, 0) == 0 ? 0 : body.find("&" + key);
  if (at == std::string::npos) return "";
  if (at > 0 || body[0] == '&') at += 1;
  const std::size_t start = at + key.size();
  const std::size_t end = body.find('&', start);
  return percent_decode(body.substr(start, end == std::string::npos ? std::string::npos : end - start));
}

rs::HttpResponse ok_body(const std::string& body) {
  rs::HttpResponse r;
  r.status = 200;
  r.body = body;
  return r;
}

// A vector result with one series per value ("NaN" allowed).
rs::HttpResponse vector_of(std::vector<std::string> values) {
  std::string series;
  int i = 0;
  for (const auto& v : values) {
    series += std::string(series.empty() ? "" : ",") + R"({"metric":{"instance":"i)" + std::to_string(i++) +
              R"("},"value":[1,")" + v + R"("]})";
  }
  return ok_body(R"({"status":"success","data":{"resultType":"vector","result":[)" + series + "]}}");
}

// Answers each query by the name its text starts with; unknown queries are a test failure.
class ScriptedPrometheus : public rs::HttpTransport {
 public:
  std::vector<rs::HttpResponse> perform_all(const std::vector<rs::HttpRequest>& requests) override {
    std::vector<rs::HttpResponse> out;
    for (const auto& request : requests) {
      const std::string query = form_field(request.body, "query");
      queries.push_back(query);
      times.push_back(form_field(request.body, "time"));
      bool found = false;
      for (const auto& [prefix, response] : answers) {
        if (query.rfind(prefix, 0) == 0) {
          out.push_back(response);
          found = true;
          break;
        }
      }
      if (!found) {
        ADD_FAILURE() << "unexpected query: " << query;
        out.push_back(vector_of({}));
      }
    }
    return out;
  }
  void answer(const std::string& rule, rs::HttpResponse r) { answers[rule] = std::move(r); }
  void value(const std::string& rule, const std::string& v) { answer(rule, vector_of({v})); }

  std::map<std::string, rs::HttpResponse> answers;
  std::vector<std::string> queries;  // every query received, decoded
  std::vector<std::string> times;    // their `time` parameters
};

class ScriptedActuator : public actuators::Actuator {
 public:
  explicit ScriptedActuator(std::deque<ActResult> script = {ActResult::changed("canary weight 10 -> 0")})
      : script_(std::move(script)) {}
  std::string type() const override { return "scripted"; }
  std::string describe() const override { return "scripted router"; }
  ActResult rollback(const actuators::DecisionContext& context, std::chrono::steady_clock::time_point) override {
    calls.push_back(context);
    ActResult r = script_.front();
    if (script_.size() > 1) script_.pop_front();
    return r;
  }
  ActResult probe(std::chrono::steady_clock::time_point) override { return ActResult::noop("ok"); }
  void script(std::deque<ActResult> results) { script_ = std::move(results); }
  std::vector<actuators::DecisionContext> calls;

 private:
  std::deque<ActResult> script_;
};

struct Options {
  std::string errors_rule =
      "{name: errors, query: 'errors{service=\"{{service}}\",version=\"{{canary}}\"}', "
      "above: 0.05, for: 2s}";
  std::string canary = "v2";
  bool dry_run = false;
  std::string state_file;  // "" = no persistence
  std::string extra_yaml;  // appended top-level keys
};

std::string config_yaml(const Options& o) {
  std::string yaml =
      "prometheus: {url: 'http://prometheus.invalid:9090'}\n"
      "evaluation_interval: 1s\n"
      "deployment: {name: checkout, stage: prod, strategy: canary, vars: {service: checkout, canary: " +
      o.canary +
      "}}\n"
      "rules:\n"
      "  - " +
      o.errors_rule +
      "\n"
      "  - {name: throughput, query: throughput, below: 10}\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n";
  if (o.dry_run) yaml += "dry_run: true\n";
  if (!o.state_file.empty()) yaml += "state_file: '" + o.state_file + "'\n";
  return yaml + o.extra_yaml;
}

// A config, and an engine over it with the scripted collaborators. Several may share one
// transport and clock (a restart is a new Sidecar on the same state file).
struct Sidecar {
  Sidecar(const Options& options, std::shared_ptr<ScriptedPrometheus> prometheus, ManualClock& clock,
          actuators::Actuator& actuator) {
    LoadResult result = load_config_text(config_yaml(options), "engine.yml", actuators::Registry::builtin());
    for (const auto& e : result.errors) ADD_FAILURE() << e.to_string("engine.yml");
    if (!result.loaded) return;
    loaded = std::move(*result.loaded);
    std::vector<std::string> rules;
    for (const auto& r : loaded.config.rules) rules.push_back(r.name);
    metrics = std::make_unique<SelfMetrics>("test", rules, deployment_state_names());
    client = std::make_unique<promql::Client>(promql::ClientOptions{}, std::move(prometheus));
    store = std::make_unique<StateStore>(loaded.config.state_file);
    engine = std::make_unique<Engine>(loaded.config, std::vector<actuators::Actuator*>{&actuator}, *client,
                                      fakes::env_with_clock(clock), *metrics, *store);
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    return metric_sum(metrics->serialize(), name, labels);
  }
  nlohmann::json rule_status(const std::string& name) const {
    const nlohmann::json s = engine->status();
    for (const auto& r : s["rules"])
      if (r["name"] == name) return r;
    return nullptr;
  }

  LoadedConfig loaded;
  std::unique_ptr<SelfMetrics> metrics;
  std::unique_ptr<promql::Client> client;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Engine> engine;
};

class EngineTest : public ::testing::Test {
 protected:
  // Starts (or restarts) the sidecar; its engine is null (with a failure recorded) if it cannot start.
  Sidecar& start(const Options& options = {}) {
    sidecar_.reset();  // a restart: the old engine is gone before the new one reads the state file
    sidecar_ = std::make_unique<Sidecar>(options, prometheus_, clock_, actuator_);
    if (sidecar_->engine) {
      std::string error;
      EXPECT_TRUE(sidecar_->engine->restore(&error)) << error;
    }
    return *sidecar_;
  }
  // One scheduled evaluation: the clock moves one interval first (except for the first one).
  void tick() {
    if (ticks_++ > 0) clock_.advance(1000ms);
    sidecar_->engine->evaluate_once();
  }
  Engine& engine() { return *sidecar_->engine; }
  std::string state() { return deployment_state_name(engine().state()); }

  std::shared_ptr<ScriptedPrometheus> prometheus_ = std::make_shared<ScriptedPrometheus>();
  ManualClock clock_;
  ScriptedActuator actuator_;
  std::unique_ptr<Sidecar> sidecar_;
  int ticks_ = 0;
};

TEST_F(EngineTest, ABreachLastingTheWholeForRollsBackExactlyOnce) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();  // t=0: pending
  EXPECT_EQ(state(), "pending");
  tick();  // t=1
  EXPECT_TRUE(actuator_.calls.empty()) << "`for: 2s` has not elapsed yet";
  tick();  // t=2: breached at every evaluation for 2s
  ASSERT_EQ(actuator_.calls.size(), 1u);
  EXPECT_EQ(state(), "rolled_back");
  const actuators::DecisionContext& c = actuator_.calls[0];
  EXPECT_EQ(c.deployment, "checkout");
  EXPECT_EQ(c.trigger, "rule");
  EXPECT_EQ(c.rule, "errors");
  EXPECT_EQ(c.value, "0.2");
  EXPECT_EQ(c.threshold, "0.05");

  for (int i = 0; i < 5; ++i) tick();
  EXPECT_EQ(actuator_.calls.size(), 1u) << "latched: a still-breaching rule never rolls back twice";
  prometheus_->value("errors", "0.0");
  for (int i = 0; i < 3; ++i) tick();
  EXPECT_EQ(state(), "rolled_back") << "latched: recovered signals do not make it healthy again";
  EXPECT_EQ(actuator_.calls.size(), 1u);

  const Sidecar& s = *sidecar_;
  EXPECT_EQ(s.metric("rollback_sidecar_rollbacks_total", {{"result", "success"}, {"trigger", "rule"}}), 1);
  EXPECT_EQ(s.metric("rollback_sidecar_decisions_total", {{"decision", "rollback"}, {"rule", "errors"}}), 1);
  EXPECT_EQ(s.metric("rollback_sidecar_actuator_calls_total", {{"actuator", "scripted"}, {"result", "changed"}}), 1);
  EXPECT_EQ(s.metric("rollback_sidecar_deployment_state", {{"state", "rolled_back"}}), 1);
  EXPECT_EQ(s.metric("rollback_sidecar_deployment_state"), 1) << "exactly one state is current";
  EXPECT_EQ(s.metric("rollback_sidecar_detection_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(s.metric("rollback_sidecar_detection_seconds_sum"), 2.0) << "first breach at t=0, decision at t=2";
}

// Scrape alignment must not move the evaluation grid earlier while a rule's `for` is measured in
// time (sidecar.cpp asks this before every move).
TEST_F(EngineTest, TimingARuleIsTrueWhileARuleIsPendingOrFiring) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.0");
  tick();
  EXPECT_FALSE(engine().timing_a_rule());
  prometheus_->value("errors", "0.2");
  tick();
  EXPECT_EQ(state(), "pending");
  EXPECT_TRUE(engine().timing_a_rule());
  prometheus_->value("errors", "0.0");
  tick();
  EXPECT_FALSE(engine().timing_a_rule());
}

TEST_F(EngineTest, QueriesAreRenderedAndPinnedToTheEvaluationTime) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.01");
  tick();
  ASSERT_EQ(prometheus_->queries.size(), 2u);
  EXPECT_EQ(prometheus_->queries[0], "errors{service=\"checkout\",version=\"v2\"}");
  EXPECT_EQ(prometheus_->queries[1], "throughput");
  ASSERT_FALSE(prometheus_->times[0].empty()) << "the evaluation time is sent, not left to Prometheus";
  EXPECT_DOUBLE_EQ(std::stod(prometheus_->times[0]), to_unix_seconds(kWallStart));
}

TEST_F(EngineTest, StatusAndMetricsShowEachRulesValueThresholdAndState) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();
  const nlohmann::json errors = sidecar_->rule_status("errors");
  ASSERT_TRUE(errors.is_object()) << engine().status().dump(2);
  EXPECT_EQ(errors["value"], 0.2);
  EXPECT_EQ(errors["threshold"], 0.05);
  EXPECT_EQ(errors["comparison"], "above");
  EXPECT_EQ(errors["state"], "pending");
  EXPECT_EQ(errors["breaching"], true);
  EXPECT_EQ(errors["for"], "2s");
  EXPECT_EQ(errors["pending_since"], to_rfc3339(kWallStart));
  EXPECT_EQ(errors["query"], "errors{service=\"checkout\",version=\"v2\"}");
  const nlohmann::json throughput = sidecar_->rule_status("throughput");
  EXPECT_EQ(throughput["value"], 50);
  EXPECT_EQ(throughput["threshold"], 10);
  EXPECT_EQ(throughput["comparison"], "below");
  EXPECT_EQ(throughput["state"], "ok");

  const nlohmann::json status = engine().status();
  EXPECT_EQ(status["state"], "pending");
  EXPECT_EQ(status["latched"], false);
  EXPECT_EQ(status["deployment"]["name"], "checkout");
  EXPECT_EQ(status["evaluations"], 1);
  EXPECT_EQ(status["last_evaluation"], to_rfc3339(kWallStart));
  EXPECT_TRUE(status["last_decision"].is_null());
  EXPECT_TRUE(engine().ready());

  const Sidecar& s = *sidecar_;
  EXPECT_DOUBLE_EQ(s.metric("rollback_sidecar_rule_value", {{"rule", "errors"}}), 0.2);
  EXPECT_DOUBLE_EQ(s.metric("rollback_sidecar_rule_threshold", {{"rule", "errors"}}), 0.05);
  EXPECT_EQ(s.metric("rollback_sidecar_rule_state", {{"rule", "errors"}, {"state", "pending"}}), 1);
  EXPECT_EQ(s.metric("rollback_sidecar_rule_state", {{"rule", "errors"}}), 1) << "exactly one state per rule is 1";
  EXPECT_EQ(s.metric("rollback_sidecar_rule_state", {{"rule", "throughput"}, {"state", "ok"}}), 1);
  EXPECT_DOUBLE_EQ(s.metric("rollback_sidecar_last_evaluation_timestamp_seconds"), to_unix_seconds(kWallStart));

  tick();
  tick();
  const nlohmann::json decision = engine().status()["last_decision"];
  ASSERT_TRUE(decision.is_object()) << engine().status().dump(2);
  EXPECT_EQ(decision["kind"], "rollback");
  EXPECT_EQ(decision["rule"], "errors");
  EXPECT_EQ(decision["result"], "success");
  EXPECT_EQ(engine().status()["latched"], true);
}

struct BadAnswer {
  std::string name;
  rs::HttpResponse response;
  std::string reason;  // query_errors_total's label
};

rs::HttpResponse http(long status, const std::string& body) {
  rs::HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

rs::HttpResponse transport_error(rs::TransportError e, const std::string& message) {
  rs::HttpResponse r;
  r.error = e;
  r.error_message = message;
  return r;
}

TEST_F(EngineTest, QueryErrorsAreNoDataCountedAndNeverHealNorRollBack) {
  // `missing: breach` and `for: 0s`: an empty result would roll back at once; errors must not.
  Options o;
  o.errors_rule = "{name: errors, query: errors, above: 0.05, for: 0s, missing: breach}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  const std::vector<BadAnswer> answers = {
      {"http 503", http(503, "upstream unavailable"), "http"},
      {"prometheus error", http(422, R"({"status":"error","errorType":"execution","error":"many-to-many"})"),
       "prometheus"},
      {"unparseable body", ok_body("<html>proxy login</html>"), "parse"},
      {"timeout", transport_error(rs::TransportError::kTimeout, "POST /api/v1/query timed out"), "timeout"},
      {"connect", transport_error(rs::TransportError::kConnect, "connection refused"), "connect"},
      {"matrix result", ok_body(R"({"status":"success","data":{"resultType":"matrix","result":[]}})"), "unsupported"},
      {"partial answer",
       ok_body(R"({"status":"success","isPartial":true,"data":{"resultType":"vector","result":[)"
               R"({"metric":{},"value":[1,"0.9"]}]}})"),
       "partial"},
  };
  for (const auto& bad : answers) {
    prometheus_->answer("errors", bad.response);
    tick();
    const nlohmann::json rule = sidecar_->rule_status("errors");
    EXPECT_EQ(rule["state"], "nodata") << bad.name;
    EXPECT_TRUE(rule["value"].is_null()) << bad.name;
    EXPECT_FALSE(rule["problem"].is_null()) << bad.name << ": the status says what went wrong";
    EXPECT_EQ(rule["error_reason"], bad.reason) << bad.name;
    EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "errors"}, {"reason", bad.reason}}), 1)
        << bad.name << "\n"
        << sidecar_->metrics->serialize();
    EXPECT_EQ(sidecar_->metric("rollback_sidecar_rule_state", {{"rule", "errors"}, {"state", "nodata"}}), 1)
        << bad.name;
    EXPECT_TRUE(std::isnan(sidecar_->metric("rollback_sidecar_rule_value", {{"rule", "errors"}}))) << bad.name;
  }
  EXPECT_TRUE(actuator_.calls.empty());
  EXPECT_EQ(state(), "healthy");
  EXPECT_TRUE(engine().status()["last_decision"].is_null());
  prometheus_->value("errors", "0.01");
  tick();
  EXPECT_TRUE(sidecar_->rule_status("errors")["error_reason"].is_null()) << "a value clears the reason";
}

// DESIGN §5: a query error never counts as healthy; docs/rules-and-decisions.md: "`nodata` rules
// change nothing". A held rule keeps its episode, so the deployment stays pending (status,
// deployment_state metric, log) while Prometheus is failing.
TEST_F(EngineTest, AQueryErrorWhilePendingKeepsTheDeploymentPendingNotHealthy) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();
  ASSERT_EQ(state(), "pending");
  prometheus_->answer("errors", http(500, "internal error"));
  for (int i = 0; i < 5; ++i) {
    tick();
    EXPECT_EQ(state(), "pending") << "an error is never evidence of health";
  }
  EXPECT_TRUE(actuator_.calls.empty()) << "and never evidence of a breach";
}

// VictoriaMetrics' isPartial: a storage node did not answer, so a series may be missing. For a
// `below` rule that would fake a breach (throughput sums to less than it is); it must not count.
TEST_F(EngineTest, APartialAnswerIsNeverABreachOfABelowRule) {
  Options o;
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("errors", "0.01");
  prometheus_->answer("throughput", ok_body(R"({"status":"success","isPartial":true,"data":{"resultType":"vector",)"
                                            R"("result":[{"metric":{},"value":[1,"1"]}]}})"));
  for (int i = 0; i < 5; ++i) tick();
  const nlohmann::json rule = sidecar_->rule_status("throughput");
  EXPECT_EQ(rule["state"], "nodata") << rule.dump();
  EXPECT_NE(rule["problem"].get<std::string>().find("isPartial"), std::string::npos) << rule.dump();
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "throughput"}, {"reason", "partial"}}),
            5);
  EXPECT_EQ(state(), "healthy");
  EXPECT_TRUE(actuator_.calls.empty());
  // The same value, complete, is a breach (no `for`: it fires and rolls back at once).
  prometheus_->value("throughput", "1");
  tick();
  EXPECT_EQ(sidecar_->rule_status("throughput")["state"], "firing");
  EXPECT_EQ(actuator_.calls.size(), 1u);
}

struct MissingCase {
  std::string missing;
  std::string expect_rule_state;
  bool rolls_back;
};

class EngineMissing : public EngineTest, public ::testing::WithParamInterface<MissingCase> {};

TEST_P(EngineMissing, AnEmptyResultOrNaNCountsAsTheRuleSays) {
  const MissingCase& c = GetParam();
  Options o;
  o.errors_rule = "{name: errors, query: errors, above: 0.05, for: 1s, missing: " + c.missing + "}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->answer("errors", vector_of({}));
  tick();
  prometheus_->answer("errors", vector_of({"NaN"}));
  tick();
  tick();
  EXPECT_EQ(sidecar_->rule_status("errors")["state"], c.expect_rule_state);
  EXPECT_EQ(actuator_.calls.size(), c.rolls_back ? 1u : 0u);
  EXPECT_EQ(or_zero(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "errors"}})), 0)
      << "no data is not a query error";
}

INSTANTIATE_TEST_SUITE_P(Rules, EngineMissing,
                         ::testing::Values(MissingCase{"hold", "nodata", false}, MissingCase{"breach", "firing", true},
                                           MissingCase{"ok", "ok", false}),
                         [](const ::testing::TestParamInfo<MissingCase>& row) { return row.param.missing; });

TEST_F(EngineTest, TheWorstSeriesDecidesAndNaNSeriesAreIgnored) {
  Options o;
  o.errors_rule = "{name: errors, query: errors, above: 0.05, for: 0s}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->answer("throughput", vector_of({"50", "NaN", "4"}));
  prometheus_->answer("errors", vector_of({"0.01", "NaN", "0.03"}));
  tick();
  EXPECT_EQ(sidecar_->rule_status("errors")["value"], 0.03);
  EXPECT_EQ(sidecar_->rule_status("errors")["state"], "ok");
  EXPECT_EQ(sidecar_->rule_status("throughput")["value"], 4) << "below rules judge the lowest series";
  EXPECT_EQ(sidecar_->rule_status("throughput")["state"], "firing");
  ASSERT_EQ(actuator_.calls.size(), 1u) << "one bad instance is not averaged away";
  EXPECT_EQ(actuator_.calls[0].rule, "throughput");
}

TEST_F(EngineTest, DryRunRecordsWouldRollBackAndActsOnNothing) {
  Options o;
  o.dry_run = true;
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 6; ++i) tick();
  EXPECT_TRUE(actuator_.calls.empty());
  EXPECT_EQ(state(), "firing");
  const nlohmann::json status = engine().status();
  EXPECT_EQ(status["dry_run"], true);
  EXPECT_EQ(status["latched"], false);
  ASSERT_TRUE(status["last_decision"].is_object()) << status.dump(2);
  EXPECT_EQ(status["last_decision"]["kind"], "hold");
  EXPECT_EQ(status["last_decision"]["dry_run"], true);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_decisions_total", {{"decision", "hold"}, {"rule", "errors"}}), 1)
      << "one hold per firing episode, not one per evaluation";
  EXPECT_EQ(or_zero(sidecar_->metric("rollback_sidecar_decisions_total", {{"decision", "rollback"}})), 0);
  EXPECT_EQ(or_zero(sidecar_->metric("rollback_sidecar_rollbacks_total", {{"result", "success"}})), 0);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_dry_run"), 1);
}

TEST_F(EngineTest, AFailedRollbackLatchesRollbackFailedAndIsNotRepeatedByRules) {
  actuator_.script({ActResult::failure("No such backend 'app'", false)});
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 3; ++i) tick();
  ASSERT_EQ(actuator_.calls.size(), 1u);
  EXPECT_EQ(state(), "rollback_failed");
  for (int i = 0; i < 4; ++i) tick();
  EXPECT_EQ(actuator_.calls.size(), 1u) << "a broken router is not hammered every evaluation";
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_rollbacks_total", {{"result", "failure"}, {"trigger", "rule"}}), 1);
  EXPECT_EQ(
      sidecar_->metric("rollback_sidecar_actuator_calls_total", {{"actuator", "scripted"}, {"result", "failure"}}), 1);
  const nlohmann::json decision = engine().status()["last_decision"];
  EXPECT_EQ(decision["result"], "failure");
  EXPECT_NE(decision.dump().find("No such backend 'app'"), std::string::npos) << decision.dump(2);
}

TEST_F(EngineTest, TheLatchSurvivesARestartUntilANewDeploymentIsConfigured) {
  testing::TempDir dir;
  Options o;
  o.state_file = dir.file("state.json");
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 3; ++i) tick();
  ASSERT_EQ(actuator_.calls.size(), 1u);
  const auto decision_id = engine().last_decision()->id;

  // Restart: same deployment, still breaching.
  ASSERT_TRUE(start(o).engine);
  EXPECT_EQ(state(), "rolled_back") << "restored before the first evaluation";
  ASSERT_TRUE(engine().last_decision());
  EXPECT_EQ(engine().last_decision()->id, decision_id);
  for (int i = 0; i < 4; ++i) tick();
  EXPECT_EQ(actuator_.calls.size(), 1u) << "a restart neither undoes nor repeats the rollback";
  prometheus_->value("errors", "0.0");
  tick();
  EXPECT_EQ(state(), "rolled_back");

  // A new deployment (new canary version) starts healthy and is guarded again.
  o.canary = "v3";
  ASSERT_TRUE(start(o).engine);
  EXPECT_EQ(state(), "healthy");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 3; ++i) tick();
  EXPECT_EQ(actuator_.calls.size(), 2u);
  EXPECT_EQ(state(), "rolled_back");
}

TEST_F(EngineTest, AnInterruptedRollbackIsResumedBeforeTheFirstEvaluation) {
  testing::TempDir dir;
  Options o;
  o.state_file = dir.file("state.json");
  {
    // What a crash between "decided" and "router moved" leaves on disk.
    Sidecar probe(o, prometheus_, clock_, actuator_);
    ASSERT_TRUE(probe.engine);
    PersistedState s;
    s.identity = probe.loaded.config.deployment.identity();
    s.state = DeploymentState::kRollingBack;
    Decision d;
    d.id = 4;
    d.kind = DecisionKind::kRollback;
    d.rule = "errors";
    d.value = 0.2;
    d.threshold = 0.05;
    d.decided_at = kWallStart - 10s;
    s.last_decision = d;
    std::string error;
    ASSERT_TRUE(probe.store->save(s, &error)) << error;
  }
  ASSERT_TRUE(start(o).engine);
  EXPECT_EQ(state(), "rolling_back");
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.0");  // even if the signals look fine now
  tick();
  ASSERT_EQ(actuator_.calls.size(), 1u);
  EXPECT_EQ(actuator_.calls[0].rule, "errors");
  EXPECT_EQ(state(), "rolled_back");
  tick();
  EXPECT_EQ(actuator_.calls.size(), 1u);
  EXPECT_EQ(engine().last_decision()->id, 4u);
}

TEST_F(EngineTest, ACorruptStateFileStopsTheStartWithAnErrorNamingIt) {
  testing::TempDir dir;
  Options o;
  o.state_file = dir.file("state.json");
  testing::write_file(o.state_file, "{\"version\": 1, \"state\": \"rolled_b");
  Sidecar s(o, prometheus_, clock_, actuator_);
  ASSERT_TRUE(s.engine);
  std::string error;
  EXPECT_FALSE(s.engine->restore(&error)) << "starting healthy would forget a latched rollback";
  EXPECT_NE(error.find(o.state_file), std::string::npos) << error;
}

TEST_F(EngineTest, DelayRechecksBeforeActingAndARecoveryCancelsTheRollback) {
  Options o;
  o.errors_rule = "{name: errors, query: errors, above: 0.05, for: 0s, delay: 2s}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();  // t=0: firing, waiting for the delay
  tick();  // t=1
  EXPECT_EQ(state(), "firing");
  EXPECT_TRUE(actuator_.calls.empty());
  prometheus_->value("errors", "0.01");
  tick();  // t=2: the re-check finds it recovered
  EXPECT_TRUE(actuator_.calls.empty());
  EXPECT_EQ(state(), "healthy");
  prometheus_->value("errors", "0.2");
  tick();  // t=3: a new episode, firing again
  tick();  // t=4
  EXPECT_TRUE(actuator_.calls.empty()) << "the delay restarts with the new episode";
  tick();  // t=5: delay elapsed and still breaching
  EXPECT_EQ(actuator_.calls.size(), 1u);
}

TEST_F(EngineTest, NotifyRulesAreCountedOncePerEpisodeAndNeverActuate) {
  Options o;
  o.errors_rule = "{name: errors, query: errors, above: 0.05, for: 0s, action: notify, severity: sev3}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 4; ++i) tick();
  EXPECT_TRUE(actuator_.calls.empty());
  EXPECT_EQ(state(), "firing");
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_decisions_total",
                             {{"decision", "notify"}, {"rule", "errors"}, {"severity", "sev3"}}),
            1);
  EXPECT_EQ(engine().status()["last_decision"]["kind"], "notify");
}

TEST_F(EngineTest, RollbackDurationIsMeasuredFromTheDecisionToTheVerifiedChange) {
  // Two refused attempts: 100 ms and 200 ms of backoff on the manual clock before the change.
  actuator_.script({ActResult::failure("connection refused"), ActResult::failure("connection refused"),
                    ActResult::changed("canary weight 10 -> 0")});
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 3; ++i) tick();
  ASSERT_EQ(actuator_.calls.size(), 3u);
  EXPECT_EQ(state(), "rolled_back");
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_rollback_duration_seconds_count"), 1);
  EXPECT_NEAR(sidecar_->metric("rollback_sidecar_rollback_duration_seconds_sum"), 0.3, 1e-9);
  const nlohmann::json decision = engine().status()["last_decision"];
  EXPECT_NEAR(decision["duration_seconds"].get<double>(), 0.3, 1e-9) << decision.dump(2);
  EXPECT_EQ(
      sidecar_->metric("rollback_sidecar_actuator_calls_total", {{"actuator", "scripted"}, {"result", "failure"}}), 2);
}

TEST_F(EngineTest, InfiniteValuesAreShownAsPrometheusSpellsThem) {
  Options o;
  o.errors_rule = "{name: errors, query: errors, above: 0.05, for: 1h}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "+Inf");
  tick();
  EXPECT_EQ(sidecar_->rule_status("errors")["value"], "+Inf");
  EXPECT_EQ(sidecar_->rule_status("errors")["state"], "pending");
  EXPECT_NO_THROW((void)engine().status().dump()) << "the status document stays valid JSON";
}

TEST_F(EngineTest, QueriesWithPlusAmpersandAndQuotesReachPrometheusUnchanged) {
  Options o;
  o.errors_rule = R"({name: errors, query: 'sum(rate(a{path=~"/x&y|/z"}[1m])) + sum(b) / 2', above: 0.05})";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("sum", "0.01");
  tick();
  ASSERT_FALSE(prometheus_->queries.empty());
  EXPECT_EQ(prometheus_->queries[0], R"(sum(rate(a{path=~"/x&y|/z"}[1m])) + sum(b) / 2)");
}

TEST_F(EngineTest, TheExpositionAfterErrorsAndARollbackIsPromtoolClean) {
  const std::string promtool = testing::find_binary("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (scripts/install-deps.sh installs prometheus)";
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->answer("errors", http(503, "unavailable"));
  tick();
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 3; ++i) tick();
  ASSERT_EQ(state(), "rolled_back");
  testing::TempDir dir;
  testing::write_file(dir.file("metrics.txt"), sidecar_->metrics->serialize());
  testing::Process check({"/bin/sh", "-c", promtool + " check metrics < " + dir.file("metrics.txt")},
                         dir.file("promtool.log"));
  const int status = check.wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::read_file(dir.file("promtool.log"));
  EXPECT_EQ(testing::read_file(dir.file("promtool.log")), "") << "promtool prints lint findings";
}

namespace verification {

// Remembers the message names it was sent.
class RecordingNotifier : public notifiers::Notifier {
 public:
  std::string type() const override { return "webhook"; }
  std::string describe() const override { return "recording notifier"; }
  notifiers::SendResult send(const notifiers::Notification& n, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mu);
    sent.push_back(n.message);
    return notifiers::SendResult::success("HTTP 200");
  }
  std::mutex mu;
  std::vector<std::string> sent;
};

struct VerdictCase {
  const char* stable_errors;  // what rollback.verify's query answers after the rollback
  const char* verdict;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

class EngineVerification : public EngineTest, public ::testing::WithParamInterface<VerdictCase> {};

// The verdict of rollback.verify reaches every record docs/audit-and-incidents.md promises: a
// `verification` audit record, RollbackUnverified for a failed one, and the incident report.
TEST_P(EngineVerification, TheVerdictReachesTheAuditLogTheNotifiersAndTheIncidentReport) {
  testing::TempDir dir;
  Options options;
  options.extra_yaml =
      "rollback: {verify: {query: stable_errors, below: 0.01, for: 2s, timeout: 4s}}\n"
      "audit_log: '" +
      dir.file("audit.jsonl") +
      "'\n"
      "incidents_dir: '" +
      dir.file("incidents") + "'\n";
  Sidecar& s = start(options);
  ASSERT_TRUE(s.engine);
  RecordKeeper keeper(s.loaded.config, *s.metrics);
  std::string error;
  ASSERT_TRUE(keeper.start(&error)) << error;
  RecordingNotifier notifier;
  NotifierSpec spec;
  spec.type = "webhook";
  spec.messages = {"RollbackStarted",    "RollbackSucceeded", "RollbackFailed",
                   "RollbackUnverified", "RollbackDryRun",    "RuleNotify"};
  SystemClock notifier_clock;
  NotificationDispatcher dispatcher(s.loaded.config, {{&notifier, spec}}, *s.metrics, notifier_clock, "",
                                    [](const nlohmann::json&) {});
  dispatcher.start();
  s.engine->add_observer(&keeper);
  s.engine->add_observer(&dispatcher);

  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  prometheus_->value("stable_errors", GetParam().stable_errors);
  for (int i = 0; i < 3; ++i) tick();
  ASSERT_EQ(state(), "rolled_back");
  for (int i = 0; i < 6; ++i) tick();
  ASSERT_STREQ(verification_name(engine().last_decision()->verification), GetParam().verdict);

  ASSERT_TRUE(testing::wait_until([&] { return dispatcher.pending() == 0; }, 10s));
  dispatcher.stop();
  keeper.stop();

  std::vector<std::string> verdicts;
  for (const auto& line : split_lines(testing::read_file(dir.file("audit.jsonl")))) {
    const auto record = nlohmann::json::parse(line);
    if (record["event"] == "verification") verdicts.push_back(record["result"]);
  }
  EXPECT_EQ(verdicts, (std::vector<std::string>{"pending", GetParam().verdict}));

  const bool failed = std::string(GetParam().verdict) == "failed";
  std::vector<std::string> expected = {"RollbackStarted", "RollbackSucceeded"};
  if (failed) expected.push_back("RollbackUnverified");
  EXPECT_EQ(notifier.sent, expected);

  const std::string report = testing::read_file(dir.file("incidents") + "/latest.md");
  EXPECT_NE(report.find(std::string("| Verification | ") + GetParam().verdict), std::string::npos) << report;
  EXPECT_NE(report.find(std::string("verification ") + GetParam().verdict + ": "), std::string::npos)
      << "the timeline shows the verdict\n"
      << report;
}

INSTANTIATE_TEST_SUITE_P(Verdicts, EngineVerification,
                         ::testing::Values(VerdictCase{"0.5", "failed"}, VerdictCase{"0.001", "verified"}),
                         [](const auto& p) { return std::string(p.param.verdict); });

}  // namespace verification

// A state file that cannot be written (here: its directory is missing, as on a volume that is
// not mounted yet; a full disk fails the same way) keeps the latch in memory, is counted and
// shown by the persist health, and is written at the next tick once the disk takes it, even
// though nothing changes any more; a restart then neither repeats nor forgets the rollback.
TEST_F(EngineTest, AStateWriteThatFailedIsRetriedAtTheNextTickAndCounted) {
  testing::TempDir dir;
  const std::string volume = dir.file("volume");
  Options o;
  o.state_file = volume + "/state.json";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  for (int i = 0; i < 3; ++i) tick();
  ASSERT_EQ(actuator_.calls.size(), 1u);
  EXPECT_EQ(state(), "rolled_back") << "the latch holds in memory";
  EXPECT_GE(sidecar_->metric("rollback_sidecar_persist_errors_total", {{"file", "state"}}), 1);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_persist_errors_total", {{"file", "audit"}}), 0);
  const std::string failing = engine().persist_health().failing();
  EXPECT_NE(failing.find("state: state file " + o.state_file), std::string::npos) << failing;
  const double errors = sidecar_->metric("rollback_sidecar_persist_errors_total", {{"file", "state"}});
  tick();
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_persist_errors_total", {{"file", "state"}}), errors + 1)
      << "every tick retries the pending write";

  ASSERT_EQ(::mkdir(volume.c_str(), 0750), 0);  // the disk takes writes again
  tick();
  EXPECT_EQ(engine().persist_health().failing(), "");
  ASSERT_EQ(testing::read_file(o.state_file).find("\"rolled_back\"") != std::string::npos, true)
      << testing::read_file(o.state_file);
  tick();
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_persist_errors_total", {{"file", "state"}}), errors + 1);

  ASSERT_TRUE(start(o).engine);  // restart
  EXPECT_EQ(state(), "rolled_back");
  for (int i = 0; i < 3; ++i) tick();
  EXPECT_EQ(actuator_.calls.size(), 1u) << "the restart does not repeat the rollback";
}

// `for` is measured on the monotonic clock: a wall-clock step forward does not fire a pending
// rule early, and a step back does not hold it past its `for`.
TEST_F(EngineTest, AWallClockStepForwardDoesNotFireAPendingRule) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();  // t=0: pending
  clock_.step_wall(std::chrono::hours(1));
  tick();  // t=1 (wall: +1h1s)
  EXPECT_EQ(state(), "pending") << "1s of `for: 2s` has passed, whatever the wall clock says";
  EXPECT_TRUE(actuator_.calls.empty());
  tick();  // t=2
  EXPECT_EQ(actuator_.calls.size(), 1u);
}

TEST_F(EngineTest, AWallClockStepBackDoesNotResetOrStretchAPendingRule) {
  ASSERT_TRUE(start().engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();  // t=0: pending
  clock_.step_wall(-std::chrono::hours(1));
  tick();  // t=1 (wall: -59m59s)
  EXPECT_EQ(state(), "pending");
  tick();  // t=2: `for: 2s` held at every evaluation
  EXPECT_EQ(actuator_.calls.size(), 1u) << "the rule fires after 2s of monotonic time";
  EXPECT_EQ(state(), "rolled_back");
}

TEST_F(EngineTest, AWallClockStepDoesNotShortenTheDelay) {
  Options o;
  o.errors_rule =
      "{name: errors, query: 'errors{service=\"{{service}}\",version=\"{{canary}}\"}', above: 0.05, "
      "for: 1s, delay: 3s}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("errors", "0.2");
  tick();  // t=0 pending
  tick();  // t=1 firing, delay starts
  clock_.step_wall(std::chrono::hours(1));
  tick();  // t=2
  tick();  // t=3
  EXPECT_TRUE(actuator_.calls.empty()) << "delay 3s has not elapsed on the monotonic clock";
  tick();  // t=4
  EXPECT_EQ(actuator_.calls.size(), 1u);
}

// An alert that started before this deployment began is about an earlier one: stale, never acted
// on. Keys of the alerts acted on survive a restart, so a resend is a duplicate.
TEST_F(EngineTest, AlertsStartedBeforeTheDeploymentAreStaleAndSeenKeysSurviveARestart) {
  testing::TempDir dir;
  Options o;
  o.state_file = dir.file("state.json");
  PersistedState earlier;
  earlier.identity = "checkout (an earlier deployment)";
  earlier.seen_alerts = {"fp0@carried"};
  std::string error;
  ASSERT_TRUE(StateStore(o.state_file).save(earlier, &error)) << error;
  ASSERT_TRUE(start(o).engine);
  const WallTime began = clock_.wall();
  ASSERT_TRUE(engine().deployment_since());
  EXPECT_EQ(*engine().deployment_since(), began);
  EXPECT_EQ(engine().admit_alert("fp1@old", began - 10min), AlertAdmission::kStale);
  EXPECT_EQ(engine().admit_alert("fp1@old", began - 10min), AlertAdmission::kStale);
  clock_.advance(5000ms);
  EXPECT_EQ(engine().admit_alert("fp2@new", began + 2s), AlertAdmission::kNew);
  EXPECT_EQ(engine().admit_alert("fp2@new", began + 2s), AlertAdmission::kDuplicate);
  EXPECT_EQ(engine().admit_alert("fp3@unknown", std::nullopt), AlertAdmission::kNew)
      << "an unknown startsAt is never stale";
  EXPECT_EQ(engine().admit_alert("fp0@carried", began + 3s), AlertAdmission::kDuplicate);

  ASSERT_TRUE(start(o).engine);  // restart, same deployment
  ASSERT_TRUE(engine().deployment_since());
  EXPECT_EQ(*engine().deployment_since(), began) << "a restart does not move the deployment's start";
  EXPECT_EQ(engine().admit_alert("fp2@new", began + 2s), AlertAdmission::kDuplicate);
  EXPECT_EQ(engine().admit_alert("fp1@old", began - 10min), AlertAdmission::kStale);
}

TEST_F(EngineTest, WithoutStateOfAnEarlierDeploymentNoAlertIsStaleAndSeenKeysAreBounded) {
  ASSERT_TRUE(start().engine);
  EXPECT_FALSE(engine().deployment_since());
  EXPECT_EQ(engine().admit_alert("fp@long-ago", clock_.wall() - 48h), AlertAdmission::kNew);
  for (std::size_t i = 0; i < Engine::kMaxSeenAlerts; ++i) {
    EXPECT_EQ(engine().admit_alert("key" + std::to_string(i), std::nullopt), AlertAdmission::kNew);
  }
  EXPECT_EQ(engine().admit_alert("fp@long-ago", clock_.wall() - 48h), AlertAdmission::kNew)
      << "the oldest key was dropped past " << Engine::kMaxSeenAlerts;
  EXPECT_EQ(engine().admit_alert("key999", std::nullopt), AlertAdmission::kDuplicate);
}

// ---- judges from the config: baseline, min_samples, breaches (issue #11) ----------------------

// The canary's error ratio against the stable version's, with an absolute floor (the rule's
// `above`): a breach needs the ratio AND the difference exceeded AND the floor crossed.
TEST_F(EngineTest, ABaselineBreachNeedsBothTheRatioAndTheDifferenceExceeded) {
  Options o;
  o.errors_rule =
      "{name: errors, query: canary_errors, above: 0.05, for: 0s,"
      " baseline: {query: stable_errors, max_ratio: 2, min_difference: 0.01}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  struct Step {
    const char* what;
    std::vector<std::string> canary, stable;
  };
  const std::vector<Step> steps = {
      {"neither: x1.5, +0.005", {"0.015"}, {"0.01"}},
      {"ratio only: x3, +0.002", {"0.003"}, {"0.001"}},
      {"difference only: x1.4, +0.02", {"0.07"}, {"0.05"}},
      {"ratio and difference, but under the floor 0.05: x4, +0.03", {"0.04"}, {"0.01"}},
  };
  for (const auto& step : steps) {
    prometheus_->answer("canary_errors", vector_of(step.canary));
    prometheus_->answer("stable_errors", vector_of(step.stable));
    tick();
    const nlohmann::json rule = sidecar_->rule_status("errors");
    EXPECT_EQ(rule["state"], "ok") << step.what << "\n" << rule.dump(2);
    EXPECT_EQ(rule["breaching"], false) << step.what;
    ASSERT_TRUE(rule["evidence"].is_object()) << step.what << "\n" << rule.dump(2);
    EXPECT_EQ(rule["evidence"]["verdict"], "ok") << step.what;
  }
  EXPECT_EQ(sidecar_->rule_status("errors")["evidence"]["baseline"], 0.01) << "the last step's stable value";

  // Several stable series: which one is "the baseline" is ambiguous (the best would roll back at
  // x7, the worst not at x1.4), so it is bad input: held, named, counted; never a comparison.
  prometheus_->answer("canary_errors", vector_of({"0.07"}));
  prometheus_->answer("stable_errors", vector_of({"0.01", "0.05", "NaN"}));
  tick();
  nlohmann::json several = sidecar_->rule_status("errors");
  EXPECT_EQ(several["state"], "nodata") << several.dump(2);
  EXPECT_NE(several["problem"].get<std::string>().find("baseline query: query returned 3 series; it must return one"),
            std::string::npos)
      << several.dump(2);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "errors"}, {"reason", "bad_value"}}), 1);
  EXPECT_TRUE(actuator_.calls.empty());
  EXPECT_EQ(state(), "healthy");

  const std::size_t before = prometheus_->queries.size();
  prometheus_->value("canary_errors", "0.06");
  prometheus_->value("stable_errors", "0.02");
  tick();  // x3 and +0.04: both exceeded, floor crossed -> breach; for: 0s -> roll back
  EXPECT_EQ(prometheus_->queries.size() - before, 3u) << "rule queries and the baseline query, one batch";
  ASSERT_EQ(actuator_.calls.size(), 1u) << sidecar_->rule_status("errors").dump(2);
  EXPECT_EQ(actuator_.calls[0].value, "0.06") << "the canary's value";
  const nlohmann::json rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["baseline"], (nlohmann::json{{"query", "stable_errors"}, {"max_ratio", 2}, {"min_difference", 0.01}}));
  EXPECT_EQ(rule["evidence"]["canary"], 0.06);
  EXPECT_EQ(rule["evidence"]["baseline"], 0.02);
  EXPECT_EQ(rule["evidence"]["ratio_exceeded"], true);
  EXPECT_EQ(rule["evidence"]["difference_exceeded"], true);
  EXPECT_EQ(rule["evidence"]["threshold_crossed"], true);
  const nlohmann::json decision = engine().status()["last_decision"];
  EXPECT_EQ(decision["kind"], "rollback");
  EXPECT_NE(decision["reason"].get<std::string>().find("canary 0.06 vs baseline 0.02: worse by more than x2 and 0.01"),
            std::string::npos)
      << decision["reason"];
  EXPECT_EQ(decision["details"]["baseline"], 0.02) << decision.dump(2);
  EXPECT_NEAR(decision["details"]["ratio"].get<double>(), 3.0, 1e-9);
}

// No data from the baseline query is no data for the rule: its `missing` decides.
// Rules sharing a baseline and a min_samples query (and a rule query): Prometheus is asked each
// distinct query once per tick, every rule still judges with the shared answers, and each rule
// still counts a query time for each of its slots.
TEST_F(EngineTest, QueriesSharedByRulesAreSentOncePerTickAndEachRuleJudgesWithThem) {
  Options o;
  o.errors_rule =
      "{name: errors, query: canary_errors, above: 0.05, for: 0s, baseline: {query: stable_errors, max_ratio: 2},"
      " min_samples: {query: canary_requests, at_least: 10}}\n"
      "  - {name: errors-strict, query: canary_errors, above: 0.01, for: 10s,"
      " baseline: {query: stable_errors, max_ratio: 1.5}, min_samples: {query: canary_requests, at_least: 10}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("canary_errors", "0.04");
  prometheus_->value("stable_errors", "0.01");
  prometheus_->value("canary_requests", "100");
  tick();
  std::map<std::string, int> sent;
  for (const auto& q : prometheus_->queries) ++sent[q];
  EXPECT_EQ(sent, (std::map<std::string, int>{
                      {"canary_errors", 1}, {"canary_requests", 1}, {"stable_errors", 1}, {"throughput", 1}}))
      << "7 slots, 4 distinct queries";

  const nlohmann::json errors = sidecar_->rule_status("errors");
  EXPECT_EQ(errors["state"], "ok") << "0.04 is under the floor 0.05\n" << errors.dump(2);
  const nlohmann::json strict = sidecar_->rule_status("errors-strict");
  EXPECT_EQ(strict["state"], "pending") << "0.04 > 0.01 and > 1.5 x 0.01 with 100 samples\n" << strict.dump(2);
  EXPECT_EQ(strict["evidence"]["baseline"], 0.01) << strict.dump(2);
  const Sidecar& s = *sidecar_;
  EXPECT_EQ(s.metric("rollback_sidecar_query_duration_seconds_count", {{"rule", "errors"}}), 3);
  EXPECT_EQ(s.metric("rollback_sidecar_query_duration_seconds_count", {{"rule", "errors-strict"}}), 3);
  EXPECT_EQ(s.metric("rollback_sidecar_query_duration_seconds_count", {{"rule", "throughput"}}), 1);
}

TEST_F(EngineTest, BaselineNoDataIsTheRulesMissing) {
  Options o;
  o.errors_rule =
      "{name: errors, query: canary_errors, above: 0, for: 0s, baseline: {query: stable_errors, max_ratio: 2}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("canary_errors", "0.5");
  prometheus_->answer("stable_errors", vector_of({}));
  for (int i = 0; i < 3; ++i) tick();
  nlohmann::json rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["state"], "nodata") << rule.dump(2);
  EXPECT_NE(rule["problem"].get<std::string>().find("baseline query"), std::string::npos) << rule.dump(2);
  EXPECT_TRUE(actuator_.calls.empty()) << "missing: hold (the default) never rolls back";
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_rule_state", {{"rule", "errors"}, {"state", "nodata"}}), 1);
  prometheus_->answer("stable_errors", http(503, "unavailable"));
  tick();
  rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["state"], "nodata");
  EXPECT_EQ(rule["error_reason"], "http") << rule.dump(2);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "errors"}, {"reason", "http"}}), 1)
      << "the baseline query's error is counted under the rule's name";

  o.errors_rule =
      "{name: errors, query: canary_errors, above: 0, for: 0s, missing: breach,"
      " baseline: {query: stable_errors, max_ratio: 2}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->answer("stable_errors", http(503, "unavailable"));
  tick();
  EXPECT_TRUE(actuator_.calls.empty()) << "a query error is never no data, even with missing: breach";
  prometheus_->answer("stable_errors", vector_of({"NaN"}));
  tick();
  ASSERT_EQ(actuator_.calls.size(), 1u) << "missing: breach: the baseline's no data is a breach";
  EXPECT_EQ(engine().status()["last_decision"]["rule"], "errors");
}

// Too few samples: `insufficient`, never a breach however bad the value, and never healthy.
TEST_F(EngineTest, BelowMinSamplesTheRuleIsInsufficientAndNeverFires) {
  Options o;
  o.errors_rule =
      "{name: errors, query: canary_errors, above: 0.05, for: 0s, missing: breach,"
      " min_samples: {query: samples, at_least: 100}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("canary_errors", "0.5");  // would roll back at once
  prometheus_->answer("samples", vector_of({"30", "40"}));
  for (int i = 0; i < 5; ++i) {
    tick();
    const nlohmann::json rule = sidecar_->rule_status("errors");
    EXPECT_EQ(rule["state"], "insufficient") << rule.dump(2);
    EXPECT_EQ(rule["breaching"], false);
  }
  nlohmann::json rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["samples"], 70) << "the series are added up: " << rule.dump(2);
  EXPECT_EQ(rule["min_samples"], (nlohmann::json{{"query", "samples"}, {"at_least", 100}}));
  EXPECT_EQ(rule["evidence"]["would_have_been"], "breach");
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_rule_state", {{"rule", "errors"}, {"state", "insufficient"}}), 1);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_rule_state", {{"rule", "errors"}}), 1);
  EXPECT_EQ(state(), "healthy") << "insufficient changes nothing";

  prometheus_->answer("samples", vector_of({}));  // no traffic at all: zero samples, not no data
  tick();
  rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["state"], "insufficient") << "missing: breach is about the rule's value, not its samples";
  EXPECT_EQ(rule["samples"], 0);

  prometheus_->answer("samples", http(500, "boom"));
  tick();
  rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["state"], "nodata") << "sufficiency unknown: held " << rule.dump(2);
  EXPECT_TRUE(rule["samples"].is_null());
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "errors"}, {"reason", "http"}}), 1);
  EXPECT_TRUE(actuator_.calls.empty());

  prometheus_->answer("samples", vector_of({"60", "50"}));
  tick();
  ASSERT_EQ(actuator_.calls.size(), 1u) << "110 samples: judged, and 0.5 breaches";
  const nlohmann::json decision = engine().status()["last_decision"];
  EXPECT_EQ(decision["details"]["min_samples"]["samples"], 110) << decision.dump(2);
}

// `breaches: "3 of 5"`: fires on the datapoint that makes 3 breaches among the last 5; query
// errors are not datapoints (had they counted as breaches it would fire two evaluations early).
TEST_F(EngineTest, ThreeOfFiveFiresOnTheFifthDatapointAndErrorsInBetweenAreNotBreaches) {
  Options o;
  o.errors_rule = "{name: errors, query: canary_errors, above: 0.05, breaches: '3 of 5'}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  const rs::HttpResponse bad = vector_of({"0.2"}), good = vector_of({"0.01"}), error = http(503, "unavailable");
  struct Step {
    rs::HttpResponse answer;
    int breached, datapoints;
    const char* state;
  };
  const std::vector<Step> steps = {
      {bad, 1, 1, "pending"},  {good, 1, 2, "pending"}, {error, 1, 2, "nodata"}, {bad, 2, 3, "pending"},
      {error, 2, 3, "nodata"}, {error, 2, 3, "nodata"}, {good, 2, 4, "pending"},
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    prometheus_->answer("canary_errors", steps[i].answer);
    tick();
    const nlohmann::json rule = sidecar_->rule_status("errors");
    EXPECT_EQ(rule["state"], steps[i].state) << "step " << i << ": " << rule.dump(2);
    EXPECT_EQ(rule["window_breached"], steps[i].breached) << "step " << i;
    EXPECT_EQ(rule["window_datapoints"], steps[i].datapoints) << "step " << i;
    EXPECT_TRUE(actuator_.calls.empty()) << "step " << i;
  }
  EXPECT_EQ(sidecar_->rule_status("errors")["breaches"], "3 of 5");
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "errors"}, {"reason", "http"}}), 3);
  prometheus_->answer("canary_errors", bad);
  tick();  // the fifth datapoint, the third breach
  ASSERT_EQ(actuator_.calls.size(), 1u) << sidecar_->rule_status("errors").dump(2);
  const nlohmann::json rule = sidecar_->rule_status("errors");
  EXPECT_EQ(rule["window_breached"], 3);
  EXPECT_EQ(rule["window_datapoints"], 5);
  EXPECT_NE(engine().status()["last_decision"]["reason"].get<std::string>().find("in 3 of 5 datapoints"),
            std::string::npos)
      << engine().status()["last_decision"].dump(2);
}

// Dry run with a judged rule: the decision is a hold carrying the comparison; nothing acts.
TEST_F(EngineTest, ADryRunBaselineBreachIsAHoldWithItsComparison) {
  Options o;
  o.dry_run = true;
  o.errors_rule =
      "{name: errors, query: canary_errors, above: 0, for: 1s, baseline: {query: stable_errors, max_ratio: 2},"
      " min_samples: {query: samples, at_least: 10}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("canary_errors", "0.3");
  prometheus_->value("stable_errors", "0.1");
  prometheus_->value("samples", "500");
  for (int i = 0; i < 4; ++i) tick();
  EXPECT_TRUE(actuator_.calls.empty());
  const nlohmann::json decision = engine().status()["last_decision"];
  ASSERT_TRUE(decision.is_object()) << engine().status().dump(2);
  EXPECT_EQ(decision["kind"], "hold");
  EXPECT_EQ(decision["reason"],
            "dry run: would roll back: errors: canary 0.3 vs baseline 0.1: worse by more than x2 "
            "and 0, for 1s");
  EXPECT_EQ(decision["details"]["min_samples"]["samples"], 500);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_decisions_total", {{"decision", "hold"}, {"rule", "errors"}}), 1);
  EXPECT_EQ(state(), "firing");
}

// `test: {type: sequential-binomial}` on four counters: insufficient while it gathers events,
// then a rollback with the test's numbers as the decision's evidence; the test's state is in the
// state file, so a restarted sidecar continues the same test (counts from the deployment's start).
constexpr const char* kSequentialRule =
    "{name: seq, test: {type: sequential-binomial, canary_errors: ce, canary_total: ct, baseline_errors: be,"
    " baseline_total: bt}}";

struct Counters {
  long ce = 0, ct = 0, be = 0, bt = 0;
  void answer(ScriptedPrometheus& p) const {
    p.value("ce", std::to_string(ce));
    p.value("ct", std::to_string(ct));
    p.value("be", std::to_string(be));
    p.value("bt", std::to_string(bt));
  }
};

TEST_F(EngineTest, ASequentialTestGathersEventsThenRollsBackWithItsEvidence) {
  Options o;
  o.errors_rule = kSequentialRule;
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  Counters c{1000, 50000, 9000, 450000};  // the counters' values at the deployment's start
  c.answer(*prometheus_);
  tick();
  nlohmann::json rule = sidecar_->rule_status("seq");
  EXPECT_EQ(rule["state"], "insufficient") << rule.dump(2);
  EXPECT_EQ(rule["evidence"]["events"], 0) << "the first evaluation is the zero point";
  EXPECT_EQ(rule["threshold"], 1) << "the ratio reads against max_ratio";
  EXPECT_EQ(rule["test"]["type"], "sequential-binomial");
  EXPECT_EQ(rule["test"]["false_rollback_rate"], 0.01);
  int ticks = 0;
  while (actuator_.calls.empty() && ticks++ < 60) {
    c.ce += 10, c.ct += 100, c.be += 9, c.bt += 900;  // canary 10% errors, baseline 1%
    c.answer(*prometheus_);
    tick();
  }
  ASSERT_EQ(actuator_.calls.size(), 1u) << sidecar_->rule_status("seq").dump(2);
  EXPECT_LE(ticks, 10) << "a tenfold regression at 100 canary requests a second is found within seconds";
  EXPECT_EQ(actuator_.calls[0].rule, "seq");
  const nlohmann::json decision = engine().status()["last_decision"];
  const nlohmann::json& d = decision["details"];
  EXPECT_EQ(d["verdict"], "fail") << decision.dump(2);
  EXPECT_GE(d["e_value"].get<double>(), 100);
  EXPECT_EQ(d["canary_total"], 100.0 * ticks) << "counted since the start, not the counters' totals";
  EXPECT_NE(decision["reason"].get<std::string>().find("worse than max_ratio 1"), std::string::npos)
      << decision.dump(2);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_rule_state", {{"rule", "seq"}, {"state", "firing"}}), 1);
}

TEST_F(EngineTest, ARestartedSidecarContinuesTheSequentialTestFromTheStateFile) {
  testing::TempDir dir;
  Options o;
  o.errors_rule = kSequentialRule;
  o.state_file = dir.file("state.json");
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  Counters c{0, 1000, 0, 9000};
  c.answer(*prometheus_);
  tick();  // the zero point
  for (int i = 0; i < 5; ++i) {
    c.ce += 1, c.ct += 100, c.be += 9, c.bt += 900;  // healthy: 1% on both sides
    c.answer(*prometheus_);
    tick();
  }
  // Restart. Persisted at most 30 s ago; the counters are cumulative, so nothing is lost.
  ASSERT_TRUE(start(o).engine);
  c.ce += 1, c.ct += 100, c.be += 9, c.bt += 900;
  c.answer(*prometheus_);
  tick();
  nlohmann::json rule = sidecar_->rule_status("seq");
  EXPECT_EQ(rule["evidence"]["canary_total"], 600) << "six intervals of 100 since the zero point: " << rule.dump(2);
  EXPECT_EQ(rule["evidence"]["baseline_errors"], 54);

  // The canary restarted during the sidecar's restart: its counters went down (a reset), and the
  // new values are the increments, as Prometheus's increase() counts them.
  ASSERT_TRUE(start(o).engine);
  c.ce = 1, c.ct = 100;
  c.be += 9, c.bt += 900;
  c.answer(*prometheus_);
  tick();
  rule = sidecar_->rule_status("seq");
  EXPECT_EQ(rule["evidence"]["resets"], 2) << "both canary counters were reset: " << rule.dump(2);
  EXPECT_EQ(rule["evidence"]["canary_total"], 700);

  // A new deployment starts a new test.
  o.canary = "v3";
  ASSERT_TRUE(start(o).engine);
  tick();
  rule = sidecar_->rule_status("seq");
  EXPECT_EQ(rule["evidence"]["canary_total"], 0) << rule.dump(2);
  EXPECT_TRUE(actuator_.calls.empty());
}

TEST_F(EngineTest, BadCountersAreCountedHeldAndNeverRollBack) {
  Options o;
  o.errors_rule = kSequentialRule;
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  Counters c{0, 100, 0, 900};
  c.answer(*prometheus_);
  tick();
  // Errors above requests, a fractional count (a rate where a counter belongs), several series:
  // each is bad data, named and counted; the rule holds; nothing is decided from it.
  prometheus_->value("ce", "500");
  tick();
  nlohmann::json rule = sidecar_->rule_status("seq");
  EXPECT_EQ(rule["state"], "nodata") << rule.dump(2);
  EXPECT_NE(rule["problem"].get<std::string>().find("sequential-binomial"), std::string::npos) << rule.dump(2);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "seq"}, {"reason", "bad_data"}}), 1);
  prometheus_->value("ce", "2.5");
  tick();
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "seq"}, {"reason", "bad_data"}}), 2);
  prometheus_->answer("ce", vector_of({"1", "2"}));
  tick();
  rule = sidecar_->rule_status("seq");
  EXPECT_NE(rule["problem"].get<std::string>().find("canary_errors query: counter query returned 2 series"),
            std::string::npos)
      << rule.dump(2);
  EXPECT_EQ(sidecar_->metric("rollback_sidecar_query_errors_total", {{"rule", "seq"}, {"reason", "bad_value"}}), 1);
  EXPECT_EQ(rule["evidence"]["events"], 0) << "no bad data entered the test";
  EXPECT_TRUE(actuator_.calls.empty());
  EXPECT_EQ(state(), "healthy");
}

// `slo:`: each window's query in the same batch; a fast burn in both windows of a pair rolls back
// with the burn rates as evidence; a burst in the short window alone does not.
TEST_F(EngineTest, AnSloRuleRollsBackWhenBothWindowsOfAPairBurn) {
  Options o;
  o.errors_rule =
      "{name: budget, query: 'ratio[{{window}}]', slo: {objective: 0.999, windows: [{long: 1h, short: 5m,"
      " budget_share: 0.02}]}}";
  ASSERT_TRUE(start(o).engine);
  prometheus_->value("throughput", "50");
  prometheus_->value("ratio[1h]", "0.002");  // 2x: under 14.4
  prometheus_->value("ratio[5m]", "0.5");    // a burst
  tick();
  nlohmann::json rule = sidecar_->rule_status("budget");
  EXPECT_EQ(rule["state"], "ok") << rule.dump(2);
  EXPECT_NEAR(rule["value"].get<double>(), 2.0, 1e-9) << "the long window's burn rate";
  EXPECT_NEAR(rule["threshold"].get<double>(), 14.4, 1e-9);
  EXPECT_EQ(rule["slo"]["windows"][0]["long"], "1h");
  prometheus_->value("ratio[1h]", "0.03");
  tick();
  ASSERT_EQ(actuator_.calls.size(), 1u) << sidecar_->rule_status("budget").dump(2);
  const nlohmann::json decision = engine().status()["last_decision"];
  EXPECT_EQ(decision["rule"], "budget");
  EXPECT_EQ(decision["details"]["windows"][0]["burning"], true) << decision.dump(2);
  EXPECT_NE(decision["reason"].get<std::string>().find("burning the error budget 30x over 1h"), std::string::npos)
      << decision.dump(2);
  bool long_sent = false, short_sent = false;
  for (const auto& q : prometheus_->queries) {
    long_sent |= q == "ratio[1h]";
    short_sent |= q == "ratio[5m]";
  }
  EXPECT_TRUE(long_sent && short_sent);
}
}  // namespace
}  // namespace rs::sidecar
