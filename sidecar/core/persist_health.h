// Whether the files the sidecar writes (state, audit log, incident reports, notification outbox)
// are being written: one place that counts failures, logs them once and answers /readyz.
#pragma once

#include <array>
#include <mutex>
#include <string>

#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {

enum class PersistFile { kState, kAudit, kIncident, kOutbox };
constexpr std::size_t kPersistFileCount = 4;

// "state" | "audit" | "incident" | "outbox": the `file` label of persist_errors_total.
const char* persist_file_name(PersistFile file);

// Contract: every failed write is counted (rollback_sidecar_persist_errors_total{file}); it is
// logged at error when the file goes from working to failing (a full disk fails every tick; the
// log says it once) and at info when a write works again. failing() names every file whose last
// write failed, with the error, for /readyz. Thread-safe; cheap (no I/O besides the log line).
class PersistHealth {
 public:
  explicit PersistHealth(SelfMetrics& metrics) : metrics_(metrics) {}
  // `error` names the path and the reason (e.g. "state file /x: cannot write ...: No space left").
  void failed(PersistFile file, const std::string& error);
  void succeeded(PersistFile file);
  // "" when every last write worked; otherwise "state: <error>; audit: <error>".
  std::string failing() const;

 private:
  SelfMetrics& metrics_;
  mutable std::mutex mu_;
  std::array<std::string, kPersistFileCount> errors_;  // "" while the file is written fine
};

}  // namespace rs::sidecar
