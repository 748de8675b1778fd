// Notification (JSON round trip, strict parsing, title and text), the Alertmanager alert body
// and the Slack message body, on hand-built notifications.
#include <gtest/gtest.h>

#include <string>

#include "notifiers/alertmanager.h"
#include "notifiers/notifier.h"
#include "notifiers/slack.h"

namespace rs::notifiers {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every field set, each to a distinct value, so a swapped or dropped field shows.
Notification full(const std::string& message = "RollbackSucceeded") {
  Notification n;
  n.id = "checkout/prod/7/2026-11-23T10:00:00.000Z/" + message;
  n.message = message;
  n.deployment = "checkout";
  n.stage = "prod";
  n.strategy = "canary";
  n.decision_id = 7;
  n.trigger = "rule";
  n.rule = "error-rate";
  n.severity = "page";
  n.query = "sum(rate(errors[1m]))";
  n.comparison = "above";
  n.value = "0.31";
  n.threshold = "0.05";
  n.reason = "error-rate 0.31 above 0.05 for 1m";
  n.state = "rolled_back";
  n.result = "success";
  n.verification = "verified";
  n.started_at = "2026-11-23T09:59:00.000Z";
  n.decided_at = "2026-11-23T10:00:00.000Z";
  n.completed_at = "2026-11-23T10:00:00.250Z";
  n.duration_seconds = 0.25;
  n.timeline = {{"2026-11-23T09:59:00.000Z", "first breach of error-rate"},
                {"2026-11-23T10:00:00.000Z", "decision #7: rollback"},
                {"2026-11-23T10:00:00.250Z", "rollback success"}};
  return n;
}

TEST(NotificationJson, RoundTripsEveryField) {
  const Notification n = full();
  Notification back;
  std::string error;
  // Through text too, as the outbox stores it.
  ASSERT_TRUE(Notification::from_json(nlohmann::json::parse(n.to_json().dump()), &back, &error)) << error;
  EXPECT_EQ(back.id, n.id);
  EXPECT_EQ(back.message, n.message);
  EXPECT_EQ(back.deployment, "checkout");
  EXPECT_EQ(back.stage, "prod");
  EXPECT_EQ(back.strategy, "canary");
  EXPECT_EQ(back.decision_id, 7u);
  EXPECT_EQ(back.trigger, "rule");
  EXPECT_EQ(back.rule, "error-rate");
  EXPECT_EQ(back.severity, "page");
  EXPECT_EQ(back.query, n.query);
  EXPECT_EQ(back.comparison, "above");
  EXPECT_EQ(back.value, "0.31");
  EXPECT_EQ(back.threshold, "0.05");
  EXPECT_EQ(back.reason, n.reason);
  EXPECT_EQ(back.state, "rolled_back");
  EXPECT_EQ(back.result, "success");
  EXPECT_EQ(back.verification, "verified");
  EXPECT_EQ(back.started_at, n.started_at);
  EXPECT_EQ(back.decided_at, n.decided_at);
  EXPECT_EQ(back.completed_at, n.completed_at);
  ASSERT_TRUE(back.duration_seconds.has_value());
  EXPECT_DOUBLE_EQ(*back.duration_seconds, 0.25);
  EXPECT_EQ(back.timeline, n.timeline);
  EXPECT_EQ(back.to_json(), n.to_json());
}

TEST(NotificationJson, ARunningRollbackHasNullDurationAndEmptyCompletion) {
  Notification n = full("RollbackStarted");
  n.duration_seconds.reset();
  n.completed_at.clear();
  n.result.clear();
  n.timeline.clear();
  const nlohmann::json j = n.to_json();
  EXPECT_TRUE(j.at("duration_seconds").is_null());
  EXPECT_EQ(j.at("timeline"), nlohmann::json::array());
  EXPECT_EQ(j.at("title"), n.title());
  Notification back;
  std::string error;
  ASSERT_TRUE(Notification::from_json(j, &back, &error)) << error;
  EXPECT_FALSE(back.duration_seconds.has_value());
  EXPECT_TRUE(back.timeline.empty());
  EXPECT_EQ(back.to_json(), j);
}

TEST(NotificationJson, EveryMissingOrMistypedFieldIsRejectedByName) {
  const char* const strings[] = {"id",           "message",    "deployment", "stage",       "strategy",
                                 "trigger",      "rule",       "severity",   "query",       "comparison",
                                 "value",        "threshold",  "reason",     "state",       "result",
                                 "verification", "started_at", "decided_at", "completed_at"};
  for (const char* key : strings) {
    SCOPED_TRACE(key);
    Notification out;
    std::string error;
    nlohmann::json missing = full().to_json();
    missing.erase(key);
    EXPECT_FALSE(Notification::from_json(missing, &out, &error));
    EXPECT_TRUE(contains(error, std::string("'") + key + "'")) << error;

    nlohmann::json mistyped = full().to_json();
    mistyped[key] = 42;
    error.clear();
    EXPECT_FALSE(Notification::from_json(mistyped, &out, &error));
    EXPECT_TRUE(contains(error, std::string("'") + key + "'")) << error;
  }
  struct Case {
    const char* key;
    nlohmann::json value;  // null: erase the key
  };
  const Case others[] = {
      {"decision_id", nullptr}, {"decision_id", "7"},         {"decision_id", -1},
      {"decision_id", 1.5},     {"duration_seconds", "0.25"}, {"duration_seconds", nlohmann::json::array()},
      {"timeline", nullptr},    {"timeline", "first breach"}, {"timeline", nlohmann::json::object()},
  };
  for (const auto& c : others) {
    SCOPED_TRACE(std::string(c.key) + " = " + c.value.dump());
    nlohmann::json j = full().to_json();
    if (c.value.is_null())
      j.erase(c.key);
    else
      j[c.key] = c.value;
    Notification out;
    std::string error;
    EXPECT_FALSE(Notification::from_json(j, &out, &error));
    EXPECT_TRUE(contains(error, std::string("'") + c.key + "'")) << error;
  }
}

TEST(NotificationJson, BadTimelineEntriesAndNonObjectsAreRejected) {
  const nlohmann::json bad_entries[] = {
      nlohmann::json::array({"2026-11-23T10:00:00.000Z decision"}),
      nlohmann::json::array({{{"time", "2026-11-23T10:00:00.000Z"}}}),
      nlohmann::json::array({{{"event", "decision"}}}),
      nlohmann::json::array({{{"time", 1700000000}, {"event", "decision"}}}),
      nlohmann::json::array({{{"time", "2026-11-23T10:00:00.000Z"}, {"event", nullptr}}}),
  };
  for (const auto& tl : bad_entries) {
    SCOPED_TRACE(tl.dump());
    nlohmann::json j = full().to_json();
    j["timeline"] = tl;
    Notification out;
    std::string error;
    EXPECT_FALSE(Notification::from_json(j, &out, &error));
    EXPECT_TRUE(contains(error, "timeline")) << error;
  }
  for (const auto& j : {nlohmann::json::array(), nlohmann::json("x"), nlohmann::json(nullptr)}) {
    Notification out = full();
    std::string error;
    EXPECT_FALSE(Notification::from_json(j, &out, &error));
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(out.to_json(), full().to_json()) << "a rejected document leaves the output alone";
  }
}

TEST(NotificationText, TitleNamesMessageDeploymentAndEvidence) {
  EXPECT_EQ(full("RollbackSucceeded").title(), "Rollback succeeded: checkout (prod): error-rate 0.31 above 0.05");
  EXPECT_EQ(full("RollbackStarted").title(), "Rollback started: checkout (prod): error-rate 0.31 above 0.05");
  EXPECT_EQ(full("RollbackFailed").title(), "ROLLBACK FAILED: checkout (prod): error-rate 0.31 above 0.05");
  EXPECT_EQ(full("RollbackDryRun").title(), "Would roll back (dry run): checkout (prod): error-rate 0.31 above 0.05");
  EXPECT_EQ(full("RuleNotify").title(), "Rule firing: checkout (prod): error-rate 0.31 above 0.05");

  Notification manual = full("RollbackStarted");
  manual.trigger = "manual";
  manual.rule.clear();
  manual.value.clear();
  manual.threshold.clear();
  manual.comparison.clear();
  EXPECT_EQ(manual.title(), "Rollback started: checkout (prod): manual");
}

TEST(NotificationText, TextCarriesTheEvidenceStatusAndTimeline) {
  const std::string text = full().text();
  EXPECT_TRUE(contains(text, "Deployment: checkout (stage prod, strategy canary)\n")) << text;
  EXPECT_TRUE(contains(text, "Trigger: rule error-rate (severity page)\n")) << text;
  EXPECT_TRUE(contains(text, "Query: sum(rate(errors[1m]))\n")) << text;
  EXPECT_TRUE(contains(text, "Value: 0.31 (above threshold 0.05)\n")) << text;
  EXPECT_TRUE(contains(text, "Reason: error-rate 0.31 above 0.05 for 1m\n")) << text;
  EXPECT_TRUE(contains(text, "Status: rolled_back, result success, took 0.250 s, verification verified\n")) << text;
  EXPECT_TRUE(contains(text,
                       "Timeline:\n- 2026-11-23T09:59:00.000Z first breach of error-rate\n"
                       "- 2026-11-23T10:00:00.000Z decision #7: rollback\n"
                       "- 2026-11-23T10:00:00.250Z rollback success\n"))
      << text;

  Notification manual = full("RollbackStarted");
  manual.trigger = "manual";
  manual.rule.clear();
  manual.severity.clear();
  manual.query.clear();
  manual.value.clear();
  manual.result.clear();
  manual.verification.clear();
  manual.duration_seconds.reset();
  manual.timeline.clear();
  manual.state = "rolling_back";
  const std::string short_text = manual.text();
  EXPECT_TRUE(contains(short_text, "Trigger: manual\n")) << short_text;
  EXPECT_FALSE(contains(short_text, "Query:")) << short_text;
  EXPECT_FALSE(contains(short_text, "Value:")) << short_text;
  EXPECT_FALSE(contains(short_text, "Timeline:")) << short_text;
  EXPECT_TRUE(contains(short_text, "Status: rolling_back\n")) << short_text;
}

TEST(AlertmanagerAlerts, LabelsNameTheMessageAndSeverityIsCriticalOnlyForAFailure) {
  for (const char* message :
       {"RollbackStarted", "RollbackSucceeded", "RollbackFailed", "RollbackDryRun", "RuleNotify"}) {
    SCOPED_TRACE(message);
    Notification n = full(message);
    const nlohmann::json alerts = alertmanager_alerts(n, {});
    ASSERT_TRUE(alerts.is_array());
    ASSERT_GE(alerts.size(), 1u);
    const nlohmann::json& labels = alerts[0].at("labels");
    EXPECT_EQ(labels.at("alertname"), message);
    EXPECT_EQ(labels.at("severity"), std::string(message) == "RollbackFailed" ? "critical" : "warning");
    EXPECT_EQ(labels.at("deployment"), "checkout");
    EXPECT_EQ(labels.at("stage"), "prod");
    EXPECT_EQ(labels.at("trigger"), "rule");
    EXPECT_EQ(labels.at("rule"), "error-rate");
    EXPECT_EQ(labels.at("source"), "rollback-sidecar");
    for (const auto& [name, value] : labels.items()) {
      EXPECT_TRUE(value.is_string()) << name;
      EXPECT_FALSE(value.get<std::string>().empty()) << name;
    }
  }
}

TEST(AlertmanagerAlerts, ExtraLabelsAreAddedAndAConfiguredSeverityWins) {
  const nlohmann::json alerts =
      alertmanager_alerts(full("RollbackFailed"), {{"team", "payments"}, {"severity", "page"}});
  ASSERT_EQ(alerts.size(), 2u);
  for (const auto& alert : alerts) {
    EXPECT_EQ(alert.at("labels").at("team"), "payments");
    EXPECT_EQ(alert.at("labels").at("severity"), "page");
  }
}

TEST(AlertmanagerAlerts, EmptyValuesAreLeftOut) {
  Notification n = full("RollbackStarted");
  n.rule.clear();
  n.stage.clear();
  n.query.clear();
  n.value.clear();
  n.threshold.clear();
  n.verification.clear();
  n.timeline.clear();
  n.completed_at.clear();
  n.result.clear();
  n.duration_seconds.reset();
  const nlohmann::json alerts = alertmanager_alerts(n, {{"team", ""}, {"severity", ""}});
  ASSERT_EQ(alerts.size(), 1u);
  const nlohmann::json& labels = alerts[0].at("labels");
  EXPECT_FALSE(labels.contains("rule")) << labels.dump();
  EXPECT_FALSE(labels.contains("stage")) << labels.dump();
  EXPECT_FALSE(labels.contains("team")) << labels.dump();
  EXPECT_EQ(labels.at("severity"), "warning") << "an empty configured severity does not blank the default";
  const nlohmann::json& annotations = alerts[0].at("annotations");
  for (const char* key : {"query", "value", "threshold", "verification", "timeline", "duration_seconds"}) {
    EXPECT_FALSE(annotations.contains(key)) << key << " in " << annotations.dump();
  }
  for (const auto& [name, value] : annotations.items()) {
    EXPECT_FALSE(value.get<std::string>().empty()) << name;
  }
  EXPECT_FALSE(alerts[0].contains("endsAt"));
}

TEST(AlertmanagerAlerts, AnnotationsCarryTheEvidence) {
  const Notification n = full("RollbackSucceeded");
  const nlohmann::json annotations = alertmanager_alerts(n, {})[0].at("annotations");
  EXPECT_EQ(annotations.at("summary"), n.title());
  EXPECT_EQ(annotations.at("description"), n.text());
  EXPECT_EQ(annotations.at("query"), "sum(rate(errors[1m]))");
  EXPECT_EQ(annotations.at("value"), "0.31");
  EXPECT_EQ(annotations.at("threshold"), "above 0.05");
  EXPECT_EQ(annotations.at("reason"), n.reason);
  EXPECT_EQ(annotations.at("status"), "rolled_back (success)");
  EXPECT_EQ(annotations.at("decision_id"), "7");
  EXPECT_EQ(annotations.at("notification_id"), n.id);
  EXPECT_EQ(annotations.at("timeline"),
            "2026-11-23T09:59:00.000Z first breach of error-rate\n"
            "2026-11-23T10:00:00.000Z decision #7: rollback\n"
            "2026-11-23T10:00:00.250Z rollback success\n");
  ASSERT_TRUE(annotations.contains("duration_seconds"));
  EXPECT_DOUBLE_EQ(std::stod(annotations.at("duration_seconds").get<std::string>()), 0.25);
}

TEST(AlertmanagerAlerts, StartsAtIsWhenTheEventHappened) {
  EXPECT_EQ(alertmanager_alerts(full("RollbackSucceeded"), {})[0].at("startsAt"), "2026-11-23T10:00:00.250Z");
  EXPECT_EQ(alertmanager_alerts(full("RollbackFailed"), {})[0].at("startsAt"), "2026-11-23T10:00:00.250Z");
  // A RollbackStarted built from a finished decision (recovery) still starts at the decision.
  EXPECT_EQ(alertmanager_alerts(full("RollbackStarted"), {})[0].at("startsAt"), "2026-11-23T10:00:00.000Z");
  Notification running = full("RollbackStarted");
  running.completed_at.clear();
  EXPECT_EQ(alertmanager_alerts(running, {})[0].at("startsAt"), "2026-11-23T10:00:00.000Z");
}

TEST(AlertmanagerAlerts, AnEndedRollbackResolvesItsStartedAlert) {
  const nlohmann::json started = alertmanager_alerts(full("RollbackStarted"), {{"team", "payments"}});
  ASSERT_EQ(started.size(), 1u) << "a start resolves nothing";
  EXPECT_FALSE(started[0].contains("endsAt"));
  const nlohmann::json ended = alertmanager_alerts(full("RollbackSucceeded"), {{"team", "payments"}});
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[1].at("labels"), started[0].at("labels")) << "the same label set resolves the same alert";
  EXPECT_EQ(ended[1].at("startsAt"), "2026-11-23T10:00:00.000Z");
  EXPECT_EQ(ended[1].at("endsAt"), "2026-11-23T10:00:00.250Z");
  EXPECT_EQ(alertmanager_alerts(full("RollbackDryRun"), {}).size(), 1u);
  EXPECT_EQ(alertmanager_alerts(full("RuleNotify"), {}).size(), 1u);
}

TEST(SlackMessage, EmojiTitleAndTextInTheBody) {
  const Notification ok = full("RollbackSucceeded");
  const nlohmann::json body = slack_message(ok, "", "");
  EXPECT_EQ(body.at("text"), ":white_check_mark: *" + ok.title() + "*\n```" + ok.text() + "```");
  EXPECT_FALSE(body.contains("channel"));
  EXPECT_FALSE(body.contains("username"));
  EXPECT_EQ(slack_message(full("RollbackFailed"), "", "").at("text").get<std::string>().rfind(":rotating_light: *", 0),
            0u);
  for (const char* message : {"RollbackStarted", "RollbackDryRun", "RuleNotify"}) {
    EXPECT_EQ(slack_message(full(message), "", "").at("text").get<std::string>().rfind(":warning: *", 0), 0u)
        << message;
  }
}

TEST(SlackMessage, ChannelAndUsernameWhenSet) {
  const nlohmann::json body = slack_message(full(), "#deploys", "rollback-bot");
  EXPECT_EQ(body.at("channel"), "#deploys");
  EXPECT_EQ(body.at("username"), "rollback-bot");
  EXPECT_EQ(body.size(), 3u);
}

}  // namespace
}  // namespace rs::notifiers
