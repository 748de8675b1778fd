// Progressive promotion on a real HAProxy: healthy data walks the canary through every step to
// 100 %; a fault at the second step rolls it back to 0 and promotion stops.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <thread>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

class PromotionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_port_ = free_port();
    const int fe = free_port();
    // The backends never receive traffic here; HAProxy only needs their addresses.
    haproxy_ =
        std::make_unique<HaproxyServer>(haproxy_config(fe, admin_port_,
                                                       {{"stable", "127.0.0.1:" + std::to_string(free_port()), 100},
                                                        {"canary", "127.0.0.1:" + std::to_string(free_port()), 0}}));
    haproxy_->start({admin_port_, fe});
    prometheus_.set_route("/api/v1/query", 200, vector_reply("0.001"));
    write_file(dir_.file("token"), "promo-token\n");
    port_ = free_port();
    write_file(dir_.file("sidecar.yml"),
               "prometheus: {url: " + prometheus_.url() +
                   "}\n"
                   "listen: 127.0.0.1:" +
                   std::to_string(port_) +
                   "\n"
                   "evaluation_interval: 100ms\n"
                   "deployment: {name: shop, stage: canary, strategy: canary, vars: {canary: v2}}\n"
                   "state_file: " +
                   dir_.file("state.json") +
                   "\n"
                   "rules: [{name: error-rate, query: 'errors{version=\"{{canary}}\"}', above: 0.05, for: 300ms}]\n"
                   "promotion: {steps: [10, 50, 100], step_duration: 700ms}\n"
                   "api: {bearer_token_file: " +
                   dir_.file("token") +
                   "}\n"
                   "actuators: [{type: haproxy, address: 127.0.0.1:" +
                   std::to_string(admin_port_) + ", backend: app, canary: canary, stable: stable}]\n");
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir_.file("sidecar.yml")},
                                         dir_.file("sidecar.log"));
  }

  int weight(const std::string& server) {
    std::string reply = HaproxyServer::runtime_command(admin_port_, "get weight app/" + server);
    return reply.empty() ? -1 : std::atoi(reply.c_str());  // "10 (initial 0)"
  }
  nlohmann::json status() {
    auto j = nlohmann::json::parse(http_get("http://127.0.0.1:" + std::to_string(port_) + "/api/v1/status").body,
                                   nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

  TempDir dir_;
  FakeHttpServer prometheus_;
  int admin_port_ = 0, port_ = 0;
  std::unique_ptr<HaproxyServer> haproxy_;
  std::unique_ptr<Process> sidecar_;
};

TEST_F(PromotionTest, HealthyCanaryIsPromotedStepByStepTo100) {
  std::set<int> seen;
  ASSERT_TRUE(wait_until(
      [&] {
        seen.insert(weight("canary"));
        return status().value("promotion", nlohmann::json::object()).value("state", "") == "complete";
      },
      30s, 20ms))
      << sidecar_->log();
  EXPECT_EQ(weight("canary"), 100);
  EXPECT_EQ(weight("stable"), 0);
  EXPECT_TRUE(seen.count(10) && seen.count(50)) << "every step is taken in turn";
  EXPECT_EQ(status()["state"], "healthy");
  const std::string metrics = http_get("http://127.0.0.1:" + std::to_string(port_) + "/metrics").body;
  EXPECT_NE(metrics.find("rollback_sidecar_canary_weight 100"), std::string::npos);
  EXPECT_NE(metrics.find("rollback_sidecar_promotion_step 3"), std::string::npos);
}

TEST_F(PromotionTest, FaultAtTheSecondStepRollsBackToZero) {
  ASSERT_TRUE(wait_until([&] { return weight("canary") == 50; }, 30s, 20ms)) << sidecar_->log();
  prometheus_.set_route("/api/v1/query", 200, vector_reply("0.4"));  // the canary starts failing
  ASSERT_TRUE(wait_until([&] { return status().value("state", "") == "rolled_back"; }, 20s)) << sidecar_->log();
  EXPECT_EQ(weight("canary"), 0);
  EXPECT_EQ(weight("stable"), 50);  // keeps the weight it had; all traffic is stable's
  EXPECT_EQ(status()["promotion"]["state"], "stopped");
  // It stays rolled back: no later promotion step undoes it.
  prometheus_.set_route("/api/v1/query", 200, vector_reply("0.001"));
  std::this_thread::sleep_for(1500ms);  // two step durations: a buggy promotion would act here
  EXPECT_EQ(weight("canary"), 0);
}

TEST_F(PromotionTest, FreezeHoldsPromotionButNotRollback) {
  ASSERT_TRUE(wait_until([&] { return weight("canary") == 10; }, 30s, 20ms)) << sidecar_->log();
  const std::string base = "http://127.0.0.1:" + std::to_string(port_);
  ASSERT_EQ(http_request("PUT", base + "/api/v1/freeze", R"({"reason":"hold","actor":"ci"})",
                         {"Authorization: Bearer promo-token"})
                .status,
            200);
  ASSERT_TRUE(wait_until([&] { return status()["promotion"]["state"] == "frozen"; }, 5s)) << sidecar_->log();
  std::this_thread::sleep_for(1500ms);  // two step durations: an unfrozen promotion would move on
  EXPECT_EQ(weight("canary"), 10);
  prometheus_.set_route("/api/v1/query", 200, vector_reply("0.4"));
  ASSERT_TRUE(wait_until([&] { return status().value("state", "") == "rolled_back"; }, 20s)) << sidecar_->log();
  EXPECT_EQ(weight("canary"), 0);
}

}  // namespace
}  // namespace rs::testing
