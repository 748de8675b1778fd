// A rollback is never undone by its recording: actuator details that are not valid UTF-8 and
// observers (audit log, notifiers, incident reports) that throw must not keep a rollback from
// completing, being latched and being persisted -- whether a rule, an alert or a person started it.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <stdexcept>

#include "tests/fakes/env.h"
#include "tests/fakes/prometheus.h"
#include "actuators/actuator.h"
#include "promql/client.h"
#include "common/http/http_transport.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "tests/e2e/e2e_support.h"  // metric_sum
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using actuators::ActResult;

// Time moves only when the test says so.
using fakes::ManualClock;

using fakes::OneValuePrometheus;

// What an exec actuator reported before the fix: the last 512 bytes of "✓"*200, cut mid-character.
const std::string kCutDetail = "exec rollback.sh: exit code 0; stdout: ...\x9C\x93\xE2\x9C\x93\xE2\x9C";

class FixedActuator : public actuators::Actuator {
 public:
  std::string type() const override { return "fixed"; }
  std::string describe() const override { return "fixed router"; }
  ActResult rollback(const actuators::DecisionContext&, std::chrono::steady_clock::time_point) override {
    ++calls;
    return ActResult::changed(detail);
  }
  ActResult probe(std::chrono::steady_clock::time_point) override { return ActResult::noop("ok"); }
  std::string detail = kCutDetail;
  int calls = 0;
};

// An observer that dumps what it is given the way a careless recorder would, or just throws.
class StrictObserver : public DecisionObserver {
 public:
  explicit StrictObserver(bool always_throw) : always_throw_(always_throw) {}
  void on_decision(const Decision& d) override {
    ++decisions;
    check(to_json(d));
  }
  void on_rollback_finished(const Decision& d, const StatusView& status) override {
    ++finished;
    check(to_json(d));
    check(to_json(status));
  }
  void on_verification_finished(const Decision& d, WallTime) override { check(to_json(d)); }
  void on_freeze(const FreezeEvent&) override { check(nullptr); }
  int decisions = 0;
  int finished = 0;

 private:
  void check(const nlohmann::json& j) {
    if (always_throw_) throw std::runtime_error("observer broke");
    (void)j.dump();  // throws type_error.316 on invalid UTF-8
  }
  bool always_throw_;
};

// Counts what reaches it: observers after a broken one still hear about everything.
class CountingObserver : public DecisionObserver {
 public:
  void on_decision(const Decision&) override { ++decisions; }
  void on_rollback_finished(const Decision& d, const StatusView& status) override {
    ++finished;
    last_state = deployment_state_name(status.state);
    last_result = rollback_result_name(d.result);
  }
  void on_verification_finished(const Decision&, WallTime) override {}
  void on_freeze(const FreezeEvent&) override { ++freezes; }
  int decisions = 0, finished = 0, freezes = 0;
  std::string last_state, last_result;
};

struct Sidecar {
  Sidecar(const std::string& state_file, std::shared_ptr<OneValuePrometheus> prometheus, ManualClock& clock,
          actuators::Actuator& actuator) {
    const std::string yaml =
        "prometheus: {url: 'http://prometheus.invalid:9090'}\n"
        "evaluation_interval: 1s\n"
        "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2}}\n"
        "rules: [{name: errors, query: errors, above: 0.05}]\n"
        "actuators: [{type: exec, command: [/bin/true]}]\n"
        "state_file: '" +
        state_file + "'\n";
    LoadResult result = load_config_text(yaml, "engine.yml", actuators::Registry::builtin());
    for (const auto& e : result.errors) ADD_FAILURE() << e.to_string("engine.yml");
    if (!result.loaded) return;
    loaded = std::move(*result.loaded);
    metrics = std::make_unique<SelfMetrics>("test", std::vector<std::string>{"errors"}, deployment_state_names());
    client = std::make_unique<promql::Client>(promql::ClientOptions{}, std::move(prometheus));
    store = std::make_unique<StateStore>(loaded.config.state_file);
    engine = std::make_unique<Engine>(loaded.config, std::vector<actuators::Actuator*>{&actuator}, *client,
                                      fakes::env_with_clock(clock), *metrics, *store);
    std::string error;
    EXPECT_TRUE(engine->restore(&error)) << error;
  }
  std::string state_on_disk() const {
    std::optional<PersistedState> saved;
    std::string error;
    if (!store->load(&saved, &error) || !saved) return "unreadable: " + error;
    return deployment_state_name(saved->state);
  }
  double recording_errors() const {
    return e2e::metric_sum(metrics->serialize(), "rollback_sidecar_audit_write_errors_total", {});
  }

  LoadedConfig loaded;
  std::unique_ptr<SelfMetrics> metrics;
  std::unique_ptr<promql::Client> client;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Engine> engine;
};

class EngineRecordingTest : public ::testing::Test {
 protected:
  Sidecar& start() {
    sidecar_.reset();
    sidecar_ = std::make_unique<Sidecar>(dir_.file("state.json"), prometheus_, clock_, actuator_);
    return *sidecar_;
  }
  void tick() {
    clock_.advance(1000ms);
    sidecar_->engine->evaluate_once();
  }
  Engine& engine() { return *sidecar_->engine; }

  testing::TempDir dir_;
  std::shared_ptr<OneValuePrometheus> prometheus_ = std::make_shared<OneValuePrometheus>();
  ManualClock clock_;
  FixedActuator actuator_;
  std::unique_ptr<Sidecar> sidecar_;
};

TEST_F(EngineRecordingTest, ARuleRollbackWithACutCharacterInTheDetailIsLatchedOnDiskAndNotRepeated) {
  ASSERT_TRUE(start().engine);
  StrictObserver strict(false);
  CountingObserver counting;
  engine().add_observer(&strict);
  engine().add_observer(&counting);
  tick();
  ASSERT_EQ(actuator_.calls, 1);
  EXPECT_EQ(std::string(deployment_state_name(engine().state())), "rolled_back");
  EXPECT_EQ(sidecar_->state_on_disk(), "rolled_back");
  EXPECT_EQ(counting.finished, 1);
  EXPECT_EQ(counting.last_state, "rolled_back");
  EXPECT_EQ(strict.finished, 1);
  // The status can be served (dumped without a replace handler) and still shows the detail.
  nlohmann::json status = engine().status();
  std::string text;
  ASSERT_NO_THROW(text = status.dump());
  EXPECT_NE(text.find("exit code 0; stdout: ..."), std::string::npos) << text;
  EXPECT_EQ(status["last_decision"]["result"], "success");

  // A restart keeps the latch and does not run the actuator again.
  ASSERT_TRUE(start().engine);
  EXPECT_EQ(std::string(deployment_state_name(engine().state())), "rolled_back");
  for (int i = 0; i < 3; ++i) tick();
  EXPECT_EQ(actuator_.calls, 1);
}

TEST_F(EngineRecordingTest, ThrowingObserversAreLoggedCountedAndTheRollbackStillCompletes) {
  actuator_.detail = "canary weight 10 -> 0";
  ASSERT_TRUE(start().engine);
  StrictObserver broken(true);
  CountingObserver counting;
  engine().add_observer(&broken);
  engine().add_observer(&counting);
  tick();
  EXPECT_EQ(actuator_.calls, 1) << "a recorder that throws on the decision must not stop the actuators";
  EXPECT_EQ(std::string(deployment_state_name(engine().state())), "rolled_back");
  EXPECT_EQ(sidecar_->state_on_disk(), "rolled_back");
  EXPECT_EQ(counting.decisions, 1);
  EXPECT_EQ(counting.finished, 1);
  EXPECT_EQ(counting.last_result, "success");
  EXPECT_EQ(sidecar_->recording_errors(), 2) << "on_decision and on_rollback_finished each threw once";

  engine().set_freeze("test", "ci");
  EXPECT_TRUE(engine().clear_freeze("ci"));
  EXPECT_EQ(counting.freezes, 2);
  EXPECT_EQ(sidecar_->recording_errors(), 4);
}

TEST_F(EngineRecordingTest, AManualRollbackOnTheBackgroundThreadNeverTerminates) {
  prometheus_->set_value("0.0");
  ASSERT_TRUE(start().engine);
  StrictObserver strict(false);  // throws on the cut character if it reaches it unrepaired
  StrictObserver broken(true);
  CountingObserver counting;
  engine().add_observer(&strict);
  engine().add_observer(&broken);
  engine().add_observer(&counting);
  tick();
  RollbackRequest request;
  request.trigger = Trigger::kManual;
  request.name = "manual";
  request.reason = "customers report errors";
  request.details = {{"actor", "alice"}};
  RollbackRequestResult result = engine().request_rollback(request);
  ASSERT_TRUE(result.accepted) << result.message;
  engine().shutdown();  // joins the background rollback
  EXPECT_EQ(actuator_.calls, 1);
  EXPECT_EQ(std::string(deployment_state_name(engine().state())), "rolled_back");
  EXPECT_EQ(sidecar_->state_on_disk(), "rolled_back");
  EXPECT_EQ(counting.finished, 1);
  EXPECT_NO_THROW((void)engine().status().dump());

  ASSERT_TRUE(start().engine);
  for (int i = 0; i < 3; ++i) tick();
  EXPECT_EQ(actuator_.calls, 1) << "the latch survives the restart";
}

}  // namespace
}  // namespace rs::sidecar
