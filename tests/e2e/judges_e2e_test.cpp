// The judges from the config, end to end: a real Prometheus (1 s scrape) scraping an exporter the
// test controls, and the real `rollback-sidecar` binary judging one rule with `baseline` and
// `min_samples` against it, with a `file` actuator as the router. The canary's error ratio is 3x
// the stable version's from the start; while the canary has served fewer requests than
// `min_samples` the rule must stay `insufficient` (never a breach, nothing decided, the router
// untouched), and once its traffic is enough the baseline comparison must roll it back, with the
// comparison in the status, the decision and the metrics.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

using rs::testing::FakeHttpServer;
using rs::testing::Process;
using rs::testing::PrometheusServer;
using rs::testing::TempDir;

// Error ratios and request counts per version and pod: the stable version (v1) on two pods, the
// canary (v2) on two pods with `canary_requests` split between them.
std::string exposition(int canary_requests) {
  std::ostringstream out;
  out << "# TYPE demo_error_ratio gauge\n"
      << "demo_error_ratio{version=\"v1\",pod=\"a\"} 0.02\n"
      << "demo_error_ratio{version=\"v1\",pod=\"b\"} 0.01\n"
      << "demo_error_ratio{version=\"v2\",pod=\"a\"} 0.06\n"
      << "demo_error_ratio{version=\"v2\",pod=\"b\"} 0.05\n"
      << "# TYPE demo_requests gauge\n"
      << "demo_requests{version=\"v1\",pod=\"a\"} 5000\n"
      << "demo_requests{version=\"v1\",pod=\"b\"} 5000\n"
      << "demo_requests{version=\"v2\",pod=\"a\"} " << canary_requests - canary_requests / 2 << "\n"
      << "demo_requests{version=\"v2\",pod=\"b\"} " << canary_requests / 2 << "\n";
  return out.str();
}

class JudgesE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(rs::testing::find_binary("prometheus").empty()) << "prometheus not installed";
    ASSERT_EQ(access(kSidecarBinary.c_str(), X_OK), 0) << kSidecarBinary << " missing: build rollback-sidecar";
    exporter_.set_metrics(exposition(5));
    PrometheusServer::Options options;
    options.targets = {"127.0.0.1:" + std::to_string(exporter_.port())};
    options.job = "demo";
    options.scrape_interval = "1s";
    prometheus_ = std::make_unique<PrometheusServer>(options);
    ASSERT_NO_THROW(prometheus_->start());
    ASSERT_TRUE(prometheus_->wait_scraped(40s)) << "Prometheus never scraped the exporter:\n" << prometheus_->log();
    rs::testing::write_file(router_, "CANARY_WEIGHT=50\n");
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::cerr << "---- sidecar status\n" << status().dump(2) << "\n";
    if (sidecar_) std::cerr << "---- sidecar log\n" << tail(sidecar_->log(), 6000) << "\n";
    if (prometheus_) std::cerr << "---- Prometheus log\n" << tail(prometheus_->log(), 2000) << "\n";
  }

  std::string config() const {
    return "prometheus: {url: '" + prometheus_->url() +
           "', timeout: 2s}\n"
           "listen: 127.0.0.1:" +
           std::to_string(port_) +
           "\n"
           "evaluation_interval: 1s\n"
           "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2, stable: v1}}\n"
           "state_file: " +
           dir_.file("state.json") +
           "\n"
           "rollback: {deadline: 5s, initial_backoff: 100ms, max_backoff: 1s}\n"
           "rules:\n"
           "  - name: canary-errors\n"
           "    query: 'demo_error_ratio{job=\"demo\",version=\"{{canary}}\"}'\n"
           "    above: 0.01\n"
           "    for: 2s\n"
           "    baseline:\n"
           // The stable version's worst pod: a baseline must be one series (several are bad_value).
           "      query: 'max(demo_error_ratio{job=\"demo\",version=\"{{stable}}\"})'\n"
           "      max_ratio: 2\n"
           "      min_difference: 0.01\n"
           "    min_samples: {query: 'demo_requests{job=\"demo\",version=\"{{canary}}\"}', at_least: 100}\n"
           "actuators:\n"
           "  - type: file\n"
           "    path: " +
           router_ +
           "\n"
           "    content: \"CANARY_WEIGHT={{canary_weight}}\\n\"\n";
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  nlohmann::json status() const { return sidecar_ ? get_json(url() + "/api/v1/status") : nlohmann::json(nullptr); }
  nlohmann::json rule() const {
    const nlohmann::json s = status();
    return s.is_object() && s["rules"].size() == 1 ? s["rules"][0] : nlohmann::json(nullptr);
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels) const {
    return metric_sum(rs::testing::http_get(url() + "/metrics").body, name, labels);
  }

  TempDir dir_;
  FakeHttpServer exporter_;
  std::unique_ptr<PrometheusServer> prometheus_;
  const std::string router_ = dir_.file("router.env");
  const int port_ = rs::testing::free_port();
  std::unique_ptr<Process> sidecar_;
};

TEST_F(JudgesE2ETest, BelowMinSamplesStaysInsufficientThenThreeTimesTheBaselinesErrorsRollsBack) {
  const std::string path = dir_.file("sidecar.yml");
  rs::testing::write_file(path, config());
  Process check({kSidecarBinary, "check", "--config", path}, dir_.file("check.log"));
  const int checked = check.wait_exit(20s);
  ASSERT_TRUE(WIFEXITED(checked) && WEXITSTATUS(checked) == 0) << describe_status(checked) << "\n" << check.log();
  EXPECT_NE(check.log().find(
                "baseline (max_ratio 2, min_difference 0.01): max(demo_error_ratio{job=\"demo\",version=\"v1\"})"),
            std::string::npos)
      << "check prints the templated baseline query:\n"
      << check.log();

  sidecar_ =
      std::make_unique<Process>(std::vector<std::string>{kSidecarBinary, "--config", path}, dir_.file("sidecar.log"));
  std::string why;
  ASSERT_TRUE(rs::testing::wait_http_ok(url() + "/readyz", 20s, &why)) << "sidecar not ready: " << why;

  // 5 requests (3 + 2 over two pods): insufficient, although 0.06 vs 0.02 would breach.
  ASSERT_TRUE(rs::testing::wait_until([&] { return rule()["samples"] == 5; }, 20s, 250ms))
      << "the sidecar never counted the canary's 5 samples:\n"
      << rule().dump(2);
  const auto quiet_until = std::chrono::steady_clock::now() + 4s;  // twice the rule's `for`
  int looks = 0;
  while (std::chrono::steady_clock::now() < quiet_until) {
    const nlohmann::json r = rule();
    ASSERT_EQ(r["state"], "insufficient") << r.dump(2);
    ASSERT_EQ(r["breaching"], false) << r.dump(2);
    ASSERT_EQ(r["evidence"]["would_have_been"], "breach") << r.dump(2);
    ASSERT_EQ(status()["state"], "healthy");
    ++looks;
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_GE(looks, 8);
  EXPECT_EQ(metric("rollback_sidecar_rule_state", {{"rule", "canary-errors"}, {"state", "insufficient"}}), 1);
  EXPECT_TRUE(status()["last_decision"].is_null()) << status()["last_decision"].dump(2);
  EXPECT_EQ(rs::testing::read_file(router_), "CANARY_WEIGHT=50\n") << "insufficient must never touch the router";

  // The canary's traffic grows past min_samples: judged, and 3x the stable version's errors.
  exporter_.set_metrics(exposition(500));
  nlohmann::json last;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        last = status();
        return last.is_object() && last["state"] == "rolled_back";
      },
      30s, 250ms))
      << "the canary with 3x the baseline's errors was not rolled back:\n"
      << last.dump(2);
  EXPECT_EQ(rs::testing::read_file(router_), "CANARY_WEIGHT=0\n") << "the file actuator set the canary to 0";
  const nlohmann::json decision = last["last_decision"];
  EXPECT_EQ(decision["kind"], "rollback");
  EXPECT_EQ(decision["rule"], "canary-errors");
  EXPECT_EQ(decision["result"], "success");
  EXPECT_NE(decision["reason"].get<std::string>().find("canary 0.06 vs baseline 0.02: worse by more than x2 and 0.01"),
            std::string::npos)
      << "worst series on both sides (0.06 of the canary's pods, 0.02 of the stable's):\n"
      << decision.dump(2);
  EXPECT_EQ(decision["details"]["canary"], 0.06) << decision.dump(2);
  EXPECT_EQ(decision["details"]["baseline"], 0.02);
  EXPECT_NEAR(decision["details"]["ratio"].get<double>(), 3.0, 1e-9);
  EXPECT_EQ(decision["details"]["min_samples"]["samples"], 500) << "both pods' requests added up";
  const nlohmann::json r = last["rules"][0];
  EXPECT_EQ(r["baseline"]["query"], "max(demo_error_ratio{job=\"demo\",version=\"v1\"})");
  EXPECT_EQ(r["min_samples"]["at_least"], 100);
  EXPECT_EQ(metric("rollback_sidecar_decisions_total", {{"decision", "rollback"}, {"rule", "canary-errors"}}), 1);
  EXPECT_EQ(or_zero(metric("rollback_sidecar_query_errors_total", {})), 0) << "every query answered";
}

}  // namespace
}  // namespace rs::e2e
