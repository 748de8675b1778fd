// Starts tests/fakes/aws/fake_aws.py (Debian's /usr/bin/python3 + python3-botocore) on a free port,
// seeded with tests/fakes/aws/seed.py, and talks to its /_fake control endpoint.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "common/aws/credentials.h"
#include "tests/support/harness.h"

namespace rs::testing {

inline const char* kKeyId = "AKIDFAKEEXAMPLE00001";
inline const char* kSecret = "fake/secret/key/0001";

class FakeAws {
 public:
  FakeAws() {
    const std::string dir = std::string(RS_SOURCE_DIR) + "/tests/fakes/aws/";
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/python3", dir + "fake_aws.py", "--ready-file", tmp_.file("ready.json")},
        tmp_.file("fake.log"));
    if (!wait_until([&] { return !read_file(tmp_.file("ready.json")).empty(); }, 15s))
      throw std::runtime_error("fake AWS did not start: " + process_->log());
    auto ready = nlohmann::json::parse(read_file(tmp_.file("ready.json")));
    url_ = "http://127.0.0.1:" + std::to_string(ready["port"].get<int>());
    Process seed({"/usr/bin/python3", dir + "seed.py"}, tmp_.file("seed.json"));
    seed.wait_exit(15s);
    seed_ = nlohmann::json::parse(read_file(tmp_.file("seed.json")));
    reset();
  }
  const std::string& url() const { return url_; }
  nlohmann::json& seed() { return seed_; }
  void reset(const nlohmann::json& config = nlohmann::json::object()) {
    auto body = seed_;
    body["config"] = config;
    control("reset", body);
  }
  void control(const std::string& what, const nlohmann::json& body) {
    auto r = http_request("POST", url_ + "/_fake/" + what, body.dump(), {"Content-Type: application/json"});
    if (r.status != 200) throw std::runtime_error("fake AWS /_fake/" + what + ": " + r.error + r.body);
  }
  void fault(const std::string& operation, const std::string& error, int times = 1) {
    control("faults", {{"operation", operation}, {"error", error}, {"times", times}});
  }
  nlohmann::json state() { return nlohmann::json::parse(http_get(url_ + "/_fake/state").body); }
  nlohmann::json calls() { return nlohmann::json::parse(http_get(url_ + "/_fake/calls").body); }
  int count(const std::string& operation) {
    int n = 0;
    for (const auto& c : calls()) n += c["operation"] == operation;
    return n;
  }
  std::string log() const { return process_->log(); }

 private:
  TempDir tmp_;
  std::unique_ptr<Process> process_;
  std::string url_;
  nlohmann::json seed_;
};

inline std::shared_ptr<aws::CredentialsProvider> static_credentials(const std::string& id = kKeyId,
                                                                    const std::string& secret = kSecret) {
  aws::Credentials c;
  c.access_key_id = id;
  c.secret_access_key = secret;
  c.source = "test";
  return std::make_shared<aws::StaticCredentialsProvider>(c);
}

}  // namespace rs::testing
