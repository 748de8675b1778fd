// NotificationDispatcher with scripted notifiers: in-order delivery per notifier, drops, message
// filters, the outbox across restarts, recovery of messages a crash never queued.
#include <gtest/gtest.h>

#include <deque>
#include <mutex>

#include "sidecar/records/notification_dispatcher.h"
#include "notifiers/alertmanager.h"
#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

// Answers with scripted results (the last one repeats) and records what it was sent.
class ScriptedNotifier : public notifiers::Notifier {
 public:
  ScriptedNotifier(std::string name, std::vector<notifiers::SendResult> script)
      : name_(std::move(name)), script_(std::move(script)) {}
  std::string type() const override { return "webhook"; }
  std::string describe() const override { return "scripted " + name_; }
  notifiers::SendResult send(const notifiers::Notification& n, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(n.message);
    return script_[std::min(sent_.size(), script_.size()) - 1];
  }
  std::vector<std::string> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

 private:
  std::string name_;
  std::vector<notifiers::SendResult> script_;
  std::mutex mu_;
  std::vector<std::string> sent_;
};

const notifiers::SendResult kOk = notifiers::SendResult::success("HTTP 200");
const notifiers::SendResult kBusy = notifiers::SendResult::failure("HTTP 503", true);
const notifiers::SendResult kRejected = notifiers::SendResult::failure("HTTP 400: bad payload", false);

NotifierSpec all_messages() {
  NotifierSpec spec;
  spec.type = "webhook";
  spec.messages = {"RollbackStarted", "RollbackSucceeded", "RollbackFailed", "RollbackDryRun", "RuleNotify"};
  return spec;
}

// The engine's view as the dispatcher reads it: only the deployment state matters to it.
StatusView status_of(DeploymentState state) {
  StatusView view;
  view.state = state;
  return view;
}

Decision rollback_decision(std::uint64_t id, RollbackResult result = RollbackResult::kRunning) {
  Decision d;
  d.id = id;
  d.kind = DecisionKind::kRollback;
  d.rule = "error-rate";
  d.query = "sum(rate(errors[1m]))";
  d.comparison = "above";
  d.value = 0.31;
  d.threshold = 0.05;
  d.decided_at = WallTime(std::chrono::hours(480000));
  d.result = result;
  if (result != RollbackResult::kRunning) d.completed_at = d.decided_at + 4ms;
  return d;
}

class Dispatcher : public ::testing::Test {
 protected:
  Dispatcher() {
    config_.deployment.name = "checkout";
    config_.deployment.stage = "prod";
  }
  std::unique_ptr<NotificationDispatcher> make(std::vector<NotificationDispatcher::Target> targets) {
    return std::make_unique<NotificationDispatcher>(config_, std::move(targets), metrics_, clock_, dir_.file("outbox"),
                                                    [this](const nlohmann::json& f) {
                                                      std::lock_guard<std::mutex> lock(mu_);
                                                      attempts_.push_back(f);
                                                    });
  }
  double metric(const std::string& series) { return testing::metric_value(metrics_.serialize(), series); }

  testing::TempDir dir_;
  Config config_;
  SelfMetrics metrics_{"test", {}, deployment_state_names()};
  SystemClock clock_;
  std::mutex mu_;
  std::vector<nlohmann::json> attempts_;
};

TEST_F(Dispatcher, DeliversInOrderAndALaterMessageWaitsForAnEarlierRetry) {
  ScriptedNotifier slow("slow", {kBusy, kOk});  // the first attempt fails, then all succeed
  ScriptedNotifier fast("fast", {kOk});
  auto d = make({{&slow, all_messages()}, {&fast, all_messages()}});
  d->start();
  d->on_decision(rollback_decision(1));
  d->on_rollback_finished(rollback_decision(1, RollbackResult::kSuccess), status_of(DeploymentState::kRolledBack));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0; }, 10s)) << d->pending() << " pending";
  EXPECT_EQ(slow.sent(), (std::vector<std::string>{"RollbackStarted", "RollbackStarted", "RollbackSucceeded"}));
  EXPECT_EQ(fast.sent(), (std::vector<std::string>{"RollbackStarted", "RollbackSucceeded"}));
  EXPECT_EQ(metric("rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"failure\"}"), 1);
  EXPECT_EQ(metric("rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"success\"}"), 4);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(attempts_.size(), 5u);
}

TEST_F(Dispatcher, ANonRetryableFailureIsDroppedAtOnceAndCounted) {
  ScriptedNotifier rejecting("rejecting", {kRejected});
  auto d = make({{&rejecting, all_messages()}});
  d->start();
  d->on_decision(rollback_decision(1));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0; }, 5s));
  EXPECT_EQ(rejecting.sent().size(), 1u);
  EXPECT_EQ(metric("rollback_sidecar_notifications_total{notifier=\"webhook\",result=\"dropped\"}"), 1);
}

TEST_F(Dispatcher, OnlyTheConfiguredMessagesAreSent) {
  ScriptedNotifier failures_only("failures", {kOk});
  NotifierSpec spec = all_messages();
  spec.messages = {"RollbackFailed"};
  auto d = make({{&failures_only, spec}});
  d->start();
  d->on_decision(rollback_decision(1));
  d->on_rollback_finished(rollback_decision(1, RollbackResult::kFailure), status_of(DeploymentState::kRollbackFailed));
  ASSERT_TRUE(testing::wait_until([&] { return failures_only.sent().size() == 1; }, 5s));
  EXPECT_EQ(failures_only.sent(), (std::vector<std::string>{"RollbackFailed"}));
}

TEST_F(Dispatcher, TheOutboxCarriesUndeliveredMessagesToTheNextStart) {
  {
    ScriptedNotifier down("receiver", {kBusy});
    auto first = make({{&down, all_messages()}});
    first->start();
    first->on_decision(rollback_decision(3));
    ASSERT_TRUE(testing::wait_until([&] { return !down.sent().empty(); }, 5s));
    first->stop();
    EXPECT_EQ(first->pending(), 1u);
  }
  ScriptedNotifier up("receiver", {kOk});  // same describe(): the same receiver
  auto second = make({{&up, all_messages()}});
  second->start();
  ASSERT_TRUE(testing::wait_until([&] { return second->pending() == 0 && up.sent().size() == 1; }, 5s));
  EXPECT_EQ(up.sent(), (std::vector<std::string>{"RollbackStarted"}));
  second->recover(rollback_decision(3));  // already queued once: not again
  second->stop();
  EXPECT_EQ(up.sent().size(), 1u);
}

TEST_F(Dispatcher, RecoverQueuesWhatACrashNeverQueuedOnce) {
  ScriptedNotifier receiver("receiver", {kOk});
  auto d = make({{&receiver, all_messages()}});
  d->start();
  d->recover(rollback_decision(5, RollbackResult::kSuccess));
  d->recover(rollback_decision(5, RollbackResult::kSuccess));
  ASSERT_TRUE(testing::wait_until([&] { return receiver.sent().size() >= 2 && d->pending() == 0; }, 5s));
  d->stop();
  EXPECT_EQ(receiver.sent(), (std::vector<std::string>{"RollbackStarted", "RollbackSucceeded"}));
}

TEST_F(Dispatcher, ADeploymentThatComesBackWithTheSameDecisionIdIsStillNotified) {
  // v2 -> v3 -> v2 restarts decision ids at 1 under the same identity; the time tells them apart.
  ScriptedNotifier receiver("receiver", {kOk});
  auto d = make({{&receiver, all_messages()}});
  d->start();
  d->on_decision(rollback_decision(1));
  Decision later = rollback_decision(1);
  later.decided_at += std::chrono::hours(24);
  d->on_decision(later);
  ASSERT_TRUE(testing::wait_until([&] { return receiver.sent().size() == 2; }, 5s)) << receiver.sent().size();
}

TEST_F(Dispatcher, ACorruptOutboxIsMovedAsideNotFatal) {
  testing::write_file(dir_.file("outbox"), "{not json");
  ScriptedNotifier receiver("receiver", {kOk});
  auto d = make({{&receiver, all_messages()}});
  d->start();
  EXPECT_EQ(d->pending(), 0u);
  EXPECT_EQ(testing::read_file(dir_.file("outbox.corrupt")), "{not json");
  d->on_decision(rollback_decision(1));
  EXPECT_TRUE(testing::wait_until([&] { return receiver.sent().size() == 1; }, 5s));
}

TEST(Notification, RoundTripsThroughJsonAndRejectsBadFields) {
  Config config;
  config.deployment.name = "checkout";
  config.deployment.stage = "prod";
  Decision d = rollback_decision(9, RollbackResult::kSuccess);
  d.first_breach = d.decided_at - 3min;
  d.duration_seconds = 0.004;
  d.actuators.push_back({"haproxy 127.0.0.1:9999 backend app", StepResult::kChanged, "canary weight 10 -> 0", 1});
  notifiers::Notification n = make_notification(config, d, "RollbackSucceeded", "rolled_back");
  notifiers::Notification back;
  std::string error;
  ASSERT_TRUE(notifiers::Notification::from_json(n.to_json(), &back, &error)) << error;
  EXPECT_EQ(back.to_json(), n.to_json());
  EXPECT_EQ(n.title(), "Rollback succeeded: checkout (prod): error-rate 0.31 above 0.05");
  EXPECT_NE(n.text().find("haproxy 127.0.0.1:9999 backend app: changed"), std::string::npos) << n.text();
  auto broken = n.to_json();
  broken["decision_id"] = "nine";
  EXPECT_FALSE(notifiers::Notification::from_json(broken, &back, &error));
  EXPECT_NE(error.find("decision_id"), std::string::npos) << error;
}

TEST(AlertmanagerAlert, CarriesTheEvidenceAndSeverityFollowsTheMessage) {
  Config config;
  config.deployment.name = "checkout";
  config.deployment.stage = "prod";
  auto failed =
      make_notification(config, rollback_decision(2, RollbackResult::kFailure), "RollbackFailed", "rollback_failed");
  auto alerts = notifiers::alertmanager_alerts(failed, {{"team", "payments"}});
  ASSERT_EQ(alerts.size(), 2u) << "the failure, and the end of the RollbackStarted alert";
  EXPECT_EQ(alerts[1]["labels"]["alertname"], "RollbackStarted");
  EXPECT_EQ(alerts[1]["labels"]["severity"], "warning");
  EXPECT_EQ(alerts[1]["labels"]["team"], "payments");
  EXPECT_EQ(alerts[1]["endsAt"], failed.completed_at);
  EXPECT_EQ(alerts[0]["labels"]["alertname"], "RollbackFailed");
  EXPECT_EQ(alerts[0]["labels"]["severity"], "critical");
  EXPECT_EQ(alerts[0]["labels"]["team"], "payments");
  EXPECT_EQ(alerts[0]["labels"]["rule"], "error-rate");
  EXPECT_EQ(alerts[0]["annotations"]["threshold"], "above 0.05");
  EXPECT_EQ(alerts[0]["startsAt"], failed.completed_at);
  auto started = make_notification(config, rollback_decision(2), "RollbackStarted", "rolling_back");
  auto page = notifiers::alertmanager_alerts(started, {{"severity", "page"}});
  EXPECT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["labels"]["severity"], "page") << "a configured severity wins";
  EXPECT_EQ(page[0]["startsAt"], started.decided_at);
}

}  // namespace
}  // namespace rs::sidecar
