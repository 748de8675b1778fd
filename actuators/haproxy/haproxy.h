// The `haproxy` actuator: moves all traffic of one HAProxy backend to its stable server through
// the runtime API (stats socket, "level admin").
//
// Settings keys:
//   address          host:port, [ipv6]:port or unix:/path of the stats socket (required)
//   backend          backend name (required)
//   canary           server name of the new version / new colour (required)
//   stable           server name of the stable version / old colour (required)
//   connect_timeout  per connection (default 1s)
//   read_timeout     per reply, from the command being sent to HAProxy closing (default 2s)
//
// What "rolled back" means (read with "show servers state <backend>", columns located by name):
//   stable: no maint/drain flag in srv_admin_state and srv_uweight > 0, for both strategies;
//   canary, strategy "canary":     srv_uweight == 0, or forced maintenance;
//   canary, strategy "blue-green": forced maintenance (srv_admin_state bit 0x01).
//   A server "disabled" in the configuration is 0x05 (config + forced maintenance); "state ready"
//   clears 0x01 and the server serves while HAProxy 2.6 still reports 0x04, so 0x04 alone is
//   not maintenance.
// To get there it sends, stable first so the backend never has zero usable servers:
//   "set server B/stable state ready"        if stable is in forced maint or drain;
//   "set weight B/stable <initial weight>"   if stable's weight is 0 (fails if the initial is 0);
//   "set weight B/canary 0"                  (canary)  or
//   "set server B/canary state maint"        (blue-green),
// then reads the state again; only a verified state is kChanged. Maintenance or drain inherited
// from a tracked server or caused by DNS cannot be changed here and fails verification.
//
// Failures name the address, backend and server and quote HAProxy's reply. Replies that retrying
// cannot fix (missing backend/server, permission denied, unknown command, a weight the LB
// algorithm refuses) are non-retryable; transport errors (refused, timeouts) are retryable.
//
// Concurrent callers (several sidecars, same HAProxy): the runtime API has no compare-and-set,
// so callers that all read "not rolled back" all send the same commands. Every command is
// idempotent (absolute weights and states), so the final state is the same whatever the
// interleaving, and each of those callers verifies it and reports kChanged. A caller whose first
// read already sees the rolled-back state reports kNoop. Deduplicating "who did it" is the
// coordinator's job, not the router's.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "actuators/actuator.h"
#include "actuators/haproxy/haproxy_runtime.h"

namespace rs::actuators {

struct HaproxyOptions {
  haproxy::Address address;
  std::string backend;
  std::string canary;
  std::string stable;
  std::string strategy = "canary";  // "canary" | "blue-green"
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds read_timeout{2000};
};

class HaproxyActuator final : public Actuator {
 public:
  explicit HaproxyActuator(HaproxyOptions options);

  std::string type() const override { return "haproxy"; }
  std::string describe() const override;
  ActResult rollback(const DecisionContext& context, std::chrono::steady_clock::time_point deadline) override;
  // Checks, changing nothing: the socket answers, its level is "admin" (needed for "set"),
  // the backend exists and has both servers. ok results are kNoop; detail shows the state.
  ActResult probe(std::chrono::steady_clock::time_point deadline) override;
  // canary: canary weight = percent, stable weight = 100 - percent (both servers ready; the one
  // whose weight grows is set first). blue-green: 100 = canary ready, stable maintenance;
  // 0 = rollback(); other values are refused (a blue/green switch is all or nothing).
  bool supports_weights() const override { return true; }
  ActResult set_canary_weight(int percent, const DecisionContext& context,
                              std::chrono::steady_clock::time_point deadline) override;

 private:
  // Sends `commands` in order; every reply must be empty (HAProxy's "done").
  ActResult send_all(const std::vector<std::pair<std::string, std::string>>& commands,
                     std::chrono::steady_clock::time_point deadline, std::string* done) const;
  struct Snapshot {
    haproxy::ServerState canary;
    haproxy::ServerState stable;
  };
  std::optional<Snapshot> read_state(std::chrono::steady_clock::time_point deadline, ActResult* failure) const;
  // Empty when all traffic goes to stable; otherwise why not ("canary weight is 50").
  std::string not_rolled_back(const Snapshot& s) const;
  std::string show(const Snapshot& s) const;
  std::string prefix() const;  // "haproxy <address> backend <backend>"
  // Non-empty when the options cannot be used (names that would split a command line, unknown
  // strategy); the factory reports these as config errors, this guards direct construction.
  std::string invalid() const;

  HaproxyOptions options_;
  haproxy::RuntimeClient client_;
};

// The "haproxy" factory. Config errors are recorded through `settings`; the actuator it then
// returns is built from fallbacks and must not be used (the loader rejects the config).
std::unique_ptr<Actuator> make_haproxy_actuator(Settings& settings, const Environment& env);

}  // namespace rs::actuators
