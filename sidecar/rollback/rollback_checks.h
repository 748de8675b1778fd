// Checks around a rollback: the stable version's health before (and right after) the switch,
// and the post-rollback verification window.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "promql/client.h"
#include "common/http/http_transport.h"
#include "common/clock.h"
#include "sidecar/config/config.h"
#include "sidecar/policy/decision.h"

namespace rs::sidecar {

struct CheckResult {
  bool ok = false;
  std::string detail;  // what was checked and seen, or why it failed
};

// rollback.preflight: the stable version must answer its health URL with 2xx and/or the query
// condition must hold. Uses its own HTTP connections, so it may run on any thread.
class StableHealthCheck {
 public:
  StableHealthCheck(PreflightConfig config, promql::ClientOptions prometheus,
                    std::shared_ptr<rs::HttpTransport> transport);
  CheckResult run();
  bool checks_http() const { return !config_.http_url.empty(); }
  CheckResult run_http();  // only the URL (the after-switch check)

 private:
  CheckResult run_query();

  PreflightConfig config_;
  std::shared_ptr<rs::HttpTransport> transport_;
  promql::Client client_;
};

// rollback.verify, fed one observation per evaluation.
// Contract: verified once the condition held at every evaluation for `for` (one miss restarts
// the window); failed when `timeout` passes since start() without that. No data and query
// errors count as "not holding" (a rollback is not verified on missing evidence).
class RollbackVerification {
 public:
  using Verdict = Verification;  // kNone until start()
  explicit RollbackVerification(VerifyConfig config) : config_(std::move(config)) {}

  void start(WallTime now);
  Verdict observe(std::optional<double> value, const std::string& problem, WallTime now);
  Verdict verdict() const { return verdict_; }
  const std::string& detail() const { return detail_; }
  const VerifyConfig& config() const { return config_; }

 private:
  VerifyConfig config_;
  Verdict verdict_ = Verdict::kNone;
  WallTime started_;
  std::optional<WallTime> holding_since_;
  std::string detail_;
};

}  // namespace rs::sidecar
