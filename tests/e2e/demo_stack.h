// The whole product on loopback, shared by the end-to-end tests that differ only in the metrics
// backend: two demo-workload instances (stable v1, canary v2) behind a real HAProxy,
// `demo-workload load` sending ~50 rps through HAProxy, a real backend (Prometheus or
// VictoriaMetrics; the subclass picks it) scraping both workloads (target labels service=demo,
// version=v1/v2) and the sidecar every second, and the real `rollback-sidecar` binary running
// the demo policy (policies/demo.yml with the ports rewritten and prometheus.url pointing at the
// backend). A fault injected into the canary must roll it back through HAProxy's runtime API; a
// healthy canary must be left alone. A subclass may put another router behind the sidecar
// (configure_actuators, sidecar_env, expect_router_rolled_back, expect_router_untouched):
// HAProxy then only spreads the load over both workloads.
//
// The demo policy's health-check rule reads blackbox-exporter probes; these tests run no blackbox
// exporter, so that rule is dropped (with missing: breach it would roll back on the absent
// probe data). The other four rules are used as shipped.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include "tests/support/harness.h"

namespace rs::e2e {

class DemoStackTest : public ::testing::Test {
 protected:
  using SteadyClock = std::chrono::steady_clock;
  static constexpr const char* kDroppedRule = "health-check-failures";

  static double seconds_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double>(SteadyClock::now() - t0).count();
  }

  // The metrics backend, not yet started, scraping what `options` says.
  virtual std::unique_ptr<rs::testing::ScrapingServer> make_backend(rs::testing::ScrapingServer::Options options) = 0;
  // The Debian package that has the backend's binary (checked before anything starts).
  virtual std::string backend_binary() const = 0;

  // The router the sidecar rolls back through. By default the demo policy's HAProxy actuator,
  // pointed at this test's HAProxy; the checks read HAProxy's weights and send real traffic.
  virtual void configure_actuators(YAML::Node& config) {
    ASSERT_TRUE(config["actuators"].IsSequence() && config["actuators"].size() == 1 &&
                config["actuators"][0]["type"].as<std::string>() == "haproxy")
        << "policies/demo.yml should have one haproxy actuator";
    config["actuators"][0]["address"] = "127.0.0.1:" + std::to_string(admin_port_);
  }
  // Environment variables the sidecar process gets on top of the test's.
  virtual std::map<std::string, std::string> sidecar_env() const { return {}; }
  virtual void expect_router_rolled_back() {
    EXPECT_EQ(haproxy_weight(admin_port_, "canary"), 0);
    EXPECT_EQ(haproxy_weight(admin_port_, "stable"), 100);
    auto answers = answers_by_body(front_url(), 50);
    EXPECT_EQ(answers["ok v1"], 50) << "after the rollback v1 must answer everything: " << describe_counts(answers);
  }
  virtual void expect_router_untouched() {
    EXPECT_EQ(haproxy_weight(admin_port_, "canary"), 100);
    auto answers = answers_by_body(front_url(), 20);
    EXPECT_GT(answers["ok v2"], 0) << "the canary still takes traffic: " << describe_counts(answers);
    EXPECT_EQ(answers["ok v1"] + answers["ok v2"], 20) << describe_counts(answers);
  }

  void SetUp() override {
    for (const std::string& tool : {backend_binary(), std::string("haproxy")}) {
      ASSERT_FALSE(rs::testing::find_binary(tool).empty()) << tool << " not installed (scripts/install-deps.sh)";
    }
    ASSERT_EQ(access(kSidecarBinary.c_str(), X_OK), 0) << kSidecarBinary << " missing: build rollback-sidecar";
    ASSERT_EQ(access(kWorkloadBinary.c_str(), X_OK), 0) << kWorkloadBinary << " missing: build demo-workload";

    ASSERT_NO_THROW(stable_ = std::make_unique<Workload>(dir_, "v1"));
    ASSERT_NO_THROW(canary_ = std::make_unique<Workload>(dir_, "v2"));
    front_port_ = rs::testing::free_port();
    admin_port_ = rs::testing::free_port();
    sidecar_port_ = rs::testing::free_port();
    haproxy_ = std::make_unique<rs::testing::HaproxyServer>(
        haproxy_config(front_port_, admin_port_, stable_->address(), canary_->address()));
    ASSERT_NO_THROW(haproxy_->start({front_port_, admin_port_}));

    rs::testing::ScrapingServer::Options options;
    options.scrape_interval = "1s";
    options.evaluation_interval = "1s";
    options.extra_scrape_configs =
        "  - job_name: demo\n"
        "    static_configs:\n"
        "      - targets: ['" +
        stable_->address() +
        "']\n"
        "        labels: {service: demo, version: v1}\n"
        "      - targets: ['" +
        canary_->address() +
        "']\n"
        "        labels: {service: demo, version: v2}\n"
        "  - job_name: rollback-sidecar\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:" +
        std::to_string(sidecar_port_) + "']\n";
    backend_ = make_backend(options);
    ASSERT_NO_THROW(backend_->start());

    ASSERT_NO_FATAL_FAILURE(write_config());
    load_ = std::make_unique<rs::testing::Process>(
        std::vector<std::string>{kWorkloadBinary, "load", "--url", front_url(), "--rate", "50", "--concurrency", "40",
                                 "--timeout", "5s", "--report-interval", "5s"},
        dir_.file("load.log"));
    ASSERT_NO_FATAL_FAILURE(start_sidecar());

    // The backend hands new targets to its scrapers a few seconds after it starts, and rates
    // need two samples: wait until the sidecar evaluates every rule to a real value.
    ASSERT_TRUE(rs::testing::wait_until(
        [&] {
          auto s = status();
          if (!s.is_object()) return false;
          for (const auto& r : s["rules"])
            if (!r["value"].is_number()) return false;
          return s["rules"].size() == rule_names_.size();
        },
        60s, 250ms))
        << "the sidecar never saw a value for every rule from " << backend_->name() << "; status:\n"
        << status().dump(2);
    ASSERT_EQ(status()["state"], "healthy") << status().dump(2);
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::cerr << "---- sidecar status\n" << status().dump(2) << "\n";
    std::cerr << "---- sidecar log\n" << tail(rs::testing::read_file(dir_.file("sidecar.log")), 6000) << "\n";
    std::cerr << "---- load log\n" << tail(rs::testing::read_file(dir_.file("load.log")), 1500) << "\n";
    if (canary_) std::cerr << "---- canary log\n" << tail(canary_->log(), 1500) << "\n";
    if (backend_) std::cerr << "---- " << backend_->name() << " log\n" << tail(backend_->log(), 2000) << "\n";
    if (haproxy_) std::cerr << "---- HAProxy log\n" << tail(haproxy_->log(), 1500) << "\n";
  }

  // policies/demo.yml with this test's addresses and state file, minus the blackbox rule.
  void write_config() {
    YAML::Node config = YAML::LoadFile(std::string(RS_SOURCE_DIR) + "/policies/demo.yml");
    config["prometheus"]["url"] = backend_->url();
    config["listen"] = "127.0.0.1:" + std::to_string(sidecar_port_);
    config["state_file"] = dir_.file("state.json");
    ASSERT_NO_FATAL_FAILURE(configure_actuators(config));
    YAML::Node rules(YAML::NodeType::Sequence);
    bool dropped = false;
    for (const auto& rule : config["rules"]) {
      const std::string name = rule["name"].as<std::string>();
      if (name == kDroppedRule) {
        dropped = true;
        continue;
      }
      rules.push_back(rule);
      rule_names_.push_back(name);
    }
    ASSERT_TRUE(dropped) << "policies/demo.yml has no rule " << kDroppedRule << "; update this test";
    ASSERT_EQ(rule_names_, (std::vector<std::string>{"error-rate", "latency-p95", "memory-usage", "cpu-usage"}))
        << "policies/demo.yml's rules changed; update this test's expectations";
    config["rules"] = rules;
    YAML::Emitter out;
    out << config;
    config_path_ = dir_.file("sidecar.yml");
    rs::testing::write_file(config_path_, std::string(out.c_str()) + "\n");

    // The derived config must be valid as the CLI sees it.
    rs::testing::Process check({kSidecarBinary, "check", "--config", config_path_}, dir_.file("check.log"),
                               sidecar_env());
    int st = check.wait_exit(20s);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "rollback-sidecar check: " << describe_status(st) << "\n"
                                                       << check.log() << "\nconfig:\n"
                                                       << rs::testing::read_file(config_path_);
  }

  void start_sidecar() {
    sidecar_ = std::make_unique<rs::testing::Process>(
        std::vector<std::string>{kSidecarBinary, "--config", config_path_}, dir_.file("sidecar.log"), sidecar_env());
    std::string why;
    ASSERT_TRUE(rs::testing::wait_http_ok(sidecar_url() + "/readyz", 20s, &why))
        << "sidecar not ready within 20s: " << why << "\n"
        << tail(sidecar_->log());
  }

  std::string front_url() const { return "http://127.0.0.1:" + std::to_string(front_port_) + "/"; }
  std::string sidecar_url() const { return "http://127.0.0.1:" + std::to_string(sidecar_port_); }
  nlohmann::json status() { return get_json(sidecar_url() + "/api/v1/status"); }
  std::string sidecar_metrics() { return rs::testing::http_get(sidecar_url() + "/metrics").body; }

  // Polls /api/v1/status until the deployment is in `state`; returns the last status seen.
  nlohmann::json wait_for_state(const std::string& state, std::chrono::milliseconds timeout) {
    nlohmann::json last;
    rs::testing::wait_until(
        [&] {
          last = status();
          return last.is_object() && last["state"] == state;
        },
        timeout, 250ms);
    return last;
  }

  // Waits until the backend, queried directly, answers `promql` with `value`.
  bool backend_sees(const std::string& promql, const std::string& value, std::string* last) {
    return rs::testing::wait_until(
        [&] {
          *last = backend_->query_value(promql);
          return *last == value;
        },
        20s, 250ms);
  }

  // SIGTERM: the sidecar must exit by itself with code 0 (SIGKILL after 5 s shows as a signal).
  void expect_clean_sigterm_exit() {
    const auto t0 = SteadyClock::now();
    const int st = sidecar_->stop(5000ms);
    const double took = seconds_since(t0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "SIGTERM should stop the sidecar with exit 0 within 5s; got "
                                                       << describe_status(st) << " after " << took << "s\n"
                                                       << tail(sidecar_->log());
    std::cerr << "[ info ] sidecar stopped " << took << "s after SIGTERM (" << describe_status(st) << ")\n";
  }

  // A rollback by `rule` happened and is visible everywhere: status, router, traffic, backend.
  nlohmann::json expect_rolled_back_by(const std::string& rule, const SteadyClock::time_point fault_at) {
    nlohmann::json s = wait_for_state("rolled_back", 60s);
    if (s["state"] != "rolled_back") {
      ADD_FAILURE() << "no rollback within 60s of the fault; last status:\n" << s.dump(2);
      return s;
    }
    rolled_back_after_ = seconds_since(fault_at);
    std::cerr << "[ info ] rolled back " << rolled_back_after_ << "s after the fault was injected (" << backend_->name()
              << ")\n";
    EXPECT_EQ(s["latched"], true);
    const auto& d = s["last_decision"];
    EXPECT_EQ(d["kind"], "rollback") << d.dump(2);
    EXPECT_EQ(d["trigger"], "rule");
    EXPECT_EQ(d["rule"], rule) << d.dump(2);
    EXPECT_EQ(d["result"], "success") << d.dump(2);
    EXPECT_TRUE(d["value"].is_number() && d["value"].get<double>() > d["threshold"].get<double>()) << d.dump(2);

    // The router, read back through its own API (and, for HAProxy, real traffic through it).
    expect_router_rolled_back();

    // The backend, queried directly, sees the sidecar's counter.
    std::string last;
    EXPECT_TRUE(backend_sees("sum(rollback_sidecar_rollbacks_total{result=\"success\"})", "1", &last))
        << backend_->name() << " should see rollback_sidecar_rollbacks_total{result=\"success\"} == 1; last answer '"
        << last << "'";
    EXPECT_TRUE(backend_sees("rollback_sidecar_deployment_state{state=\"rolled_back\"}", "1", &last))
        << "last answer '" << last << "'";
    return s;
  }

  // A healthy canary: as long as the faulty cases take to roll back, and then some (the longest
  // rule, cpu-usage, for 10s + delay 3s, would have acted by the end of this window too), the
  // sidecar stays healthy, evaluates every rule on real data and never calls the router.
  void expect_healthy_canary_left_alone() {
    const auto window = 15s;
    nlohmann::json s;
    const bool left_healthy = rs::testing::wait_until(
        [&] {
          s = status();
          return s.is_object() && s["state"] != "healthy";
        },
        window, 250ms);
    EXPECT_FALSE(left_healthy) << "a healthy canary left state healthy:\n" << s.dump(2);

    s = status();
    EXPECT_EQ(s["state"], "healthy") << s.dump(2);
    EXPECT_TRUE(s["last_decision"].is_null()) << s["last_decision"].dump(2);
    for (const auto& r : s["rules"]) {
      EXPECT_EQ(r["state"], "ok") << r.dump(2);
      EXPECT_TRUE(r["value"].is_number()) << "every rule should be evaluated on real data: " << r.dump(2);
    }
    EXPECT_GE(s["evaluations"].get<int>(), 10) << "the sidecar should have kept evaluating every second";

    expect_router_untouched();

    const std::string metrics = sidecar_metrics();
    EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_rollbacks_total"), 0) << metrics;
    EXPECT_EQ(or_zero(metric_sum(metrics, "rollback_sidecar_actuator_calls_total")), 0) << metrics;
    std::string last;
    EXPECT_TRUE(backend_sees("up{job=\"rollback-sidecar\"}", "1", &last))
        << backend_->name() << " scrapes the sidecar; last answer '" << last << "'";
    EXPECT_TRUE(backend_sees("sum(rollback_sidecar_rollbacks_total)", "0", &last))
        << backend_->name() << " should see no rollback; last answer '" << last << "'";
  }

  // Declared so that traffic stops first and the workloads go last.
  rs::testing::TempDir dir_;
  std::unique_ptr<Workload> stable_, canary_;
  std::unique_ptr<rs::testing::HaproxyServer> haproxy_;
  std::unique_ptr<rs::testing::ScrapingServer> backend_;
  std::unique_ptr<rs::testing::Process> sidecar_;
  std::unique_ptr<rs::testing::Process> load_;
  int front_port_ = 0, admin_port_ = 0, sidecar_port_ = 0;
  std::string config_path_;
  std::vector<std::string> rule_names_;
  double rolled_back_after_ = -1;  // seconds from the fault to state rolled_back (expect_rolled_back_by)
};

}  // namespace rs::e2e
