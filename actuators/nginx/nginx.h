// The `nginx` actuator: the sidecar owns one upstream include file, rewrites it with the new
// weights, tests the configuration and reloads nginx.
//
// Settings keys:
//   upstream_file   path of the include file the sidecar owns (required; nginx.conf includes it
//                   inside `http {}`; the directory must exist)
//   upstream        the upstream block's name (required), e.g. checkout
//   stable, canary  server address (host:port), a string or a list (required)
//   test_command    argv, default [nginx, -t]
//   reload_command  argv, default [nginx, -s, reload]
//   timeout         per command, default 10s
//
// Rendering for a canary share of W percent:
//   strategy canary:     W = 0 -> canary servers `down`; W = 100 -> stable servers `down`;
//                        otherwise both, weights in the ratio (100-W) : W per side (exact for
//                        any number of servers per side; nginx weights are >= 1).
//   strategy blue-green: W = 0 -> only the stable servers; W = 100 -> only the canary servers.
// The first line records the share ("# rollback-sidecar nginx actuator: canary_weight=W").
//
// One change: take an flock on <upstream_file>.lock (replicas on one host take turns), read the
// file; if it is byte-identical to the target rendering -> noop. Otherwise write it atomically
// (temp file, fsync, rename), run test_command; if that fails, put the previous bytes back (or
// remove the file if there was none) and fail with nginx's own message (not retried: the same
// config fails the same way). Then reload_command; if that fails, restore the previous file
// too (disk matches what nginx still runs) and fail (retried). Verify: the file reads back
// byte-identical. nginx applies a reload gracefully: old workers finish their requests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "common/process.h"

namespace rs::actuators {

struct NginxOptions {
  std::string upstream_file;
  std::string upstream;
  std::vector<std::string> stable;
  std::vector<std::string> canary;
  std::vector<std::string> test_command{"nginx", "-t"};
  std::vector<std::string> reload_command{"nginx", "-s", "reload"};
  std::chrono::milliseconds timeout{10000};
  std::string strategy = "canary";
};

// The upstream file's text for a canary share of `canary_weight` percent.
std::string render_nginx_upstream(const NginxOptions& options, int canary_weight);

class NginxActuator final : public Actuator {
 public:
  NginxActuator(NginxOptions options, std::shared_ptr<ProcessRunner> runner = posix_process_runner());
  std::string type() const override { return "nginx"; }
  std::string describe() const override;  // "nginx upstream checkout in /etc/nginx/conf.d/checkout-upstream.conf"
  ActResult rollback(const DecisionContext& context, std::chrono::steady_clock::time_point deadline) override;
  ActResult probe(std::chrono::steady_clock::time_point deadline) override;
  bool supports_weights() const override { return true; }
  ActResult set_canary_weight(int percent, const DecisionContext& context,
                              std::chrono::steady_clock::time_point deadline) override;

 private:
  ActResult apply(int canary_weight, std::chrono::steady_clock::time_point deadline);
  ProcessResult run(const std::vector<std::string>& argv, std::chrono::steady_clock::time_point deadline);

  NginxOptions options_;
  std::shared_ptr<ProcessRunner> runner_;
};

std::unique_ptr<Actuator> make_nginx_actuator(Settings& settings, const Environment& env,
                                              std::shared_ptr<ProcessRunner> runner = posix_process_runner());

}  // namespace rs::actuators
