// Blue/green rollback on a real HAProxy with the stable colour's preflight and the
// post-rollback verification: healthy stable → flip, verify; unhealthy stable → no switch.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;
const std::string kWorkload = std::string(RS_BINARY_DIR) + "/docker/workload/demo-workload";

class BlueGreenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_port_ = free_port();
    green_port_ = free_port();
    blue_ = std::make_unique<Process>(std::vector<std::string>{kWorkload, "serve", "--version", "blue", "--listen",
                                                               "127.0.0.1:" + std::to_string(blue_port_)},
                                      dir_.file("blue.log"));
    green_ = std::make_unique<Process>(std::vector<std::string>{kWorkload, "serve", "--version", "green", "--listen",
                                                                "127.0.0.1:" + std::to_string(green_port_)},
                                       dir_.file("green.log"));
    std::string why;
    ASSERT_TRUE(wait_http_ok(url(blue_port_, "/health"), 10s, &why)) << why;
    ASSERT_TRUE(wait_http_ok(url(green_port_, "/health"), 10s, &why)) << why;
    admin_port_ = free_port();
    frontend_port_ = free_port();
    // Green (new colour) is live; blue (stable, old colour) is kept ready but in maintenance.
    haproxy_ = std::make_unique<HaproxyServer>(
        haproxy_config(frontend_port_, admin_port_,
                       {{"blue", "127.0.0.1:" + std::to_string(blue_port_), 100, /*disabled=*/true},
                        {"green", "127.0.0.1:" + std::to_string(green_port_), 100}}));
    haproxy_->start({admin_port_, frontend_port_});
    write_file(dir_.file("token"), "bg-token\n");
  }

  static std::string url(int port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  void start_sidecar(const std::string& verify_value) {
    prometheus_.set_route("/api/v1/query", 200, vector_reply(verify_value));
    sidecar_port_ = free_port();
    write_file(dir_.file("sidecar.yml"),
               "prometheus: {url: " + prometheus_.url() +
                   "}\n"
                   "listen: 127.0.0.1:" +
                   std::to_string(sidecar_port_) +
                   "\n"
                   "evaluation_interval: 200ms\n"
                   "deployment: {name: shop, stage: blue-green, strategy: blue-green, vars: {stable: blue}}\n"
                   "rules: [{name: errors, query: 'error_ratio', above: 0.9}]\n"
                   "rollback:\n"
                   "  deadline: 3s\n"
                   "  preflight: {http: '" +
                   url(blue_port_, "/health") +
                   "', timeout: 1s}\n"
                   "  verify: {query: 'error_ratio{version=\"{{stable}}\"}', below: 0.01, for: 600ms, timeout: 3s}\n"
                   "actuators:\n"
                   "  - {type: haproxy, address: 127.0.0.1:" +
                   std::to_string(admin_port_) +
                   ", backend: app, canary: green, stable: blue}\n"
                   "api: {bearer_token_file: " +
                   dir_.file("token") + "}\n");
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir_.file("sidecar.yml")},
                                         dir_.file("sidecar.log"));
    std::string why;
    ASSERT_TRUE(wait_http_ok(url(sidecar_port_, "/readyz"), 10s, &why)) << why << sidecar_->log();
  }

  nlohmann::json status() { return nlohmann::json::parse(http_get(url(sidecar_port_, "/api/v1/status")).body); }
  std::string metrics() { return http_get(url(sidecar_port_, "/metrics")).body; }
  void roll_back() {
    HttpResult r = http_request("POST", url(sidecar_port_, "/api/v1/rollback"), R"({"reason":"bg test","actor":"ci"})",
                                {"Authorization: Bearer bg-token"});
    ASSERT_EQ(r.status, 202) << r.body;
  }
  // Which colours answer through HAProxy's frontend.
  std::set<std::string> colours_serving(int requests) {
    std::set<std::string> seen;
    for (int i = 0; i < requests; ++i) {
      HttpResult r = http_get(url(frontend_port_, "/"));
      if (r.body.find("blue") != std::string::npos) seen.insert("blue");
      if (r.body.find("green") != std::string::npos) seen.insert("green");
    }
    return seen;
  }

  TempDir dir_;
  FakeHttpServer prometheus_;
  int blue_port_ = 0, green_port_ = 0, admin_port_ = 0, frontend_port_ = 0, sidecar_port_ = 0;
  std::unique_ptr<Process> blue_, green_, sidecar_;
  std::unique_ptr<HaproxyServer> haproxy_;
};

TEST_F(BlueGreenTest, HealthyStableFlipsAndVerifies) {
  ASSERT_EQ(colours_serving(10), std::set<std::string>{"green"});
  start_sidecar("0.001");
  roll_back();
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(colours_serving(20), std::set<std::string>{"blue"});
  ASSERT_TRUE(wait_until([&] { return status()["last_decision"]["verification"] == "verified"; }, 10s))
      << sidecar_->log();
  auto d = status()["last_decision"];
  EXPECT_EQ(d["result"], "success");
  EXPECT_EQ(d["actuators"][0]["result"], "ok");       // preflight
  EXPECT_EQ(d["actuators"][1]["result"], "changed");  // haproxy
  EXPECT_EQ(d["actuators"][2]["result"], "ok");       // stable healthy after the switch
  const std::string m = metrics();
  EXPECT_NE(m.find("rollback_sidecar_rollback_verified 1"), std::string::npos) << m;
  EXPECT_NE(m.find("rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"manual\"} 1"), std::string::npos);
}

TEST_F(BlueGreenTest, UnhealthyStableIsNotSwitchedTo) {
  ASSERT_EQ(http_request("POST", url(blue_port_, "/admin/fault"), "health=fail").status, 200);
  start_sidecar("0.001");
  roll_back();
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rollback_failed"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(colours_serving(10), std::set<std::string>{"green"});  // traffic untouched
  auto d = status()["last_decision"];
  EXPECT_EQ(d["result"], "failure");
  EXPECT_NE(d["actuators"][0]["detail"].get<std::string>().find("503"), std::string::npos) << d.dump();
  EXPECT_EQ(d["actuators"].size(), 1u);  // the haproxy actuator never ran
  EXPECT_NE(sidecar_->log().find("NOT DONE: the stable version is not healthy"), std::string::npos);
  EXPECT_NE(metrics().find("rollback_sidecar_rollbacks_total{result=\"failure\",trigger=\"manual\"} 1"),
            std::string::npos);
}

TEST_F(BlueGreenTest, VerificationFailsWhenTheSignalStaysBad) {
  start_sidecar("0.5");
  roll_back();
  ASSERT_TRUE(wait_until([&] { return status()["last_decision"]["verification"] == "failed"; }, 15s))
      << sidecar_->log();
  EXPECT_EQ(status()["state"], "rolled_back");  // traffic stays on stable either way
  const std::string m = metrics();
  EXPECT_NE(m.find("rollback_sidecar_rollback_verified 0"), std::string::npos);
  EXPECT_NE(m.find("rollback_sidecar_rollbacks_total{result=\"unverified\",trigger=\"manual\"} 1"), std::string::npos)
      << m;
  EXPECT_NE(m.find("rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"manual\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace rs::testing
