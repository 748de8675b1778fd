#include "sidecar/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace rs::sidecar {

struct HttpServer::Impl {
  HttpHandlers handlers;
  httplib::Server server;
  std::thread thread;
  int port = 0;
};

HttpServer::HttpServer(HttpHandlers handlers) : impl_(std::make_unique<Impl>()) {
  impl_->handlers = std::move(handlers);
  auto& s = impl_->server;
  auto& h = impl_->handlers;
  s.Get("/metrics", [&h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/healthz", [&h](const httplib::Request&, httplib::Response& res) {
    std::string why;
    if (h.alive(&why)) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("unhealthy: " + why + "\n", "text/plain");
    }
  });
  s.Get("/readyz", [&h](const httplib::Request&, httplib::Response& res) {
    if (h.ready()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready: no evaluation has completed yet\n", "text/plain");
    }
  });
  s.Get("/api/v1/status", [&h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h.status().dump(2) + "\n", "application/json");
  });
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("HTTP {} {}: {}", req.method, req.path, what);
    res.status = 500;
    res.set_content(nlohmann::json({{"error", what}}).dump() + "\n", "application/json");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    nlohmann::json body = {{"error", res.status == 404 ? "no such endpoint" : "request failed"},
                           {"status", res.status}, {"path", req.path}};
    res.set_content(body.dump() + "\n", "application/json");
  });
}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::start(const std::string& listen, std::string* error) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *error = "listen: '" + listen + "' is not host:port";
    return false;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    *error = "listen: '" + listen + "' has no valid port (0-65535)";
    return false;
  }
  bool bound = false;
  if (port == 0) {
    port = impl_->server.bind_to_any_port(host);
    bound = port > 0;
  } else {
    bound = impl_->server.bind_to_port(host, port);
  }
  if (!bound) {
    *error = "listen: cannot bind " + listen + " (address in use or not local?)";
    return false;
  }
  impl_->port = port;
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  return true;
}

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

int HttpServer::port() const { return impl_->port; }

}  // namespace rs::sidecar
