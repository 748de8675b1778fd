// The end-to-end rollback of sidecar_e2e_test.cpp with VictoriaMetrics as the query backend
// (issue #14): the same stack (demo_stack.h: stable and canary demo-workloads behind a real
// HAProxy, load through it, the real `rollback-sidecar` binary running the demo policy), but no
// Prometheus at all: Debian's victoria-metrics single node scrapes the workloads and the sidecar
// itself (-promscrape.config, the same scrape configs) and prometheus.url points at it.
// An error fault in the canary must roll it back with VictoriaMetrics' value as the evidence;
// a healthy canary must be left alone. docs/backends.md says what VictoriaMetrics answers
// differently and what of it the sidecar (and this test's harness) had to tolerate.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>

#include "tests/e2e/demo_stack.h"
#include "tests/e2e/e2e_support.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

class VictoriaMetricsE2ETest : public DemoStackTest {
 protected:
  std::unique_ptr<rs::testing::ScrapingServer> make_backend(rs::testing::ScrapingServer::Options options) override {
    return std::make_unique<rs::testing::VictoriaMetricsServer>(std::move(options));
  }
  std::string backend_binary() const override { return "victoria-metrics"; }

  // Instant queries VictoriaMetrics has answered so far, from its own /metrics.
  double queries_served() {
    return or_zero(metric_sum(rs::testing::http_get(backend_->url() + "/metrics").body, "vm_http_requests_total",
                              {{"path", "/api/v1/query"}}));
  }
};

TEST_F(VictoriaMetricsE2ETest, ErrorFaultRollsBackWithVictoriaMetricsValueAsEvidence) {
  const double queries_before_fault = queries_served();
  EXPECT_GT(queries_before_fault, 0) << "the sidecar's rule values so far must have come from VictoriaMetrics";

  const auto fault_at = SteadyClock::now();
  auto reply = canary_->fault("error_ratio=0.5");
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;

  nlohmann::json s = expect_rolled_back_by("error-rate", fault_at);
  ASSERT_EQ(s["state"], "rolled_back");
  // Against Prometheus this takes ~8 s (for: 5s after the first breaching scrape). Without
  // -search.latencyOffset=1s VictoriaMetrics answers "now" with the data of 30 s ago, and the
  // same rollback comes ~30 s later.
  EXPECT_LT(rolled_back_after_, 25) << "the rollback came " << rolled_back_after_
                                    << "s after the fault: is VictoriaMetrics hiding recent data?";

  // The evidence: the rule's query as sent, with the deployment's vars filled in, and the value
  // VictoriaMetrics answered. Half the canary's requests fail, and the rule waits `for: 5s`
  // (as long as the rate window) before it decides, so the ratio it saw is about 0.5.
  const auto& d = s["last_decision"];
  const std::string query = d["query"].is_string() ? d["query"].get<std::string>() : "";
  EXPECT_NE(query.find("version=\"v2\",code=~\"5..\""), std::string::npos) << d.dump(2);
  EXPECT_EQ(query.find("{{"), std::string::npos) << "vars must be substituted: " << query;
  ASSERT_TRUE(d["value"].is_number()) << d.dump(2);
  std::cerr << "[ info ] decided on error-rate " << d["value"] << " from VictoriaMetrics\n";
  EXPECT_GT(d["value"].get<double>(), 0.2) << d.dump(2);
  EXPECT_LT(d["value"].get<double>(), 0.8) << d.dump(2);
  EXPECT_EQ(d["threshold"], 0.05) << d.dump(2);
  EXPECT_NE(d["reason"].get<std::string>().find("error-rate"), std::string::npos) << d.dump(2);

  // Only VictoriaMetrics answers queries in this test; it kept answering the sidecar's.
  EXPECT_GT(queries_served(), queries_before_fault);

  expect_clean_sigterm_exit();
  EXPECT_NE(sidecar_->log().find("stopped; deployment demo is rolled_back"), std::string::npos)
      << tail(sidecar_->log());
}

TEST_F(VictoriaMetricsE2ETest, HealthyCanaryIsNotRolledBack) {
  expect_healthy_canary_left_alone();
  expect_clean_sigterm_exit();
}

}  // namespace
}  // namespace rs::e2e
