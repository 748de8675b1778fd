// End to end through AWS (issue #12): the demo stack of demo_stack.h (stable v1 and canary v2
// demo-workloads, load through HAProxy, a real Prometheus scraping both and the sidecar, the real
// `rollback-sidecar` binary running the demo policy), but the sidecar's router is a Lambda alias:
// an `aws-lambda-alias` actuator whose endpoint is the strict AWS fake (tests/fakes/aws/fake_aws.py,
// seeded by seed.py: alias checkout:live on version 1 with 25% of the traffic on version 2), with
// keys from environment variables, every request's SigV4 signature recomputed by the fake.
// HAProxy here only spreads the load so that Prometheus sees the canary's errors.
//
// A bad canary is rolled back (the alias ends with all traffic on version 1, read back from the
// fake), the decision and the audit log say success and verified (rollback.verify watches the
// stable version's error ratio), a restart does not act again and a fresh sidecar finds the
// alias rolled back already (noop); a healthy canary is left alone.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/actuators/aws/fake_aws.h"
#include "tests/e2e/demo_stack.h"
#include "tests/e2e/e2e_support.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

class AwsLambdaRollbackTest : public DemoStackTest {
 protected:
  std::unique_ptr<rs::testing::ScrapingServer> make_backend(rs::testing::ScrapingServer::Options options) override {
    return std::make_unique<rs::testing::PrometheusServer>(std::move(options));
  }
  std::string backend_binary() const override { return "prometheus"; }

  void SetUp() override {
    // Started first: the sidecar's config names its URL.
    ASSERT_NO_THROW(fake_ = std::make_unique<rs::testing::FakeAws>());
    const auto start = alias();
    ASSERT_EQ(start["FunctionVersion"], "1") << start.dump();
    ASSERT_EQ(start["RoutingConfig"]["AdditionalVersionWeights"], nlohmann::json({{"2", 0.25}})) << start.dump();
    DemoStackTest::SetUp();
  }

  void TearDown() override {
    DemoStackTest::TearDown();
    if (HasFailure() && fake_) {
      std::cerr << "---- AWS fake calls\n" << fake_->calls().dump(1) << "\n";
      std::cerr << "---- AWS fake log\n" << tail(fake_->log(), 2000) << "\n";
    }
  }

  void configure_actuators(YAML::Node& config) override {
    YAML::Node lambda;
    lambda["type"] = "aws-lambda-alias";
    lambda["function"] = "checkout";
    lambda["alias"] = "live";
    lambda["region"] = "eu-west-1";
    lambda["endpoint"] = fake_->url();
    lambda["stable_version"] = "1";
    lambda["timeout"] = "2s";
    YAML::Node actuators(YAML::NodeType::Sequence);
    actuators.push_back(lambda);
    config["actuators"] = actuators;
    config["audit_log"] = dir_.file("audit.jsonl");
    // Verified once the stable version's error ratio stays low for 3s after the switch.
    YAML::Node verify;
    verify["query"] =
        "(sum(rate(http_requests_total{service=\"{{service}}\",version=\"{{stable}}\",code=~\"5..\"}[5s])) or "
        "vector(0)) / sum(rate(http_requests_total{service=\"{{service}}\",version=\"{{stable}}\"}[5s]))";
    verify["below"] = 0.05;
    verify["for"] = "3s";
    verify["timeout"] = "60s";
    config["rollback"]["verify"] = verify;
  }

  // The standard chain's first source; the others are switched off so that nothing on this
  // machine (a profile, an instance role) could stand in for the keys.
  std::map<std::string, std::string> sidecar_env() const override {
    return {{"AWS_ACCESS_KEY_ID", rs::testing::kKeyId},
            {"AWS_SECRET_ACCESS_KEY", rs::testing::kSecret},
            {"AWS_SESSION_TOKEN", ""},
            {"AWS_PROFILE", ""},
            {"AWS_WEB_IDENTITY_TOKEN_FILE", ""},
            {"AWS_ROLE_ARN", ""},
            {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""},
            {"AWS_CONTAINER_CREDENTIALS_FULL_URI", ""},
            {"AWS_SHARED_CREDENTIALS_FILE", dir_.file("no-credentials")},
            {"AWS_CONFIG_FILE", dir_.file("no-config")},
            {"AWS_EC2_METADATA_DISABLED", "true"}};
  }

  // The alias as the fake holds it.
  nlohmann::json alias() { return fake_->state()["aliases"]["checkout:live"]; }

  void expect_router_rolled_back() override {
    const auto a = alias();
    EXPECT_EQ(a["FunctionVersion"], "1") << a.dump();
    EXPECT_FALSE(a.contains("RoutingConfig")) << "no traffic may stay on version 2: " << a.dump();
    EXPECT_EQ(fake_->count("UpdateAlias"), 1) << fake_->calls().dump(1);
    EXPECT_GE(fake_->count("GetAlias"), 2) << "read before, read back after: " << fake_->calls().dump(1);
    for (const auto& call : fake_->calls()) {
      EXPECT_EQ(call["status"], 200) << call.dump();
      EXPECT_EQ(call["key"], rs::testing::kKeyId) << "signed with the environment's key: " << call.dump();
    }
  }

  void expect_router_untouched() override {
    const auto a = alias();
    EXPECT_EQ(a["FunctionVersion"], "1") << a.dump();
    EXPECT_EQ(a["RoutingConfig"]["AdditionalVersionWeights"], nlohmann::json({{"2", 0.25}})) << a.dump();
    EXPECT_EQ(fake_->count("UpdateAlias"), 0) << fake_->calls().dump(1);
  }

  // The audit log's records, in order.
  std::vector<nlohmann::json> audit_records() {
    std::vector<nlohmann::json> out;
    std::istringstream in(rs::testing::read_file(dir_.file("audit.jsonl")));
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "audit line is not JSON: " << line;
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }
  // The last record of `event` about decision `decision_id`, or null.
  nlohmann::json audit_record(const std::string& event, const nlohmann::json& decision_id) {
    nlohmann::json last;
    for (const auto& r : audit_records()) {
      if (r["event"] != event) continue;
      if (event == "decision" ? r["decision"]["id"] == decision_id : r["decision_id"] == decision_id) last = r;
    }
    return last;
  }

  std::unique_ptr<rs::testing::FakeAws> fake_;
};

TEST_F(AwsLambdaRollbackTest, BadCanaryIsRolledBackThroughTheAliasVerifiedAndThenANoop) {
  const auto fault_at = SteadyClock::now();
  auto reply = canary_->fault("error_ratio=0.5");
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;

  nlohmann::json s = expect_rolled_back_by("error-rate", fault_at);
  ASSERT_EQ(s["state"], "rolled_back");
  const auto d = s["last_decision"];
  const auto id = d["id"];
  ASSERT_EQ(d["actuators"].size(), 1u) << d.dump(2);
  EXPECT_EQ(d["actuators"][0]["result"], "changed") << d.dump(2);
  EXPECT_EQ(d["actuators"][0]["attempts"], 1) << d.dump(2);

  // The decision -> router verified time (the actuator read the alias back), as the sidecar
  // measured it for the decision and for its histogram.
  ASSERT_TRUE(d["duration_seconds"].is_number()) << d.dump(2);
  const double took = d["duration_seconds"].get<double>();
  EXPECT_GT(took, 0);
  EXPECT_LT(took, 5) << "the rollback deadline is 5s";
  const std::string metrics = sidecar_metrics();
  EXPECT_EQ(metric_sum(metrics, "rollback_sidecar_rollback_duration_seconds_count"), 1) << metrics;
  std::fprintf(stderr,
               "[ info ] decision -> alias verified through the AWS fake: %.1f ms (decision duration_seconds); "
               "rollback_duration_seconds_sum %.4f s\n",
               took * 1000, metric_sum(metrics, "rollback_sidecar_rollback_duration_seconds_sum"));

  // rollback.verify: the stable version stays healthy, so the rollback is verified.
  nlohmann::json verified;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        verified = status();
        return verified.is_object() && verified["last_decision"]["verification"] == "verified";
      },
      30s, 250ms))
      << "the rollback should be verified within 30s; status:\n"
      << verified.dump(2);
  EXPECT_EQ(verified["last_decision"]["result"], "success");
  EXPECT_EQ(verified["last_decision"]["id"], id);

  // The audit log tells the same story: the verification starts pending, then its verdict.
  nlohmann::json record;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        record = audit_record("verification", id);
        return record.is_object() && record["result"] != "pending";
      },
      10s))
      << rs::testing::read_file(dir_.file("audit.jsonl"));
  EXPECT_EQ(record["result"], "verified") << record.dump();
  record = audit_record("decision", id);
  EXPECT_EQ(record["decision"]["kind"], "rollback") << record.dump();
  EXPECT_EQ(record["decision"]["rule"], "error-rate") << record.dump();
  record = audit_record("actuator_call", id);
  EXPECT_EQ(record["actuator"], "aws-lambda-alias checkout:live (eu-west-1)") << record.dump();
  EXPECT_EQ(record["result"], "changed") << record.dump();
  // The actuator's own check: the alias read back after UpdateAlias.
  EXPECT_NE(record["detail"].get<std::string>().find("now version 1, no additional versions (verified)"),
            std::string::npos)
      << record.dump();
  record = audit_record("rollback_completed", id);
  EXPECT_EQ(record["result"], "success") << record.dump();
  const std::string audit_text = rs::testing::read_file(dir_.file("audit.jsonl"));
  EXPECT_EQ(audit_text.find(rs::testing::kSecret), std::string::npos) << "no secret in the audit log";
  EXPECT_EQ(rs::testing::read_file(dir_.file("sidecar.log")).find(rs::testing::kSecret), std::string::npos);

  // A restart with the same state file: latched, no AWS call at all.
  expect_clean_sigterm_exit();
  const int calls_before_restart = static_cast<int>(fake_->calls().size());
  ASSERT_NO_FATAL_FAILURE(start_sidecar());
  nlohmann::json after;
  ASSERT_TRUE(rs::testing::wait_until(
      [&] {
        after = status();
        return after.is_object() && after["evaluations"].get<int>() >= 3;
      },
      20s, 250ms))
      << after.dump(2);
  EXPECT_EQ(after["state"], "rolled_back") << after.dump(2);
  EXPECT_EQ(after["last_decision"]["id"], id);
  EXPECT_EQ(or_zero(metric_sum(sidecar_metrics(), "rollback_sidecar_actuator_calls_total")), 0);
  EXPECT_EQ(static_cast<int>(fake_->calls().size()), calls_before_restart) << fake_->calls().dump(1);
  expect_clean_sigterm_exit();

  // A second sidecar without that state (another replica) still sees the canary fail: it decides,
  // reads the alias, finds it on the stable version and changes nothing.
  std::filesystem::remove(dir_.file("state.json"));
  ASSERT_NO_FATAL_FAILURE(start_sidecar());
  nlohmann::json second = wait_for_state("rolled_back", 60s);
  ASSERT_EQ(second["state"], "rolled_back") << second.dump(2);
  EXPECT_EQ(second["last_decision"]["kind"], "noop") << second.dump(2);
  EXPECT_EQ(second["last_decision"]["result"], "noop") << second.dump(2);
  EXPECT_EQ(second["last_decision"]["actuators"][0]["result"], "noop") << second.dump(2);
  EXPECT_EQ(fake_->count("UpdateAlias"), 1) << "the noop run must not write the alias";
  EXPECT_FALSE(alias().contains("RoutingConfig")) << alias().dump();
  expect_clean_sigterm_exit();
}

TEST_F(AwsLambdaRollbackTest, HealthyCanaryIsNotRolledBack) {
  expect_healthy_canary_left_alone();
  expect_clean_sigterm_exit();
}

}  // namespace
}  // namespace rs::e2e
