// kill -9 in the middle of a rollback: the restarted sidecar finishes it, never undoes it, and
// leaves an audit log that parses line by line and an incident report.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

TEST(CrashSafety, KillNineDuringRollbackThenRestartFinishesIt) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0"));
  FakeHttpServer notified;  // a webhook notifier's receiver: at-least-once across the crash
  notified.set_route("/hook", 200, "{}");
  write_file(dir.file("token"), "crash-token\n");
  // The "router": a file the actuator moves to stable. It takes a while, and is idempotent.
  write_file(dir.file("router"), "canary\n");
  write_file(dir.file("rollback.sh"),
             "#!/bin/sh\n"
             "echo start >> " +
                 dir.file("calls") +
                 "\n"
                 "sleep 2\n"
                 "echo stable > " +
                 dir.file("router") +
                 "\n"
                 "echo done >> " +
                 dir.file("calls") + "\n");
  ::chmod(dir.file("rollback.sh").c_str(), 0755);
  ::mkdir(dir.file("log").c_str(), 0755);
  const int port = free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  write_file(dir.file("sidecar.yml"),
             "prometheus: {url: " + prometheus.url() +
                 "}\n"
                 "listen: 127.0.0.1:" +
                 std::to_string(port) +
                 "\n"
                 "evaluation_interval: 200ms\n"
                 "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2}}\n"
                 "state_file: " +
                 dir.file("state.json") +
                 "\n"
                 "audit_log: " +
                 dir.file("log/audit.jsonl") +
                 "\n"
                 "incidents_dir: " +
                 dir.file("incidents") +
                 "\n"
                 "rules: [{name: errors, query: 'x', above: 1}]\n"
                 "actuators: [{type: exec, command: [" +
                 dir.file("rollback.sh") +
                 "], timeout: 10s}]\n"
                 "api: {bearer_token_file: " +
                 dir.file("token") +
                 "}\n"
                 "notifiers: [{type: webhook, url: " +
                 notified.url() + "/hook}]\n");

  auto first = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir.file("sidecar.yml")},
                                         dir.file("first.log"));
  std::string why;
  ASSERT_TRUE(wait_http_ok(base + "/readyz", 10s, &why)) << why << first->log();
  ASSERT_EQ(http_request("POST", base + "/api/v1/rollback", R"({"reason":"crash test","actor":"ci"})",
                         {"Authorization: Bearer crash-token"})
                .status,
            202);
  // The actuator is running: kill the sidecar hard while it waits.
  ASSERT_TRUE(wait_until([&] { return read_file(dir.file("calls")).find("start") != std::string::npos; }, 10s));
  first->kill9();
  const std::string state_after_crash = read_file(dir.file("state.json"));
  EXPECT_NE(state_after_crash.find("\"rolling_back\""), std::string::npos) << state_after_crash;

  Process second({kBinary, "--config", dir.file("sidecar.yml")}, dir.file("second.log"));
  ASSERT_TRUE(wait_until(
      [&] {
        auto s = nlohmann::json::parse(http_get(base + "/api/v1/status").body, nullptr, false);
        return !s.is_discarded() && s["state"] == "rolled_back";
      },
      20s))
      << second.log();
  EXPECT_EQ(read_file(dir.file("router")), "stable\n");  // finished, never undone
  EXPECT_NE(second.log().find("was interrupted; resuming it"), std::string::npos) << second.log();
  auto status = nlohmann::json::parse(http_get(base + "/api/v1/status").body);
  EXPECT_EQ(status["last_decision"]["trigger"], "manual");
  EXPECT_EQ(status["last_decision"]["result"], "success");

  ASSERT_TRUE(wait_until([&] { return http_get(base + "/api/v1/incidents/latest").status == 200; }, 10s));
  const std::string report = http_get(base + "/api/v1/incidents/latest").body;
  EXPECT_NE(report.find("checkout"), std::string::npos) << report;
  EXPECT_NE(report.find("Root cause"), std::string::npos) << report;
  // The rollback's start and end both reach the receiver (the start perhaps twice).
  std::set<std::string> messages;
  EXPECT_TRUE(wait_until(
      [&] {
        messages.clear();
        for (const auto& seen : notified.seen())
          messages.insert(nlohmann::json::parse(seen.body)["message"].get<std::string>());
        return messages == std::set<std::string>{"RollbackStarted", "RollbackSucceeded"};
      },
      10s))
      << second.log();
  second.stop();

  // Every line of the audit log is a JSON object; the rollback is recorded as completed.
  std::ifstream audit(dir.file("log/audit.jsonl"));
  ASSERT_TRUE(audit.good());
  std::string line;
  int lines = 0;
  bool completed = false, startup = false;
  while (std::getline(audit, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "torn or invalid audit line: " << line;
    ++lines;
    startup |= j["event"] == "startup";
    completed |= j["event"] == "rollback_completed" && j["result"] == "success";
  }
  EXPECT_TRUE(startup);
  EXPECT_TRUE(completed) << read_file(dir.file("log/audit.jsonl"));
  EXPECT_GE(lines, 4);
  EXPECT_EQ(read_file(dir.file("log/audit.jsonl")).find("crash-token"), std::string::npos);
}

}  // namespace
}  // namespace rs::testing
