#include "sidecar/api/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <thread>

namespace rs::sidecar {

HttpReply HttpReply::json(int status, const nlohmann::json& body) {
  HttpReply r;
  r.status = status;
  r.body = body.dump(2) + "\n";
  return r;
}

HttpReply HttpReply::text(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpReply HttpReply::error(int status, const std::string& message) {
  return json(status, {{"error", message}});
}

struct HttpServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::function<void(const std::string&, int)> on_request;
  std::map<std::string, std::set<std::string>> methods_by_path;  // for 405 vs 404

  void send(const std::string& route, const HttpReply& reply, httplib::Response& res) {
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    res.set_content(reply.body, reply.content_type);
    if (on_request) on_request(route, reply.status);
  }
};

HttpServer::HttpServer(std::size_t max_body_bytes, std::function<void(const std::string&, int)> on_request)
    : impl_(std::make_unique<Impl>()) {
  impl_->on_request = std::move(on_request);
  auto& s = impl_->server;
  s.set_payload_max_length(max_body_bytes);
  // A sidecar serves a scraper, probes and the odd API call: a few threads are plenty.
  s.new_task_queue = [] { return new httplib::ThreadPool(4); };
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("HTTP {} {}: {}", req.method, req.path, what);
    impl_->send(req.path, HttpReply::error(500, "internal error: " + what), res);
  });
  // Replies httplib produces itself (unknown path, 413, bad request) still get a JSON body.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    int status = res.status;
    auto known = impl_->methods_by_path.find(req.path);
    if (status == 404 && known != impl_->methods_by_path.end()) {
      status = 405;
      std::string allowed;
      for (const auto& m : known->second) allowed += (allowed.empty() ? "" : ", ") + m;
      res.set_header("Allow", allowed);
      message = req.method + " is not allowed on " + req.path + " (allowed: " + allowed + ")";
    } else if (status == 404) {
      message = "no such endpoint: " + req.path;
    } else if (status == 413) {
      message = "request body too large";
    } else {
      message = "bad request";
    }
    HttpReply reply = HttpReply::error(status, message);
    reply.headers.clear();
    impl_->send(known != impl_->methods_by_path.end() ? req.path : "other", reply, res);
  });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::handle(const std::string& method, const std::string& path, HttpHandler handler) {
  impl_->methods_by_path[path].insert(method);
  auto wrapped = [this, path, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    HttpCall call;
    call.method = req.method;
    call.path = req.path;
    call.body = req.body;
    call.header = [&req](const std::string& name) { return req.get_header_value(name.c_str()); };
    impl_->send(path, handler(call), res);
  };
  auto& s = impl_->server;
  if (method == "GET") s.Get(path, wrapped);
  else if (method == "POST") s.Post(path, wrapped);
  else if (method == "PUT") s.Put(path, wrapped);
  else if (method == "DELETE") s.Delete(path, wrapped);
  else throw std::logic_error("HttpServer::handle: unsupported method " + method);
}

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
