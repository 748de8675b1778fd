// RollbackRun: stagger -> preflight -> actuators -> after-switch health, on a manual clock with a
// scripted router and a scripted stable version.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>

#include "sidecar/rollback/rollback_run.h"
#include "tests/fakes/actuator.h"
#include "tests/fakes/env.h"
#include "tests/fakes/http.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using actuators::ActResult;

constexpr const char* kHealth = "http://stable.internal:8080/healthz";

struct Case {
  const char* name;
  int replica_index;   // with stagger 2s
  long stable_before;  // health URL status at preflight; 0: no preflight configured
  long stable_after;   // health URL status after the switch
  ActResult router;    // what the actuator answers
  bool verify;         // rollback.verify configured
  RollbackResult result;
  int router_calls;
  Verification verification;
  std::vector<StepResult> steps;
  std::chrono::milliseconds waited;  // the stagger
};

// The router's switch also changes what the stable version's health URL answers, so the
// preflight sees `stable_before` and the after-switch check `stable_after`.
class SwitchingRouter : public actuators::Actuator {
 public:
  SwitchingRouter(ActResult result, fakes::UrlTransport& stable, long stable_after)
      : inner_("router", {std::move(result)}), stable_(stable), stable_after_(stable_after) {}
  std::string type() const override { return inner_.type(); }
  std::string describe() const override { return inner_.describe(); }
  ActResult rollback(const actuators::DecisionContext& context,
                     std::chrono::steady_clock::time_point deadline) override {
    stable_.answer(kHealth, stable_after_);
    return inner_.rollback(context, deadline);
  }
  ActResult probe(std::chrono::steady_clock::time_point deadline) override { return inner_.probe(deadline); }
  int calls() const { return inner_.calls; }

 private:
  fakes::ScriptedActuator inner_;
  fakes::UrlTransport& stable_;
  long stable_after_;
};

class RollbackRunTable : public ::testing::TestWithParam<Case> {};

TEST_P(RollbackRunTable, RunsEachStageInOrderAndReportsWhatIsLeftToVerify) {
  const Case& c = GetParam();
  fakes::ManualClock clock;
  fakes::UrlTransport stable_transport;
  auto stable = std::shared_ptr<fakes::UrlTransport>(&stable_transport, [](fakes::UrlTransport*) {});
  SwitchingRouter router(c.router, stable_transport, c.stable_after);
  RollbackConfig config;
  config.deadline = 10s;
  config.stagger = 2s;
  config.replica_index = c.replica_index;
  config.verify.enabled = c.verify;
  RollbackExecutor executor({&router}, config, clock);
  std::unique_ptr<StableHealthCheck> check;
  if (c.stable_before != 0) {
    PreflightConfig preflight;
    preflight.enabled = true;
    preflight.http_url = kHealth;
    promql::ClientOptions prometheus;
    prometheus.url = "http://prometheus.internal:9090";
    check = std::make_unique<StableHealthCheck>(preflight, prometheus, stable);
    stable_transport.answer(kHealth, c.stable_before);
  }
  std::mutex actuation;
  RollbackRun run(config, executor, check.get(), clock, actuation);

  const RollbackRunReport report = run.run(7, {}, clock.mono());
  EXPECT_FALSE(report.interrupted);
  EXPECT_EQ(report.result, c.result);
  EXPECT_EQ(router.calls(), c.router_calls);
  EXPECT_EQ(report.verification, c.verification);
  std::vector<StepResult> steps;
  for (const auto& s : report.steps) steps.push_back(s.result);
  EXPECT_EQ(steps, c.steps);
  EXPECT_EQ(clock.sleeps().empty() ? 0ms : clock.sleeps().front(), c.waited);
  EXPECT_GE(report.duration_seconds, std::chrono::duration<double>(c.waited).count());
  if (c.verification == Verification::kFailed) {
    EXPECT_EQ(report.verification_detail, report.steps.back().detail);
  }
}

const ActResult kChanged = ActResult::changed("canary weight 10 -> 0");
const ActResult kAlready = ActResult::noop("canary weight already 0");
const ActResult kRefused = ActResult::failure("No such server.", false);
using S = StepResult;
using V = Verification;
using R = RollbackResult;

INSTANTIATE_TEST_SUITE_P(
    Stages, RollbackRunTable,
    ::testing::Values(
        Case{"plain", 0, 0, 0, kChanged, false, R::kSuccess, 1, V::kNone, {S::kChanged}, 0ms},
        Case{"replica_2_waits_4s", 2, 0, 0, kChanged, false, R::kSuccess, 1, V::kNone, {S::kChanged}, 4000ms},
        Case{"already_on_stable", 0, 0, 0, kAlready, true, R::kNoop, 1, V::kNone, {S::kNoop}, 0ms},
        Case{"router_refuses", 0, 0, 0, kRefused, true, R::kFailure, 1, V::kNone, {S::kFailure}, 0ms},
        Case{"verify_pending", 0, 0, 0, kChanged, true, R::kSuccess, 1, V::kPending, {S::kChanged}, 0ms},
        Case{"stable_unhealthy_no_switch", 0, 503, 503, kChanged, true, R::kFailure, 0, V::kNone, {S::kFailure}, 0ms},
        Case{"stable_healthy_both_times",
             0,
             200,
             200,
             kChanged,
             true,
             R::kSuccess,
             1,
             V::kPending,
             {S::kOk, S::kChanged, S::kOk},
             0ms},
        Case{"stable_fails_after_switch",
             0,
             200,
             503,
             kChanged,
             true,
             R::kSuccess,
             1,
             V::kFailed,
             {S::kOk, S::kChanged, S::kFailure},
             0ms},
        Case{"after_switch_failure_without_verify",
             0,
             200,
             503,
             kChanged,
             false,
             R::kSuccess,
             1,
             V::kNone,
             {S::kOk, S::kChanged, S::kFailure},
             0ms}),
    [](const ::testing::TestParamInfo<Case>& row) { return std::string(row.param.name); });

TEST(RollbackRun, ShutdownDuringTheStaggerLeavesTheRollbackUnfinished) {
  fakes::ManualClock clock;
  fakes::ScriptedActuator router("router", {kChanged});
  RollbackConfig config;
  config.stagger = 2s;
  config.replica_index = 1;
  RollbackExecutor executor({&router}, config, clock);
  std::mutex actuation;
  RollbackRun run(config, executor, nullptr, clock, actuation);
  clock.interrupt();
  const RollbackRunReport report = run.run(3, {}, clock.mono());
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(router.calls, 0) << "no actuator runs after shutdown began";
}

TEST(RollbackRun, ActuatorDetailsBecomeValidUtf8BeforeTheyReachAnyRecord) {
  fakes::ManualClock clock;
  fakes::ScriptedActuator router("router", {ActResult::changed("rolled back \xe2\x9c")});  // cut mid-character
  RollbackConfig config;
  RollbackExecutor executor({&router}, config, clock);
  std::mutex actuation;
  RollbackRun run(config, executor, nullptr, clock, actuation);
  const RollbackRunReport report = run.run(4, {}, clock.mono());
  ASSERT_EQ(report.steps.size(), 1u);
  EXPECT_NO_THROW((void)nlohmann::json(report.steps[0].detail).dump());
  EXPECT_EQ(report.steps[0].detail.rfind("rolled back ", 0), 0u) << report.steps[0].detail;
}

}  // namespace
}  // namespace rs::sidecar
