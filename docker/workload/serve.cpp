// `demo-workload serve`: the demo HTTP service with Prometheus metrics and run-time fault
// injection (error ratio, latency, failing health check, memory growth, CPU burn).
//
// HTTP server: cpp-httplib (thread pool). Metrics: prometheus-cpp core Registry, rendered with
// TextSerializer on each scrape, plus process_* families read from /proc and getrusage.

#include <httplib.h>
#include <sys/socket.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "docker/workload/common.h"
#include "docker/workload/faults.h"
#include "docker/workload/modes.h"

namespace workload {

const char* const kServeUsage =
    R"(Usage: demo-workload serve --version NAME [options]

Runs the demo HTTP service: GET / answers "ok NAME", /health, /metrics (Prometheus text),
and an admin API that injects faults at run time (see README.md).

Options:
  --listen HOST:PORT          address to listen on (default 127.0.0.1:8080; ":8080" = all
                              interfaces; port 0 picks a free port and logs it)
  --version NAME              version label of this deployment, e.g. v1 or v2 (required)
  --memory-limit-bytes N      memory limit reported as workload_memory_limit_bytes and the cap of
                              the memory-growth fault; N or N with Ki/Mi/Gi (default 256Mi)
  --cpu-limit-cores X         CPU limit reported as workload_cpu_limit_cores (default 1.0)
  --base-latency-ms N         latency of every business request before injected latency (default 5)
  --threads N                 HTTP worker threads (default 64)
  -h, --help                  show this help

SIGTERM or SIGINT stops the service (exit 0).
)";

namespace {

constexpr const char* kComponent = "serve";

struct ServeOptions {
  HostPort listen{"127.0.0.1", 8080};
  std::string version;
  std::uint64_t memory_limit_bytes = 256ULL << 20;
  double cpu_limit_cores = 1.0;
  long long base_latency_ms = 5;
  long long threads = 64;
};

// Returns nullopt when --help was printed.
std::optional<ServeOptions> parse_serve_options(int argc, char** argv, int first) {
  ServeOptions o;
  bool have_version = false;
  ArgReader args(argc, argv, first);
  while (args.next()) {
    const std::string& f = args.flag();
    if (f == "--help") {
      args.no_value();
      std::cout << kServeUsage;
      return std::nullopt;
    } else if (f == "--listen") {
      o.listen = parse_host_port(f, args.value());
    } else if (f == "--version") {
      o.version = args.value();
      if (o.version.empty()) throw UsageError("--version must not be empty");
      have_version = true;
    } else if (f == "--memory-limit-bytes") {
      o.memory_limit_bytes = parse_bytes(f, args.value());
    } else if (f == "--cpu-limit-cores") {
      o.cpu_limit_cores = parse_number(f, args.value(), 0.001, 4096);
    } else if (f == "--base-latency-ms") {
      o.base_latency_ms = parse_integer(f, args.value(), 0, 60000);
    } else if (f == "--threads") {
      o.threads = parse_integer(f, args.value(), 1, 4096);
    } else {
      throw UsageError("unknown flag " + f + " for serve");
    }
  }
  if (!have_version) throw UsageError("serve needs --version NAME (the version label, e.g. v2)");
  return o;
}

// Wakes sleepers when the service stops, so in-flight delayed requests finish at once.
class Stopper {
 public:
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  void sleep_for(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, d, [&] { return stopped_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

// All run-time faults. Reads are lock-free; admin updates are serialized by admin_mutex.
struct Faults {
  explicit Faults(std::uint64_t memory_limit) : memory(memory_limit) {}
  std::atomic<double> error_ratio{0};
  std::atomic<long long> latency_ms{0};
  std::atomic<bool> health_fail{false};
  MemoryGrower memory;
  CpuBurner cpu;
  std::mutex admin_mutex;
};

const char* const kFaultNames[] = {"error_ratio", "latency", "health", "memory_growth", "cpu_burn"};

class Metrics {
 public:
  explicit Metrics(const ServeOptions& o)
      : registry_(std::make_shared<prometheus::Registry>()),
        version_(o.version),
        start_time_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()),
        requests_(prometheus::BuildCounter()
                      .Name("http_requests_total")
                      .Help("Business HTTP requests served, by status code, method and version.")
                      .Register(*registry_)),
        duration_(
            prometheus::BuildHistogram()
                .Name("http_request_duration_seconds")
                .Help("Latency of business HTTP requests in seconds, by version.")
                .Register(*registry_)
                .Add({{"version", o.version}}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                                                       0.25, 0.5, 1, 2, 2.5, 5, 10})),
        fault_active_(prometheus::BuildGauge()
                          .Name("workload_fault_active")
                          .Help("1 while the named injected fault is active, else 0.")
                          .Register(*registry_)),
        in_flight_(prometheus::BuildGauge()
                       .Name("http_requests_in_flight")
                       .Help("Business HTTP requests being served right now, by version.")
                       .Register(*registry_)
                       .Add({{"version", o.version}})),
        grown_(prometheus::BuildGauge()
                   .Name("workload_grown_memory_bytes")
                   .Help("Memory currently held by the memory-growth fault.")
                   .Register(*registry_)
                   .Add({})) {
    prometheus::BuildGauge()
        .Name("workload_memory_limit_bytes")
        .Help("Memory limit of this workload (from --memory-limit-bytes).")
        .Register(*registry_)
        .Add({})
        .Set(static_cast<double>(o.memory_limit_bytes));
    prometheus::BuildGauge()
        .Name("workload_cpu_limit_cores")
        .Help("CPU limit of this workload in cores (from --cpu-limit-cores).")
        .Register(*registry_)
        .Add({})
        .Set(o.cpu_limit_cores);
    prometheus::BuildGauge()
        .Name("workload_build_info")
        .Help("Always 1; the version label names the running deployment.")
        .Register(*registry_)
        .Add({{"version", o.version}})
        .Set(1);
    for (const char* name : kFaultNames) fault_gauges_.emplace(name, &fault_active_.Add({{"fault", name}}));
    // Create the common series up front so rate() queries see them from the first scrape.
    counter("GET", 200);
    counter("GET", 500);
  }

  prometheus::Gauge& in_flight() { return in_flight_; }

  void observe(const std::string& method, int code, double seconds) {
    counter(method, code).Increment();
    duration_.Observe(seconds);
  }

  std::string render(Faults& faults) {
    auto set = [&](const char* name, bool on) { fault_gauges_.at(name)->Set(on ? 1 : 0); };
    set("error_ratio", faults.error_ratio.load() > 0);
    set("latency", faults.latency_ms.load() > 0);
    set("health", faults.health_fail.load());
    set("memory_growth", faults.memory.rate() > 0 || faults.memory.grown_bytes() > 0);
    set("cpu_burn", faults.cpu.fraction() > 0);
    grown_.Set(static_cast<double>(faults.memory.grown_bytes()));

    auto families = registry_->Collect();
    families.push_back(single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                              prometheus::MetricType::Counter, process_cpu_seconds()));
    families.push_back(single("process_resident_memory_bytes", "Resident memory size in bytes.",
                              prometheus::MetricType::Gauge, static_cast<double>(process_resident_bytes())));
    families.push_back(single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              prometheus::MetricType::Gauge, static_cast<double>(process_virtual_bytes())));
    families.push_back(single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                              prometheus::MetricType::Gauge, start_time_));
    return prometheus::TextSerializer().Serialize(families);
  }

 private:
  prometheus::Counter& counter(const std::string& method, int code) {
    return requests_.Add({{"code", std::to_string(code)}, {"method", method}, {"version", version_}});
  }

  static prometheus::MetricFamily single(const std::string& name, const std::string& help, prometheus::MetricType type,
                                         double value) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = type;
    prometheus::ClientMetric metric;
    if (type == prometheus::MetricType::Counter)
      metric.counter.value = value;
    else
      metric.gauge.value = value;
    family.metric.push_back(metric);
    return family;
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::string version_;
  double start_time_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& duration_;
  prometheus::Family<prometheus::Gauge>& fault_active_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& grown_;
  std::map<std::string, prometheus::Gauge*> fault_gauges_;
};

double random_unit() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ std::hash<std::thread::id>{}(std::this_thread::get_id())};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string faults_json(Faults& f, const ServeOptions& o) {
  std::ostringstream j;
  j << "{\"version\":" << json_string(o.version) << ",\"error_ratio\":" << format_number(f.error_ratio.load())
    << ",\"latency_ms\":" << f.latency_ms.load() << ",\"health\":\"" << (f.health_fail.load() ? "fail" : "ok")
    << "\",\"memory_growth_mb_per_s\":" << format_number(f.memory.rate())
    << ",\"cpu_burn\":" << format_number(f.cpu.fraction()) << ",\"grown_memory_bytes\":" << f.memory.grown_bytes()
    << ",\"memory_limit_bytes\":" << o.memory_limit_bytes << "}\n";
  return j.str();
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct BadRequest {
  std::string message;
};

// Query parameters plus an application/x-www-form-urlencoded body, as one map.
std::map<std::string, std::string> admin_params(const httplib::Request& req, const std::string& body) {
  std::map<std::string, std::string> params;
  auto add = [&](const std::string& k, const std::string& v) {
    auto [it, inserted] = params.emplace(k, v);
    if (!inserted && it->second != v)
      throw BadRequest{"parameter " + k + " given twice with different values ('" + it->second + "' and '" + v + "')"};
  };
  for (const auto& [k, v] : req.params) add(k, v);
  std::string type = req.get_header_value("Content-Type");
  bool form = type.empty() || type.rfind("application/x-www-form-urlencoded", 0) == 0;
  if (!body.empty()) {
    if (!form) throw BadRequest{"unsupported Content-Type '" + type + "' (send form or query parameters)"};
    std::istringstream in(body);
    std::string pair;
    while (std::getline(in, pair, '&')) {
      while (!pair.empty() && (pair.back() == '\n' || pair.back() == '\r')) pair.pop_back();
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      if (eq == std::string::npos)
        throw BadRequest{"parameter " + url_decode(pair) + " has no value (want name=value)"};
      add(url_decode(pair.substr(0, eq)), url_decode(pair.substr(eq + 1)));
    }
  }
  return params;
}

struct FaultUpdate {
  std::optional<double> error_ratio;
  std::optional<long long> latency_ms;
  std::optional<bool> health_fail;
  std::optional<double> memory_growth;
  std::optional<double> cpu_burn;
};

FaultUpdate parse_fault_update(const std::map<std::string, std::string>& params) {
  if (params.empty())
    throw BadRequest{
        "no fault parameters given; use error_ratio, latency_ms, health, memory_growth_mb_per_s, cpu_burn"};
  FaultUpdate u;
  for (const auto& [name, value] : params) {
    try {
      if (name == "error_ratio") {
        u.error_ratio = parse_number(name, value, 0, 1);
      } else if (name == "latency_ms") {
        u.latency_ms = parse_integer(name, value, 0, 600000);
      } else if (name == "health") {
        if (value == "fail")
          u.health_fail = true;
        else if (value == "ok")
          u.health_fail = false;
        else
          throw BadRequest{"bad value for health: '" + value + "' (want fail or ok)"};
      } else if (name == "memory_growth_mb_per_s") {
        u.memory_growth = parse_number(name, value, 0, 1024);
      } else if (name == "cpu_burn") {
        u.cpu_burn = parse_number(name, value, 0, 1);
      } else {
        throw BadRequest{"unknown parameter '" + name +
                         "' (known: error_ratio, latency_ms, health, memory_growth_mb_per_s, cpu_burn)"};
      }
    } catch (const UsageError& e) {
      throw BadRequest{e.what()};
    }
  }
  return u;
}

std::string describe(const FaultUpdate& u) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (u.error_ratio) add("error_ratio=" + format_number(*u.error_ratio));
  if (u.latency_ms) add("latency_ms=" + std::to_string(*u.latency_ms));
  if (u.health_fail) add(std::string("health=") + (*u.health_fail ? "fail" : "ok"));
  if (u.memory_growth) add("memory_growth_mb_per_s=" + format_number(*u.memory_growth));
  if (u.cpu_burn) add("cpu_burn=" + format_number(*u.cpu_burn));
  return s;
}

bool reserved_path(const std::string& path) {
  return path == "/health" || path == "/metrics" || path == "/admin" || path.rfind("/admin/", 0) == 0;
}

void text(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "text/plain; charset=utf-8");
}

// POST handlers read the body themselves: httplib 0.11 would otherwise wait for EOF (read timeout)
// on a POST without Content-Length, e.g. `curl -X POST .../admin/reset`. Per RFC 9112 such a
// request has an empty body.
using PostHandler = std::function<void(const httplib::Request&, const std::string& body, httplib::Response&)>;
httplib::Server::HandlerWithContentReader with_body(PostHandler handler) {
  return [handler](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    std::string body;
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      bool ok = reader([&](const char* data, size_t len) {
        body.append(data, len);
        return true;
      });
      if (!ok) {
        text(res, 400, "could not read the request body\n");
        return;
      }
    }
    handler(req, body, res);
  };
}

}  // namespace

int run_serve(int argc, char** argv, int first) {
  auto parsed = parse_serve_options(argc, argv, first);
  if (!parsed) return 0;
  const ServeOptions o = *parsed;

  block_stop_signals();  // before any thread exists
  Stopper stopper;
  Faults faults(o.memory_limit_bytes);
  Metrics metrics(o);

  httplib::Server svr;
  const auto threads = static_cast<size_t>(o.threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_keep_alive_timeout(1);  // idle keep-alive connections must not delay shutdown
  svr.set_keep_alive_max_count(1000);
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  svr.set_payload_max_length(1 << 20);
  // httplib's default sets SO_REUSEPORT, which lets a second instance bind the same port and
  // silently take half the traffic. SO_REUSEADDR alone still allows a quick restart.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    if (faults.health_fail.load())
      text(res, 503, "unhealthy (injected fault)\n");
    else
      text(res, 200, "healthy\n");
  });
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(metrics.render(faults), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/admin/fault", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(faults_json(faults, o), "application/json");
  });
  svr.Post("/admin/fault", with_body([&](const httplib::Request& req, const std::string& body, httplib::Response& res) {
             FaultUpdate u;
             try {
               u = parse_fault_update(admin_params(req, body));
             } catch (const BadRequest& e) {
               log_line(kComponent, "rejected POST /admin/fault: " + e.message);
               text(res, 400, e.message + "\n");
               return;
             }
             {
               std::lock_guard<std::mutex> lock(faults.admin_mutex);
               if (u.error_ratio) faults.error_ratio = *u.error_ratio;
               if (u.latency_ms) faults.latency_ms = *u.latency_ms;
               if (u.health_fail) faults.health_fail = *u.health_fail;
               if (u.memory_growth) faults.memory.set_rate(*u.memory_growth);
               if (u.cpu_burn) faults.cpu.set_fraction(*u.cpu_burn);
             }
             log_line(kComponent, "fault set: " + describe(u));
             res.status = 200;
             res.set_content(faults_json(faults, o), "application/json");
           }));
  svr.Post("/admin/reset", with_body([&](const httplib::Request&, const std::string&, httplib::Response& res) {
             {
               std::lock_guard<std::mutex> lock(faults.admin_mutex);
               faults.error_ratio = 0;
               faults.latency_ms = 0;
               faults.health_fail = false;
               faults.memory.reset();
               faults.cpu.set_fraction(0);
             }
             log_line(kComponent, "faults reset");
             res.status = 200;
             res.set_content(faults_json(faults, o), "application/json");
           }));

  // Everything else is the business endpoint; reserved paths reached with another method or
  // unknown admin paths get 405/404.
  auto business = [&](const httplib::Request& req, httplib::Response& res) {
    if (reserved_path(req.path)) {
      if (req.path == "/health" || req.path == "/metrics" || req.path == "/admin/fault" || req.path == "/admin/reset") {
        text(res, 405, "method " + req.method + " not allowed on " + req.path + "\n");
      } else {
        text(res, 404, "no admin endpoint " + req.path + " (GET|POST /admin/fault, POST /admin/reset)\n");
      }
      return;
    }
    auto start = std::chrono::steady_clock::now();
    metrics.in_flight().Increment();
    auto delay = std::chrono::milliseconds(o.base_latency_ms + faults.latency_ms.load());
    if (delay.count() > 0) stopper.sleep_for(delay);
    bool fail = random_unit() < faults.error_ratio.load();
    if (fail)
      text(res, 500, "injected error " + o.version + "\n");
    else
      text(res, 200, "ok " + o.version + "\n");
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.observe(req.method, res.status, seconds);
    metrics.in_flight().Decrement();
  };
  svr.Get(".*", business);
  svr.Post(".*", with_body([&](const httplib::Request& req, const std::string&, httplib::Response& res) {
             business(req, res);
           }));

  const std::string where = o.listen.host + ":" + std::to_string(o.listen.port);
  int port = o.listen.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.listen.host);
    if (port <= 0) {
      log_line(kComponent, "error: cannot listen on " + where);
      return 1;
    }
  } else if (!svr.bind_to_port(o.listen.host, port)) {
    log_line(kComponent, "error: cannot listen on " + where + " (address in use or not available)");
    return 1;
  }
  log_line(kComponent, "listening on " + o.listen.host + ":" + std::to_string(port) + " version=" + o.version +
                           " memory_limit_bytes=" + std::to_string(o.memory_limit_bytes) + " cpu_limit_cores=" +
                           format_number(o.cpu_limit_cores) + " base_latency_ms=" + std::to_string(o.base_latency_ms));

  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::thread server_thread([&] {
    bool ok = svr.listen_after_bind();
    if (!ok) log_line(kComponent, "error: HTTP server stopped unexpectedly");
    std::lock_guard<std::mutex> lock(done_mutex);
    done = true;
    done_cv.notify_all();
  });

  int sig = 0;
  while (sig == 0) {
    sig = wait_stop_signal(std::chrono::milliseconds(200));
    std::lock_guard<std::mutex> lock(done_mutex);
    if (sig == 0 && done) {
      server_thread.join();
      return 1;
    }
  }
  log_line(kComponent, std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
  stopper.stop();  // wakes delayed requests so they finish now

  // stop() only acts once listen has started; repeat it until the server thread is done.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  bool finished = false;
  {
    std::unique_lock<std::mutex> lock(done_mutex);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      svr.stop();
      lock.lock();
      done_cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; });
    }
    finished = done;
  }
  if (!finished) {
    // An idle keep-alive connection can hold a worker for up to a second; nothing is lost by
    // not waiting for it (the service keeps no state), so exit now to stop promptly.
    log_line(kComponent, "stopped (not waiting for idle connections)");
    std::cout.flush();
    std::_Exit(0);
  }
  server_thread.join();
  log_line(kComponent, "stopped");
  return 0;
}

}  // namespace workload
