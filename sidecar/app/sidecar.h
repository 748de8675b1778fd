// The composition root: builds the whole sidecar (Prometheus client, engine, records,
// notifications, API, scheduler) from a loaded config and an environment. The CLI's `run`,
// the integration tests and the benchmarks all build it here, so they run the same wiring.
#pragma once

#include <memory>
#include <string>

#include "common/env/env.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {

// Contract: create() only builds (no thread, no socket, no file written) and fails only on a
// programming error. start() restores the state file, opens the audit log and the outbox and
// binds `listen`; it fails (false + error) when any of them cannot be done, and then nothing
// keeps running. run() evaluates on the schedule until stop(), which is safe from any thread
// (a signal thread) and idempotent, and interrupts env's clock; after run() returns,
// everything is stopped and the last records are written. `loaded` and `env` must outlive
// the Sidecar.
class Sidecar {
 public:
  static std::unique_ptr<Sidecar> create(LoadedConfig& loaded, Env& env);
  ~Sidecar();
  Sidecar(const Sidecar&) = delete;
  Sidecar& operator=(const Sidecar&) = delete;

  // serve_http false: `listen` is not bound (no API, no /metrics). The `gate` command builds
  // the sidecar this way so it never takes the port of a sidecar running beside it, yet gets
  // the same wiring (state file, audit log, incident reports, notifications) for its rollback.
  struct StartOptions {
    bool serve_http = true;
  };
  bool start(std::string* error) { return start(error, StartOptions{}); }
  bool start(std::string* error, const StartOptions& options);
  void run();
  // One evaluation now, on the calling thread, exactly as a scheduler tick (for a caller that
  // owns the schedule, as the gate does); never together with run().
  void evaluate_once();
  void stop();

  Engine& engine();
  SelfMetrics& metrics();
  int port() const;  // the bound port (listen with port 0 picks one), after start()

 private:
  struct Parts;
  explicit Sidecar(std::unique_ptr<Parts> parts);
  void finish();  // the teardown after run() (or a failed start): once, on the calling thread
  std::unique_ptr<Parts> parts_;
};

}  // namespace rs::sidecar
