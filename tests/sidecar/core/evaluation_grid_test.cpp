// Evaluation timestamps sit on the schedule's grid: a late first wake-up must not make
// `for: 3s` at a 1s interval take a fourth interval.
#include <gtest/gtest.h>

#include "tests/fakes/env.h"
#include "actuators/actuator.h"
#include "promql/client.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"

namespace rs::sidecar {
namespace {

class SteppedClock : public Clock {
 public:
  WallTime wall() const override { return wall_; }
  MonoTime mono() const override { return mono_; }
  bool sleep_until(MonoTime t) override {
    if (t > mono_) mono_ = t;
    return true;
  }
  void interrupt() override {}
  void set(std::chrono::milliseconds since_start) {
    wall_ = WallTime(std::chrono::hours(500000)) + since_start;
    mono_ = MonoTime(std::chrono::hours(1)) + since_start;
  }

 private:
  WallTime wall_;
  MonoTime mono_;
};

// Every query answers 1 (above the rule's 0.5).
class BreachingPrometheus : public rs::HttpTransport {
 public:
  std::vector<rs::HttpResponse> perform_all(const std::vector<rs::HttpRequest>& requests) override {
    std::vector<rs::HttpResponse> out(requests.size());
    for (auto& r : out) {
      r.status = 200;
      r.body = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}})";
    }
    return out;
  }
};

class CountingActuator : public actuators::Actuator {
 public:
  std::string type() const override { return "counting"; }
  std::string describe() const override { return "counting"; }
  actuators::ActResult rollback(const actuators::DecisionContext&, std::chrono::steady_clock::time_point) override {
    ++calls;
    return actuators::ActResult::changed("moved");
  }
  actuators::ActResult probe(std::chrono::steady_clock::time_point) override {
    return actuators::ActResult::noop("ok");
  }
  int calls = 0;
};

// An engine at evaluation_interval 1s whose one rule always breaches, on a stepped clock.
class EvaluationGrid : public ::testing::Test {
 protected:
  void start(const std::string& for_duration) {
    LoadResult result = load_config_text(
        "prometheus: {url: 'http://127.0.0.1:1'}\n"
        "evaluation_interval: 1s\n"
        "deployment: {name: checkout, stage: prod, strategy: canary}\n"
        "rules: [{name: errors, query: 'x', above: 0.5, for: " +
            for_duration +
            "}]\n"
            "actuators: [{type: exec, command: [/bin/true]}]\n",
        "grid.yml", actuators::Registry::builtin());
    ASSERT_TRUE(result.loaded) << (result.errors.empty() ? "" : result.errors[0].message);
    loaded_ = std::move(result.loaded);
    engine_ = std::make_unique<Engine>(loaded_->config, std::vector<actuators::Actuator*>{&actuator_}, client_,
                                       fakes::env_with_clock(clock_), metrics_, store_);
    std::string error;
    ASSERT_TRUE(engine_->restore(&error)) << error;
  }

  std::optional<LoadedConfig> loaded_;
  SteppedClock clock_;
  promql::Client client_{promql::ClientOptions{}, std::make_shared<BreachingPrometheus>()};
  SelfMetrics metrics_{"test", {"errors"}, deployment_state_names()};
  StateStore store_{""};
  CountingActuator actuator_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EvaluationGrid, WakeUpJitterDoesNotCostAnExtraInterval) {
  ASSERT_NO_FATAL_FAILURE(start("3s"));

  // Ticks at 0, 1, 2, 3 s; the first woke 40 ms late, the others 1 ms late. Measured on the
  // wall clock, the breach lasted 2.961 s at the fourth tick; on the grid it lasted 3 s.
  const std::chrono::milliseconds wake[] = {std::chrono::milliseconds(40), std::chrono::milliseconds(1001),
                                            std::chrono::milliseconds(2001), std::chrono::milliseconds(3001)};
  for (int i = 0; i < 3; ++i) {
    clock_.set(wake[i]);
    engine_->evaluate_once();
    EXPECT_EQ(actuator_.calls, 0) << "tick " << i;
  }
  clock_.set(wake[3]);
  engine_->evaluate_once();
  EXPECT_EQ(actuator_.calls, 1);
  EXPECT_EQ(engine_->state(), DeploymentState::kRolledBack);
}

TEST_F(EvaluationGrid, OnlySmallLatenessIsSnappedAndAnOffGridTimeStartsANewGrid) {
  ASSERT_NO_FATAL_FAILURE(start("1h"));
  auto evaluated_at = [&](int ms) {
    clock_.set(std::chrono::milliseconds(ms));
    engine_->evaluate_once();
    WallTime t;
    EXPECT_TRUE(parse_rfc3339(engine_->status()["last_evaluation"].get<std::string>(), &t));
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - WallTime(std::chrono::hours(500000))).count();
  };
  EXPECT_EQ(evaluated_at(100), 100);    // the grid starts here
  EXPECT_EQ(evaluated_at(1180), 1100);  // 80 ms late: on the grid
  EXPECT_EQ(evaluated_at(3090), 3100);  // 10 ms early, ticks skipped: still on the grid
  EXPECT_EQ(evaluated_at(4700), 4700);  // 400 ms off: a manual call or a clock step; new grid
  EXPECT_EQ(evaluated_at(5710), 5700);
  EXPECT_EQ(evaluated_at(5720), 5720);  // never the same grid point twice
}

}  // namespace
}  // namespace rs::sidecar
