// The environment seam, as leveldb's Env: the one object through which the sidecar reaches
// time, HTTP and subprocesses. The composition root (sidecar/app/sidecar.h) is handed one;
// production passes system_env(), tests and benchmarks pass fakes (tests/fakes/) so they can
// drive the clock, script Prometheus and routers, and count what would have been run.
#pragma once

#include <functional>
#include <memory>

#include "common/clock.h"
#include "common/http/http_transport.h"
#include "common/process.h"

namespace rs {

struct Env {
  // Wall time for evidence and windows, monotonic time for deadlines, interruptible sleeps.
  Clock* clock = nullptr;
  // A new HTTP transport for each user (Prometheus client, preflight, webhooks, notifiers).
  std::function<std::unique_ptr<HttpTransport>()> make_http;
  // Runs commands (exec and file actuators, nginx -t / reload).
  std::shared_ptr<ProcessRunner> processes;
};

// The real environment: the system clocks, libcurl, posix_spawn. Each instance has its own
// clock, so interrupting it (a sidecar stopping) wakes only the sleeps of that sidecar.
class SystemEnv : public Env {
 public:
  SystemEnv();
  SystemEnv(const SystemEnv&) = delete;
  SystemEnv& operator=(const SystemEnv&) = delete;

 private:
  SystemClock system_clock_;
};

// A process-wide SystemEnv for plugins built without a composition root (config checks, tools).
Env& system_env();

}  // namespace rs
