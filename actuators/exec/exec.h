// The `exec` actuator: runs a user's command to roll back (a script that calls a cloud API, a
// kubectl invocation, ...).
//
// Settings keys:
//   command           argv list, e.g. ["/usr/local/bin/rollback.sh", "--now"] (required). Never a
//                     shell string: a plain string is a config error (no shell is involved, so
//                     quoting would silently mean something else).
//   timeout           default 30s; the rollback deadline also applies, whichever comes first
//   env               map of extra environment variables (optional; ROLLBACK_* are reserved)
//   max_output_bytes  per stream (stdout, stderr), default 65536; the middle of longer output is
//                     replaced by a "[... N bytes truncated ...]" marker
//
// The command inherits the sidecar's environment plus `env` plus the decision:
//   ROLLBACK_DEPLOYMENT, ROLLBACK_STAGE, ROLLBACK_STRATEGY, ROLLBACK_TRIGGER, ROLLBACK_RULE,
//   ROLLBACK_VALUE, ROLLBACK_THRESHOLD, ROLLBACK_REASON (empty strings when not applicable).
//
// Results: exit 0 is kChanged. exec cannot read the router's state, so it can neither report
// kNoop nor verify; the command must be idempotent itself and should exit non-zero when its own
// check fails. A non-zero exit, death by a signal or a timeout is a retryable failure naming the
// command, the exit code or signal and the tail of stderr; on timeout the whole process group
// gets SIGTERM, then SIGKILL after a short grace. A command that cannot be started (not found,
// not executable) is a non-retryable failure. Output is logged with spdlog: info on success,
// error on failure. probe() only checks the program exists and is executable; it never runs it.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "common/process.h"

namespace rs::actuators {

struct ExecOptions {
  std::vector<std::string> command;
  std::chrono::milliseconds timeout{30000};
  std::map<std::string, std::string> env;
  std::size_t max_output_bytes = 64 * 1024;
  std::chrono::milliseconds kill_grace{500};  // SIGTERM -> SIGKILL (not a settings key)
};

class ExecActuator final : public Actuator {
 public:
  explicit ExecActuator(ExecOptions options, std::shared_ptr<ProcessRunner> runner = posix_process_runner());

  std::string type() const override { return "exec"; }
  std::string describe() const override;  // "exec /usr/local/bin/rollback.sh --now"
  ActResult rollback(const DecisionContext& context, std::chrono::steady_clock::time_point deadline) override;
  ActResult probe(std::chrono::steady_clock::time_point deadline) override;

 private:
  ExecOptions options_;
  std::shared_ptr<ProcessRunner> runner_;
};

// The ROLLBACK_* variables for a decision.
std::map<std::string, std::string> decision_environment(const DecisionContext& context);

// The "exec" factory. Config errors are recorded through `settings`; the actuator it then
// returns is built from fallbacks and must not be used (the loader rejects the config).
std::unique_ptr<Actuator> make_exec_actuator(Settings& settings, const Environment& env,
                                             std::shared_ptr<ProcessRunner> runner = posix_process_runner());

}  // namespace rs::actuators
