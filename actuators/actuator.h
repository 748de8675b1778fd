// The Actuator interface: moves a router's traffic back to the stable version.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/env/env.h"
#include "common/plugin/plugin_registry.h"
#include "common/plugin/plugin_settings.h"

namespace rs::actuators {

// Why the rollback happens; handed to every actuator (exec puts it in the environment).
struct DecisionContext {
  std::string deployment;
  std::string stage;
  std::string strategy;   // "canary" | "blue-green"
  std::string trigger;    // "rule" | "alert" | "manual"
  std::string rule;       // rule or alert name; empty for manual
  std::string value;      // observed value as text ("0.31", "NaN"); empty if none
  std::string threshold;  // threshold as text; empty if none
  std::string reason;     // one human-readable line
};

enum class Change {
  kChanged,  // the router was moved and verified
  kNoop,     // the router already sent all traffic to stable; nothing was done
};

struct ActResult {
  bool ok = false;
  Change change = Change::kNoop;  // meaningful when ok
  std::string detail;             // what was read/done/verified, or the error (names the object)
  // False when retrying cannot help (e.g. "No such server."); the executor stops retrying.
  bool retryable = true;

  static ActResult changed(std::string detail) { return {true, Change::kChanged, std::move(detail), true}; }
  static ActResult noop(std::string detail) { return {true, Change::kNoop, std::move(detail), true}; }
  static ActResult failure(std::string detail, bool retryable = true) {
    return {false, Change::kNoop, std::move(detail), retryable};
  }
};

// Contract for implementations:
// - rollback() reads the router's current state first and returns noop when all traffic
//   already goes to stable; otherwise it changes the router and reads it back to verify.
//   Only a verified change is kChanged. It must finish before `deadline`.
// - It is idempotent and safe when several sidecars call it on the same router at once.
// - It never throws; every failure is an ActResult naming the router object and the reason.
// - probe() checks the router is reachable and the configured objects exist, changing nothing.
class Actuator {
 public:
  virtual ~Actuator() = default;
  virtual std::string type() const = 0;
  virtual std::string describe() const = 0;  // e.g. "haproxy 127.0.0.1:9999 backend app"
  virtual ActResult rollback(const DecisionContext& context, std::chrono::steady_clock::time_point deadline) = 0;
  virtual ActResult probe(std::chrono::steady_clock::time_point deadline) = 0;

  // Progressive promotion: route `percent` (0-100) of the traffic to the canary and the rest to
  // stable (blue-green: 100 switches to the new colour, 0 is the rollback state), then verify.
  // Same rules as rollback(): read first (kNoop when already there), idempotent, verified, never
  // throws. Actuators that cannot shift traffic answer supports_weights() false and this fails.
  virtual bool supports_weights() const { return false; }
  virtual ActResult set_canary_weight(int percent, const DecisionContext& context,
                                      std::chrono::steady_clock::time_point deadline) {
    return ActResult::failure(describe() + " cannot shift traffic to a canary by weight", false);
  }
};

// One `actuators[]` entry of the config, as seen by an actuator factory (see PluginSettings).
using Settings = common::PluginSettings;

// What every actuator may depend on besides its own settings.
struct Environment {
  std::string strategy;  // deployment.strategy: "canary" | "blue-green"
  // Clock, HTTP and processes (common/env/env.h): the real ones unless the composition root
  // (or a test) hands in others.
  const Env* env = &system_env();
};

// Builds one actuator from its settings. Config errors are recorded through `settings` (the
// loader then rejects the config); the built-in factories still return an actuator then, built
// from fallbacks, which must not be used.
using Factory = common::PluginRegistry<Actuator, Environment>::Factory;

// Actuator factories by type name (see PluginRegistry for the contract).
class Registry : public common::PluginRegistry<Actuator, Environment> {
 public:
  Registry() : PluginRegistry("actuator") {}

  // Declares that actuators of `type` can shift traffic by weight (supports_weights() true), so
  // config errors can name them (promotion needs them). `condition` says when it depends on the
  // entry's keys, e.g. "with canary". Declaring a type that is not registered throws
  // std::logic_error (a programming error, at startup).
  void declare_weights(const std::string& type, const std::string& condition = "") {
    if (!contains(type)) throw std::logic_error("actuator registry: declare_weights for unknown type \"" + type + "\"");
    weights_[type] = condition;
  }
  bool declares_weights(const std::string& type) const { return weights_.count(type) != 0; }
  // The declared types, sorted, each with its condition: "aws-lambda-alias (with canary)".
  std::vector<std::string> weight_types() const {
    std::vector<std::string> out;
    for (const auto& [type, condition] : weights_)
      out.push_back(condition.empty() ? type : type + " (" + condition + ")");
    return out;
  }
  // The registry with every built-in actuator (haproxy, nginx, file, webhook, exec, aws-*).
  static const Registry& builtin();

 private:
  std::map<std::string, std::string> weights_;  // type -> condition
};

}  // namespace rs::actuators
