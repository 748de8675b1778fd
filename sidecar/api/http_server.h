// A small HTTP server for the sidecar's endpoints, routed by method and path.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rs::sidecar {

struct HttpCall {
  std::string method;
  std::string path;
  std::string body;
  std::function<std::string(const std::string&)> header;  // "" when absent (case-insensitive)
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpReply json(int status, const nlohmann::json& body);
  static HttpReply text(int status, std::string body);
  // {"error": message} with the given status.
  static HttpReply error(int status, const std::string& message);
};

using HttpHandler = std::function<HttpReply(const HttpCall&)>;

// cpp-httplib rather than civetweb: routing, a thread pool and body limits out of the box;
// civetweb would need our own router on top of its C API.
//
// Contract: handle() registers routes before start(). start() binds `listen` ("host:port";
// port 0 picks a free one, see port()) and serves on background threads; it fails (false +
// error naming the address) when the address cannot be bound. Bodies over max_body_bytes get
// 413 before any handler runs; unknown paths 404 and known paths with another method 405, as
// JSON. `on_request(route, status)` sees every answered request (for metrics). Handlers must be
// thread-safe; an exception in one becomes a 500 with a JSON error. stop() is idempotent and
// returns once the server thread has ended.
class HttpServer {
 public:
  explicit HttpServer(std::size_t max_body_bytes = 1024 * 1024,
                      std::function<void(const std::string& route, int status)> on_request = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void handle(const std::string& method, const std::string& path, HttpHandler handler);
  bool start(const std::string& listen, std::string* error);
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::sidecar
