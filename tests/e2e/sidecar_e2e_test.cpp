// The whole product on loopback against a real Prometheus (the stack is in demo_stack.h): two
// demo-workload instances (stable v1, canary v2) behind a real HAProxy, load through it,
// Prometheus scraping both workloads and the sidecar every second, and the real
// `rollback-sidecar` binary running the demo policy. A fault injected into the canary must roll
// it back through HAProxy's runtime API; a healthy canary must be left alone.
// victoriametrics_test.cpp runs the same stack against VictoriaMetrics.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "tests/e2e/demo_stack.h"
#include "tests/e2e/e2e_support.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

class SidecarE2ETest : public DemoStackTest {
 protected:
  std::unique_ptr<rs::testing::ScrapingServer> make_backend(rs::testing::ScrapingServer::Options options) override {
    return std::make_unique<rs::testing::PrometheusServer>(std::move(options));
  }
  std::string backend_binary() const override { return "prometheus"; }
};

TEST_F(SidecarE2ETest, ErrorFaultRollsBackLatchesAndARestartDoesNotActAgain) {
  const auto fault_at = SteadyClock::now();
  auto reply = canary_->fault("error_ratio=0.5");
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;

  nlohmann::json s = expect_rolled_back_by("error-rate", fault_at);
  ASSERT_EQ(s["state"], "rolled_back");
  const auto decision_id = s["last_decision"]["id"];

  expect_clean_sigterm_exit();
  EXPECT_NE(sidecar_->log().find("stopped; deployment demo is rolled_back"), std::string::npos)
      << tail(sidecar_->log());

  // Restart with the same config and state file: still rolled back, and it does not act again.
  const std::size_t log_before_restart = rs::testing::read_file(dir_.file("sidecar.log")).size();
  ASSERT_NO_FATAL_FAILURE(start_sidecar());
  nlohmann::json after;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        after = status();
        return after.is_object() && after["evaluations"].get<int>() >= 3;
      },
      20s, 250ms))
      << "the restarted sidecar should keep evaluating; status:\n"
      << after.dump(2);
  EXPECT_EQ(after["state"], "rolled_back") << after.dump(2);
  EXPECT_EQ(after["latched"], true);
  EXPECT_EQ(after["last_decision"]["id"], decision_id) << "the latched decision comes from the state file";
  EXPECT_EQ(after["last_decision"]["rule"], "error-rate");
  const std::string metrics = sidecar_metrics();
  EXPECT_EQ(or_zero(metric_sum(metrics, "rollback_sidecar_actuator_calls_total")), 0)
      << "no actuator call after restart\n"
      << metrics;
  EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_rollbacks_total"), 0) << metrics;
  EXPECT_EQ(or_zero(metric_sum(metrics, "rollback_sidecar_decisions_total")), 0) << metrics;
  EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_deployment_state", {{"state", "rolled_back"}}), 1) << metrics;
  const std::string restart_log = rs::testing::read_file(dir_.file("sidecar.log")).substr(log_before_restart);
  EXPECT_EQ(restart_log.find("ROLL BACK"), std::string::npos) << restart_log;
  EXPECT_EQ(haproxy_weight(admin_port_, "canary"), 0);
  expect_clean_sigterm_exit();
}

TEST_F(SidecarE2ETest, LatencyFaultRollsBackByLatencyP95) {
  const auto fault_at = SteadyClock::now();
  auto reply = canary_->fault("latency_ms=800");
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;

  nlohmann::json s = expect_rolled_back_by("latency-p95", fault_at);
  ASSERT_EQ(s["state"], "rolled_back");
  EXPECT_GE(s["last_decision"]["value"].get<double>(), 0.5) << s["last_decision"].dump(2);
  expect_clean_sigterm_exit();
}

TEST_F(SidecarE2ETest, HealthyCanaryIsNotRolledBack) {
  expect_healthy_canary_left_alone();
  expect_clean_sigterm_exit();
}

}  // namespace
}  // namespace rs::e2e
