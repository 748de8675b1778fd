// Three sidecars (one per replica) guarding one real HAProxy see the same fault: the router ends
// in one consistent state with one effective change; the other replicas record noop.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

TEST(Replicas, ThreeSidecarsOneFaultOneEffectiveChange) {
  TempDir dir;
  const int admin = free_port(), fe = free_port();
  HaproxyServer haproxy(haproxy_config(fe, admin,
                                       {{"stable", "127.0.0.1:" + std::to_string(free_port()), 90},
                                        {"canary", "127.0.0.1:" + std::to_string(free_port()), 10}}));
  haproxy.start({admin, fe});
  FakeHttpServer prometheus;  // the same data for every replica, as from one Prometheus
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.001"));

  std::vector<int> ports;
  std::vector<std::unique_ptr<Process>> sidecars;
  for (int i = 0; i < 3; ++i) {
    ports.push_back(free_port());
    const std::string config = dir.file("sidecar-" + std::to_string(i) + ".yml");
    write_file(config, "prometheus: {url: " + prometheus.url() +
                           "}\n"
                           "listen: 127.0.0.1:" +
                           std::to_string(ports.back()) +
                           "\n"
                           "evaluation_interval: 100ms\n"
                           "deployment: {name: shop, stage: prod, strategy: canary}\n"
                           "rules: [{name: error-rate, query: errors, above: 0.05, for: 300ms}]\n"
                           "rollback: {stagger: 300ms, replica_index: " +
                           std::to_string(i) +
                           "}\n"
                           "actuators: [{type: haproxy, address: 127.0.0.1:" +
                           std::to_string(admin) + ", backend: app, canary: canary, stable: stable}]\n");
    sidecars.push_back(std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", config},
                                                 dir.file("sidecar-" + std::to_string(i) + ".log")));
  }
  for (int port : ports) {
    std::string why;
    ASSERT_TRUE(wait_http_ok("http://127.0.0.1:" + std::to_string(port) + "/readyz", 10s, &why)) << why;
  }

  prometheus.set_route("/api/v1/query", 200, vector_reply("0.3"));
  auto state = [&](int port) {
    auto j = nlohmann::json::parse(http_get("http://127.0.0.1:" + std::to_string(port) + "/api/v1/status").body,
                                   nullptr, false);
    return j.is_discarded() ? std::string() : j.value("state", "");
  };
  ASSERT_TRUE(wait_until(
      [&] {
        return state(ports[0]) == "rolled_back" && state(ports[1]) == "rolled_back" && state(ports[2]) == "rolled_back";
      },
      20s));
  EXPECT_EQ(HaproxyServer::runtime_command(admin, "get weight app/canary").substr(0, 2), "0 ");

  double changed = 0, noops = 0;
  for (int port : ports) {
    const std::string body = http_get("http://127.0.0.1:" + std::to_string(port) + "/metrics").body;
    changed += metric_value(body, "rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"rule\"}");
    noops += metric_value(
                 body, "rollback_sidecar_decisions_total{decision=\"noop\",rule=\"error-rate\",severity=\"sev2\"}") > 0;
  }
  EXPECT_EQ(changed, 1) << "exactly one replica changed the router";
  EXPECT_EQ(noops, 2) << "the two others found it already rolled back";
}

}  // namespace
}  // namespace rs::testing
