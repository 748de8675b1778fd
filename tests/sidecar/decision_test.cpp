// The decision machine (transitions, latch, one decision per episode, dry run, external
// requests) and the state store it is persisted in (round trip, atomic, corrupt files).
#include <gtest/gtest.h>

#include <dirent.h>

#include "sidecar/decision.h"
#include "sidecar/state_store.h"
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
  EXPECT_EQ(d.kind, "rollback");
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
  done.result = "success";
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
  failed.result = "failure";
  machine_.finish_rollback(failed);
  EXPECT_EQ(machine_.state(), DeploymentState::kRollbackFailed);
  EXPECT_TRUE(tick(0.2, 0.0).empty());
  Decision alert;
  alert.trigger = "alert";
  EXPECT_FALSE(machine_.external(alert, now_));
  Decision person;
  person.trigger = "manual";
  auto retry = machine_.external(person, now_);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->kind, "rollback");
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
  EXPECT_EQ(all[0].kind, "hold");
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
  EXPECT_EQ(all[0].kind, "notify");
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
  d.kind = "rollback";
  d.rule = "errors";
  d.value = 0.31;
  d.threshold = 0.05;
  d.decided_at = WallTime(std::chrono::hours(480000)) + 123ms;
  d.result = "success";
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
  for (const std::string bad : {"{\"version\": 1, \"state\": \"sideways\"", "[]", "{\"version\": 99}",
                                "{\"version\":1,\"identity\":\"x\",\"state\":\"exploded\",\"last_decision\":null}"}) {
    testing::write_file(dir.file("state.json"), bad);
    EXPECT_FALSE(store.load(&loaded, &error)) << bad;
    EXPECT_NE(error.find(dir.file("state.json")), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace rs::sidecar
