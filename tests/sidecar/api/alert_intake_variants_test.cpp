// Webhook variants other senders produce (docs/input-formats.md): refused by name, or parsed
// with what the payload says about itself (truncatedAlerts, groupKey) exposed.
#include <gtest/gtest.h>

#include "sidecar/api/alert_intake.h"

namespace rs::sidecar {
namespace {

std::string body(const std::string& top) {
  return "{" + top + R"(,"alerts":[{"status":"firing","labels":{"alertname":"X"},"startsAt":"2024-01-01T00:00:00Z"}]})";
}

std::string refused(const std::string& payload) {
  std::vector<ReceivedAlert> alerts;
  std::string error;
  EXPECT_FALSE(parse_alertmanager_webhook(payload, &alerts, &error)) << payload;
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(AlertIntakeVariants, VersionsOtherThan4AreRefusedByName) {
  EXPECT_EQ(refused(body(R"("status":"firing")")),
            "version is missing (need \"4\": an Alertmanager webhook payload version 4)");
  EXPECT_EQ(refused(body(R"("version":0)")),
            "version must be \"4\" (Alertmanager webhook payload version 4), got number 0");
  EXPECT_EQ(refused(body(R"("version":"3")")),
            "version must be \"4\" (Alertmanager webhook payload version 4), got the string \"3\"");
  EXPECT_NE(refused(body(R"("version":"1")")).find("Grafana"), std::string::npos);
  EXPECT_EQ(refused(body(R"("version":4)")),
            "version must be \"4\" (Alertmanager webhook payload version 4), got number 4");
  // A deeply nested version is named by its type, not dumped.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(refused(body(R"("version":)" + deep)),
            "version must be \"4\" (Alertmanager webhook payload version 4), got an array");
}

TEST(AlertIntakeVariants, GroupKeyMustBeAString) {
  EXPECT_EQ(refused(body(R"("version":"4","groupKey":43434343434343434343)")),
            "groupKey must be a string, got number 4.343434343434343e+19");
}

TEST(AlertIntakeVariants, TruncatedAlertsAreExposed) {
  std::vector<ReceivedAlert> alerts;
  std::string error;
  WebhookInfo info;
  ASSERT_TRUE(parse_alertmanager_webhook(
      body(R"("version":"4","receiver":"rs","status":"firing","groupKey":"{}:{a=\"b\"}","truncatedAlerts":123)"),
      &alerts, &error, &info))
      << error;
  EXPECT_EQ(info.truncated_alerts, 123);
  EXPECT_EQ(info.receiver, "rs");
  EXPECT_EQ(info.group_key, "{}:{a=\"b\"}");
  EXPECT_EQ(alerts.size(), 1u);
  EXPECT_NE(refused(body(R"("version":"4","truncatedAlerts":-1)")).find("truncatedAlerts"), std::string::npos);
  EXPECT_NE(refused(body(R"("version":"4","truncatedAlerts":1.5)")).find("truncatedAlerts"), std::string::npos);
  ASSERT_TRUE(parse_alertmanager_webhook(body(R"("version":"4","truncatedAlerts":18446744073709551615)"), &alerts,
                                         &error, &info))
      << error;
  EXPECT_GT(info.truncated_alerts, 0);
}

TEST(AlertIntakeVariants, AlertWithoutStatusSaysSo) {
  EXPECT_EQ(refused(R"({"version":"4","alerts":[{"labels":{"a":"b"}}]})"),
            "alerts[0].status must be \"firing\" or \"resolved\", got nothing (the alert has no status)");
  EXPECT_EQ(refused(R"({"version":"4","alerts":[{"status":"pending","labels":{}}]})"),
            "alerts[0].status must be \"firing\" or \"resolved\", got the string \"pending\"");
}

TEST(AlertIntakeVariants, GroupStatusMustBeKnown) {
  EXPECT_NE(refused(body(R"("version":"4","status":"weird")")).find("status must be"), std::string::npos);
}

}  // namespace
}  // namespace rs::sidecar
