// The decision machine (transitions, latch, one decision per episode, dry run, external
// requests) and the state store it is persisted in (round trip, atomic, corrupt files).
#include <gtest/gtest.h>

#include <dirent.h>

#include <cmath>
#include <limits>

#include "sidecar/policy/decision.h"
#include "sidecar/core/state_store.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

RuleConfig rule(const std::string& name, RuleAction action = RuleAction::kRollback) {
  RuleConfig r;
  r.name = name;
  r.query = name + "_query";
  r.threshold = 0.05;
  r.for_duration = Duration{2000};
  r.action = action;
  return r;
}

// Two rules evaluated together every second with the given values.
class Machine : public ::testing::Test {
 protected:
  std::vector<Decision> tick(double errors, double latency) {
    now_ += 1s;
    trackers_[0].observe(Observation::of_value(errors), now_);
    trackers_[1].observe(Observation::of_value(latency), now_);
    return machine_.step({&trackers_[0], &trackers_[1]}, now_);
  }
  RuleConfig errors_ = rule("errors");
  RuleConfig latency_ = rule("latency");
  std::vector<RuleTracker> trackers_{RuleTracker(errors_), RuleTracker(latency_)};
  DecisionMachine machine_{false};
  WallTime now_ = WallTime(std::chrono::hours(480000));
};

TEST_F(Machine, HealthyPendingFiringThenOneRollbackWithEvidence) {
  EXPECT_TRUE(tick(0.01, 0.01).empty());
  EXPECT_EQ(machine_.state(), DeploymentState::kHealthy);
  EXPECT_TRUE(tick(0.2, 0.01).empty());
  EXPECT_EQ(machine_.state(), DeploymentState::kPending);
  EXPECT_TRUE(tick(0.2, 0.3).empty());
  auto decisions = tick(0.2, 0.3);  // errors has breached for 2 s: firing
  ASSERT_EQ(decisions.size(), 1u);
  const Decision& d = decisions[0];
  EXPECT_EQ(d.kind, DecisionKind::kRollback);
  EXPECT_EQ(d.rule, "errors");
  EXPECT_EQ(d.query, "errors_query");
  ASSERT_TRUE(d.value);
  EXPECT_DOUBLE_EQ(*d.value, 0.2);
  EXPECT_DOUBLE_EQ(d.threshold, 0.05);
  ASSERT_TRUE(d.first_breach);
  EXPECT_EQ(now_ - *d.first_breach, 2s);
  EXPECT_EQ(machine_.state(), DeploymentState::kRollingBack);

  // While rolling back, and once latched, nothing else is decided, even as latency fires.
  EXPECT_TRUE(tick(0.2, 0.3).empty());
  Decision done = d;
  done.result = RollbackResult::kSuccess;
  machine_.finish_rollback(done);
  EXPECT_EQ(machine_.state(), DeploymentState::kRolledBack);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(tick(0.2, 0.3).empty());
  EXPECT_TRUE(tick(0.0, 0.0).empty());
  EXPECT_EQ(machine_.state(), DeploymentState::kRolledBack) << "the latch holds when signals recover";
}

TEST_F(Machine, AFailedRollbackLatchesAndOnlyAPersonMayRetry) {
  tick(0.2, 0.0);
  tick(0.2, 0.0);
  auto decisions = tick(0.2, 0.0);
  ASSERT_EQ(decisions.size(), 1u);
  Decision failed = decisions[0];
  failed.result = RollbackResult::kFailure;
  machine_.finish_rollback(failed);
  EXPECT_EQ(machine_.state(), DeploymentState::kRollbackFailed);
  EXPECT_TRUE(tick(0.2, 0.0).empty());
  Decision alert;
  alert.trigger = Trigger::kAlert;
  EXPECT_FALSE(machine_.external(alert, now_));
  Decision person;
  person.trigger = Trigger::kManual;
  auto retry = machine_.external(person, now_);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->kind, DecisionKind::kRollback);
  EXPECT_GT(retry->id, failed.id);
  EXPECT_EQ(machine_.state(), DeploymentState::kRollingBack);
}

TEST(DecisionMachine, DryRunHoldsAndActsOnNothingOncePerEpisode) {
  RuleConfig r = rule("errors");
  RuleTracker tracker(r);
  DecisionMachine machine(true);
  WallTime t = WallTime(std::chrono::hours(480000));
  std::vector<Decision> all;
  for (int i = 0; i < 6; ++i) {
    t += 1s;
    tracker.observe(Observation::of_value(0.3), t);
    for (auto& d : machine.step({&tracker}, t)) all.push_back(d);
  }
  ASSERT_EQ(all.size(), 1u) << "one decision per firing episode";
  EXPECT_EQ(all[0].kind, DecisionKind::kHold);
  EXPECT_TRUE(all[0].dry_run);
  EXPECT_NE(machine.state(), DeploymentState::kRollingBack);
  EXPECT_FALSE(is_latched(machine.state()));
}

TEST(DecisionMachine, NotifyRulesNotifyAndNeverRollBack) {
  RuleConfig r = rule("cpu", RuleAction::kNotify);
  RuleTracker tracker(r);
  DecisionMachine machine(false);
  WallTime t = WallTime(std::chrono::hours(480000));
  std::vector<Decision> all;
  for (int i = 0; i < 5; ++i) {
    t += 1s;
    tracker.observe(Observation::of_value(0.3), t);
    for (auto& d : machine.step({&tracker}, t)) all.push_back(d);
  }
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, DecisionKind::kNotify);
  EXPECT_EQ(machine.state(), DeploymentState::kFiring);
}

TEST(StateStore, RoundTripsTheLatchedStateAndLeavesNoTempFiles) {
  testing::TempDir dir;
  StateStore store(dir.file("state.json"));
  std::optional<PersistedState> loaded;
  std::string error;
  ASSERT_TRUE(store.load(&loaded, &error)) << error;
  EXPECT_FALSE(loaded) << "a missing file is no state, not an error";

  PersistedState s;
  s.identity = "name=checkout;stage=prod";
  s.state = DeploymentState::kRolledBack;
  Decision d;
  d.id = 7;
  d.kind = DecisionKind::kRollback;
  d.rule = "errors";
  d.value = 0.31;
  d.threshold = 0.05;
  d.decided_at = WallTime(std::chrono::hours(480000)) + 123ms;
  d.result = RollbackResult::kSuccess;
  d.duration_seconds = 0.004;
  s.last_decision = d;
  s.freeze = Freeze{"incident 42", "alice", d.decided_at};
  ASSERT_TRUE(store.save(s, &error)) << error;
  ASSERT_TRUE(store.load(&loaded, &error)) << error;
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->identity, s.identity);
  EXPECT_EQ(loaded->state, DeploymentState::kRolledBack);
  ASSERT_TRUE(loaded->last_decision);
  EXPECT_EQ(loaded->last_decision->id, 7u);
  EXPECT_EQ(loaded->last_decision->decided_at, d.decided_at);
  EXPECT_DOUBLE_EQ(*loaded->last_decision->value, 0.31);
  ASSERT_TRUE(loaded->freeze);
  EXPECT_EQ(loaded->freeze->actor, "alice");

  int entries = 0;
  DIR* dirp = ::opendir(dir.path().c_str());
  while (auto* e = ::readdir(dirp)) entries += e->d_name[0] != '.' || std::string(e->d_name).size() > 2;
  ::closedir(dirp);
  EXPECT_EQ(entries, 1) << "only state.json: no temp file left behind";
}

TEST(StateStore, ACorruptFileIsAnErrorNamingTheFileNeverAGuess) {
  testing::TempDir dir;
  StateStore store(dir.file("state.json"));
  std::optional<PersistedState> loaded;
  std::string error;
  for (const std::string bad :
       {"{\"version\": 1, \"state\": \"sideways\"", "[]", "{\"version\": 99}", "", "\xff\xfe",
        "{\"version\":1,\"identity\":\"x\",\"state\":\"exploded\",\"last_decision\":null}",
        "{\"version\":\"1\",\"identity\":\"x\",\"state\":\"healthy\"}", "{\"version\":1,\"state\":\"rolled_back\"}",
        "{\"version\":1,\"identity\":\"x\",\"state\":\"rolling_back\",\"last_decision\":null}",
        "{\"version\":1,\"identity\":\"x\",\"state\":\"rolled_back\",\"last_decision\":{\"id\":\"seven\"}}",
        "{\"version\":1,\"identity\":\"x\",\"state\":\"healthy\",\"freeze\":{\"since\":\"noon\"}}",
        "{\"version\":1,\"identity\":\"x\",\"state\":\"healthy\",\"promotion\":{\"step\":1}}"}) {
    testing::write_file(dir.file("state.json"), bad);
    EXPECT_FALSE(store.load(&loaded, &error)) << bad;
    EXPECT_NE(error.find(dir.file("state.json")), std::string::npos) << error;
    EXPECT_FALSE(loaded) << bad;
  }
}

TEST_F(Machine, RulesActionableTogetherMakeOneRollbackListingTheOthers) {
  tick(0.2, 0.3);
  tick(0.2, 0.3);
  auto decisions = tick(0.2, 0.3);
  ASSERT_EQ(decisions.size(), 1u) << "at most one decision of kind rollback";
  EXPECT_EQ(decisions[0].rule, "errors") << "the first rule in config order";
  EXPECT_EQ(decisions[0].also_firing, std::vector<std::string>{"latency"});
}

TEST_F(Machine, RecoveringRulesReturnTheDeploymentToHealthyBeforeAnyDecision) {
  tick(0.2, 0.01);
  EXPECT_EQ(machine_.state(), DeploymentState::kPending);
  tick(0.01, 0.01);
  EXPECT_EQ(machine_.state(), DeploymentState::kHealthy);
  tick(0.01, 0.2);
  EXPECT_EQ(machine_.state(), DeploymentState::kPending);
}

TEST_F(Machine, ARollbackThatFoundNothingToDoStillLatches) {
  tick(0.2, 0.0);
  tick(0.2, 0.0);
  auto decisions = tick(0.2, 0.0);
  ASSERT_EQ(decisions.size(), 1u);
  Decision noop = decisions[0];
  noop.kind = DecisionKind::kNoop;
  noop.result = RollbackResult::kNoop;
  machine_.finish_rollback(noop);
  EXPECT_EQ(machine_.state(), DeploymentState::kRolledBack);
  EXPECT_TRUE(is_latched(machine_.state()));
  Decision alert;
  alert.trigger = Trigger::kAlert;
  EXPECT_FALSE(machine_.external(alert, now_)) << "rolled back: an alert has nothing to do";
}

TEST_F(Machine, ExternalRequestsRollBackOnceAndNotWhileRollingBack) {
  tick(0.2, 0.0);  // pending
  Decision alert;
  alert.trigger = Trigger::kAlert;
  alert.rule = "HighErrorRate";
  auto first = machine_.external(alert, now_);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind, DecisionKind::kRollback);
  EXPECT_EQ(first->decided_at, now_);
  EXPECT_EQ(machine_.state(), DeploymentState::kRollingBack);
  EXPECT_FALSE(machine_.external(alert, now_)) << "already rolling back";
  EXPECT_TRUE(tick(0.2, 0.0).empty());
  EXPECT_TRUE(tick(0.2, 0.0).empty()) << "rules do not decide while a rollback runs";
}

TEST(DecisionMachine, ARestoredLatchIgnoresRulesAndContinuesDecisionIds) {
  RuleConfig r = rule("errors");
  RuleConfig fast = r;
  fast.for_duration = Duration{0};
  RuleTracker tracker(fast);
  Decision previous;
  previous.id = 41;
  previous.kind = DecisionKind::kRollback;
  previous.result = RollbackResult::kSuccess;
  DecisionMachine machine(false);
  machine.restore(DeploymentState::kRolledBack, previous);
  WallTime t = WallTime(std::chrono::hours(480000));
  for (int i = 0; i < 3; ++i) {
    t += 1s;
    tracker.observe(Observation::of_value(0.9), t);
    EXPECT_TRUE(machine.step({&tracker}, t).empty());
  }
  EXPECT_EQ(machine.state(), DeploymentState::kRolledBack);
  ASSERT_TRUE(machine.last_decision());
  EXPECT_EQ(machine.last_decision()->id, 41u);

  DecisionMachine failed(false);
  failed.restore(DeploymentState::kRollbackFailed, previous);
  Decision person;
  person.trigger = Trigger::kManual;
  auto retry = failed.external(person, t);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->id, 42u) << "ids continue after the restored decision";
}

TEST(DecisionMachine, DryRunHoldsOncePerEpisodeAndAgainForANewEpisode) {
  RuleConfig r = rule("errors");
  r.for_duration = Duration{0};
  RuleTracker tracker(r);
  DecisionMachine machine(true);
  WallTime t = WallTime(std::chrono::hours(480000));
  std::vector<Decision> all;
  for (double v : {0.3, 0.3, 0.01, 0.3, 0.3}) {
    t += 1s;
    tracker.observe(Observation::of_value(v), t);
    for (auto& d : machine.step({&tracker}, t)) all.push_back(d);
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, DecisionKind::kHold);
  EXPECT_EQ(all[1].kind, DecisionKind::kHold);
  EXPECT_NE(all[0].id, all[1].id);
  EXPECT_NE(all[1].reason.find("would roll back"), std::string::npos) << all[1].reason;
}

TEST(DecisionJson, RoundTripsAndRejectsMalformedDecisionsByField) {
  Decision d;
  d.id = 3;
  d.kind = DecisionKind::kRollback;
  d.trigger = Trigger::kAlert;
  d.rule = "HighErrorRate";
  d.severity = "sev1";
  d.query = "sum(rate(x[1m]))";
  d.comparison = "above";
  d.value = 0.25;
  d.threshold = 0.05;
  d.for_duration = Duration{120000};
  d.first_breach = WallTime(std::chrono::hours(480000));
  d.decided_at = WallTime(std::chrono::hours(480000)) + 2500ms;
  d.also_firing = {"latency"};
  d.details = {{"labels", {{"severity", "sev1"}}}};
  d.result = RollbackResult::kSuccess;
  d.actuators = {{"haproxy 127.0.0.1:9999 backend app", StepResult::kChanged, "canary weight 10 -> 0", 2}};
  d.completed_at = d.decided_at + 4ms;
  d.duration_seconds = 0.004;
  Decision back;
  std::string error;
  ASSERT_TRUE(decision_from_json(to_json(d), &back, &error)) << error;
  EXPECT_EQ(to_json(back), to_json(d));
  EXPECT_EQ(back.decided_at, d.decided_at);
  ASSERT_EQ(back.actuators.size(), 1u);
  EXPECT_EQ(back.actuators[0].attempts, 2);

  nlohmann::json bad = to_json(d);
  bad["decided_at"] = "yesterday";
  EXPECT_FALSE(decision_from_json(bad, &back, &error));
  EXPECT_NE(error.find("decided_at"), std::string::npos) << error;
  bad = to_json(d);
  bad.erase("kind");
  EXPECT_FALSE(decision_from_json(bad, &back, &error));
  EXPECT_NE(error.find("kind"), std::string::npos) << error;
}

TEST(FormatValue, IsShortAndSpellsSpecialValuesLikePrometheus) {
  EXPECT_EQ(format_value(0.0312), "0.0312");
  EXPECT_EQ(format_value(2), "2");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(StateStore, AnEmptyPathPersistsNothing) {
  StateStore store("");
  std::optional<PersistedState> loaded;
  std::string error;
  PersistedState s;
  s.state = DeploymentState::kRolledBack;
  EXPECT_TRUE(store.save(s, &error)) << error;
  EXPECT_TRUE(store.load(&loaded, &error)) << error;
  EXPECT_FALSE(loaded);
}

TEST(StateStore, ASaveReplacesTheWholeFile) {
  testing::TempDir dir;
  StateStore store(dir.file("state.json"));
  std::string error;
  PersistedState first;
  first.identity = "name=a";
  first.state = DeploymentState::kRollbackFailed;
  first.freeze = Freeze{"incident", "bob", WallTime(std::chrono::hours(480000))};
  ASSERT_TRUE(store.save(first, &error)) << error;
  PersistedState second;
  second.identity = "name=b";
  ASSERT_TRUE(store.save(second, &error)) << error;
  std::optional<PersistedState> loaded;
  ASSERT_TRUE(store.load(&loaded, &error)) << error;
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->identity, "name=b");
  EXPECT_EQ(loaded->state, DeploymentState::kHealthy);
  EXPECT_FALSE(loaded->freeze);
  EXPECT_FALSE(loaded->last_decision);
}

TEST(StateStore, AnUnwritableDirectoryIsAnErrorNotACrash) {
  StateStore store("/nonexistent-dir/state.json");
  std::string error;
  EXPECT_FALSE(store.save(PersistedState{}, &error));
  EXPECT_NE(error.find("/nonexistent-dir/state.json"), std::string::npos) << error;
}

TEST(DeploymentStateNames, RoundTripAndOnlyTheEndStatesLatch) {
  for (const auto& name : deployment_state_names()) {
    auto s = parse_deployment_state(name);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(deployment_state_name(*s), name);
    EXPECT_EQ(is_latched(*s), name == "rolled_back" || name == "rollback_failed") << name;
  }
  EXPECT_EQ(deployment_state_names().size(), 6u);
  EXPECT_FALSE(parse_deployment_state("sideways"));
}

}  // namespace
}  // namespace rs::sidecar
