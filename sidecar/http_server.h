// The sidecar's HTTP endpoints: /metrics, /healthz, /readyz, /api/v1/status.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace rs::sidecar {

struct HttpHandlers {
  std::function<std::string()> metrics;     // Prometheus text format
  std::function<bool(std::string*)> alive;  // false + why when the evaluation loop is stuck
  std::function<bool()> ready;              // true after the first complete evaluation
  std::function<nlohmann::json()> status;
};

// cpp-httplib rather than civetweb: one header-style API with routing and a thread pool, and
// /api/v1/* grows more endpoints; civetweb would need our own router on top of its C API.
//
// Contract: start() binds `listen` ("host:port"; port 0 picks a free one, see port()) and
// serves on background threads; it fails (false + error naming the address) when the address
// cannot be bound. stop() is idempotent and returns once the server thread has ended.
// Handlers must be thread-safe; an exception in one becomes a 500 with a JSON error.
class HttpServer {
 public:
  explicit HttpServer(HttpHandlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  bool start(const std::string& listen, std::string* error);
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::sidecar
