// The sidecar core in-process, wired like sidecar/cli.cpp's run_sidecar (config through the real
// loader and actuator registry, curl transport, system clock, self metrics, state store), minus
// the HTTP server and the scheduler: tests call evaluate_once() themselves.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/fakes/env.h"
#include "actuators/actuator.h"
#include "promql/client.h"
#include "common/http/http_transport.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/core/state_store.h"
#include "tests/e2e/e2e_support.h"

namespace rs::e2e {

// An actuator that records each rollback call and reports it as a verified change.
class RecordingActuator final : public actuators::Actuator {
 public:
  std::string type() const override { return "recording"; }
  std::string describe() const override { return "recording actuator"; }
  actuators::ActResult rollback(const actuators::DecisionContext& context,
                                std::chrono::steady_clock::time_point) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(context);
    return actuators::ActResult::changed("recorded");
  }
  actuators::ActResult probe(std::chrono::steady_clock::time_point) override {
    return actuators::ActResult::noop("recording");
  }
  std::vector<actuators::DecisionContext> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<actuators::DecisionContext> calls_;
};

struct SidecarCore {
  sidecar::LoadedConfig loaded;
  std::unique_ptr<sidecar::SelfMetrics> metrics;
  rs::SystemClock clock;
  std::unique_ptr<promql::Client> client;
  std::unique_ptr<sidecar::StateStore> store;
  std::unique_ptr<sidecar::Engine> engine;

  std::string exposition() const { return metrics->serialize(); }
  // Sum over the matching series; NaN when none exists.
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    return metric_sum(exposition(), name, labels);
  }
  nlohmann::json status() const { return engine->status(); }
  // The status entry of one rule (null when there is no such rule).
  nlohmann::json rule(const std::string& name) const {
    const nlohmann::json s = status();  // keep the document alive while searching it
    for (const auto& r : s["rules"])
      if (r["name"] == name) return r;
    return nullptr;
  }
};

// Builds the core from YAML. `actuator_override`, when set, replaces the configured actuators
// (the config still needs one to be valid). Reports a test failure and returns nullptr when
// the config is rejected or the state cannot be restored.
inline std::unique_ptr<SidecarCore> make_core(const std::string& yaml,
                                              actuators::Actuator* actuator_override = nullptr) {
  sidecar::LoadResult result = sidecar::load_config_text(yaml, "e2e.yml", actuators::Registry::builtin());
  if (!result.loaded) {
    std::string errors;
    for (const auto& e : result.errors) errors += e.to_string("e2e.yml") + "\n";
    ADD_FAILURE() << "config rejected:\n" << errors << yaml;
    return nullptr;
  }
  auto core = std::make_unique<SidecarCore>();
  core->loaded = std::move(*result.loaded);
  const sidecar::Config& config = core->loaded.config;
  std::vector<std::string> rules;
  for (const auto& r : config.rules) rules.push_back(r.name);
  core->metrics = std::make_unique<sidecar::SelfMetrics>("e2e", rules, sidecar::deployment_state_names());
  core->client = std::make_unique<promql::Client>(config.prometheus, rs::make_curl_transport());
  core->store = std::make_unique<sidecar::StateStore>(config.state_file);
  std::vector<actuators::Actuator*> acts;
  if (actuator_override) {
    acts.push_back(actuator_override);
  } else {
    for (auto& a : core->loaded.actuators) acts.push_back(a.get());
  }
  core->engine = std::make_unique<sidecar::Engine>(config, acts, *core->client, fakes::env_with_clock(core->clock),
                                                   *core->metrics, *core->store);
  std::string error;
  if (!core->engine->restore(&error)) {
    ADD_FAILURE() << "restore failed: " << error;
    return nullptr;
  }
  return core;
}

}  // namespace rs::e2e
