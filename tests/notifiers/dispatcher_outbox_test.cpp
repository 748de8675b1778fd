// NotificationDispatcher beyond the basics in dispatcher_test.cpp: recovery after the observer
// calls, the outbox file's contents, malformed outboxes of every kind, drops that free the queue,
// give_up_after, dry-run and notify messages, throwing notifiers, and the attempt records.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>
#include <mutex>

#include "sidecar/records/notification_dispatcher.h"
#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

// Answers with scripted results (the last one repeats; a "throw" detail throws instead) and
// records the messages it was sent.
class Scripted : public notifiers::Notifier {
 public:
  Scripted(std::string name, std::vector<notifiers::SendResult> script, std::string type = "webhook")
      : name_(std::move(name)), type_(std::move(type)), script_(std::move(script)) {}
  std::string type() const override { return type_; }
  std::string describe() const override { return "scripted " + name_; }
  notifiers::SendResult send(const notifiers::Notification& n, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(n.message);
    const auto& r = script_[std::min(sent_.size(), script_.size()) - 1];
    if (r.detail == "throw") throw std::runtime_error("boom");
    return r;
  }
  std::vector<std::string> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

 private:
  std::string name_, type_;
  std::vector<notifiers::SendResult> script_;
  std::mutex mu_;
  std::vector<std::string> sent_;
};

const notifiers::SendResult kOk = notifiers::SendResult::success("HTTP 200");
const notifiers::SendResult kBusy = notifiers::SendResult::failure("HTTP 503", true);
const notifiers::SendResult kRejected = notifiers::SendResult::failure("HTTP 400: bad payload", false);
const notifiers::SendResult kThrow = notifiers::SendResult::failure("throw", true);

using Messages = std::vector<std::string>;

NotifierSpec spec_for(Messages messages = {"RollbackStarted", "RollbackSucceeded", "RollbackFailed", "RollbackDryRun",
                                           "RuleNotify"}) {
  NotifierSpec spec;
  spec.type = "webhook";
  spec.messages = std::move(messages);
  return spec;
}

// The engine's view as the dispatcher reads it: only the deployment state matters to it.
StatusView status_of(DeploymentState state) {
  StatusView view;
  view.state = state;
  return view;
}

Decision decision(std::uint64_t id, DecisionKind kind = DecisionKind::kRollback,
                  RollbackResult result = RollbackResult::kRunning) {
  Decision d;
  d.id = id;
  d.kind = kind;
  d.rule = "error-rate";
  d.query = "sum(rate(errors[1m]))";
  d.comparison = "above";
  d.value = 0.31;
  d.threshold = 0.05;
  d.decided_at = WallTime(std::chrono::hours(480000)) + std::chrono::minutes(id);
  d.result = result;
  if (result != RollbackResult::kRunning) d.completed_at = d.decided_at + 4ms;
  return d;
}

class Outbox : public ::testing::Test {
 protected:
  Outbox() {
    config_.deployment.name = "checkout";
    config_.deployment.stage = "prod";
  }
  std::unique_ptr<NotificationDispatcher> make(std::vector<NotificationDispatcher::Target> targets) {
    return std::make_unique<NotificationDispatcher>(config_, std::move(targets), metrics_, clock_, path(),
                                                    [this](const nlohmann::json& f) {
                                                      std::lock_guard<std::mutex> lock(mu_);
                                                      attempts_.push_back(f);
                                                    });
  }
  std::string path() const { return dir_.file("state.json.notifications"); }
  nlohmann::json outbox_file() {
    std::string text = testing::read_file(path());
    return text.empty() ? nlohmann::json() : nlohmann::json::parse(text, nullptr, false);
  }
  double metric(const std::string& result, const std::string& type = "webhook") {
    return testing::metric_value(metrics_.serialize(), "rollback_sidecar_notifications_total{notifier=\"" + type +
                                                           "\",result=\"" + result + "\"}");
  }
  std::vector<nlohmann::json> attempts() {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }
  // Starts a dispatcher on `content` as the outbox file; it must survive and set it aside.
  void expect_set_aside(const std::string& content) {
    SCOPED_TRACE(content);
    testing::write_file(path(), content);
    std::remove((path() + ".corrupt").c_str());
    Scripted receiver("receiver", {kOk});
    auto d = make({{&receiver, spec_for()}});
    ASSERT_NO_THROW(d->start());
    EXPECT_EQ(d->pending(), 0u);
    EXPECT_EQ(testing::read_file(path() + ".corrupt"), content);
    d->on_decision(decision(1));
    EXPECT_TRUE(testing::wait_until([&] { return receiver.sent().size() == 1; }, 5s));
    d->stop();
  }

  testing::TempDir dir_;
  Config config_;
  SelfMetrics metrics_{"test", {}, deployment_state_names()};
  SystemClock clock_;
  std::mutex mu_;
  std::vector<nlohmann::json> attempts_;
};

// An outbox the disk refuses (here: its directory is missing, as on a full or read-only disk):
// delivery goes on from memory, the failure is counted and reported to the persist health
// (/readyz), and the outbox is written again, without a new change, once the disk takes it.
TEST_F(Outbox, AnOutboxTheDiskRefusesIsCountedReportedAndWrittenWhenTheDiskTakesIt) {
  const std::string volume = dir_.file("volume");
  const std::string outbox = volume + "/state.json.notifications";
  PersistHealth health(metrics_);
  Scripted receiver("receiver", {kBusy});  // keeps the message pending, so the outbox has content
  NotificationDispatcher d(config_, {{&receiver, spec_for()}}, metrics_, clock_, outbox, nullptr);
  d.set_persist_health(&health);
  d.start();
  d.on_decision(decision(7));
  ASSERT_TRUE(testing::wait_until([&] { return !health.failing().empty(); }, 5s));
  EXPECT_NE(health.failing().find("outbox: notification outbox " + outbox), std::string::npos) << health.failing();
  EXPECT_GE(testing::metric_value(metrics_.serialize(), "rollback_sidecar_persist_errors_total{file=\"outbox\"}"), 1);
  EXPECT_TRUE(testing::wait_until([&] { return !receiver.sent().empty(); }, 5s)) << "delivery goes on from memory";

  ASSERT_EQ(::mkdir(volume.c_str(), 0750), 0);
  ASSERT_TRUE(testing::wait_until([&] { return health.failing().empty(); }, 5s)) << health.failing();
  const auto doc = nlohmann::json::parse(testing::read_file(outbox), nullptr, false);
  ASSERT_TRUE(doc.is_object()) << testing::read_file(outbox);
  EXPECT_EQ(doc["pending"].size(), 1u);
  d.stop();
}

TEST(OutboxPath, FollowsTheStateFile) {
  EXPECT_EQ(NotificationDispatcher::outbox_path_for("/var/lib/rs/state.json"), "/var/lib/rs/state.json.notifications");
  EXPECT_EQ(NotificationDispatcher::outbox_path_for(""), "");
}

TEST_F(Outbox, RecoverAfterTheObserverCallsQueuesNothingMore) {
  Scripted receiver("receiver", {kOk});
  auto d = make({{&receiver, spec_for()}});
  d->start();
  d->on_decision(decision(4));
  d->on_rollback_finished(decision(4, DecisionKind::kRollback, RollbackResult::kSuccess),
                          status_of(DeploymentState::kRolledBack));
  d->recover(decision(4, DecisionKind::kRollback, RollbackResult::kSuccess));
  d->recover(decision(4, DecisionKind::kRollback, RollbackResult::kSuccess));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0 && receiver.sent().size() >= 2; }, 5s));
  d->stop();
  EXPECT_EQ(receiver.sent(), (Messages{"RollbackStarted", "RollbackSucceeded"}));
}

TEST_F(Outbox, RecoverAfterAStartQueuesOnlyTheEnd) {
  // The crash came between the rollback's end and the outbox write: only the end is missing.
  Scripted receiver("receiver", {kOk});
  auto d = make({{&receiver, spec_for()}});
  d->start();
  d->on_decision(decision(4));
  d->recover(decision(4, DecisionKind::kRollback, RollbackResult::kFailure));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0 && receiver.sent().size() >= 2; }, 5s));
  d->stop();
  EXPECT_EQ(receiver.sent(), (Messages{"RollbackStarted", "RollbackFailed"}));
}

TEST_F(Outbox, RecoverOfAnUnfinishedRollbackQueuesOnlyTheStart) {
  Scripted receiver("receiver", {kOk});
  auto d = make({{&receiver, spec_for()}});
  d->start();
  d->recover(decision(6));
  d->recover(std::nullopt);
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0 && receiver.sent().size() >= 1; }, 5s));
  d->on_rollback_finished(decision(6, DecisionKind::kRollback, RollbackResult::kSuccess),
                          status_of(DeploymentState::kRolledBack));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0 && receiver.sent().size() >= 2; }, 5s));
  d->stop();
  EXPECT_EQ(receiver.sent(), (Messages{"RollbackStarted", "RollbackSucceeded"}));
}

TEST_F(Outbox, QueuedIdsSurviveARestartSoRecoverDoesNotRepeatDeliveredMessages) {
  {
    Scripted receiver("receiver", {kOk});
    auto first = make({{&receiver, spec_for()}});
    first->start();
    first->on_decision(decision(2));
    first->on_rollback_finished(decision(2, DecisionKind::kRollback, RollbackResult::kSuccess),
                                status_of(DeploymentState::kRolledBack));
    ASSERT_TRUE(testing::wait_until([&] { return first->pending() == 0 && receiver.sent().size() == 2; }, 5s));
    first->stop();
  }
  Scripted receiver("receiver", {kOk});
  auto second = make({{&receiver, spec_for()}});
  second->start();
  second->recover(decision(2, DecisionKind::kRollback, RollbackResult::kSuccess));
  EXPECT_EQ(second->pending(), 0u);
  second->stop();
  EXPECT_TRUE(receiver.sent().empty());
}

TEST_F(Outbox, TheFileHoldsAnEntryUntilItIsDelivered) {
  Scripted down("receiver", {kBusy});
  auto d = make({{&down, spec_for()}});
  d->start();
  d->on_decision(decision(3));
  ASSERT_TRUE(testing::wait_until([&] { return !down.sent().empty(); }, 5s));
  // Written before the first attempt, and again after it.
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto j = outbox_file();
        return j.is_object() && j["pending"].size() == 1 && j["pending"][0].value("attempts", 0) == 1;
      },
      5s))
      << testing::read_file(path());
  d->stop();
  nlohmann::json j = outbox_file();
  EXPECT_EQ(j["version"], 1);
  ASSERT_EQ(j["pending"].size(), 1u);
  EXPECT_EQ(j["pending"][0]["notifier"], "scripted receiver");
  EXPECT_EQ(j["pending"][0]["notification"]["message"], "RollbackStarted");
  EXPECT_EQ(j["pending"][0]["notification"]["decision_id"], 3);
  ASSERT_EQ(j["queued_ids"].size(), 1u);
  EXPECT_EQ(j["queued_ids"][0], j["pending"][0]["notification"]["id"]);

  Scripted up("receiver", {kOk});
  auto again = make({{&up, spec_for()}});
  again->start();
  ASSERT_TRUE(testing::wait_until([&] { return again->pending() == 0 && up.sent().size() == 1; }, 5s));
  again->stop();
  j = outbox_file();
  EXPECT_EQ(j["pending"], nlohmann::json::array());
  EXPECT_EQ(j["queued_ids"].size(), 1u);
  auto records = attempts();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["attempt"], 2) << "the count of attempts survives the restart";
}

TEST_F(Outbox, EntriesForANotifierNoLongerConfiguredAreDropped) {
  {
    Scripted down("old receiver", {kBusy});
    auto first = make({{&down, spec_for()}});
    first->start();
    first->on_decision(decision(3));
    ASSERT_TRUE(testing::wait_until([&] { return !down.sent().empty(); }, 5s));
    first->stop();
  }
  Scripted other("new receiver", {kOk});
  auto second = make({{&other, spec_for()}});
  second->start();
  EXPECT_EQ(second->pending(), 0u);
  second->stop();
  EXPECT_TRUE(other.sent().empty());
  EXPECT_EQ(outbox_file()["pending"], nlohmann::json::array());
}

TEST_F(Outbox, EveryKindOfMalformedOutboxIsSetAsideNotFatal) {
  const std::string entry =
      R"({"notifier":"scripted receiver","queued_at":"2026-11-23T10:00:00.000Z","attempts":1,"notification":)";
  notifiers::Notification n = make_notification(config_, decision(9), "RollbackStarted", "rolling_back");
  const std::string good = n.to_json().dump();
  // Sanity: a well-formed file with this entry loads.
  {
    testing::write_file(path(), R"({"version":1,"queued_ids":[],"pending":[)" + entry + good + "}]}");
    Scripted receiver("receiver", {kBusy});
    auto d = make({{&receiver, spec_for()}});
    d->start();
    // Loaded = attempted (pending() can read 0 while the first attempt is in flight).
    EXPECT_TRUE(testing::wait_until([&] { return !receiver.sent().empty(); }, 5s));
    d->stop();
  }
  nlohmann::json no_message = n.to_json();
  no_message.erase("message");
  for (
      const std::string& content : {
          std::string("{not json"),
          std::string(""),
          std::string("[]"),
          std::string("null"),
          std::string(R"({"version":2,"queued_ids":[],"pending":[]})"),
          std::string(R"({"queued_ids":[],"pending":[]})"),
          std::string(R"({"version":1,"queued_ids":[]})"),
          std::string(R"({"version":1,"queued_ids":{},"pending":[]})"),
          std::string(R"({"version":1,"queued_ids":[],"pending":{}})"),
          std::string(R"({"version":1,"queued_ids":[],"pending":[42]})"),
          std::string(R"({"version":1,"queued_ids":[],"pending":[)") + entry + no_message.dump() + "}]}",
          std::string(
              R"({"version":1,"queued_ids":[],"pending":[{"notifier":"scripted receiver","queued_at":"yesterday","notification":)") +
              good + "}]}",
      }) {
    expect_set_aside(content);
  }
}

TEST_F(Outbox, MistypedNumbersInTheOutboxAreSetAsideNotFatal) {
  // Valid JSON of the right shape whose numbers are strings: reading them must not throw out
  // of start() (a corrupt outbox must never stop the sidecar).
  const std::string good = make_notification(config_, decision(9), "RollbackStarted", "rolling_back").to_json().dump();
  for (
      const std::string& content : {
          std::string(R"({"version":"1","queued_ids":[],"pending":[]})"),
          std::string(
              R"({"version":1,"queued_ids":[],"pending":[{"notifier":"scripted receiver","queued_at":"2026-11-23T10:00:00.000Z","attempts":"one","notification":)") +
              good + "}]}",
      }) {
    expect_set_aside(content);
  }
}

TEST_F(Outbox, ADroppedMessageFreesTheQueueForTheNext) {
  // Rejected once: RollbackStarted is dropped, RollbackSucceeded then goes out.
  Scripted receiver("receiver", {kRejected, kOk});
  auto d = make({{&receiver, spec_for()}});
  d->start();
  d->on_decision(decision(1));
  d->on_rollback_finished(decision(1, DecisionKind::kRollback, RollbackResult::kSuccess),
                          status_of(DeploymentState::kRolledBack));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0 && receiver.sent().size() == 2; }, 5s));
  d->stop();
  EXPECT_EQ(receiver.sent(), (Messages{"RollbackStarted", "RollbackSucceeded"}));
  EXPECT_EQ(metric("dropped"), 1);
  EXPECT_EQ(metric("failure"), 1);
  EXPECT_EQ(metric("success"), 1);
}

TEST_F(Outbox, ARetryableFailurePastGiveUpAfterIsDropped) {
  Scripted down("receiver", {kBusy});
  NotifierSpec spec = spec_for();
  spec.give_up_after = Duration(0);
  auto d = make({{&down, spec}});
  d->start();
  d->on_decision(decision(1));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0; }, 5s));
  d->stop();
  EXPECT_EQ(down.sent().size(), 1u);
  EXPECT_EQ(metric("dropped"), 1);
  EXPECT_EQ(metric("failure"), 1);
}

TEST_F(Outbox, DryRunAndNotifyDecisionsYieldTheirOwnMessagesAndFiltersApply) {
  Scripted everything("everything", {kOk});
  Scripted dry_runs("dry runs", {kOk}, "slack");
  auto d = make({{&everything, spec_for()}, {&dry_runs, spec_for({"RollbackDryRun"})}});
  d->start();
  d->on_decision(decision(1, DecisionKind::kHold));
  d->on_decision(decision(2, DecisionKind::kNotify));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0 && everything.sent().size() == 2; }, 5s));
  d->stop();
  EXPECT_EQ(everything.sent(), (Messages{"RollbackDryRun", "RuleNotify"}));
  EXPECT_EQ(dry_runs.sent(), (Messages{"RollbackDryRun"}));
  EXPECT_EQ(metric("success", "slack"), 1);
  EXPECT_EQ(metric("success", "webhook"), 2);
  EXPECT_EQ(metric("dropped", "slack"), 0) << "declared at 0";
}

TEST_F(Outbox, ANotifierThatThrowsIsRetriedNotFatal) {
  Scripted buggy("buggy", {kThrow, kOk});
  auto d = make({{&buggy, spec_for()}});
  d->start();
  d->on_decision(decision(1));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0; }, 10s)) << buggy.sent().size() << " attempts";
  d->stop();
  EXPECT_EQ(buggy.sent(), (Messages{"RollbackStarted", "RollbackStarted"}));
  auto records = attempts();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["result"], "failure");
  EXPECT_NE(records[0]["detail"].get<std::string>().find("boom"), std::string::npos) << records[0].dump();
}

TEST_F(Outbox, TwoNotifiersThatDescribeAlikeKeepTheirOwnEntries) {
  // Two entries to the same receiver (e.g. one Alertmanager with different labels per message):
  // a retry of one must not be settled by the other's success.
  Scripted flaky("alertmanager", {kBusy, kOk});
  Scripted steady("alertmanager", {kOk});
  ASSERT_EQ(flaky.describe(), steady.describe());
  auto d = make({{&flaky, spec_for()}, {&steady, spec_for()}});
  d->start();
  d->on_decision(decision(1));
  ASSERT_TRUE(testing::wait_until([&] { return d->pending() == 0; }, 10s)) << d->pending() << " pending";
  d->stop();
  EXPECT_EQ(flaky.sent(), (Messages{"RollbackStarted", "RollbackStarted"}));
  EXPECT_EQ(steady.sent(), (Messages{"RollbackStarted"}));
}

TEST_F(Outbox, EachAttemptIsRecordedForTheAuditLog) {
  Scripted receiver("receiver", {kOk});
  auto d = make({{&receiver, spec_for()}});
  d->start();
  d->on_decision(decision(5));
  ASSERT_TRUE(testing::wait_until([&] { return attempts().size() == 1; }, 5s));
  d->stop();
  const nlohmann::json r = attempts()[0];
  EXPECT_EQ(r["decision_id"], 5);
  EXPECT_EQ(r["notification_id"], make_notification(config_, decision(5), "RollbackStarted", "rolling_back").id);
  EXPECT_EQ(r["notifier"], "webhook");
  EXPECT_EQ(r["target"], "scripted receiver");
  EXPECT_EQ(r["message"], "RollbackStarted");
  EXPECT_EQ(r["attempt"], 1);
  EXPECT_EQ(r["result"], "success");
  EXPECT_EQ(r["detail"], "HTTP 200");
}

TEST_F(Outbox, WithoutTargetsNothingIsQueuedOrWritten) {
  auto d = make({});
  d->start();
  d->on_decision(decision(1));
  d->recover(decision(1, DecisionKind::kRollback, RollbackResult::kSuccess));
  EXPECT_EQ(d->pending(), 0u);
  d->stop();
  EXPECT_EQ(testing::read_file(path()), "");
}

TEST_F(Outbox, WithoutAnOutboxPathDeliveryStillWorks) {
  Scripted receiver("receiver", {kOk});
  NotificationDispatcher d(config_, {{&receiver, spec_for()}}, metrics_, clock_, "", nullptr);
  d.start();
  d.on_decision(decision(1));
  ASSERT_TRUE(testing::wait_until([&] { return receiver.sent().size() == 1 && d.pending() == 0; }, 5s));
  d.stop();
}

}  // namespace
}  // namespace rs::sidecar
