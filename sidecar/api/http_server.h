// A small HTTP/1.1 server for the sidecar's endpoints, routed by method and path.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rs::sidecar {

class TlsContext;

struct HttpCall {
  std::string method;
  std::string path;  // percent-decoded, without the query string
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

// What one client may cost the server. The defaults suit a sidecar (a scraper, probes, the odd
// API call); tests shorten the timeouts.
struct HttpLimits {
  std::size_t max_body_bytes = 1024 * 1024;  // larger bodies: 413 before any handler runs
  std::size_t max_head_bytes = 16 * 1024;    // request line + headers; larger: 431
  // Total time (not per recv) for a request head, counted from accept or from the first byte
  // on a kept-alive connection; then for the body; then for writing the reply.
  std::chrono::milliseconds head_timeout{5000};
  std::chrono::milliseconds body_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};  // kept-alive connection waiting for its next request
  // Open connections. At the cap a new connection closes the one that has waited longest
  // without a request in a handler, so probes and scrapes always get in.
  std::size_t max_connections = 256;
  // Bytes of request bodies being read at once over all connections; beyond: 503.
  std::size_t max_buffered_body_bytes = 16 * 1024 * 1024;
  int workers = 4;  // threads running handlers
};

// Counters since start(), for tests and diagnostics.
struct HttpServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t timed_out = 0;               // cut by a head/body/write/idle deadline
  std::uint64_t evicted = 0;                 // closed to make room for a new connection at max_connections
  std::uint64_t rejected = 0;                // new connection closed at once: every open one was in a handler
  std::uint64_t tls_handshake_failures = 0;  // failed or timed out after the client sent a byte
};

// Our own server rather than cpp-httplib or civetweb: both give each connection a thread for its
// whole life and only a per-recv timeout, so a handful of clients dripping a byte every few
// seconds ("slowloris") starves the probes, the scrape and the webhook. Here one thread polls
// every socket with a total deadline per request, and handlers only see complete requests.
//
// Contract: handle() registers routes before start(). start() binds `listen` ("host:port",
// "[v6]:port"; port 0 picks a free one, see port()) without SO_REUSEPORT and serves on background
// threads; it fails (false + error naming the address) when the address cannot be bound, e.g.
// because another process listens there. Bodies over max_body_bytes get 413 before any handler
// runs; unknown paths 404 and known paths with another method 405 (+ Allow), as JSON; every 4xx
// body says what is wrong. HEAD works on GET routes. `on_request(route, status)` sees every
// answered request (route is the registered path, or "other"), on a server thread. Handlers must
// be thread-safe; an exception in one becomes a 500 with a JSON error. HTTP/1.1 connections are
// kept alive unless the client sends `Connection: close`; HTTP/1.0 connections close after one
// reply. stop() is idempotent, returns once every server thread has ended and closes every socket.
//
// TLS (use_tls() before start()): every connection starts with a non-blocking handshake driven
// by the same loop, and the handshake counts against the head deadline (from accept), so a
// client that never finishes its ClientHello costs what a silent plain client costs. start()
// fails when the first context cannot be built. Each new connection takes the context as it is
// then (TlsContext::current(): certificate files re-checked at most once a second). A failed
// handshake (bad or missing client certificate, refused protocol version, plain HTTP) closes
// the connection and calls `on_handshake_error`; a client that closes before sending a byte
// (a TCP probe) is not a failure.
class HttpServer {
 public:
  explicit HttpServer(std::size_t max_body_bytes = 1024 * 1024,
                      std::function<void(const std::string& route, int status)> on_request = nullptr);
  explicit HttpServer(const HttpLimits& limits,
                      std::function<void(const std::string& route, int status)> on_request = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void handle(const std::string& method, const std::string& path, HttpHandler handler);
  void use_tls(std::shared_ptr<TlsContext> tls, std::function<void()> on_handshake_error = nullptr);
  bool start(const std::string& listen, std::string* error);
  void stop();
  int port() const;
  HttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rs::sidecar
