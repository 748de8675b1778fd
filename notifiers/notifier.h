// The Notifier interface: tells people and systems that a rollback started, succeeded or failed.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/http_transport.h"
#include "common/plugin/plugin_registry.h"
#include "common/plugin/plugin_settings.h"

namespace rs::notifiers {

// One message about one decision, with its evidence. Plain data (built by the sidecar from a
// decision) so notifiers do not depend on the sidecar core, and serializable so an undelivered
// message survives a restart.
struct Notification {
  // "<deployment identity>/<decision id>/<decided at>/<message>": the same for every retry and
  // after a restart, so receivers can drop duplicates (delivery is at-least-once).
  std::string id;
  // RollbackStarted | RollbackSucceeded | RollbackFailed | RollbackUnverified (rolled back, but
  // rollback.verify failed) | RollbackDryRun (dry run: would roll back) | RuleNotify (a rule with
  // action: notify fired).
  std::string message;
  std::string deployment, stage, strategy;
  std::uint64_t decision_id = 0;
  std::string trigger;  // rule | alert | manual
  std::string rule;     // rule or alert name; "manual" for a person
  std::string severity;
  std::string query;       // as sent to Prometheus; empty for alerts and people
  std::string comparison;  // above | below
  std::string value;       // "0.31", "NaN"; empty when none
  std::string threshold;
  std::string reason;        // one line for humans
  std::string state;         // deployment state after the event: rolling_back, rolled_back, ...
  std::string result;        // success | noop | failure; empty while running
  std::string verification;  // "" | pending | verified | failed
  std::string started_at;    // RFC 3339: first breach (or the alert's start, or the decision)
  std::string decided_at;
  std::string completed_at;                                   // empty while running
  std::optional<double> duration_seconds;                     // decision -> router state verified
  std::vector<std::pair<std::string, std::string>> timeline;  // (RFC 3339 time, event), in order

  // "Rollback succeeded: checkout (prod): error-rate 0.31 above 0.05".
  std::string title() const;
  // Several lines: deployment, trigger, query, value against threshold, status, timeline.
  std::string text() const;

  nlohmann::json to_json() const;
  // Strict inverse of to_json; false with the bad field named in *error.
  static bool from_json(const nlohmann::json& j, Notification* out, std::string* error);
};

struct SendResult {
  bool ok = false;
  bool retryable = true;  // false when sending the same message again cannot help (HTTP 400)
  std::string detail;     // "HTTP 200", or the error; never contains a secret

  static SendResult success(std::string detail) { return {true, false, std::move(detail)}; }
  static SendResult failure(std::string detail, bool retryable) { return {false, retryable, std::move(detail)}; }
};

// Contract for implementations:
// - send() delivers one notification once, within `timeout`; retries and backoff are the
//   dispatcher's job. It never throws; every failure is a SendResult naming the receiver.
// - Secrets (tokens, webhook URLs read from files) never appear in describe() or in a detail.
// - send() is called from one thread at a time.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual std::string type() const = 0;
  virtual std::string describe() const = 0;  // e.g. "alertmanager http://am:9093"
  virtual SendResult send(const Notification& notification, std::chrono::milliseconds timeout) = 0;
  // For `check --online`: whether the receiver is reachable, without notifying anyone. Receivers
  // that could only be checked by posting a message answer success with "not probed".
  virtual SendResult probe(std::chrono::milliseconds timeout) {
    (void)timeout;
    return SendResult::success("not probed (any request would post a message)");
  }
};

// What a notifier factory may depend on besides its settings.
struct Environment {
  // Makes the HTTP transport a notifier sends through (tests may inject their own).
  std::function<std::unique_ptr<rs::HttpTransport>()> make_transport = rs::make_http_transport;
};

using Factory = common::PluginRegistry<Notifier, Environment>::Factory;

// Notifier factories by type name (see PluginRegistry for the contract).
class Registry : public common::PluginRegistry<Notifier, Environment> {
 public:
  Registry() : PluginRegistry("notifier") {}
  // alertmanager, slack, webhook.
  static const Registry& builtin();
};

// Shared by the HTTP notifiers: sends `request` (with Authorization: Bearer from
// `bearer_token_file` when set, re-read on every call so a rotated token needs no restart) and
// maps the answer by rs::CallPolicy (common/http/call_policy.h): 2xx is success; a transport
// error, 408, 429 and 5xx are retryable; any other status is not. `receiver` names the target in
// details; the token and `secret` (e.g. a webhook URL) are redacted from them.
SendResult send_http(rs::HttpTransport& transport, rs::HttpRequest request, const std::string& receiver,
                     const std::string& bearer_token_file = "", const std::string& secret = "");

}  // namespace rs::notifiers
