// The whole product on loopback against a real Prometheus (the stack is in demo_stack.h): two
// demo-workload instances (stable v1, canary v2) behind a real HAProxy, load through it,
// Prometheus scraping both workloads and the sidecar every second, and the real
// `rollback-sidecar` binary running the demo policy. A fault injected into the canary must roll
// it back through HAProxy's runtime API; a healthy canary must be left alone.
// victoriametrics_test.cpp runs the same stack against VictoriaMetrics.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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

// evaluation_alignment: scrape (the default) against a real Prometheus scraping every second:
// the sidecar learns the interval and the phase of the demo targets' scrapes from timestamp()
// and moves its evaluations to just after them.
TEST_F(SidecarE2ETest, EvaluationsAlignToTheScrapesOfTheRulesSeries) {
  nlohmann::json a;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        a = status()["alignment"];
        return a["state"] == "aligned" && a["margin_seconds"].get<double>() > 0;
      },
      30s, 250ms))
      << a.dump(2);
  EXPECT_EQ(a["mode"], "scrape");
  EXPECT_DOUBLE_EQ(a["scrape_interval_seconds"].get<double>(), 1.0) << a.dump(2);
  EXPECT_FALSE(a["selectors"].empty());
  // The phase aligned to is one of the demo targets' scrape phases, as Prometheus stores them.
  const double phase = a["phase_seconds"].get<double>();
  bool matched = false;
  std::string phases;
  for (const char* version : {"v1", "v2"}) {
    const std::string ts =
        backend_->query_value(std::string("timestamp(up{job=\"demo\",version=\"") + version + "\"})");
    ASSERT_FALSE(ts.empty()) << version;
    const double target_phase = std::fmod(std::stod(ts), 1.0);
    phases += " " + std::to_string(target_phase);
    if (std::fabs(target_phase - phase) < 0.006) matched = true;
  }
  EXPECT_TRUE(matched) << "aligned phase " << phase << " is none of the targets' scrape phases:" << phases;
  // The evaluations sit on that phase plus the measured margin.
  ASSERT_TRUE(rs::testing::wait_until([&] { return status()["evaluations"].get<int>() > 3; }, 10s, 250ms));
  const nlohmann::json s = status();
  const double margin = s["alignment"]["margin_seconds"].get<double>();
  const std::string at = s["last_evaluation"].get<std::string>();  // RFC 3339 with milliseconds
  const double evaluation_phase = std::stod(at.substr(at.find('.'), 4));
  const double want = std::fmod(s["alignment"]["phase_seconds"].get<double>() + margin, 1.0);
  const double off = std::fabs(evaluation_phase - want);
  EXPECT_LT(std::min(off, 1.0 - off), 0.05) << "last evaluation " << at << ", aligned grid phase " << want << "\n"
                                            << s["alignment"].dump(2);
  EXPECT_LT(margin, 0.25) << "the lag from scrape to queryable is milliseconds on loopback";
  expect_clean_sigterm_exit();
}

TEST_F(SidecarE2ETest, HealthyCanaryIsNotRolledBack) {
  expect_healthy_canary_left_alone();
  expect_clean_sigterm_exit();
}

}  // namespace
}  // namespace rs::e2e
