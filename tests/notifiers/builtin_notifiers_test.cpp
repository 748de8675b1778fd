// The built-in notifiers, built through Registry::builtin() from map-backed settings, sending
// through a fake transport that records each request.
#include <gtest/gtest.h>

#include <string>

#include "notifiers/alertmanager.h"
#include "notifiers/notifier.h"
#include "notifiers/slack.h"
#include "tests/actuators/test_settings.h"
#include "tests/notifiers/fake_transport.h"
#include "tests/support/harness.h"

namespace rs::notifiers {
namespace {

using namespace std::chrono_literals;
using testing::MapSettings;
using testing::TransportLog;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

Notification started() {
  Notification n;
  n.id = "checkout/prod/1/2026-11-23T10:00:00.000Z/RollbackStarted";
  n.message = "RollbackStarted";
  n.deployment = "checkout";
  n.stage = "prod";
  n.strategy = "canary";
  n.decision_id = 1;
  n.trigger = "rule";
  n.rule = "error-rate";
  n.comparison = "above";
  n.value = "0.31";
  n.threshold = "0.05";
  n.reason = "error-rate 0.31 above 0.05";
  n.state = "rolling_back";
  n.started_at = n.decided_at = "2026-11-23T10:00:00.000Z";
  n.timeline = {{"2026-11-23T10:00:00.000Z", "decision #1: rollback"}};
  return n;
}

class BuiltinNotifier : public ::testing::Test {
 protected:
  BuiltinNotifier() {
    env_.make_transport = [log = log_] { return std::make_unique<testing::FakeTransport>(log); };
  }
  std::unique_ptr<Notifier> build(const std::string& type, MapSettings& settings) {
    return Registry::builtin().create(type, settings, env_);
  }

  std::shared_ptr<TransportLog> log_ = std::make_shared<TransportLog>();
  Environment env_;
  testing::TempDir dir_;
};

TEST_F(BuiltinNotifier, TheRegistryKnowsExactlyTheThreeTypes) {
  EXPECT_EQ(Registry::builtin().known_types(), (std::vector<std::string>{"alertmanager", "slack", "webhook"}));
  MapSettings settings({{"url", std::string("http://x")}});
  EXPECT_EQ(build("pagerduty", settings), nullptr);
}

TEST_F(BuiltinNotifier, AlertmanagerPostsTheAlertsWithTheBearerToken) {
  testing::write_file(dir_.file("am-token"), "am-s3cret\n");
  MapSettings settings({{"url", std::string("http://am:9093/")},
                        {"labels", MapSettings::Map{{"team", "payments"}}},
                        {"bearer_token_file", dir_.file("am-token")},
                        {"timeout", std::string("2s")}});
  auto notifier = build("alertmanager", settings);
  ASSERT_TRUE(notifier);
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  EXPECT_EQ(notifier->type(), "alertmanager");
  EXPECT_EQ(notifier->describe(), "alertmanager http://am:9093");
  EXPECT_FALSE(contains(notifier->describe(), "s3cret"));

  SendResult r = notifier->send(started(), 30s);
  EXPECT_TRUE(r.ok) << r.detail;
  auto sent = log_->sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].url, "http://am:9093/api/v2/alerts");
  EXPECT_EQ(sent[0].timeout, 2s) << "the notifier's own timeout when lower";
  EXPECT_EQ(testing::header(sent[0], "Authorization"), "Bearer am-s3cret");
  EXPECT_EQ(testing::header(sent[0], "Content-Type"), "application/json");
  nlohmann::json body = nlohmann::json::parse(sent[0].body);
  ASSERT_TRUE(body.is_array());
  EXPECT_EQ(body, alertmanager_alerts(started(), {{"team", "payments"}}));
  EXPECT_EQ(body[0]["labels"]["team"], "payments");

  notifier->send(started(), 500ms);
  sent = log_->sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].timeout, 500ms) << "the dispatcher's timeout when lower";
}

TEST_F(BuiltinNotifier, AlertmanagerProbeAsksReadinessAndMapsFailures) {
  MapSettings settings({{"url", std::string("https://am.example/prefix")}});
  auto notifier = build("alertmanager", settings);
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  log_->script = {TransportLog::ok_response(200), TransportLog::ok_response(503, "not ready")};
  EXPECT_TRUE(notifier->probe(1s).ok);
  SendResult down = notifier->probe(1s);
  EXPECT_FALSE(down.ok);
  EXPECT_EQ(down.detail, "alertmanager https://am.example/prefix: HTTP 503: not ready");
  auto sent = log_->sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[0].url, "https://am.example/prefix/-/ready");
  EXPECT_EQ(testing::header(sent[0], "Authorization"), "") << "no token file configured";
}

TEST_F(BuiltinNotifier, AlertmanagerConfigErrorsAreReported) {
  struct Case {
    std::map<std::string, MapSettings::Value> values;
    std::string key;
  };
  const Case cases[] = {
      {{}, "url"},
      {{{"url", std::string("am:9093")}}, "url"},
      {{{"url", std::string("ftp://am:9093")}}, "url"},
      {{{"url", std::string("http://am:9093")}, {"labels", MapSettings::Map{{"team-name", "x"}}}}, "labels"},
      {{{"url", std::string("http://am:9093")}, {"labels", MapSettings::Map{{"1team", "x"}}}}, "labels"},
      {{{"url", std::string("http://am:9093")}, {"timeout", std::string("0s")}}, "timeout"},
  };
  for (const auto& c : cases) {
    MapSettings settings(c.values);
    build("alertmanager", settings);
    ASSERT_EQ(settings.errors.size(), 1u) << c.key << ": " << settings.all_errors();
    EXPECT_EQ(settings.errors[0].rfind(c.key + ": ", 0), 0u) << settings.errors[0];
  }
}

TEST_F(BuiltinNotifier, WebhookSendsTheNotificationWithHeadersAndBearer) {
  testing::write_file(dir_.file("hook-token"), "hook-s3cret");
  MapSettings settings({{"url", std::string("https://hooks.example/rollbacks")},
                        {"headers", MapSettings::Map{{"X-Team", "payments"}, {"X-Source", "sidecar"}}},
                        {"bearer_token_file", dir_.file("hook-token")}});
  auto notifier = build("webhook", settings);
  ASSERT_TRUE(notifier);
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  EXPECT_EQ(notifier->type(), "webhook");
  EXPECT_EQ(notifier->describe(), "webhook https://hooks.example/rollbacks");
  log_->script = {TransportLog::ok_response(204), TransportLog::ok_response(400, "rejected hook-s3cret")};
  EXPECT_TRUE(notifier->send(started(), 30s).ok);
  SendResult rejected = notifier->send(started(), 30s);
  EXPECT_FALSE(rejected.ok);
  EXPECT_FALSE(rejected.retryable);
  EXPECT_FALSE(contains(rejected.detail, "hook-s3cret")) << rejected.detail;

  auto sent = log_->sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].url, "https://hooks.example/rollbacks");
  EXPECT_EQ(sent[0].timeout, 5s) << "default timeout";
  EXPECT_EQ(testing::header(sent[0], "X-Team"), "payments");
  EXPECT_EQ(testing::header(sent[0], "X-Source"), "sidecar");
  EXPECT_EQ(testing::header(sent[0], "Authorization"), "Bearer hook-s3cret");
  EXPECT_EQ(testing::header(sent[0], "Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(sent[0].body), started().to_json());
  EXPECT_TRUE(notifier->probe(1s).ok) << "probing a webhook posts nothing";
  EXPECT_EQ(log_->sent().size(), 2u);
}

TEST_F(BuiltinNotifier, WebhookConfigErrorsAreReported) {
  struct Case {
    std::map<std::string, MapSettings::Value> values;
    std::string key;
  };
  const Case cases[] = {
      {{}, "url"},
      {{{"url", std::string("hooks.example/x")}}, "url"},
      {{{"url", std::string("https://hooks.example")}, {"headers", MapSettings::Map{{"Authorization", "Bearer x"}}}},
       "headers"},
      {{{"url", std::string("https://hooks.example")}, {"headers", MapSettings::Map{{"AUTHORIZATION", "Basic x"}}}},
       "headers"},
      {{{"url", std::string("https://hooks.example")}, {"timeout", std::string("0ms")}}, "timeout"},
  };
  for (const auto& c : cases) {
    MapSettings settings(c.values);
    build("webhook", settings);
    ASSERT_EQ(settings.errors.size(), 1u) << c.key << ": " << settings.all_errors();
    EXPECT_EQ(settings.errors[0].rfind(c.key + ": ", 0), 0u) << settings.errors[0];
  }
}

TEST_F(BuiltinNotifier, SlackReadsItsUrlFromTheFileOnEverySendAndNeverShowsIt) {
  const std::string secret_url = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX";
  testing::write_file(dir_.file("slack-url"), secret_url + "\n");
  MapSettings settings({{"url_file", dir_.file("slack-url")},
                        {"channel", std::string("#deploys")},
                        {"username", std::string("rollback-bot")}});
  auto notifier = build("slack", settings);
  ASSERT_TRUE(notifier);
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  EXPECT_EQ(notifier->type(), "slack");
  EXPECT_FALSE(contains(notifier->describe(), "XXXXsecretXXXX")) << notifier->describe();
  EXPECT_TRUE(contains(notifier->describe(), dir_.file("slack-url"))) << notifier->describe();

  log_->script = {TransportLog::ok_response(200, "ok"), TransportLog::ok_response(404, "no_service for " + secret_url),
                  TransportLog::transport_error(rs::TransportError::kConnect, "POST " + secret_url + ": refused"),
                  TransportLog::ok_response(200, "ok")};
  EXPECT_TRUE(notifier->send(started(), 30s).ok);
  SendResult gone = notifier->send(started(), 30s);
  EXPECT_FALSE(gone.ok);
  EXPECT_FALSE(gone.retryable);
  EXPECT_FALSE(contains(gone.detail, "XXXXsecretXXXX")) << gone.detail;
  SendResult refused = notifier->send(started(), 30s);
  EXPECT_FALSE(refused.ok);
  EXPECT_TRUE(refused.retryable);
  EXPECT_FALSE(contains(refused.detail, "XXXXsecretXXXX")) << refused.detail;

  testing::write_file(dir_.file("slack-url"), "https://hooks.slack.com/services/rotated");
  EXPECT_TRUE(notifier->send(started(), 30s).ok);

  auto sent = log_->sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].url, secret_url);
  EXPECT_EQ(testing::header(sent[0], "Authorization"), "");
  EXPECT_EQ(nlohmann::json::parse(sent[0].body), slack_message(started(), "#deploys", "rollback-bot"));
  EXPECT_EQ(sent[3].url, "https://hooks.slack.com/services/rotated");
}

TEST_F(BuiltinNotifier, SlackWithoutItsUrlFileFailsRetryablyWithoutARequest) {
  MapSettings settings({{"url_file", dir_.file("not-yet")}});
  auto notifier = build("slack", settings);
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  SendResult r = notifier->send(started(), 30s);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_TRUE(contains(r.detail, dir_.file("not-yet"))) << r.detail;
  EXPECT_TRUE(log_->sent().empty());
}

TEST_F(BuiltinNotifier, SlackRefusesAUrlInTheConfig) {
  MapSettings inline_url(
      {{"url", std::string("https://hooks.slack.com/services/T000/B000/XXXX")}, {"url_file", dir_.file("slack-url")}});
  build("slack", inline_url);
  ASSERT_EQ(inline_url.errors.size(), 1u) << inline_url.all_errors();
  EXPECT_EQ(inline_url.errors[0].rfind("url: ", 0), 0u) << inline_url.errors[0];
  EXPECT_TRUE(contains(inline_url.errors[0], "url_file")) << inline_url.errors[0];
  EXPECT_FALSE(contains(inline_url.errors[0], "XXXX")) << "the secret is not repeated in the error";

  MapSettings none;
  build("slack", none);
  ASSERT_EQ(none.errors.size(), 1u) << none.all_errors();
  EXPECT_EQ(none.errors[0].rfind("url_file: ", 0), 0u) << none.errors[0];

  MapSettings zero({{"url_file", dir_.file("slack-url")}, {"timeout", std::string("0s")}});
  build("slack", zero);
  ASSERT_EQ(zero.errors.size(), 1u) << zero.all_errors();
  EXPECT_EQ(zero.errors[0].rfind("timeout: ", 0), 0u) << zero.errors[0];
}

}  // namespace
}  // namespace rs::notifiers
