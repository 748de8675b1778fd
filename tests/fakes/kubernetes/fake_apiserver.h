// Starts tests/fakes/kubernetes/fake_apiserver.py (with /usr/bin/python3, in its own temp dir,
// stopped by PID) and talks to its /_fake/ controls. See the script for what it enforces.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/http/http_transport.h"
#include "tests/support/harness.h"

namespace rs::testing {

class FakeApiServer {
 public:
  // `objects`: a JSON array of Kubernetes objects to start with; `tokens`: see the script.
  FakeApiServer(const nlohmann::json& objects, const nlohmann::json& tokens) {
    write_file(dir_.file("seed.json"), objects.dump());
    set_tokens(tokens);
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/python3",
                                 std::string(RS_SOURCE_DIR) + "/tests/fakes/kubernetes/fake_apiserver.py", "--dir",
                                 dir_.path(), "--tokens", dir_.file("tokens.json"), "--seed", dir_.file("seed.json")},
        dir_.file("fake.log"));
    // The script writes `port` (renamed into place) once it listens; openssl runs first.
    if (!wait_until([&] { return !read_file(dir_.file("port")).empty() || !process_->alive(); }, 20000ms) ||
        read_file(dir_.file("port")).empty())
      throw std::runtime_error("fake API server did not start:\n" + process_->log());
    port_ = std::stoi(read_file(dir_.file("port")));
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string ca_file() const { return dir_.file("ca.crt"); }
  std::string client_cert() const { return dir_.file("client.crt"); }
  std::string client_key() const { return dir_.file("client.key"); }
  const TempDir& dir() const { return dir_; }
  std::string log() const { return process_->log(); }

  // Replaces the accepted tokens (the server re-reads the file on every request).
  void set_tokens(const nlohmann::json& tokens) {
    write_file(dir_.file("tokens.json.tmp"), tokens.dump());
    std::rename(dir_.file("tokens.json.tmp").c_str(), dir_.file("tokens.json").c_str());
  }

  nlohmann::json control(const std::string& path, const nlohmann::json& body = nullptr) {
    rs::HttpRequest request;
    request.method = body.is_null() ? "GET" : "POST";
    request.url = url() + path;
    request.body = body.is_null() ? "" : body.dump();
    request.tls.ca_file = ca_file();
    request.timeout = 5000ms;
    auto response = transport_->perform(request);
    if (response.error != rs::TransportError::kNone || response.status != 200)
      throw std::runtime_error("fake control " + path + " failed: " + response.error_message + " " + response.body);
    return nlohmann::json::parse(response.body);
  }

  // The object at an API path, read with `token` (which the tokens must allow to get it).
  nlohmann::json object(const std::string& path, const std::string& token = "admin-token") {
    rs::HttpRequest request;
    request.url = url() + path;
    request.tls.ca_file = ca_file();
    request.headers = {{"Authorization", "Bearer " + token}};
    request.timeout = 5000ms;
    auto response = transport_->perform(request);
    if (response.error != rs::TransportError::kNone || response.status != 200)
      throw std::runtime_error("GET " + path + " failed: " + response.error_message + " " + response.body);
    return nlohmann::json::parse(response.body);
  }
  nlohmann::json requests() { return control("/_fake/requests"); }
  int count(const std::string& method, const std::string& path) {
    int n = 0;
    for (const auto& r : requests())
      if (r["method"] == method && r["path"] == path) ++n;
    return n;
  }
  // Applies `patch` (merge) as another writer right after the next GET of `path` is answered.
  void race(const std::string& path, const nlohmann::json& patch) {
    control("/_fake/race", {{"path", path}, {"patch", patch}});
  }
  void fail(const std::string& path, int status, int count, const std::string& message) {
    control("/_fake/fail", {{"path", path},
                            {"status", status},
                            {"count", count},
                            {"message", message},
                            {"reason", status == 503 ? "ServiceUnavailable" : "InternalError"}});
  }
  void put(const nlohmann::json& object) { control("/_fake/objects", object); }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
  std::unique_ptr<rs::HttpTransport> transport_ = rs::make_curl_transport();
};

}  // namespace rs::testing
