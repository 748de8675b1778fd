// The Alertmanager intake against hostile and odd-but-real payloads: huge label values are matched
// in linear time (std::regex overflowed the stack on them, a crash loop since Alertmanager re-sends),
// patterns are fully anchored RE2, and Go's zero startsAt is "unknown", never a time that bricks the
// state file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "sidecar/api/alert_intake.h"
#include "sidecar/config/config.h"
#include "sidecar/policy/decision.h"
#include "sidecar/core/state_store.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

// The alerts section as the loader builds it (patterns compiled once).
AlertsConfig loaded_alerts(const std::string& match_yaml) {
  LoadResult r = load_config_text(
      "prometheus: {url: 'http://prom:9090'}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary, vars: {service: checkout}}\n"
      "rules: [{name: e, query: x, above: 1}]\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n"
      "api: {bearer_token_file: /run/token}\n"
      "alerts: {match: " +
          match_yaml + "}\n",
      "c.yml", actuators::Registry::builtin());
  EXPECT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  return r.loaded ? r.loaded->config.alerts : AlertsConfig{};
}

ReceivedAlert alert_with(std::map<std::string, std::string> labels) {
  ReceivedAlert a;
  a.status = "firing";
  a.labels = std::move(labels);
  return a;
}

TEST(AlertMatches, A50KBLabelValueIsMatchedNotACrash) {
  const AlertsConfig config = loaded_alerts("{severity: 'sev1|sev2', summary: '.*', service: '.*{{service}}.*'}");
  ASSERT_TRUE(config.enabled);
  const std::string huge(50 * 1024, 'x');
  EXPECT_TRUE(alert_matches(
      alert_with({{"severity", "sev1"}, {"summary", huge}, {"service", huge + "checkout" + huge}}), config));
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "sev1"}, {"summary", huge}, {"service", huge}}), config))
      << "no 'checkout' in it";
  EXPECT_FALSE(alert_matches(alert_with({{"severity", huge}, {"summary", huge}, {"service", "checkout"}}), config));
  // Much larger still: RE2 runs in linear time and constant stack.
  const std::string megabytes(4 * 1024 * 1024, 'y');
  EXPECT_TRUE(
      alert_matches(alert_with({{"severity", "sev2"}, {"summary", megabytes}, {"service", "checkout"}}), config));
}

TEST(AlertMatches, PatternsAreFullyAnchoredLikeAlertmanagersMatchers) {
  const AlertsConfig config = loaded_alerts("{severity: 'sev1|sev2', service: '{{service}}'}");
  EXPECT_TRUE(alert_matches(alert_with({{"severity", "sev2"}, {"service", "checkout"}}), config));
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "sev10"}, {"service", "checkout"}}), config))
      << "sev1|sev2 is ^(?:sev1|sev2)$, not ^sev1|sev2$";
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "xsev2"}, {"service", "checkout"}}), config));
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "sev1"}, {"service", "checkout-v2"}}), config));
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "sev1"}}), config)) << "a missing label is \"\"";
  EXPECT_TRUE(alert_matches(alert_with({{"severity", "sev1"}}), loaded_alerts("{severity: sev1, team: '.*'}")))
      << "a missing label is \"\", which .* matches";
  EXPECT_TRUE(alert_matches(alert_with({{"severity", "SEV1"}}), loaded_alerts("{severity: '(?i)sev1'}")));
}

TEST(AlertMatches, AHandBuiltConfigWithoutCompiledPatternsStillMatches) {
  AlertsConfig config;
  config.enabled = true;
  config.match = {{"severity", "sev1|sev2"}, {"summary", ".*"}};
  const std::string huge(50 * 1024, 'x');
  EXPECT_TRUE(alert_matches(alert_with({{"severity", "sev2"}, {"summary", huge}}), config));
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "sev3"}, {"summary", huge}}), config));
  config.match = {{"severity", "sev(1"}};  // invalid: never matches
  EXPECT_FALSE(alert_matches(alert_with({{"severity", "sev(1"}}), config));
}

std::string webhook(const std::string& starts_at) {
  nlohmann::json alert = {{"status", "firing"},
                          {"labels", {{"alertname", "HighErrorRate"}, {"severity", "sev1"}, {"service", "checkout"}}},
                          {"annotations", {{"summary", "errors"}}},
                          {"startsAt", starts_at},
                          {"endsAt", "0001-01-01T00:00:00Z"},
                          {"generatorURL", "http://prometheus/graph"},
                          {"fingerprint", "c0ffee"}};
  return nlohmann::json{{"version", "4"}, {"status", "firing"}, {"receiver", "sidecar"}, {"alerts", {alert}}}.dump();
}

TEST(AlertIntake, GoZeroStartsAtIsAcceptedAsUnknown) {
  std::vector<ReceivedAlert> alerts;
  std::string error;
  ASSERT_TRUE(parse_alertmanager_webhook(webhook("0001-01-01T00:00:00Z"), &alerts, &error)) << error;
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].starts_at, "0001-01-01T00:00:00Z") << "kept as sent (evidence, de-duplication)";
  EXPECT_FALSE(alerts[0].started) << "out of range: unknown, detection time not measured from it";
  EXPECT_EQ(alerts[0].key(), "c0ffee@0001-01-01T00:00:00Z");

  for (const char* far : {"0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999Z"}) {
    ASSERT_TRUE(parse_alertmanager_webhook(webhook(far), &alerts, &error)) << far << ": " << error;
    EXPECT_FALSE(alerts[0].started) << far;
  }
}

TEST(AlertIntake, AlertmanagersNanosecondsAndOffsetsParse) {
  std::vector<ReceivedAlert> alerts;
  std::string error;
  ASSERT_TRUE(parse_alertmanager_webhook(webhook("2024-01-01T10:00:00.123456789Z"), &alerts, &error)) << error;
  ASSERT_TRUE(alerts[0].started);
  EXPECT_EQ(to_rfc3339(*alerts[0].started), "2024-01-01T10:00:00.123Z");
  ASSERT_TRUE(parse_alertmanager_webhook(webhook("2024-01-01T12:00:00.5+02:00"), &alerts, &error)) << error;
  ASSERT_TRUE(alerts[0].started);
  EXPECT_EQ(to_rfc3339(*alerts[0].started), "2024-01-01T10:00:00.500Z");
}

TEST(AlertIntake, AMalformedStartsAtIsStillRejectedNamingTheField) {
  std::vector<ReceivedAlert> alerts;
  std::string error;
  EXPECT_FALSE(parse_alertmanager_webhook(webhook("yesterday"), &alerts, &error));
  EXPECT_EQ(error, "alerts[0].startsAt 'yesterday' is not an RFC 3339 time");
  EXPECT_FALSE(parse_alertmanager_webhook(webhook(std::string(100000, '7')), &alerts, &error));
  EXPECT_LT(error.size(), 300u) << "quotes only the start of a huge value";
}

// The state file written after such an alert (the decision carries the alert's startsAt as its
// first breach, and the alert as evidence) loads again: a restart is not bricked.
TEST(AlertIntake, TheStateFileAfterAZeroStartsAtAlertLoadsAgain) {
  std::vector<ReceivedAlert> alerts;
  std::string error;
  ASSERT_TRUE(parse_alertmanager_webhook(webhook("0001-01-01T00:00:00Z"), &alerts, &error)) << error;
  const ReceivedAlert& alert = alerts.at(0);

  Decision d;
  d.id = 1;
  d.kind = DecisionKind::kRollback;
  d.trigger = Trigger::kAlert;
  d.rule = "HighErrorRate";
  d.severity = "sev1";
  d.first_breach = alert.started;  // what Api::post_alerts passes as RollbackRequest::started_at
  d.decided_at = WallTime(std::chrono::hours(480000)) + 7ms;
  d.reason = "alert HighErrorRate firing since " + alert.starts_at;
  d.details = alert.evidence();
  d.result = RollbackResult::kSuccess;
  d.completed_at = d.decided_at + 2s;
  PersistedState s;
  s.identity = "name=checkout;stage=prod";
  s.state = DeploymentState::kRolledBack;
  s.last_decision = d;

  testing::TempDir dir;
  StateStore store(dir.file("state.json"));
  ASSERT_TRUE(store.save(s, &error)) << error;
  std::optional<PersistedState> loaded;
  ASSERT_TRUE(store.load(&loaded, &error)) << error << "\n" << testing::read_file(dir.file("state.json"));
  ASSERT_TRUE(loaded && loaded->last_decision);
  EXPECT_EQ(loaded->state, DeploymentState::kRolledBack);
  EXPECT_FALSE(loaded->last_decision->first_breach);
  EXPECT_EQ(loaded->last_decision->decided_at, d.decided_at);
  EXPECT_EQ(loaded->last_decision->details["startsAt"], "0001-01-01T00:00:00Z");
}

// Whatever times the program holds, the state store round-trips: to_rfc3339 clamps to the range
// parse_rfc3339 accepts.
TEST(StateStoreTimes, ExtremeTimesStillLoadAgain) {
  testing::TempDir dir;
  StateStore store(dir.file("state.json"));
  for (const WallTime t :
       {WallTime::min(), WallTime(-1ms), WallTime(-std::chrono::hours(24 * 365 * 215)), WallTime::max(), WallTime{}}) {
    Decision d;
    d.id = 2;
    d.kind = DecisionKind::kRollback;
    d.first_breach = t;
    d.firing_since = t;
    d.decided_at = t;
    d.completed_at = t;
    PersistedState s;
    s.identity = "i";
    s.state = DeploymentState::kRolledBack;
    s.last_decision = d;
    s.freeze = Freeze{"r", "a", t};
    std::string error;
    ASSERT_TRUE(store.save(s, &error)) << error;
    std::optional<PersistedState> loaded;
    EXPECT_TRUE(store.load(&loaded, &error)) << error << "\n" << testing::read_file(dir.file("state.json"));
  }
}

}  // namespace
}  // namespace rs::sidecar
