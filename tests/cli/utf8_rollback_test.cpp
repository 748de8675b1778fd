// Actuator output that is not valid UTF-8 (raw bytes, or a multi-byte character the sidecar cuts
// when it keeps the last 512 bytes) must not break a rollback: the daemon stays up, the status
// answers, the rollback is latched on disk and recorded, and a restart does not run it again.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <ostream>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;
const std::string kToken = "utf8-token-4b1d";

struct Case {
  const char* name;
  const char* python;   // what the actuator prints (a python3 -c program)
  const char* trigger;  // "manual" (POST /api/v1/rollback) or "rule" (Prometheus breaches)
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Utf8RollbackTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    prometheus_.set_route("/api/v1/query", 200, vector_reply(std::string(c.trigger) == "rule" ? "0.5" : "0.001"));
    write_file(dir_.file("token"), kToken + "\n");
    write_file(dir_.file("print.py"), c.python);
    // Each run appends one line to `calls`, then prints the awkward text.
    write_file(dir_.file("rollback.sh"), "#!/bin/sh\necho run >> " + dir_.file("calls") + "\nexec /usr/bin/python3 " +
                                             dir_.file("print.py") + "\n");
    ::chmod(dir_.file("rollback.sh").c_str(), 0755);
    port_ = free_port();
    base_ = "http://127.0.0.1:" + std::to_string(port_);
    write_file(dir_.file("config.yml"),
               "prometheus: {url: " + prometheus_.url() +
                   "}\n"
                   "listen: 127.0.0.1:" +
                   std::to_string(port_) +
                   "\n"
                   "evaluation_interval: 200ms\n"
                   "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2}}\n"
                   "state_file: " +
                   dir_.file("state.json") +
                   "\n"
                   "audit_log: " +
                   dir_.file("audit.jsonl") +
                   "\n"
                   "incidents_dir: " +
                   dir_.file("incidents") +
                   "\n"
                   "rules: [{name: error-rate, query: 'errors', above: 0.05}]\n"
                   "actuators: [{type: exec, command: [" +
                   dir_.file("rollback.sh") +
                   "]}]\n"
                   "api: {bearer_token_file: " +
                   dir_.file("token") + "}\n");
  }

  void start(const std::string& log) {
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir_.file("config.yml")},
                                         dir_.file(log));
    std::string why;
    ASSERT_TRUE(wait_http_ok(base_ + "/healthz", 10s, &why)) << why << "\n" << sidecar_->log();
  }

  // The status document, or a discarded value when it does not answer 200 with JSON.
  nlohmann::json status() {
    HttpResult r = http_get(base_ + "/api/v1/status");
    if (r.status != 200) return nlohmann::json(nlohmann::json::value_t::discarded);
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  std::string state_on_disk() {
    auto j = nlohmann::json::parse(read_file(dir_.file("state.json")), nullptr, false);
    return j.is_object() && j["state"].is_string() ? j["state"].get<std::string>() : "";
  }

  int runs() {
    const std::string calls = read_file(dir_.file("calls"));
    return static_cast<int>(std::count(calls.begin(), calls.end(), '\n'));
  }

  TempDir dir_;
  FakeHttpServer prometheus_;
  int port_ = 0;
  std::string base_;
  std::unique_ptr<Process> sidecar_;
};

TEST_P(Utf8RollbackTest, RollbackCompletesIsRecordedAndIsNotRepeatedAfterARestart) {
  const Case& c = GetParam();
  ASSERT_NO_FATAL_FAILURE(start("first.log"));
  if (std::string(c.trigger) == "manual") {
    HttpResult r = http_request("POST", base_ + "/api/v1/rollback", R"({"reason": "utf8 test", "actor": "ci"})",
                                {"Content-Type: application/json", "Authorization: Bearer " + kToken});
    ASSERT_EQ(r.status, 202) << r.body;
  }
  ASSERT_TRUE(wait_until([&] { return state_on_disk() == "rolled_back"; }, 15s))
      << "state file: " << read_file(dir_.file("state.json")) << "\nlog:\n"
      << sidecar_->log();
  EXPECT_TRUE(sidecar_->alive()) << sidecar_->log();

  nlohmann::json s = status();
  ASSERT_FALSE(s.is_discarded()) << "GET /api/v1/status: " << http_get(base_ + "/api/v1/status").status << "\n"
                                 << sidecar_->log();
  EXPECT_EQ(s["state"], "rolled_back");
  EXPECT_EQ(s["last_decision"]["trigger"], c.trigger);
  EXPECT_EQ(s["last_decision"]["result"], "success");
  const std::string detail = s["last_decision"]["actuators"][0]["detail"].get<std::string>();
  EXPECT_NE(detail.find("exit code 0"), std::string::npos) << detail;

  // The audit log records the completed rollback; every line is JSON.
  ASSERT_TRUE(wait_until(
      [&] { return read_file(dir_.file("audit.jsonl")).find("\"rollback_completed\"") != std::string::npos; }, 10s))
      << read_file(dir_.file("audit.jsonl")) << "\n"
      << sidecar_->log();
  std::ifstream audit(dir_.file("audit.jsonl"));
  std::string line;
  bool completed = false;
  while (std::getline(audit, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "invalid audit line: " << line;
    completed |= j["event"] == "rollback_completed" && j["result"] == "success";
  }
  EXPECT_TRUE(completed) << read_file(dir_.file("audit.jsonl"));
  // And there is an incident report for it.
  ASSERT_TRUE(wait_until([&] { return http_get(base_ + "/api/v1/incidents/latest").status == 200; }, 10s))
      << sidecar_->log();
  EXPECT_NE(http_get(base_ + "/api/v1/incidents/latest").body.find("checkout"), std::string::npos);
  EXPECT_EQ(runs(), 1);

  // A restart keeps the latch: the actuator is not run again.
  sidecar_->stop();
  ASSERT_NO_FATAL_FAILURE(start("second.log"));
  ASSERT_TRUE(wait_until(
      [&] {
        auto now = status();
        return !now.is_discarded() && now["evaluations"].is_number() && now["evaluations"].get<int>() >= 3;
      },
      10s))
      << sidecar_->log();
  EXPECT_EQ(status()["state"], "rolled_back");
  EXPECT_EQ(state_on_disk(), "rolled_back");
  EXPECT_EQ(runs(), 1) << read_file(dir_.file("calls"));
  EXPECT_EQ(sidecar_->log().find("was interrupted"), std::string::npos) << sidecar_->log();
}

// 200 check marks are 600 bytes: the detail keeps the last 512, which used to split one.
constexpr const char* kCheckMarks = "print('rolled back ' + '\\u2713' * 200)\n";
constexpr const char* kRawBytes =
    "import sys\nsys.stdout.buffer.write(b'rolled back \\xff\\xfe \\xc3( \\xed\\xa0\\x80 \\xe2\\x9c\\n')\n";

INSTANTIATE_TEST_SUITE_P(Output, Utf8RollbackTest,
                         ::testing::Values(Case{"CheckMarksCutAt512Bytes_Manual", kCheckMarks, "manual"},
                                           Case{"RawInvalidBytes_Manual", kRawBytes, "manual"},
                                           Case{"CheckMarksCutAt512Bytes_Rule", kCheckMarks, "rule"},
                                           Case{"RawInvalidBytes_Rule", kRawBytes, "rule"}),
                         [](const ::testing::TestParamInfo<Case>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace rs::testing
