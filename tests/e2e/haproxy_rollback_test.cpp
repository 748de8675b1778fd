// The sidecar-level rollback path against a real HAProxy: Engine -> RollbackExecutor -> the
// haproxy actuator built from the config by the real loader and registry, with two real
// demo-workload instances (v1 stable, v2 canary) behind HAProxy. The rule's query is answered
// by a canned Prometheus API reply that breaches, so every evaluation decides at once; real
// Prometheus is exercised in prometheus_rules_test and sidecar_e2e_test.
// (Actuator-level behaviour - command sequences, error classes, concurrency - is in
// tests/actuators/haproxy_test.cpp.)
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>

#include "actuators/haproxy/haproxy_runtime.h"
#include "sidecar/core/state_store.h"
#include "tests/e2e/e2e_support.h"
#include "tests/e2e/sidecar_core.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

using rs::testing::FakeHttpServer;
using rs::testing::HaproxyServer;
using rs::testing::TempDir;
namespace sc = rs::sidecar;

const char* kBreachingReply =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.31"]}]}})";

class HaproxyRollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(rs::testing::find_binary("haproxy").empty()) << "haproxy not installed (apt-get install haproxy)";
    ASSERT_EQ(access(kWorkloadBinary.c_str(), X_OK), 0) << kWorkloadBinary << " missing: build demo-workload";
    ASSERT_NO_THROW(stable_ = std::make_unique<Workload>(dir_, "v1"));
    ASSERT_NO_THROW(canary_ = std::make_unique<Workload>(dir_, "v2"));
    prometheus_.set_route("/api/v1/query", 200, kBreachingReply);
    front_port_ = rs::testing::free_port();
    admin_port_ = rs::testing::free_port();
    haproxy_ = std::make_unique<HaproxyServer>(
        haproxy_config(front_port_, admin_port_, stable_->address(), canary_->address()));
    ASSERT_NO_THROW(haproxy_->start({front_port_, admin_port_}));
  }

  void TearDown() override {
    if (HasFailure() && haproxy_) std::cerr << "HAProxy log:\n" << tail(haproxy_->log()) << "\n";
  }

  std::string front_url() const { return "http://127.0.0.1:" + std::to_string(front_port_) + "/"; }
  std::string admin(const std::string& command) { return HaproxyServer::runtime_command(admin_port_, command); }

  // A config naming this HAProxy, through the real loader and registry, and the engine on it.
  std::unique_ptr<SidecarCore> make_sidecar(const std::string& strategy) {
    const std::string yaml =
        "prometheus: {url: " + prometheus_.url() +
        ", timeout: 2s}\n"
        "evaluation_interval: 1s\n"
        "deployment: {name: checkout, stage: prod, strategy: " +
        strategy +
        ", vars: {service: checkout, canary: v2, stable: v1}}\n"
        "state_file: " +
        dir_.file("state.json") +
        "\n"
        "rollback: {deadline: 3s, initial_backoff: 100ms, max_backoff: 400ms}\n"
        "rules:\n"
        "  - name: error-rate\n"
        "    query: "
        "'sum(rate(http_requests_total{service=\"{{service}}\",version=\"{{canary}}\",code=~\"5..\"}[1m]))'\n"
        "    above: 0.05\n"
        "    for: 0s\n"
        "    severity: sev1\n"
        "actuators:\n"
        "  - {type: haproxy, address: '127.0.0.1:" +
        std::to_string(admin_port_) +
        "', backend: app, canary: canary, stable: stable, connect_timeout: 500ms, read_timeout: 1s}\n";
    return make_core(yaml);
  }

  actuators::haproxy::ServerState server(const std::string& name) {
    std::string error;
    std::string reply = admin("show servers state app");
    auto rows = actuators::haproxy::parse_servers_state(reply, &error);
    if (rows) {
      for (const auto& r : *rows)
        if (r.name == name) return r;
    }
    ADD_FAILURE() << "server " << name << " not in 'show servers state app' (" << error << "):\n" << reply;
    return {};
  }

  sc::DeploymentState persisted_state() {
    std::optional<sc::PersistedState> saved;
    std::string error;
    sc::StateStore store(dir_.file("state.json"));
    EXPECT_TRUE(store.load(&saved, &error)) << error;
    EXPECT_TRUE(saved.has_value()) << "no state file written";
    return saved ? saved->state : sc::DeploymentState::kHealthy;
  }

  TempDir dir_;
  std::unique_ptr<Workload> stable_, canary_;
  FakeHttpServer prometheus_;
  int front_port_ = 0, admin_port_ = 0;
  std::unique_ptr<HaproxyServer> haproxy_;
};

TEST_F(HaproxyRollbackTest, BreachingRuleSetsCanaryWeightZeroAndNoRequestReachesV2) {
  auto before = answers_by_body(front_url(), 20);
  ASSERT_GT(before["ok v2"], 0) << "roundrobin should reach the canary before the rollback: "
                                << describe_counts(before);
  ASSERT_GT(before["ok v1"], 0) << describe_counts(before);

  auto core = make_sidecar("canary");
  ASSERT_TRUE(core);
  core->engine->evaluate_once();

  auto status = core->status();
  ASSERT_EQ(status["state"], "rolled_back") << status.dump(2);
  const auto& decision = status["last_decision"];
  EXPECT_EQ(decision["kind"], "rollback") << decision.dump(2);
  EXPECT_EQ(decision["trigger"], "rule");
  EXPECT_EQ(decision["rule"], "error-rate");
  EXPECT_EQ(decision["result"], "success");
  EXPECT_DOUBLE_EQ(decision["value"].get<double>(), 0.31);
  ASSERT_EQ(decision["actuators"].size(), 1u) << decision.dump(2);
  EXPECT_EQ(decision["actuators"][0]["result"], "changed") << decision.dump(2);
  EXPECT_EQ(decision["actuators"][0]["attempts"], 1);

  // The router, read back through its own runtime API.
  EXPECT_EQ(admin("get weight app/canary"), "0 (initial 100)\n\n");
  EXPECT_EQ(admin("get weight app/stable"), "100 (initial 100)\n\n");
  auto after = answers_by_body(front_url(), 50);
  EXPECT_EQ(after["ok v1"], 50) << "after the rollback every request must be served by v1: " << describe_counts(after);
  EXPECT_EQ(after.count("ok v2"), 0u) << describe_counts(after);

  EXPECT_EQ(core->metric("rollback_sidecar_rollbacks_total", {{"result", "success"}, {"trigger", "rule"}}), 1);
  EXPECT_EQ(core->metric("rollback_sidecar_rollbacks_total", {{"result", "failure"}}), 0);
  EXPECT_EQ(core->metric("rollback_sidecar_actuator_calls_total", {{"actuator", "haproxy"}, {"result", "changed"}}), 1);
  EXPECT_EQ(core->metric("rollback_sidecar_decisions_total", {{"decision", "rollback"}, {"rule", "error-rate"}}), 1);
  EXPECT_EQ(core->metric("rollback_sidecar_rollback_duration_seconds_count"), 1);
  EXPECT_EQ(core->metric("rollback_sidecar_deployment_state", {{"state", "rolled_back"}}), 1);
  EXPECT_EQ(persisted_state(), sc::DeploymentState::kRolledBack);

  // Latched: the rule still breaches, but nothing acts again.
  core->engine->evaluate_once();
  core->engine->evaluate_once();
  EXPECT_EQ(core->status()["state"], "rolled_back");
  EXPECT_EQ(core->status()["last_decision"]["id"], decision["id"]);
  EXPECT_EQ(core->metric("rollback_sidecar_actuator_calls_total"), 1) << core->exposition();
}

TEST_F(HaproxyRollbackTest, BlueGreenFlipPutsCanaryInMaintAndStableReady) {
  // Blue/green before the flip back: the new colour (canary, v2) serves, the old one is parked.
  ASSERT_EQ(admin("set server app/stable state maint"), "\n");
  auto before = answers_by_body(front_url(), 10);
  ASSERT_EQ(before["ok v2"], 10) << describe_counts(before);

  auto core = make_sidecar("blue-green");
  ASSERT_TRUE(core);
  core->engine->evaluate_once();

  auto status = core->status();
  ASSERT_EQ(status["state"], "rolled_back") << status.dump(2);
  EXPECT_EQ(status["last_decision"]["result"], "success") << status.dump(2);
  EXPECT_EQ(status["deployment"]["strategy"], "blue-green");

  auto canary = server("canary");
  auto stable = server("stable");
  EXPECT_TRUE(canary.admin_state & actuators::haproxy::kForcedMaint)
      << "canary should be in forced maintenance: " << actuators::haproxy::describe_admin_state(canary.admin_state);
  EXPECT_EQ(stable.admin_state & (actuators::haproxy::kAnyMaint | actuators::haproxy::kAnyDrain), 0u)
      << "stable should be ready: " << actuators::haproxy::describe_admin_state(stable.admin_state);
  EXPECT_EQ(stable.uweight, 100);

  auto after = answers_by_body(front_url(), 50);
  EXPECT_EQ(after["ok v1"], 50) << describe_counts(after);
  EXPECT_EQ(core->metric("rollback_sidecar_rollbacks_total", {{"result", "success"}, {"trigger", "rule"}}), 1);
}

TEST_F(HaproxyRollbackTest, UnreachableHaproxyIsRetriedThenRollbackFailed) {
  haproxy_->stop();  // the router is down when the rule fires
  ASSERT_EQ(admin("show info"), "<connect failed>") << "HAProxy should be unreachable now";

  auto core = make_sidecar("canary");
  ASSERT_TRUE(core);
  core->engine->evaluate_once();  // runs the whole retry schedule (deadline 3s)

  auto status = core->status();
  ASSERT_EQ(status["state"], "rollback_failed") << status.dump(2);
  const auto& decision = status["last_decision"];
  EXPECT_EQ(decision["result"], "failure") << decision.dump(2);
  ASSERT_EQ(decision["actuators"].size(), 1u) << decision.dump(2);
  const auto& outcome = decision["actuators"][0];
  EXPECT_EQ(outcome["result"], "failure");
  EXPECT_GE(outcome["attempts"].get<int>(), 2) << "a connection failure is retryable: " << outcome.dump();
  EXPECT_NE(outcome["detail"].get<std::string>().find("127.0.0.1:" + std::to_string(admin_port_)), std::string::npos)
      << "the failure should name the HAProxy address: " << outcome.dump();

  EXPECT_EQ(core->metric("rollback_sidecar_rollbacks_total", {{"result", "failure"}, {"trigger", "rule"}}), 1)
      << core->exposition();
  EXPECT_EQ(core->metric("rollback_sidecar_rollbacks_total", {{"result", "success"}}), 0);
  const double failed_calls =
      core->metric("rollback_sidecar_actuator_calls_total", {{"actuator", "haproxy"}, {"result", "failure"}});
  EXPECT_EQ(failed_calls, outcome["attempts"].get<int>()) << "every attempt is counted";
  EXPECT_EQ(core->metric("rollback_sidecar_deployment_state", {{"state", "rollback_failed"}}), 1);
  EXPECT_EQ(persisted_state(), sc::DeploymentState::kRollbackFailed);

  // rollback_failed is latched too: no further attempts on later evaluations.
  core->engine->evaluate_once();
  EXPECT_EQ(core->metric("rollback_sidecar_actuator_calls_total"), failed_calls);
  EXPECT_EQ(core->status()["state"], "rollback_failed");
}

TEST_F(HaproxyRollbackTest, AlreadyRolledBackRouterGivesANoopDecision) {
  ASSERT_EQ(admin("set weight app/canary 0"), "\n");  // someone (another replica) got there first

  auto core = make_sidecar("canary");
  ASSERT_TRUE(core);
  core->engine->evaluate_once();

  auto status = core->status();
  ASSERT_EQ(status["state"], "rolled_back") << status.dump(2);
  EXPECT_EQ(status["last_decision"]["kind"], "noop") << status.dump(2);
  EXPECT_EQ(status["last_decision"]["result"], "noop");
  EXPECT_EQ(status["last_decision"]["actuators"][0]["result"], "noop");

  EXPECT_EQ(core->metric("rollback_sidecar_decisions_total", {{"decision", "noop"}, {"rule", "error-rate"}}), 1)
      << core->exposition();
  EXPECT_EQ(or_zero(core->metric("rollback_sidecar_decisions_total", {{"decision", "rollback"}})), 0)
      << core->exposition();
  EXPECT_EQ(core->metric("rollback_sidecar_rollbacks_total"), 0) << "a noop changed nothing";
  EXPECT_EQ(core->metric("rollback_sidecar_actuator_calls_total", {{"actuator", "haproxy"}, {"result", "noop"}}), 1);
  EXPECT_EQ(admin("get weight app/canary"), "0 (initial 100)\n\n");
  auto after = answers_by_body(front_url(), 20);
  EXPECT_EQ(after["ok v1"], 20) << describe_counts(after);
}

}  // namespace
}  // namespace rs::e2e
