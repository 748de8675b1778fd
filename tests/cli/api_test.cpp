// The HTTP API of a running rollback-sidecar: auth, input limits, manual rollback, freeze, alerts.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;
const std::string kToken = "s3cret-token-value-7f3a";

// A sidecar whose Prometheus always answers a healthy value and whose actuator is a script that
// records each call, so a rollback is visible without a router.
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prometheus_.set_route("/api/v1/query", 200, vector_reply("0.001"));
    write_file(dir_.file("token"), kToken + "\n");
    write_file(dir_.file("rollback.sh"),
               "#!/bin/sh\necho \"$ROLLBACK_TRIGGER $ROLLBACK_RULE\" >> " + dir_.file("calls") + "\n");
    ::chmod(dir_.file("rollback.sh").c_str(), 0755);
    port_ = free_port();
    base_ = "http://127.0.0.1:" + std::to_string(port_);
  }

  void start(const std::string& extra = "", bool with_token = true) {
    std::string config =
        "prometheus: {url: " + prometheus_.url() +
        "}\n"
        "listen: 127.0.0.1:" +
        std::to_string(port_) +
        "\n"
        "evaluation_interval: 200ms\n"
        "deployment: {name: checkout, stage: prod, strategy: canary, vars: {service: checkout, canary: v2}}\n"
        "state_file: " +
        dir_.file("state.json") +
        "\n"
        "rules:\n"
        "  - {name: error-rate, query: 'errors{version=\"{{canary}}\"}', above: 0.05, for: 1s}\n"
        "actuators:\n"
        "  - {type: exec, command: [" +
        dir_.file("rollback.sh") + "]}\n" +
        (with_token ? "api: {bearer_token_file: " + dir_.file("token") + ", max_body_bytes: 2048}\n" : "") + extra;
    write_file(dir_.file("config.yml"), config);
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir_.file("config.yml")},
                                         dir_.file("sidecar.log"));
    std::string why;
    ASSERT_TRUE(wait_http_ok(base_ + "/readyz", 10s, &why)) << why << "\n" << sidecar_->log();
  }

  HttpResult call(const std::string& method, const std::string& path, const std::string& body,
                  const std::string& token = kToken) {
    std::vector<std::string> headers{"Content-Type: application/json"};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return http_request(method, base_ + path, body, headers);
  }

  nlohmann::json status() { return nlohmann::json::parse(http_get(base_ + "/api/v1/status").body); }

  TempDir dir_;
  FakeHttpServer prometheus_;
  int port_ = 0;
  std::string base_;
  std::unique_ptr<Process> sidecar_;
};

TEST_F(ApiTest, MutatingEndpointsNeedTheBearerToken) {
  start();
  const std::string body = R"({"reason": "test", "actor": "ci"})";
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/api/v1/rollback"}, {"PUT", "/api/v1/freeze"}, {"DELETE", "/api/v1/freeze"}}) {
    EXPECT_EQ(call(method, path, body, "").status, 401) << method << " " << path;
    EXPECT_EQ(call(method, path, body, "wrong-token").status, 403) << method << " " << path;
  }
  EXPECT_EQ(read_file(dir_.file("calls")), "");  // nothing acted
  // Read endpoints stay open.
  EXPECT_EQ(http_get(base_ + "/api/v1/status").status, 200);
  EXPECT_EQ(http_get(base_ + "/metrics").status, 200);
  // The token never shows up in the log or the status.
  sidecar_->stop();
  EXPECT_EQ(sidecar_->log().find(kToken), std::string::npos);
}

TEST_F(ApiTest, WithoutATokenFileTheMutatingApiIsOff) {
  start("", /*with_token=*/false);
  EXPECT_EQ(call("POST", "/api/v1/rollback", R"({"reason": "x", "actor": "y"})", "anything").status, 403);
  EXPECT_EQ(call("POST", "/api/v1/rollback", R"({"reason": "x", "actor": "y"})", "").status, 403);
  EXPECT_EQ(read_file(dir_.file("calls")), "");
}

TEST_F(ApiTest, BadBodiesAreRejectedWithTheReason) {
  start();
  HttpResult not_json = call("POST", "/api/v1/rollback", "{oops");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(not_json.body.find("JSON object"), std::string::npos) << not_json.body;
  HttpResult no_reason = call("POST", "/api/v1/rollback", R"({"actor": "ci"})");
  EXPECT_EQ(no_reason.status, 400);
  EXPECT_NE(no_reason.body.find("reason is required"), std::string::npos) << no_reason.body;
  HttpResult unknown = call("POST", "/api/v1/rollback", R"({"reason": "r", "actor": "a", "force": true})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("force"), std::string::npos) << unknown.body;
  HttpResult too_big = call("POST", "/api/v1/rollback", std::string(4096, ' ') + R"({"reason":"r","actor":"a"})");
  EXPECT_EQ(too_big.status, 413);
  HttpResult wrong_method = call("GET", "/api/v1/rollback", "");
  EXPECT_EQ(wrong_method.status, 405);
  HttpResult bad_alerts = call("POST", "/api/v1/alerts", R"({"version": "3", "alerts": []})");
  EXPECT_EQ(bad_alerts.status, 404);  // alerts are off in this config
  EXPECT_EQ(read_file(dir_.file("calls")), "");
  EXPECT_NE(http_get(base_ + "/metrics").body.find("rollback_sidecar_api_requests_total{code=\"400\""),
            std::string::npos);
}

TEST_F(ApiTest, ManualRollbackActsOnceAndLatches) {
  start();
  HttpResult first = call("POST", "/api/v1/rollback", R"({"reason": "customers report errors", "actor": "alice"})");
  EXPECT_EQ(first.status, 202) << first.body;
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  auto s = status();
  EXPECT_EQ(s["last_decision"]["trigger"], "manual");
  EXPECT_EQ(s["last_decision"]["details"]["actor"], "alice");
  EXPECT_EQ(s["last_decision"]["result"], "success");
  HttpResult again = call("POST", "/api/v1/rollback", R"({"reason": "again", "actor": "bob"})");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(nlohmann::json::parse(again.body)["accepted"], false);
  EXPECT_EQ(read_file(dir_.file("calls")), "manual manual\n");  // exactly one actuator run
  EXPECT_NE(http_get(base_ + "/metrics")
                .body.find("rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"manual\"} 1"),
            std::string::npos);
}

// rollback_failed stops automatic attempts, but a person who fixed the router can retry.
TEST_F(ApiTest, AFailedRollbackCanBeRetriedByAPersonOnly) {
  // The "router" refuses until the file `router-fixed` exists.
  write_file(dir_.file("rollback.sh"), "#!/bin/sh\necho \"$ROLLBACK_TRIGGER\" >> " + dir_.file("calls") + "\ntest -e " +
                                           dir_.file("router-fixed") + "\n");
  start(
      "rollback: {deadline: 1s, initial_backoff: 100ms, max_backoff: 200ms}\n"
      "alerts: {match: {severity: sev2}}\n");
  ASSERT_EQ(call("POST", "/api/v1/rollback", R"({"reason": "errors", "actor": "alice"})").status, 202);
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rollback_failed"; }, 10s)) << sidecar_->log();

  // An alert does not retry it.
  const std::string alert = nlohmann::json{{"version", "4"},
                                           {"status", "firing"},
                                           {"receiver", "sidecar"},
                                           {"alerts",
                                            {{{"status", "firing"},
                                              {"labels", {{"alertname", "Errors"}, {"severity", "sev2"}}},
                                              {"annotations", nlohmann::json::object()},
                                              {"startsAt", "2026-11-22T10:00:00Z"},
                                              {"fingerprint", "f1"}}}}}
                                .dump();
  EXPECT_EQ(call("POST", "/api/v1/alerts", alert).status, 200);
  EXPECT_EQ(status()["state"], "rollback_failed");

  write_file(dir_.file("router-fixed"), "");
  HttpResult retry = call("POST", "/api/v1/rollback", R"({"reason": "router fixed, retrying", "actor": "bob"})");
  EXPECT_EQ(retry.status, 202) << retry.body;
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(status()["last_decision"]["details"]["actor"], "bob");
  const std::string metrics = http_get(base_ + "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "rollback_sidecar_rollbacks_total{result=\"failure\",trigger=\"manual\"}"), 1);
  EXPECT_EQ(metric_value(metrics, "rollback_sidecar_rollbacks_total{result=\"success\",trigger=\"manual\"}"), 1);
  EXPECT_EQ(read_file(dir_.file("calls")).find("alert"), std::string::npos);
}

TEST_F(ApiTest, FreezeIsShownExportedAndSurvivesRestart) {
  start();
  EXPECT_EQ(call("PUT", "/api/v1/freeze", R"({"reason": "black friday", "actor": "release-bot"})").status, 200);
  auto s = status();
  EXPECT_EQ(s["freeze"]["frozen"], true);
  EXPECT_EQ(s["freeze"]["reason"], "black friday");
  EXPECT_NE(http_get(base_ + "/metrics").body.find("rollback_sidecar_freeze 1"), std::string::npos);

  sidecar_->stop();
  start();
  EXPECT_EQ(status()["freeze"]["frozen"], true);
  // A freeze never blocks a rollback.
  EXPECT_EQ(call("POST", "/api/v1/rollback", R"({"reason": "bad", "actor": "alice"})").status, 202);
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();

  HttpResult lifted = call("DELETE", "/api/v1/freeze", R"({"actor": "release-bot"})");
  EXPECT_EQ(lifted.status, 200);
  EXPECT_EQ(nlohmann::json::parse(lifted.body)["was_frozen"], true);
  EXPECT_EQ(status()["freeze"]["frozen"], false);
  EXPECT_NE(http_get(base_ + "/metrics").body.find("rollback_sidecar_freeze 0"), std::string::npos);
}

TEST_F(ApiTest, CliRollbackCallsTheApi) {
  start();
  write_file(dir_.file("cli.log"), "");
  Process cli({kBinary, "rollback", "--address", "127.0.0.1:" + std::to_string(port_), "--token-file",
               dir_.file("token"), "--reason", "from the cli", "--actor", "carol"},
              dir_.file("cli.log"));
  int exit_status = cli.wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(exit_status)) << read_file(dir_.file("cli.log"));
  EXPECT_EQ(WEXITSTATUS(exit_status), 0) << read_file(dir_.file("cli.log"));
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(status()["last_decision"]["details"]["actor"], "carol");
}

// Alertmanager's webhook payload (version 4), as in its documentation.
std::string webhook(const std::string& status, const std::string& severity, const std::string& service,
                    const std::string& fingerprint) {
  nlohmann::json alert = {{"status", status},
                          {"labels", {{"alertname", "CheckoutErrors"}, {"severity", severity}, {"service", service}}},
                          {"annotations", {{"summary", "5xx above 5%"}}},
                          {"startsAt", "2026-11-22T10:00:00.123456789Z"},
                          {"endsAt", "0001-01-01T00:00:00Z"},
                          {"generatorURL", "http://prometheus/graph?g0.expr=x"},
                          {"fingerprint", fingerprint}};
  nlohmann::json payload = {{"version", "4"},
                            {"groupKey", "{}:{alertname=\"CheckoutErrors\"}"},
                            {"truncatedAlerts", 0},
                            {"status", status},
                            {"receiver", "sidecar"},
                            {"groupLabels", nlohmann::json::object()},
                            {"commonLabels", nlohmann::json::object()},
                            {"commonAnnotations", nlohmann::json::object()},
                            {"externalURL", "http://alertmanager:9093"},
                            {"alerts", {alert}}};
  return payload.dump();
}

TEST_F(ApiTest, AlertmanagerWebhookRollsBackOnceForAMatchingFiringAlert) {
  start("alerts: {match: {severity: 'sev1|sev2', service: '{{service}}'}}\n");
  auto results = [](const HttpResult& r) { return nlohmann::json::parse(r.body)["alerts"][0]["result"]; };
  EXPECT_EQ(results(call("POST", "/api/v1/alerts", webhook("resolved", "sev1", "checkout", "a1"))), "resolved");
  EXPECT_EQ(results(call("POST", "/api/v1/alerts", webhook("firing", "sev3", "checkout", "a2"))), "ignored");
  EXPECT_EQ(results(call("POST", "/api/v1/alerts", webhook("firing", "sev2", "payments", "a3"))), "ignored");
  EXPECT_EQ(read_file(dir_.file("calls")), "");
  HttpResult bad = call("POST", "/api/v1/alerts", R"({"version":"4","alerts":[{"status":"firing","labels":{"a":1}}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("alerts[0].labels.a must be a string"), std::string::npos) << bad.body;

  HttpResult matched = call("POST", "/api/v1/alerts", webhook("firing", "sev2", "checkout", "a4"));
  EXPECT_EQ(matched.status, 200) << matched.body;
  EXPECT_EQ(results(matched), "matched");
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(results(call("POST", "/api/v1/alerts", webhook("firing", "sev2", "checkout", "a4"))), "duplicate");
  EXPECT_EQ(read_file(dir_.file("calls")), "alert CheckoutErrors\n");
  auto d = status()["last_decision"];
  EXPECT_EQ(d["trigger"], "alert");
  EXPECT_EQ(d["details"]["labels"]["severity"], "sev2");
  EXPECT_EQ(d["details"]["annotations"]["summary"], "5xx above 5%");
  EXPECT_EQ(d["details"]["generatorURL"], "http://prometheus/graph?g0.expr=x");
  EXPECT_EQ(d["first_breach"], "2026-11-22T10:00:00.123Z");
}

// The CloudWatch intake through the real server: an EventBridge alarm event with the bearer token
// rolls back once; unauthenticated, non-matching, OK-state and repeated events do not.
TEST_F(ApiTest, CloudWatchAlarmEventRollsBackOnceThroughTheRealServer) {
  start("cloudwatch: {match: {alarm: 'checkout-.*'}}\n");
  auto event = [](const std::string& alarm, const std::string& state, const std::string& changed) {
    return nlohmann::json{{"version", "0"},
                          {"id", "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92"},
                          {"detail-type", "CloudWatch Alarm State Change"},
                          {"source", "aws.cloudwatch"},
                          {"account", "123456789012"},
                          {"time", changed},
                          {"region", "eu-west-1"},
                          {"resources", {"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + alarm}},
                          {"detail",
                           {{"alarmName", alarm},
                            {"state", {{"value", state}, {"reason", "Threshold Crossed"}, {"timestamp", changed}}},
                            {"previousState", {{"value", "OK"}, {"timestamp", "2026-11-22T09:00:00.000+0000"}}}}}}
        .dump();
  };
  auto result = [](const HttpResult& r) { return nlohmann::json::parse(r.body).value("result", ""); };
  const std::string alarm = event("checkout-5xx", "ALARM", "2026-11-22T10:00:00.000+0000");

  EXPECT_EQ(call("POST", "/api/v1/cloudwatch", alarm, "").status, 401);
  EXPECT_EQ(call("POST", "/api/v1/cloudwatch", alarm, "wrong").status, 403);
  EXPECT_EQ(result(call("POST", "/api/v1/cloudwatch", event("payments-5xx", "ALARM", "2026-11-22T10:00:00.000+0000"))),
            "ignored");
  EXPECT_EQ(result(call("POST", "/api/v1/cloudwatch", event("checkout-5xx", "OK", "2026-11-22T10:05:00.000+0000"))),
            "not_alarm");
  HttpResult bad = call("POST", "/api/v1/cloudwatch", "[1]");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("must be a JSON object"), std::string::npos) << bad.body;
  EXPECT_EQ(read_file(dir_.file("calls")), "");

  HttpResult matched = call("POST", "/api/v1/cloudwatch", alarm);
  ASSERT_EQ(matched.status, 200) << matched.body;
  EXPECT_EQ(result(matched), "matched") << matched.body;
  EXPECT_TRUE(nlohmann::json::parse(matched.body)["rollback"]["accepted"].get<bool>()) << matched.body;
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(result(call("POST", "/api/v1/cloudwatch", alarm)), "duplicate");
  EXPECT_EQ(read_file(dir_.file("calls")), "alert checkout-5xx\n");
  EXPECT_EQ(status()["last_decision"]["trigger"], "alert");
  const std::string metrics = http_get(base_ + "/metrics").body;
  EXPECT_NE(metrics.find("rollback_sidecar_cloudwatch_messages_total{result=\"matched\"} 1"), std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace rs::testing
