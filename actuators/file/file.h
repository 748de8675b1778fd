// The `file` actuator: renders a template into a file atomically, then runs an optional command.
// Covers routers that read a file: Traefik's file provider, Envoy's file-based config, a compose
// env file (ACTIVE_SLOT=blue) read by a switch script.
//
// Settings keys:
//   path          the file to write (required; its directory must exist)
//   content       the template (required): {{stable_weight}}, {{canary_weight}} (percent),
//                 {{active}} (stable_name, or canary_name when the canary has all the traffic),
//                 {{stable_name}}, {{canary_name}}, and the decision: {{deployment}}, {{stage}},
//                 {{strategy}}, {{trigger}}, {{rule}}, {{value}}, {{threshold}}, {{reason}},
//                 {{decision_json}}. An unknown variable is a config error.
//   stable_name   default "stable" (e.g. blue)
//   canary_name   default "canary" (e.g. green)
//   post_command  argv run after writing (optional), e.g. [docker, compose, up, -d, router]
//   timeout       for post_command, default 30s
//   mode          file permissions, octal text, default "0644"
//
// One change: flock on <path>.lock, render, and compare with the file: identical -> noop (so
// keep decision variables like {{reason}} out of `content` if several replicas share the file
// and should see each other's change as done). Otherwise write atomically (temp, fsync, rename:
// a reader sees the old or the new file, never a mix), run post_command, read back to verify.
// A failing post_command fails the change (retried) but leaves the new file in place: a router
// that watches the file may already use it, and putting traffic back on a bad version is worse.
// The retry runs post_command again even though the file is already written.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "common/process.h"

namespace rs::actuators {

struct FileOptions {
  std::string path;
  std::string content;
  std::string stable_name = "stable";
  std::string canary_name = "canary";
  std::vector<std::string> post_command;
  std::chrono::milliseconds timeout{30000};
  unsigned mode = 0644;
};

class FileActuator final : public Actuator {
 public:
  FileActuator(FileOptions options, std::shared_ptr<ProcessRunner> runner = posix_process_runner());
  std::string type() const override { return "file"; }
  std::string describe() const override { return "file " + options_.path; }
  ActResult rollback(const DecisionContext& context, std::chrono::steady_clock::time_point deadline) override;
  ActResult probe(std::chrono::steady_clock::time_point deadline) override;
  bool supports_weights() const override { return true; }
  ActResult set_canary_weight(int percent, const DecisionContext& context,
                              std::chrono::steady_clock::time_point deadline) override;

 private:
  ActResult apply(int canary_weight, const DecisionContext& context, std::chrono::steady_clock::time_point deadline);

  FileOptions options_;
  std::shared_ptr<ProcessRunner> runner_;
  bool post_command_owed_ = false;  // the last write's post_command failed
};

// The template variables for a canary share (exposed for tests and the config check).
std::map<std::string, std::string> file_variables(const FileOptions& options, const DecisionContext& context,
                                                  int canary_weight);

std::unique_ptr<Actuator> make_file_actuator(Settings& settings, const Environment& env,
                                             std::shared_ptr<ProcessRunner> runner = posix_process_runner());

}  // namespace rs::actuators
