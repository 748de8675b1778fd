// The end-to-end rollback through the `kubernetes-service` actuator (issue #13): the strict fake
// Kubernetes API server (tests/fakes/kubernetes/, proven by kubectl) holds the Service
// checkout/checkout whose selector points at the canary colour (version=v2), with two stable
// pods and one canary pod; a real demo-workload canary (v2) takes load directly and a real
// Prometheus scrapes it (labels service=checkout, version=v2) and the sidecar every second; the
// real `rollback-sidecar` binary runs the demo policy's error-rate rule with a kubernetes-service
// actuator whose kubeconfig points at the fake, its user holding exactly the Role the project
// ships (docker/kubernetes/rbac/kubernetes-service/role.yml).
//
// An error fault in the canary must fire the rule, the sidecar must patch the Service's
// selector to version=v1 (read back from the fake, EndpointSlices verified), and the decision and
// the audit log must say the actuator `changed` it. A second run (fresh state, fault still on)
// against the already-flipped Service must decide `noop` and patch nothing.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include "tests/fakes/kubernetes/fake_apiserver.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

using json = nlohmann::json;
using rs::testing::FakeApiServer;
using rs::testing::Process;
using rs::testing::PrometheusServer;
using rs::testing::TempDir;
using SteadyClock = std::chrono::steady_clock;

const std::string kServicePath = "/api/v1/namespaces/checkout/services/checkout";
const std::string kSidecarToken = "e2e-sidecar-token-4f1c9a7d2b";
const std::string kSidecarUser = "system:serviceaccount:checkout:checkout-rollback-sidecar";

json pod(const std::string& name, const std::string& version, const std::string& ip) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name}, {"namespace", "checkout"}, {"labels", {{"app", "checkout"}, {"version", version}}}}},
          {"status", {{"podIP", ip}}}};
}

json seed() {
  return json::array({
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "checkout"}}}},
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", {{"name", "checkout"}, {"namespace", "checkout"}}},
       {"spec",
        {{"selector", {{"app", "checkout"}, {"version", "v2"}}},
         {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}},
      pod("checkout-v1-a", "v1", "10.0.0.11"),
      pod("checkout-v1-b", "v1", "10.0.0.12"),
      pod("checkout-v2-a", "v2", "10.0.0.21"),
  });
}

// The rules of the Role the project ships for this actuator, as the fake's token rules.
json shipped_role_rules() {
  const std::string path = std::string(RS_SOURCE_DIR) + "/docker/kubernetes/rbac/kubernetes-service/role.yml";
  json rules = json::array();
  for (const YAML::Node& doc : YAML::LoadAllFromFile(path)) {
    if (!doc["kind"] || doc["kind"].as<std::string>() != "Role") continue;
    for (const auto& r : doc["rules"]) {
      json rule = {{"verbs", r["verbs"].as<std::vector<std::string>>()},
                   {"resources", r["resources"].as<std::vector<std::string>>()}};
      if (r["resourceNames"]) rule["resourceNames"] = r["resourceNames"].as<std::vector<std::string>>();
      rules.push_back(rule);
    }
  }
  return rules;
}

// The audit log's records (one JSON object a line); unparsable lines fail the test.
std::vector<json> audit_records(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(rs::testing::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "audit line is not JSON: " << line;
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

std::vector<json> of_event(const std::vector<json>& records, const std::string& event) {
  std::vector<json> out;
  for (const auto& r : records)
    if (r["event"] == event) out.push_back(r);
  return out;
}

std::string string_at(const json& j, const std::string& key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

class KubernetesRollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(rs::testing::find_binary("prometheus").empty())
        << "prometheus not installed (scripts/install-deps.sh)";
    ASSERT_EQ(access(kSidecarBinary.c_str(), X_OK), 0) << kSidecarBinary << " missing: build rollback-sidecar";
    ASSERT_EQ(access(kWorkloadBinary.c_str(), X_OK), 0) << kWorkloadBinary << " missing: build demo-workload";

    const json role_rules = shipped_role_rules();
    ASSERT_EQ(role_rules.size(), 3u) << "the shipped Role changed; update this test: " << role_rules.dump();
    ASSERT_NO_THROW(
        fake_ = std::make_unique<FakeApiServer>(
            seed(), json{{"admin-token",
                          {{"user", "admin"}, {"rules", json::array({{{"verbs", {"*"}}, {"resources", {"*"}}}})}}},
                         {kSidecarToken, {{"user", kSidecarUser}, {"rules", role_rules}}}}));
    ASSERT_EQ(service_selector(), (json{{"app", "checkout"}, {"version", "v2"}}));

    ASSERT_NO_THROW(canary_ = std::make_unique<Workload>(dir_, "v2"));
    sidecar_port_ = rs::testing::free_port();
    PrometheusServer::Options options;
    options.scrape_interval = "1s";
    options.extra_scrape_configs =
        "  - job_name: checkout\n"
        "    static_configs:\n"
        "      - targets: ['" +
        canary_->address() +
        "']\n"
        "        labels: {service: checkout, version: v2}\n"
        "  - job_name: rollback-sidecar\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:" +
        std::to_string(sidecar_port_) + "']\n";
    prometheus_ = std::make_unique<PrometheusServer>(options);
    ASSERT_NO_THROW(prometheus_->start());
    load_ = std::make_unique<Process>(
        std::vector<std::string>{kWorkloadBinary, "load", "--url", canary_->url() + "/", "--rate", "30",
                                 "--concurrency", "20", "--timeout", "5s", "--report-interval", "5s"},
        dir_.file("load.log"));

    // The sidecar's credentials: a kubeconfig naming the fake, its CA, and a token file
    // (relative to the kubeconfig, as kubectl reads it).
    rs::testing::write_file(dir_.file("sidecar.token"), kSidecarToken + "\n");
    rs::testing::write_file(dir_.file("kubeconfig"),
                            "apiVersion: v1\n"
                            "kind: Config\n"
                            "current-context: fake\n"
                            "clusters:\n"
                            "  - name: fake\n"
                            "    cluster: {server: '" +
                                fake_->url() + "', certificate-authority: '" + fake_->ca_file() +
                                "'}\n"
                                "users:\n"
                                "  - name: sidecar\n"
                                "    user: {tokenFile: sidecar.token}\n"
                                "contexts:\n"
                                "  - name: fake\n"
                                "    context: {cluster: fake, user: sidecar, namespace: checkout}\n");
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::cerr << "---- sidecar status\n" << status().dump(2) << "\n";
    for (const char* log : {"sidecar-1.log", "sidecar-2.log"})
      std::cerr << "---- " << log << "\n" << tail(rs::testing::read_file(dir_.file(log)), 5000) << "\n";
    std::cerr << "---- load log\n" << tail(rs::testing::read_file(dir_.file("load.log")), 1000) << "\n";
    if (prometheus_) std::cerr << "---- Prometheus log\n" << tail(prometheus_->log(), 1500) << "\n";
    if (fake_) {
      std::cerr << "---- fake API server log\n" << tail(fake_->log(), 3000) << "\n";
      try {
        std::cerr << "---- requests to the fake\n" << fake_->requests().dump(1) << "\n";
      } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
      }
    }
  }

  // policies/demo.yml's error-rate rule (as shipped) with a kubernetes-service actuator; run
  // `run` gets its own state file, audit log and log. Checked with `rollback-sidecar check`.
  void write_config(int run) {
    YAML::Node demo = YAML::LoadFile(std::string(RS_SOURCE_DIR) + "/policies/demo.yml");
    YAML::Node config;
    config["prometheus"] = demo["prometheus"];
    config["prometheus"]["url"] = prometheus_->url();
    config["listen"] = "127.0.0.1:" + std::to_string(sidecar_port_);
    config["evaluation_interval"] = demo["evaluation_interval"];
    config["deployment"] = demo["deployment"];
    config["deployment"]["name"] = "checkout";
    config["deployment"]["vars"]["service"] = "checkout";
    ASSERT_EQ(config["deployment"]["vars"]["canary"].as<std::string>(), "v2");
    config["state_file"] = dir_.file("state-" + std::to_string(run) + ".json");
    config["audit_log"] = audit_path(run);
    config["rollback"] = demo["rollback"];
    YAML::Node rules(YAML::NodeType::Sequence);
    for (const auto& rule : demo["rules"])
      if (rule["name"].as<std::string>() == "error-rate") rules.push_back(rule);
    ASSERT_EQ(rules.size(), 1u) << "policies/demo.yml has no error-rate rule; update this test";
    config["rules"] = rules;
    YAML::Node actuator;
    actuator["type"] = "kubernetes-service";
    actuator["kubeconfig"] = dir_.file("kubeconfig");
    actuator["namespace"] = "checkout";
    actuator["name"] = "checkout";
    actuator["label"] = "version";
    actuator["stable"] = "v1";
    actuator["canary"] = "v2";
    actuator["request_timeout"] = "2s";
    config["actuators"].push_back(actuator);
    YAML::Emitter out;
    out << config;
    config_path_ = dir_.file("sidecar-" + std::to_string(run) + ".yml");
    rs::testing::write_file(config_path_, std::string(out.c_str()) + "\n");

    Process check({kSidecarBinary, "check", "--config", config_path_}, dir_.file("check.log"));
    const int st = check.wait_exit(20s);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "rollback-sidecar check: " << describe_status(st) << "\n"
                                                       << check.log() << "\nconfig:\n"
                                                       << rs::testing::read_file(config_path_);
  }

  std::string audit_path(int run) const { return dir_.file("audit-" + std::to_string(run) + ".jsonl"); }

  // Starts run `run` of the sidecar and waits until it evaluated the rule on real data.
  void start_sidecar(int run) {
    ASSERT_NO_FATAL_FAILURE(write_config(run));
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kSidecarBinary, "--config", config_path_},
                                         dir_.file("sidecar-" + std::to_string(run) + ".log"));
    std::string why;
    ASSERT_TRUE(rs::testing::wait_http_ok(sidecar_url() + "/readyz", 20s, &why))
        << "sidecar not ready within 20s: " << why << "\n"
        << tail(sidecar_->log());
  }

  // SIGTERM: the sidecar must exit by itself with code 0.
  void stop_sidecar() {
    const int st = sidecar_->stop(5000ms);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
        << "SIGTERM should stop the sidecar with exit 0; got " << describe_status(st) << "\n"
        << tail(sidecar_->log());
  }

  std::string sidecar_url() const { return "http://127.0.0.1:" + std::to_string(sidecar_port_); }
  json status() { return get_json(sidecar_url() + "/api/v1/status"); }
  std::string sidecar_metrics() { return rs::testing::http_get(sidecar_url() + "/metrics").body; }

  json wait_for_state(const std::string& state, std::chrono::milliseconds timeout) {
    json last;
    rs::testing::wait_until(
        [&] {
          last = status();
          return last.is_object() && last["state"] == state;
        },
        timeout, 250ms);
    return last;
  }

  // The Service's selector as the fake holds it, read with the admin token.
  json service_selector() { return fake_->object(kServicePath)["spec"]["selector"]; }
  int service_patches() { return fake_->count("PATCH", kServicePath); }

  TempDir dir_;
  std::unique_ptr<FakeApiServer> fake_;
  std::unique_ptr<Workload> canary_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::unique_ptr<Process> sidecar_;
  std::unique_ptr<Process> load_;
  int sidecar_port_ = 0;
  std::string config_path_;
};

TEST_F(KubernetesRollbackTest, ErrorFaultFlipsTheServiceSelectorToStableAndASecondRunIsANoop) {
  // ---- run 1: a healthy canary first, then the fault.
  ASSERT_NO_FATAL_FAILURE(start_sidecar(1));
  json s;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        s = status();
        return s.is_object() && s["rules"].size() == 1 && s["rules"][0]["value"].is_number();
      },
      60s, 250ms))
      << "the sidecar never saw a value for error-rate from Prometheus; status:\n"
      << s.dump(2);
  ASSERT_EQ(s["state"], "healthy") << s.dump(2);
  EXPECT_EQ(s["rules"][0]["state"], "ok") << s.dump(2);
  EXPECT_EQ(service_patches(), 0) << "nothing may touch the Service while the canary is healthy";
  EXPECT_EQ(service_selector()["version"], "v2");

  const auto fault_at = SteadyClock::now();
  auto reply = canary_->fault("error_ratio=0.5");
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;

  s = wait_for_state("rolled_back", 60s);
  ASSERT_EQ(s["state"], "rolled_back") << "no rollback within 60s of the fault; last status:\n" << s.dump(2);
  std::cerr << "[ info ] rolled back through the Kubernetes API "
            << std::chrono::duration<double>(SteadyClock::now() - fault_at).count()
            << "s after the fault was injected\n";
  const json d = s["last_decision"];
  EXPECT_EQ(d["kind"], "rollback") << d.dump(2);
  EXPECT_EQ(d["trigger"], "rule");
  EXPECT_EQ(d["rule"], "error-rate") << d.dump(2);
  EXPECT_EQ(d["result"], "success") << d.dump(2);
  EXPECT_TRUE(d["value"].is_number() && d["value"].get<double>() > d["threshold"].get<double>()) << d.dump(2);
  ASSERT_EQ(d["actuators"].size(), 1u) << d.dump(2);
  const json& outcome = d["actuators"][0];
  EXPECT_EQ(outcome["result"], "changed") << outcome.dump(2);
  EXPECT_EQ(outcome["attempts"], 1) << outcome.dump(2);
  const std::string detail = string_at(outcome, "detail");
  EXPECT_NE(detail.find("selector version v2 -> v1"), std::string::npos) << detail;
  EXPECT_NE(detail.find("EndpointSlices list 2 endpoint(s), all stable pods"), std::string::npos)
      << "the shipped Role allows the EndpointSlice verification: " << detail;

  // The Service, read back from the fake: only the selector's version changed, by one strategic
  // merge patch that carried the resourceVersion it was computed from.
  EXPECT_EQ(service_selector(), (json{{"app", "checkout"}, {"version", "v1"}}));
  EXPECT_EQ(service_patches(), 1);
  for (const auto& q : fake_->requests()) {
    if (q["method"] != "PATCH") continue;
    EXPECT_EQ(q["content_type"], "application/strategic-merge-patch+json") << q.dump();
    const json body = json::parse(q["body"].get<std::string>(), nullptr, false);
    EXPECT_EQ(body["spec"]["selector"], (json{{"version", "v1"}})) << q.dump();
    EXPECT_TRUE(body["metadata"].contains("resourceVersion")) << q.dump();
  }

  // The audit log: the decision, the actuator call (changed) and the completed rollback.
  {
    const auto records = audit_records(audit_path(1));
    const auto decisions = of_event(records, "decision");
    ASSERT_EQ(decisions.size(), 1u) << rs::testing::read_file(audit_path(1));
    EXPECT_EQ(decisions[0]["decision"]["kind"], "rollback");
    EXPECT_EQ(decisions[0]["decision"]["id"], d["id"]);
    const auto calls = of_event(records, "actuator_call");
    ASSERT_EQ(calls.size(), 1u) << rs::testing::read_file(audit_path(1));
    EXPECT_EQ(calls[0]["result"], "changed") << calls[0].dump();
    EXPECT_EQ(calls[0]["decision_id"], d["id"]);
    EXPECT_NE(string_at(calls[0], "actuator").find("checkout"), std::string::npos) << calls[0].dump();
    const auto completed = of_event(records, "rollback_completed");
    ASSERT_EQ(completed.size(), 1u) << rs::testing::read_file(audit_path(1));
    EXPECT_EQ(completed[0]["result"], "success") << completed[0].dump();
  }
  std::string metrics = sidecar_metrics();
  EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_actuator_calls_total",
                       {{"actuator", "kubernetes-service"}, {"result", "changed"}}),
            1)
      << metrics;
  EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_rollbacks_total", {{"result", "success"}}), 1) << metrics;
  stop_sidecar();

  // ---- run 2: a fresh state (another replica, or a reset), the fault still on, the Service
  // already flipped: the rule fires again, the actuator finds nothing to do.
  ASSERT_NO_FATAL_FAILURE(start_sidecar(2));
  s = wait_for_state("rolled_back", 60s);
  ASSERT_EQ(s["state"], "rolled_back") << "the second run should decide too; last status:\n" << s.dump(2);
  const json d2 = s["last_decision"];
  EXPECT_EQ(d2["kind"], "noop") << d2.dump(2);
  EXPECT_EQ(d2["result"], "noop") << d2.dump(2);
  EXPECT_EQ(d2["rule"], "error-rate") << d2.dump(2);
  ASSERT_EQ(d2["actuators"].size(), 1u) << d2.dump(2);
  EXPECT_EQ(d2["actuators"][0]["result"], "noop") << d2.dump(2);
  EXPECT_NE(string_at(d2["actuators"][0], "detail").find("selector already version=v1"), std::string::npos)
      << d2.dump(2);
  EXPECT_EQ(service_patches(), 1) << "the second run must not patch the Service";
  EXPECT_EQ(service_selector(), (json{{"app", "checkout"}, {"version", "v1"}}));
  {
    const auto records = audit_records(audit_path(2));
    const auto calls = of_event(records, "actuator_call");
    ASSERT_EQ(calls.size(), 1u) << rs::testing::read_file(audit_path(2));
    EXPECT_EQ(calls[0]["result"], "noop") << calls[0].dump();
    const auto completed = of_event(records, "rollback_completed");
    ASSERT_EQ(completed.size(), 1u) << rs::testing::read_file(audit_path(2));
    EXPECT_EQ(completed[0]["result"], "noop") << completed[0].dump();
  }
  metrics = sidecar_metrics();
  EXPECT_EQ(or_zero(metric_sum(metrics, "rollback_sidecar_rollbacks_total")), 0) << "a noop changed nothing\n"
                                                                                 << metrics;
  EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_actuator_calls_total",
                       {{"actuator", "kubernetes-service"}, {"result", "noop"}}),
            1)
      << metrics;
  stop_sidecar();
}

}  // namespace
}  // namespace rs::e2e
