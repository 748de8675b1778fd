// The AWS actuators against the strict fake (tests/fakes/aws/): each rolls back, verifies, is a
// noop the second time, survives a concurrent writer, reports AccessDenied at once without
// retrying, retries throttling, and never shows a secret.
#include <gtest/gtest.h>

#include <algorithm>

#include "actuators/aws/alb.h"
#include "actuators/aws/codedeploy.h"
#include "actuators/aws/ecs.h"
#include "actuators/aws/lambda_alias.h"
#include "tests/actuators/aws/fake_aws.h"
#include "tests/actuators/test_settings.h"
#include "tests/fakes/env.h"

namespace rs::testing {
namespace {

using actuators::Change;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

const actuators::DecisionContext kContext{"checkout", "prod", "canary", "rule", "error-rate", "0.3", "0.05", "errors"};

class AwsActuators : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fake_ = new FakeAws(); }
  static void TearDownTestSuite() { delete fake_; }
  void SetUp() override { fake_->reset(); }

  std::unique_ptr<actuators::Actuator> build(
      std::unique_ptr<actuators::Actuator> (*factory)(actuators::Settings&, const actuators::Environment&,
                                                      actuators::aws::AwsSeams),
      std::map<std::string, MapSettings::Value> values, std::shared_ptr<aws::CredentialsProvider> creds = nullptr,
      std::string strategy = "canary", const Env* env = &system_env()) {
    values["region"] = std::string("eu-west-1");
    values["endpoint"] = fake_->url();
    MapSettings settings(values);
    auto a = factory(settings, actuators::Environment{strategy, env}, {creds ? creds : static_credentials(), nullptr});
    EXPECT_TRUE(settings.errors.empty()) << settings.all_errors();
    return a;
  }
  std::unique_ptr<actuators::Actuator> lambda(std::map<std::string, MapSettings::Value> extra = {},
                                              std::shared_ptr<aws::CredentialsProvider> creds = nullptr) {
    extra["function"] = std::string("checkout");
    extra["alias"] = std::string("live");
    return build(&actuators::make_aws_lambda_alias_actuator, extra, creds);
  }
  json alias() { return fake_->state()["aliases"]["checkout:live"]; }

  static FakeAws* fake_;
};
FakeAws* AwsActuators::fake_ = nullptr;

TEST_F(AwsActuators, LambdaAliasRollsBackVerifiesThenNoops) {
  auto a = lambda();
  auto r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_NE(r.detail.find("version 2 weight 0.25"), std::string::npos) << r.detail;
  EXPECT_FALSE(alias().contains("RoutingConfig")) << alias();
  EXPECT_EQ(alias()["FunctionVersion"], "1");
  auto again = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(again.ok) << again.detail;
  EXPECT_EQ(again.change, Change::kNoop) << again.detail;
  EXPECT_EQ(fake_->count("UpdateAlias"), 1);
}

TEST_F(AwsActuators, LambdaAliasBlueGreenAndWeights) {
  auto a = lambda({{"stable_version", std::string("1")}, {"canary_version", std::string("3")}});
  ASSERT_TRUE(a->supports_weights());
  auto r = a->set_canary_weight(10, kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_DOUBLE_EQ(alias()["RoutingConfig"]["AdditionalVersionWeights"]["3"].get<double>(), 0.1);
  r = a->set_canary_weight(100, kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(alias()["FunctionVersion"], "3");
  r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_EQ(alias()["FunctionVersion"], "1");
  EXPECT_FALSE(alias().contains("RoutingConfig"));
}

TEST_F(AwsActuators, LambdaAliasConcurrentWriterMakesItRereadAndRecheck) {
  // Another writer changes only the description between our GetAlias and UpdateAlias: Lambda
  // answers PreconditionFailedException, we read again and still roll back.
  fake_->control("faults", {{"operation", "UpdateAlias"}, {"race", {{"Description", "edited"}}}});
  auto r = lambda()->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged) << r.detail;
  EXPECT_EQ(fake_->count("UpdateAlias"), 2);
  EXPECT_EQ(alias()["Description"], "edited");
  // Another sidecar rolls back first: the re-read finds the alias rolled back: noop.
  fake_->reset();
  fake_->control("faults", {{"operation", "UpdateAlias"}, {"race", {{"RoutingConfig", json::object()}}}});
  r = lambda()->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kNoop) << r.detail;
  EXPECT_NE(r.detail.find("concurrently"), std::string::npos) << r.detail;
}

TEST_F(AwsActuators, AccessDeniedIsReportedVerbatimAndNotRetried) {
  fake_->fault("GetAlias", "AccessDeniedException", 5);
  auto r = lambda()->rollback(kContext, Clock::now() + 10s);
  ASSERT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("GetAlias: AccessDeniedException (HTTP 403): User: arn:aws:iam::123456789012:user/sidecar "
                          "is not authorized to perform: GetAlias"),
            std::string::npos)
      << r.detail;
  EXPECT_EQ(fake_->count("GetAlias"), 1);
}

TEST_F(AwsActuators, ThrottlingIsRetried) {
  fake_->fault("UpdateAlias", "TooManyRequestsException");
  auto r = lambda()->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_EQ(fake_->count("UpdateAlias"), 2);
  // Still throttled at the end: a retryable failure naming AWS's code.
  fake_->reset();
  fake_->fault("DescribeServices", "ThrottlingException", 10);
  auto e =
      build(&actuators::make_aws_ecs_actuator, {{"cluster", std::string("prod")}, {"service", std::string("web")}});
  auto f = e->rollback(kContext, Clock::now() + 10s);
  ASSERT_FALSE(f.ok);
  EXPECT_TRUE(f.retryable);
  EXPECT_NE(f.detail.find("ThrottlingException (HTTP 400): Rate exceeded (after 3 attempts)"), std::string::npos)
      << f.detail;
}

// The clock and the HTTP transport come from the Env: retries back off and CodeDeploy polls on
// its clock, so with a manual one nothing waits in real time.
TEST_F(AwsActuators, BackoffsAndPollsSleepOnTheEnvClock) {
  fakes::ManualClock clock;
  Env env = fakes::env_with_clock(clock);
  int transports = 0;
  env.make_http = [&transports] {
    ++transports;
    return make_curl_transport();
  };
  const auto started = Clock::now();
  fake_->fault("DescribeServices", "ThrottlingException", 10);
  auto e = build(&actuators::make_aws_ecs_actuator, {{"cluster", std::string("prod")}, {"service", std::string("web")}},
                 nullptr, "canary", &env);
  // The deadline is in the manual clock's time, which real steady_clock time is far past.
  auto f = e->rollback(kContext, clock.mono() + 10s);
  ASSERT_FALSE(f.ok);
  EXPECT_NE(f.detail.find("(after 3 attempts)"), std::string::npos) << f.detail;
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{200ms, 400ms}));
  EXPECT_EQ(transports, 1);

  fake_->reset({{"rollback_delay_polls", 3}});
  auto cd = build(&actuators::make_aws_codedeploy_actuator,
                  {{"application", std::string("shop")},
                   {"deployment_group", std::string("prod")},
                   {"poll_interval", std::string("5s")}},
                  nullptr, "canary", &env);
  auto r = cd->rollback(kContext, clock.mono() + 60s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  auto sleeps = clock.sleeps();
  ASSERT_GE(sleeps.size(), 5u);  // the two backoffs above, then three 5 s polls per stopped deployment
  for (std::size_t i = 2; i < sleeps.size(); ++i) EXPECT_EQ(sleeps[i], 5s);
  EXPECT_EQ(transports, 2);
  EXPECT_LT(Clock::now() - started, 5s);  // 15 s of polling, on the manual clock
}

TEST_F(AwsActuators, WrongSecretIsRefusedAndNeverShown) {
  const std::string secret = "WRONG-secret-value-123";
  auto r = lambda({}, static_credentials(kKeyId, secret))->rollback(kContext, Clock::now() + 10s);
  ASSERT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("InvalidSignatureException"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find(secret), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find(kSecret), std::string::npos) << r.detail;
}

TEST_F(AwsActuators, CodeDeployStopsWithRollbackVerifiesThenNoops) {
  auto a = build(&actuators::make_aws_codedeploy_actuator, {{"application", std::string("shop")},
                                                            {"deployment_group", std::string("prod")},
                                                            {"poll_interval", std::string("100ms")}});
  auto r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_NE(r.detail.find("d-BAD000001 (Stopped) -> rollback deployment d-ROLLBACK"), std::string::npos) << r.detail;
  EXPECT_GE(fake_->count("GetDeployment"), 3);  // the rollback shows on the second poll
  auto again = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(again.ok) << again.detail;
  EXPECT_EQ(again.change, Change::kNoop) << again.detail;
  EXPECT_NE(again.detail.find("only CodeDeploy rollback deployment(s) in progress"), std::string::npos) << again.detail;
  EXPECT_EQ(fake_->count("StopDeployment"), 1);
}

TEST_F(AwsActuators, CodeDeployConcurrentStopAndImpossibleRollback) {
  fake_->control("faults", {{"operation", "StopDeployment"}, {"race", "stop"}});
  auto a = build(&actuators::make_aws_codedeploy_actuator, {{"application", std::string("shop")},
                                                            {"deployment_group", std::string("prod")},
                                                            {"poll_interval", std::string("100ms")}});
  auto r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_NE(r.detail.find("already stopped by someone else"), std::string::npos) << r.detail;
  auto first = build(&actuators::make_aws_codedeploy_actuator, {{"application", std::string("shop")},
                                                                {"deployment_group", std::string("first")},
                                                                {"poll_interval", std::string("100ms")}});
  auto f = first->rollback(kContext, Clock::now() + 1s);
  ASSERT_FALSE(f.ok);
  EXPECT_NE(f.detail.find("no last successful deployment"), std::string::npos) << f.detail;
}

TEST_F(AwsActuators, EcsRollsBackToThePreviousTaskDefinitionThenNoops) {
  auto a =
      build(&actuators::make_aws_ecs_actuator, {{"cluster", std::string("prod")}, {"service", std::string("web")}});
  auto r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_NE(r.detail.find("now arn:aws:ecs:eu-west-1:123456789012:task-definition/web:6"), std::string::npos)
      << r.detail;
  // A fresh actuator (another replica, or after a restart) sees web:6 PRIMARY, web:7 draining.
  auto b =
      build(&actuators::make_aws_ecs_actuator, {{"cluster", std::string("prod")}, {"service", std::string("web")}});
  auto again = b->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(again.ok) << again.detail;
  EXPECT_EQ(again.change, Change::kNoop) << again.detail;
  EXPECT_EQ(fake_->count("UpdateService"), 1);
}

TEST_F(AwsActuators, EcsStableTaskDefinitionAndRefusals) {
  auto a = build(&actuators::make_aws_ecs_actuator, {{"cluster", std::string("prod")},
                                                     {"service", std::string("web")},
                                                     {"stable_task_definition", std::string("web:6")}});
  ASSERT_EQ(a->rollback(kContext, Clock::now() + 10s).change, Change::kChanged);
  EXPECT_EQ(a->rollback(kContext, Clock::now() + 10s).change, Change::kNoop);
  auto cd = build(&actuators::make_aws_ecs_actuator,
                  {{"cluster", std::string("prod")}, {"service", std::string("blue-green")}});
  auto r = cd->rollback(kContext, Clock::now() + 10s);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("CODE_DEPLOY"), std::string::npos) << r.detail;
  auto missing =
      build(&actuators::make_aws_ecs_actuator, {{"cluster", std::string("prod")}, {"service", std::string("nope")}});
  r = missing->rollback(kContext, Clock::now() + 10s);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("MISSING"), std::string::npos) << r.detail;
}

TEST_F(AwsActuators, AlbListenerKeepsEveryActionButTheWeights) {
  const std::string listener = fake_->seed()["state"]["listeners"].begin().key();
  const std::string stable = fake_->seed()["state"]["target_groups"][0],
                    canary = fake_->seed()["state"]["target_groups"][1];
  auto a = build(&actuators::make_aws_alb_actuator,
                 {{"listener_arn", listener}, {"stable_target_group", stable}, {"canary_target_group", canary}});
  auto r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_NE(r.detail.find("was stable weight 80, canary weight 20, now stable weight 100, canary weight 0"),
            std::string::npos)
      << r.detail;
  json actions = fake_->state()["listeners"][listener]["DefaultActions"];
  ASSERT_EQ(actions.size(), 2u) << actions;
  EXPECT_EQ(actions[0]["Type"], "authenticate-oidc");
  EXPECT_EQ(actions[0]["AuthenticateOidcConfig"]["AuthenticationRequestExtraParams"]["prompt"], "login") << actions;
  EXPECT_EQ(actions[0]["AuthenticateOidcConfig"]["SessionTimeout"], 604800);
  EXPECT_EQ(actions[1]["ForwardConfig"]["TargetGroupStickinessConfig"]["DurationSeconds"], 3600) << actions;
  EXPECT_EQ(actions[1]["ForwardConfig"]["TargetGroups"][1]["Weight"], 0);
  EXPECT_EQ(a->rollback(kContext, Clock::now() + 10s).change, Change::kNoop);
  auto w = a->set_canary_weight(25, kContext, Clock::now() + 10s);
  ASSERT_TRUE(w.ok) << w.detail;
  EXPECT_EQ(fake_->state()["listeners"][listener]["DefaultActions"][1]["ForwardConfig"]["TargetGroups"][1]["Weight"],
            25);
}

TEST_F(AwsActuators, AlbRuleWithOnlyTheCanaryGroup) {
  const std::string rule = fake_->seed()["state"]["rules"].begin().key();
  const std::string stable = fake_->seed()["state"]["target_groups"][0],
                    canary = fake_->seed()["state"]["target_groups"][1];
  auto a = build(&actuators::make_aws_alb_actuator,
                 {{"rule_arn", rule}, {"stable_target_group", stable}, {"canary_target_group", canary}});
  auto r = a->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  json action = fake_->state()["rules"][rule]["Actions"][0];
  EXPECT_FALSE(action.contains("TargetGroupArn")) << action;
  EXPECT_EQ(action["ForwardConfig"]["TargetGroupStickinessConfig"]["Enabled"], false) << action;
  EXPECT_EQ(a->rollback(kContext, Clock::now() + 10s).change, Change::kNoop);
}

TEST(AwsActuatorSettings, RegistryKnowsTheTypesAndChecksKeys) {
  MapSettings s({{"function", std::string("arn:aws:lambda:x")}, {"alias", std::string("live")}});
  actuators::make_aws_lambda_alias_actuator(s, actuators::Environment{"blue-green"});
  EXPECT_NE(s.all_errors().find("region: missing"), std::string::npos) << s.all_errors();
  EXPECT_NE(s.all_errors().find("not an ARN"), std::string::npos) << s.all_errors();
  EXPECT_NE(s.all_errors().find("stable_version: is required with strategy blue-green"), std::string::npos);
  MapSettings both({{"listener_arn", std::string("arn:aws:elasticloadbalancing:r:a:listener/app/x/1/2")},
                    {"rule_arn", std::string("arn:aws:elasticloadbalancing:r:a:listener-rule/app/x/1/2/3")},
                    {"stable_target_group", std::string("s")},
                    {"canary_target_group", std::string("c")},
                    {"region", std::string("eu-west-1")}});
  actuators::make_aws_alb_actuator(both, actuators::Environment{"canary"});
  EXPECT_NE(both.all_errors().find("exactly one"), std::string::npos) << both.all_errors();
  auto known = actuators::Registry::builtin().known_types();
  for (const char* type : {"aws-lambda-alias", "aws-alb", "aws-codedeploy", "aws-ecs"})
    EXPECT_NE(std::find(known.begin(), known.end(), type), known.end()) << type;
}

}  // namespace
}  // namespace rs::testing
