// RollbackExecutor (order, retries with backoff, deadline, non-retryable failures) and
// Scheduler (fixed grid, no overlap, overruns skipped and counted), on a manual clock.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>

#include "tests/fakes/actuator.h"
#include "tests/fakes/env.h"
#include "sidecar/rollback/rollback_executor.h"
#include "sidecar/core/scheduler.h"
#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using actuators::ActResult;

// Time moves only when someone sleeps (or advance() is called); sleeps are recorded.
using fakes::ManualClock;

using fakes::ScriptedActuator;

RollbackConfig rollback_config(Duration deadline = Duration{30000}) {
  RollbackConfig c;
  c.deadline = deadline;
  c.initial_backoff = Duration{100};
  c.max_backoff = Duration{400};
  return c;
}

TEST(RollbackExecutor, RetriesWithDoublingBackoffUntilTheChangeIsVerified) {
  ManualClock clock;
  ScriptedActuator router("router", {ActResult::failure("connection refused"), ActResult::failure("connection refused"),
                                     ActResult::changed("canary weight 10 -> 0")});
  SelfMetrics metrics("test", {}, deployment_state_names());
  RollbackExecutor executor({&router}, rollback_config(), clock, metrics.actuator_call_counter());
  ExecutionReport report = executor.run({});
  EXPECT_EQ(report.result, RollbackResult::kSuccess);
  ASSERT_EQ(report.actuators.size(), 1u);
  EXPECT_EQ(report.actuators[0].attempts, 3);
  EXPECT_EQ(report.actuators[0].result, StepResult::kChanged);
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{100ms, 200ms}));
}

TEST(RollbackExecutor, ANonRetryableFailureStopsAtOnceAndLaterActuatorsDoNotRun) {
  ManualClock clock;
  ScriptedActuator first("first", {ActResult::failure("No such server.", false)});
  ScriptedActuator second("second", {ActResult::changed("moved")});
  RollbackExecutor executor({&first, &second}, rollback_config(), clock, nullptr);
  ExecutionReport report = executor.run({});
  EXPECT_EQ(report.result, RollbackResult::kFailure);
  EXPECT_EQ(first.calls, 1);
  EXPECT_EQ(second.calls, 0);
  EXPECT_TRUE(clock.sleeps().empty());
  EXPECT_NE(report.actuators.back().detail.find("No such server."), std::string::npos);
}

TEST(RollbackExecutor, RetriesStopAtTheDeadlineWithBackoffCapped) {
  ManualClock clock;
  ScriptedActuator router("router", {ActResult::failure("timeout")});
  RollbackExecutor executor({&router}, rollback_config(Duration{2000}), clock, nullptr);
  ExecutionReport report = executor.run({});
  EXPECT_EQ(report.result, RollbackResult::kFailure);
  EXPECT_GE(router.calls, 5);
  EXPECT_LE(router.calls, 9);
  for (auto s : clock.sleeps()) EXPECT_LE(s, 400ms);
  std::chrono::milliseconds total{0};
  for (auto s : clock.sleeps()) total += s;
  EXPECT_LE(total, 2000ms) << "never sleeps past the deadline";
}

TEST(RollbackExecutor, AllNoopIsNoopAndActuatorsRunInOrder) {
  ManualClock clock;
  ScriptedActuator a("a", {ActResult::noop("already on stable")});
  ScriptedActuator b("b", {ActResult::noop("already on stable")});
  RollbackExecutor executor({&a, &b}, rollback_config(), clock, nullptr);
  ExecutionReport report = executor.run({});
  EXPECT_EQ(report.result, RollbackResult::kNoop);
  ASSERT_EQ(report.actuators.size(), 2u);
  EXPECT_EQ(report.actuators[0].actuator, "a");
  EXPECT_EQ(report.actuators[1].actuator, "b");
}

TEST(Scheduler, TicksOnAFixedGridAndSkipsTicksAnOverrunCovered) {
  ManualClock clock;
  const MonoTime start = clock.mono();
  std::vector<std::chrono::milliseconds> ticks;
  std::vector<std::uint64_t> overruns;
  Scheduler* self = nullptr;
  Scheduler scheduler(
      clock, Duration{1000},
      [&] {
        ticks.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(clock.mono() - start));
        if (ticks.size() == 1) clock.advance(30ms);    // a normal evaluation
        if (ticks.size() == 3) clock.advance(2500ms);  // a slow Prometheus: ticks at 3 s and 4 s are covered
        if (ticks.size() == 5) self->stop();
      },
      [&](std::uint64_t skipped) { overruns.push_back(skipped); });
  self = &scheduler;
  scheduler.run();
  EXPECT_EQ(ticks, (std::vector<std::chrono::milliseconds>{0ms, 1000ms, 2000ms, 5000ms, 6000ms}));
  EXPECT_EQ(overruns, (std::vector<std::uint64_t>{2}));
}

TEST(Scheduler, ARetimeHookMovesTheGridWhichThenContinuesFromThere) {
  ManualClock clock;
  const MonoTime start = clock.mono();
  std::vector<std::chrono::milliseconds> ticks;
  Scheduler* self = nullptr;
  int asked = 0;
  Scheduler scheduler(
      clock, Duration{1000},
      [&] {
        ticks.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(clock.mono() - start));
        clock.advance(10ms);
        if (ticks.size() == 6) self->stop();
      },
      nullptr,
      [&](MonoTime now, MonoTime next) -> std::optional<MonoTime> {
        ++asked;
        if (ticks.size() == 2) return next - 700ms;  // earlier: the grid moves to x.300
        if (ticks.size() == 4) return now;           // not after now: ignored
        if (ticks.size() == 5) return next + 40ms;   // later, as the hook allows after a wait
        return std::nullopt;
      });
  self = &scheduler;
  scheduler.run();
  EXPECT_EQ(ticks, (std::vector<std::chrono::milliseconds>{0ms, 1000ms, 1300ms, 2300ms, 3300ms, 4340ms}));
  EXPECT_EQ(asked, 5) << "asked after every tick but the one stop() ended";
}

TEST(RollbackExecutor, EveryCallIsCountedByActuatorTypeAndResult) {
  ManualClock clock;
  ScriptedActuator router("router",
                          {ActResult::failure("refused"), ActResult::failure("refused"), ActResult::changed("moved")});
  ScriptedActuator dns("dns", {ActResult::noop("already on stable")});
  SelfMetrics metrics("test", {}, deployment_state_names());
  metrics.declare_actuator("scripted");
  RollbackExecutor executor({&router, &dns}, rollback_config(), clock, metrics.actuator_call_counter());
  ExecutionReport report = executor.run({});
  EXPECT_EQ(report.result, RollbackResult::kSuccess) << "one change is a success even if the others were noops";
  EXPECT_EQ(router.calls, 3);
  EXPECT_EQ(dns.calls, 1) << "the next actuator runs after the first succeeded";
  const std::string text = metrics.serialize();
  for (const char* series : {"rollback_sidecar_actuator_calls_total{actuator=\"scripted\",result=\"failure\"} 2",
                             "rollback_sidecar_actuator_calls_total{actuator=\"scripted\",result=\"changed\"} 1",
                             "rollback_sidecar_actuator_calls_total{actuator=\"scripted\",result=\"noop\"} 1"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
}

TEST(RollbackExecutor, ShutdownCutsRetriesShortAndSaysTheRollbackDidNotFinish) {
  ManualClock clock;
  clock.interrupt();
  ScriptedActuator router("router", {ActResult::failure("refused")});
  ScriptedActuator second("second", {ActResult::changed("moved")});
  RollbackExecutor executor({&router, &second}, rollback_config(), clock, nullptr);
  ExecutionReport report = executor.run({});
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(report.result, RollbackResult::kFailure);
  EXPECT_EQ(router.calls, 1);
  EXPECT_EQ(second.calls, 0);
  EXPECT_NE(report.actuators.back().detail.find("shutting down"), std::string::npos) << report.actuators.back().detail;
}

TEST(RollbackExecutor, ANoopFirstThenAChangeIsSuccessAndTheContextReachesEveryActuator) {
  ManualClock clock;
  class ContextRecorder : public ScriptedActuator {
   public:
    using ScriptedActuator::ScriptedActuator;
    ActResult rollback(const actuators::DecisionContext& c, std::chrono::steady_clock::time_point d) override {
      seen.push_back(c.rule + "/" + c.trigger);
      return ScriptedActuator::rollback(c, d);
    }
    std::vector<std::string> seen;
  };
  ContextRecorder a("a", {ActResult::noop("already")});
  ContextRecorder b("b", {ActResult::changed("moved")});
  actuators::DecisionContext context;
  context.rule = "errors";
  context.trigger = "rule";
  RollbackExecutor executor({&a, &b}, rollback_config(), clock, nullptr);
  ExecutionReport report = executor.run(context);
  EXPECT_EQ(report.result, RollbackResult::kSuccess);
  EXPECT_EQ(a.seen, std::vector<std::string>{"errors/rule"});
  EXPECT_EQ(b.seen, std::vector<std::string>{"errors/rule"});
  ASSERT_EQ(report.actuators.size(), 2u);
  EXPECT_EQ(report.actuators[0].result, StepResult::kNoop);
  EXPECT_EQ(report.actuators[1].result, StepResult::kChanged);
}

TEST(RollbackExecutor, AnActuatorWithoutWeightsFailsAPromotionStepAtOnce) {
  ManualClock clock;
  ScriptedActuator router("router", {ActResult::changed("moved")});
  RollbackExecutor executor({&router}, rollback_config(), clock, nullptr);
  ExecutionReport report = executor.set_canary_weight(25, {});
  EXPECT_EQ(report.result, RollbackResult::kFailure);
  ASSERT_EQ(report.actuators.size(), 1u);
  EXPECT_EQ(report.actuators[0].attempts, 1) << "not retryable";
  EXPECT_NE(report.actuators[0].detail.find("cannot shift traffic"), std::string::npos) << report.actuators[0].detail;
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(Scheduler, ATickShorterThanTheIntervalNeverDriftsNorCountsAnOverrun) {
  ManualClock clock;
  const MonoTime start = clock.mono();
  std::vector<std::chrono::milliseconds> ticks;
  std::uint64_t overruns = 0;
  Scheduler* self = nullptr;
  Scheduler scheduler(
      clock, Duration{500},
      [&] {
        ticks.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(clock.mono() - start));
        clock.advance(std::chrono::milliseconds(37 * static_cast<int>(ticks.size())));  // 37, 74, ... 370 ms
        if (ticks.size() == 10) self->stop();
      },
      [&](std::uint64_t skipped) { overruns += skipped; });
  self = &scheduler;
  scheduler.run();
  ASSERT_EQ(ticks.size(), 10u) << "stop() during a tick lets it finish and runs no other";
  for (std::size_t i = 0; i < ticks.size(); ++i) EXPECT_EQ(ticks[i], std::chrono::milliseconds(500 * i)) << i;
  EXPECT_EQ(overruns, 0u);
}

// Blocks in sleep_until until interrupted: a run() that ignored stop() would never return.
class BlockingClock : public Clock {
 public:
  WallTime wall() const override { return std::chrono::system_clock::now(); }
  MonoTime mono() const override { return MonoTime(std::chrono::hours(1)); }
  bool sleep_until(MonoTime) override {
    std::unique_lock<std::mutex> lock(mu_);
    sleeping_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return interrupted_; });
    return false;
  }
  void interrupt() override {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }
  bool wait_sleeping(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return sleeping_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool sleeping_ = false;
  bool interrupted_ = false;
};

TEST(Scheduler, StopFromAnotherThreadEndsTheSleepAtOnce) {
  BlockingClock clock;
  std::atomic<int> ticks{0};
  Scheduler scheduler(
      clock, Duration{3600000}, [&] { ++ticks; }, nullptr);
  auto done = std::async(std::launch::async, [&] { scheduler.run(); });
  ASSERT_TRUE(clock.wait_sleeping(std::chrono::seconds(30))) << "the first tick runs at once, then it sleeps";
  scheduler.stop();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready) << "run() did not return after stop()";
  EXPECT_EQ(ticks.load(), 1);
}

}  // namespace
}  // namespace rs::sidecar
