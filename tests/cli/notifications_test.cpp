// Notifiers against real receivers: a real Alertmanager shows the rollback alerts with their
// evidence; a webhook that fails is retried; an unsent notification survives kill -9.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

// The rule sees 0.4 against a threshold of 0.05: the deployment rolls back at once.
std::string breaching_config(const TempDir& dir, int port, const std::string& prometheus_url,
                             const std::string& notifiers_yaml) {
  return "prometheus: {url: " + prometheus_url +
         "}\n"
         "listen: 127.0.0.1:" +
         std::to_string(port) +
         "\n"
         "evaluation_interval: 200ms\n"
         "deployment: {name: checkout, stage: prod, strategy: canary}\n"
         "state_file: " +
         dir.file("state.json") +
         "\n"
         "audit_log: " +
         dir.file("audit.jsonl") +
         "\n"
         "rules: [{name: error-rate, query: 'sum(rate(errors[1m]))', above: 0.05}]\n"
         "actuators: [{type: exec, command: [/bin/true]}]\n"
         "notifiers:\n" +
         notifiers_yaml;
}

std::vector<nlohmann::json> bodies_to(FakeHttpServer& server, const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const auto& s : server.seen()) {
    if (s.path == path) out.push_back(nlohmann::json::parse(s.body, nullptr, false));
  }
  return out;
}

TEST(Notifications, AlertmanagerShowsTheRollbackAlertsWithEvidenceAndWebhooksRetry) {
  const std::string alertmanager_bin = find_binary("prometheus-alertmanager");
  ASSERT_FALSE(alertmanager_bin.empty()) << "prometheus-alertmanager not installed (scripts/install-deps.sh)";
  TempDir dir;
  const int am_port = free_port();
  const std::string am = "http://127.0.0.1:" + std::to_string(am_port);
  write_file(dir.file("alertmanager.yml"),
             "route: {receiver: 'null', group_wait: 1h}\n"
             "receivers: [{name: 'null'}]\n");
  Process alertmanager(
      {alertmanager_bin, "--config.file=" + dir.file("alertmanager.yml"), "--storage.path=" + dir.file("am-data"),
       "--web.listen-address=127.0.0.1:" + std::to_string(am_port), "--cluster.listen-address="},
      dir.file("alertmanager.log"));
  std::string why;
  ASSERT_TRUE(wait_http_ok(am + "/-/ready", 20s, &why)) << why << alertmanager.log();

  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.4"));
  FakeHttpServer receivers;
  receivers.set_route("/hook", 503, "busy");            // retried until it answers 200
  receivers.set_route("/rejects", 400, "bad payload");  // not retryable: dropped after one attempt
  const std::string slack_secret = "/services/T0001/B0001/s3cr3tSlackPath";
  receivers.set_route(slack_secret, 200, "ok", 0ms, "text/plain");
  write_file(dir.file("slack-url"), receivers.url() + slack_secret + "\n");
  write_file(dir.file("hook-token"), "hook-token-5d1e\n");

  const int port = free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  write_file(dir.file("sidecar.yml"), breaching_config(dir, port, prometheus.url(),
                                                       "  - {type: alertmanager, url: " + am +
                                                           ", labels: {team: payments}}\n"
                                                           "  - {type: webhook, url: " +
                                                           receivers.url() +
                                                           "/hook, headers: {X-Env: prod},"
                                                           " bearer_token_file: " +
                                                           dir.file("hook-token") +
                                                           "}\n"
                                                           "  - {type: webhook, url: " +
                                                           receivers.url() +
                                                           "/rejects, messages: [RollbackStarted]}\n"
                                                           "  - {type: slack, url_file: " +
                                                           dir.file("slack-url") + ", channel: '#deploys'}\n"));
  Process sidecar({kBinary, "--config", dir.file("sidecar.yml")}, dir.file("sidecar.log"));
  ASSERT_TRUE(wait_until(
      [&] { return http_get(base + "/api/v1/status").body.find("\"rolled_back\"") != std::string::npos; }, 20s))
      << sidecar.log();

  // Alertmanager's own API shows RollbackSucceeded with the evidence.
  nlohmann::json alert;
  ASSERT_TRUE(wait_until(
      [&] {
        auto alerts = nlohmann::json::parse(
            http_get(am + "/api/v2/alerts?filter=alertname%3D%22RollbackSucceeded%22").body, nullptr, false);
        if (alerts.is_discarded() || !alerts.is_array() || alerts.empty()) return false;
        alert = alerts[0];
        return true;
      },
      20s))
      << sidecar.log();
  EXPECT_EQ(alert["labels"]["deployment"], "checkout");
  EXPECT_EQ(alert["labels"]["stage"], "prod");
  EXPECT_EQ(alert["labels"]["rule"], "error-rate");
  EXPECT_EQ(alert["labels"]["team"], "payments");
  EXPECT_EQ(alert["labels"]["source"], "rollback-sidecar");
  EXPECT_EQ(alert["annotations"]["value"], "0.4");
  EXPECT_EQ(alert["annotations"]["threshold"], "above 0.05");
  EXPECT_EQ(alert["annotations"]["query"], "sum(rate(errors[1m]))");
  EXPECT_NE(alert["annotations"]["status"].get<std::string>().find("rolled_back (success)"), std::string::npos);
  EXPECT_NE(alert["annotations"]["timeline"].get<std::string>().find("decision #1: rollback"), std::string::npos)
      << alert.dump(2);
  // RollbackSucceeded resolved the RollbackStarted alert: it is no longer active.
  auto started = nlohmann::json::parse(http_get(am + "/api/v2/alerts?filter=alertname%3D%22RollbackStarted%22").body);
  EXPECT_TRUE(started.empty()) << started.dump(2);

  // The failing webhook is retried (1 s, then 2 s backoff) and gets both messages, in order,
  // once it answers 200.
  ASSERT_TRUE(wait_until([&] { return !bodies_to(receivers, "/hook").empty(); }, 10s));
  receivers.set_route("/hook", 200, "{}");
  ASSERT_TRUE(wait_until(
      [&] {
        auto m = metric_value(http_get(base + "/metrics").body,
                              "rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"success\"}");
        return m >= 2;
      },
      20s))
      << sidecar.log();
  std::vector<std::string> hook_messages;
  for (const auto& s : receivers.seen()) {
    if (s.path != "/hook") continue;
    EXPECT_EQ(s.headers.at("Authorization"), "Bearer hook-token-5d1e");
    EXPECT_EQ(s.headers.at("X-Env"), "prod");
    auto body = nlohmann::json::parse(s.body);
    if (hook_messages.empty() || hook_messages.back() != body["message"]) hook_messages.push_back(body["message"]);
    EXPECT_EQ(body["deployment"], "checkout");
    EXPECT_EQ(body["rule"], "error-rate");
  }
  EXPECT_EQ(hook_messages, (std::vector<std::string>{"RollbackStarted", "RollbackSucceeded"}));
  const std::string metrics = http_get(base + "/metrics").body;
  EXPECT_GE(metric_value(metrics, "rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"failure\"}"), 2);
  EXPECT_EQ(metric_value(metrics, "rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"dropped\"}"), 1);
  EXPECT_EQ(bodies_to(receivers, "/rejects").size(), 1u);  // 400: never retried
  EXPECT_EQ(metric_value(metrics, "rollback_sidecar_notifications_total{notifier=\"alertmanager\",result=\"success\"}"),
            2);

  // Slack got the readable text; its secret URL never reaches a log or the audit log.
  auto slack = bodies_to(receivers, slack_secret);
  ASSERT_EQ(slack.size(), 2u);
  EXPECT_EQ(slack[1]["channel"], "#deploys");
  EXPECT_NE(slack[1]["text"].get<std::string>().find("Rollback succeeded: checkout (prod): error-rate 0.4 above 0.05"),
            std::string::npos)
      << slack[1].dump();
  sidecar.stop();
  for (const std::string& file : {dir.file("sidecar.log"), dir.file("audit.jsonl")}) {
    const std::string text = read_file(file);
    EXPECT_EQ(text.find("s3cr3tSlackPath"), std::string::npos) << file;
    EXPECT_EQ(text.find("hook-token-5d1e"), std::string::npos) << file;
  }
  // One audit record per attempt.
  int attempts = 0;
  std::ifstream audit(dir.file("audit.jsonl"));
  for (std::string line; std::getline(audit, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "notification") ++attempts;
  }
  EXPECT_GE(attempts, 2 + 2 + 1 + 2 + 1);  // alertmanager, hook successes, rejects, slack, hook failure(s)
}

TEST(Notifications, AnUndeliveredNotificationSurvivesKillNineAndIsSentAfterRestart) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.4"));
  FakeHttpServer receiver;
  receiver.set_route("/hook", 503, "down for maintenance");
  const int port = free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  write_file(dir.file("sidecar.yml"),
             breaching_config(dir, port, prometheus.url(), "  - {type: webhook, url: " + receiver.url() + "/hook}\n"));
  auto first = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir.file("sidecar.yml")},
                                         dir.file("first.log"));
  ASSERT_TRUE(wait_until([&] { return bodies_to(receiver, "/hook").size() >= 2; }, 20s)) << first->log();
  first->kill9();
  auto pending = [&] { return nlohmann::json::parse(read_file(dir.file("state.json.notifications")))["pending"]; };
  ASSERT_EQ(pending().size(), 2u) << pending().dump(2);

  receiver.set_route("/hook", 200, "{}");
  Process second({kBinary, "--config", dir.file("sidecar.yml")}, dir.file("second.log"));
  ASSERT_TRUE(wait_until(
      [&] {
        return metric_value(http_get(base + "/metrics").body,
                            "rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"success\"}") >= 2;
      },
      20s))
      << second.log();
  std::set<std::string> ids;
  for (const auto& body : bodies_to(receiver, "/hook")) ids.insert(body["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 2u);  // the same two messages, retried under their stable ids
  EXPECT_NE(second.log().find("undelivered notification(s) to resend"), std::string::npos) << second.log();
  // Still one rollback: the restart neither undid nor repeated it.
  EXPECT_NE(http_get(base + "/api/v1/status").body.find("\"rolled_back\""), std::string::npos);
  second.stop();
  EXPECT_TRUE(pending().empty()) << pending().dump(2);
}

}  // namespace
}  // namespace rs::testing
