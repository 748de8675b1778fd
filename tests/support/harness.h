// Test harness: temp dirs, free ports, real server processes (started in their own process
// group, stopped by PID), bounded readiness waits, and a tiny controllable exporter.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rs::testing {

using namespace std::chrono_literals;

// A fresh directory under $TMPDIR, removed recursively on destruction (kept when
// RS_KEEP_TEST_DIRS=1 for debugging).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
int free_port();

// A TCP connection to 127.0.0.1:port (blocking, close-on-exec), or -1 with errno set.
int connect_loopback(int port);

// A listening socket on 127.0.0.1 at a free port (close-on-exec; *port receives it), or -1.
int listen_loopback(int* port, int backlog = 8);

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);  // "" when missing

// A child process in its own process group, stdout+stderr appended to `log_path`.
class Process {
 public:
  // Throws std::runtime_error when fork/exec fails (exec failure is detected via a pipe).
  Process(std::vector<std::string> argv, const std::string& log_path, std::map<std::string, std::string> extra_env = {},
          const std::string& cwd = "");
  ~Process();  // stop()
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool alive();
  // SIGTERM to the group, wait up to `grace`, then SIGKILL. Returns the exit status
  // (as from waitpid) or -1 if it was already reaped.
  int stop(std::chrono::milliseconds grace = 5000ms);
  void kill9();  // SIGKILL now, reap
  // Waits up to `timeout` for the process to exit by itself; returns its wait status or -1.
  int wait_exit(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_path_; }
  std::string log() const { return read_file(log_path_); }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

struct HttpResult {
  long status = 0;  // 0: transport error
  std::string body;
  std::string error;
};
HttpResult http_request(const std::string& method, const std::string& url, const std::string& body = "",
                        const std::vector<std::string>& headers = {}, std::chrono::milliseconds timeout = 2000ms);
inline HttpResult http_get(const std::string& url) { return http_request("GET", url); }

// Polls `pred` every `poll` until true or `timeout`; returns whether it became true.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = 50ms);

// Waits until GET url answers 2xx. On timeout returns false and fills *why with the last error.
bool wait_http_ok(const std::string& url, std::chrono::milliseconds timeout, std::string* why = nullptr);

// Path of a server binary from Debian's packages, or "" (tests then fail with a clear message).
std::string find_binary(const std::string& name);

// A real metrics backend that scrapes targets itself and answers the Prometheus query API, on a
// free port in its own temp dir, scraping `targets` ("host:port") every `scrape_interval` under
// job `job` plus `extra_scrape_configs`. The subclasses say how to start each one.
class ScrapingServer {
 public:
  struct Options {
    std::vector<std::string> targets;
    std::string job = "test";
    std::string scrape_interval = "1s";
    std::string evaluation_interval = "1s";  // Prometheus only (its rules)
    std::string extra_scrape_configs;        // YAML appended under scrape_configs (indented 2 spaces)
    std::vector<std::string> rule_files;     // Prometheus only
    std::string extra_config;                // Prometheus only: YAML appended at top level (e.g. alerting:)
    // Prometheus only: OpenMetrics text (timestamps in seconds, ending in "# EOF") written into
    // the storage as blocks with `promtool tsdb create-blocks-from openmetrics` before start, so
    // range queries see this history. Retention counts back from the newest block, not from now.
    std::string openmetrics_history;
    std::string retention = "1h";         // Prometheus only: --storage.tsdb.retention.time
    std::vector<std::string> extra_args;  // Prometheus only: more flags, e.g. --web.max-connections=4096
  };
  ScrapingServer(Options options, std::string name);
  virtual ~ScrapingServer();
  ScrapingServer(const ScrapingServer&) = delete;
  ScrapingServer& operator=(const ScrapingServer&) = delete;
  virtual void start() = 0;  // bounded wait for readiness; throws with the log tail on failure
  void stop();
  bool running() const { return process_ != nullptr; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }  // for /proc readers (benchmarks)
  const std::string& name() const { return name_; }              // "Prometheus", "VictoriaMetrics"
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Instant query; returns the first sample's value as text or "" (for test polling).
  std::string query_value(const std::string& promql);
  // Waits until the target(s) of `job` have been scraped successfully.
  bool wait_scraped(std::chrono::milliseconds timeout);
  std::string log() const;

 protected:
  // "scrape_configs:\n..." for the targets and extra_scrape_configs.
  std::string scrape_configs_yaml() const;
  // Runs `argv` (logging to the server's log) and waits until GET url()+ready_path answers 2xx.
  void launch(const std::vector<std::string>& argv, const std::string& ready_path, std::chrono::milliseconds timeout);

  Options options_;
  TempDir dir_;

 private:
  std::string name_;
  int port_;
  std::unique_ptr<Process> process_;
};

// Debian's Prometheus (--web.enable-lifecycle, options.retention); rule_files are copied in and
// loaded; options.openmetrics_history is backfilled (promtool) before it starts.
class PrometheusServer : public ScrapingServer {
 public:
  explicit PrometheusServer(Options options) : ScrapingServer(std::move(options), "Prometheus") {}
  void start() override;
};

// Debian's VictoriaMetrics single node scraping with -promscrape.config (the same scrape
// configs), -search.latencyOffset=1s so that an instant query at "now" sees the last scrape,
// ready when /health answers. It has no rules: rule_files and extra_config are refused.
class VictoriaMetricsServer : public ScrapingServer {
 public:
  explicit VictoriaMetricsServer(Options options) : ScrapingServer(std::move(options), "VictoriaMetrics") {}
  void start() override;
};

// One server line of an HAProxy backend.
struct HaproxyBackendServer {
  std::string name;     // e.g. "stable", "canary"
  std::string address;  // host:port
  int weight = 100;
  bool disabled = false;  // in maintenance (a blue/green standby)
};
// The config the tests' HAProxy runs: frontend `fe` on 127.0.0.1:front_port to backend `app`
// (roundrobin) with `servers`, and the runtime API on a TCP stats socket at level admin.
std::string haproxy_config(int front_port, int admin_port, const std::vector<HaproxyBackendServer>& servers);

// A real HAProxy with the given config (`{{...}}`-free text), master-worker off, foreground.
class HaproxyServer {
 public:
  explicit HaproxyServer(std::string config_text);
  ~HaproxyServer();
  void start(const std::vector<int>& ports_to_wait_for);  // waits until each port accepts
  void stop();
  const TempDir& dir() const { return dir_; }
  // Sends one runtime API command over TCP to 127.0.0.1:admin_port; returns the reply.
  static std::string runtime_command(int admin_port, const std::string& command);
  std::string log() const;

 private:
  TempDir dir_;
  std::string config_;
  std::unique_ptr<Process> process_;
};

// An in-process HTTP server answering GET /metrics with text the test controls, plus
// arbitrary routes with canned status/body (for crafted Prometheus API replies).
class FakeHttpServer {
 public:
  FakeHttpServer();
  ~FakeHttpServer();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_metrics(const std::string& exposition_text);
  // Any method on `path` answers `status` with `body` after `delay`.
  void set_route(const std::string& path, int status, const std::string& body, std::chrono::milliseconds delay = 0ms,
                 const std::string& content_type = "application/json");
  // Requests seen so far (method, path, headers joined, body), for strict checks.
  struct Seen {
    std::string method, path, body;
    std::map<std::string, std::string> headers;
  };
  std::vector<Seen> seen();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace rs::testing
