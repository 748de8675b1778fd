// Each enum of the decision record has one name table: every value has a distinct name, and
// reading a name back gives the value (the state file and audit log depend on both).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sidecar/policy/decision.h"

namespace rs::sidecar {
namespace {

template <typename E>
void expect_round_trip(std::initializer_list<E> all, const char* (*name)(E),
                       std::optional<E> (*parse)(std::string_view)) {
  std::set<std::string> seen;
  for (E value : all) {
    const std::string text = name(value);
    EXPECT_NE(text, "unknown") << "a value missing from its table";
    EXPECT_TRUE(seen.insert(text).second) << "two values named " << text;
    EXPECT_EQ(parse(text), value) << text;
  }
  EXPECT_EQ(parse("Rollback"), std::nullopt) << "names are exact";
  EXPECT_EQ(parse("bogus"), std::nullopt);
}

TEST(DecisionNames, EveryEnumReadsBackItsOwnNames) {
  expect_round_trip({DecisionKind::kRollback, DecisionKind::kNotify, DecisionKind::kHold, DecisionKind::kNoop},
                    decision_kind_name, parse_decision_kind);
  expect_round_trip({Trigger::kRule, Trigger::kAlert, Trigger::kManual}, trigger_name, parse_trigger);
  expect_round_trip(
      {RollbackResult::kRunning, RollbackResult::kSuccess, RollbackResult::kNoop, RollbackResult::kFailure},
      rollback_result_name, parse_rollback_result);
  expect_round_trip({Verification::kNone, Verification::kPending, Verification::kVerified, Verification::kFailed},
                    verification_name, parse_verification);
  expect_round_trip({DeploymentState::kHealthy, DeploymentState::kPending, DeploymentState::kFiring,
                     DeploymentState::kRollingBack, DeploymentState::kRolledBack, DeploymentState::kRollbackFailed},
                    deployment_state_name, parse_deployment_state);
  expect_round_trip({StepResult::kChanged, StepResult::kNoop, StepResult::kFailure, StepResult::kOk}, step_result_name,
                    parse_step_result);
}

TEST(DecisionNames, TheWireNamesStayAsDocumented) {
  EXPECT_STREQ(decision_kind_name(DecisionKind::kHold), "hold");
  EXPECT_STREQ(trigger_name(Trigger::kManual), "manual");
  EXPECT_STREQ(rollback_result_name(RollbackResult::kRunning), "") << "a running rollback has no result yet";
  EXPECT_STREQ(verification_name(Verification::kNone), "");
  EXPECT_STREQ(step_result_name(StepResult::kChanged), "changed");
}

TEST(DecisionNames, AnUnknownNameInAStoredDecisionIsRefusedNamingTheField) {
  Decision d;
  d.id = 4;
  d.rule = "errors";
  nlohmann::json j = to_json(d);
  for (const char* field : {"kind", "trigger", "result", "verification"}) {
    nlohmann::json bad = j;
    bad[field] = "sideways";
    Decision out;
    std::string error;
    EXPECT_FALSE(decision_from_json(bad, &out, &error)) << field;
    EXPECT_NE(error.find(std::string("decision.") + field), std::string::npos) << error;
    EXPECT_NE(error.find("sideways"), std::string::npos) << error;
  }
  nlohmann::json bad = j;
  bad["actuators"] = nlohmann::json::array({{{"actuator", "router"}, {"result", 3}}});
  Decision out;
  std::string error;
  EXPECT_FALSE(decision_from_json(bad, &out, &error));
  EXPECT_NE(error.find("decision.result"), std::string::npos) << error;
}

}  // namespace
}  // namespace rs::sidecar
