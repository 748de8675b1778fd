// rollback.preflight (the stable version's health before a switch) and rollback.verify (the
// condition after it), with a scripted transport standing in for the health URL and Prometheus.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/rollback/rollback_checks.h"
#include "tests/fakes/http.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;

const char* kHealth = "http://stable.internal:8080/healthz";

constexpr const char* kQueryUrl = "http://prometheus.internal:9090/api/v1/query";
using ScriptedTransport = fakes::UrlTransport;

std::string vector_of(const std::vector<std::string>& values, bool partial = false) {
  std::string series;
  for (const auto& v : values)
    series += std::string(series.empty() ? "" : ",") + R"({"metric":{},"value":[1,")" + v + R"("]})";
  return std::string(R"({"status":"success",)") + (partial ? R"("isPartial":true,)" : "") +
         R"("data":{"resultType":"vector","result":[)" + series + "]}}";
}

PreflightConfig preflight(bool http, bool query) {
  PreflightConfig c;
  c.enabled = true;
  if (http) c.http_url = kHealth;
  if (query) c.query = QueryCondition{"stable_error_ratio", Comparison::kBelow, 0.05};
  c.timeout = 1000ms;
  return c;
}

StableHealthCheck make_check(const PreflightConfig& c, std::shared_ptr<ScriptedTransport> t) {
  promql::ClientOptions o;
  o.url = "http://prometheus.internal:9090";
  return StableHealthCheck(c, o, t);
}

TEST(StableHealthCheck, TheHealthUrlMustAnswer2xx) {
  auto t = std::make_shared<ScriptedTransport>();
  auto check = make_check(preflight(true, false), t);
  t->answer(kHealth, 204);
  CheckResult r = check.run();
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_NE(r.detail.find("HTTP 204"), std::string::npos) << r.detail;
  for (long code : {301L, 404L, 500L, 503L}) {
    t->answer(kHealth, code);
    r = check.run();
    EXPECT_FALSE(r.ok) << code;
    EXPECT_NE(r.detail.find(kHealth), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("HTTP " + std::to_string(code)), std::string::npos) << r.detail;
  }
  t->forget_all();
  r = check.run();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("connection refused"), std::string::npos) << r.detail;
}

TEST(StableHealthCheck, EveryStableSeriesMustHoldTheCondition) {
  auto t = std::make_shared<ScriptedTransport>();
  auto check = make_check(preflight(false, true), t);
  struct Case {
    std::string body;
    bool ok;
    const char* says;
  };
  const std::vector<Case> cases = {
      {vector_of({"0.01"}), true, "below 0.05"},
      {vector_of({"0.01", "0.02"}), true, "below 0.05"},
      {vector_of({"0.01", "0.2"}), false, "= 0.2, not below 0.05"},  // one bad instance is enough
      {vector_of({"0.05"}), false, "not below"},                     // equal is not below
      {vector_of({}), false, "no data"},
      {vector_of({"0.01"}, /*partial=*/true), false, "partial"},  // a missing series could be the bad one
      {R"({"status":"error","errorType":"bad_data","error":"parse error"})", false, "prometheus"},
  };
  for (const auto& c : cases) {
    t->answer(kQueryUrl, 200, c.body);
    const CheckResult r = check.run();
    EXPECT_EQ(r.ok, c.ok) << c.body << ": " << r.detail;
    EXPECT_NE(r.detail.find(c.says), std::string::npos) << c.body << ": " << r.detail;
    EXPECT_NE(r.detail.find("stable_error_ratio"), std::string::npos) << r.detail;
  }
}

TEST(StableHealthCheck, AFailingHealthUrlStopsBeforeTheQuery) {
  auto t = std::make_shared<ScriptedTransport>();
  auto check = make_check(preflight(true, true), t);
  t->answer(kHealth, 503);
  t->answer(kQueryUrl, 200, vector_of({"0.01"}));
  EXPECT_FALSE(check.run().ok);
  EXPECT_EQ(t->urls(), std::vector<std::string>{kHealth});
  t->answer(kHealth, 200);
  const CheckResult both = check.run();
  EXPECT_TRUE(both.ok) << both.detail;
  EXPECT_NE(both.detail.find("HTTP 200; stable query"), std::string::npos) << both.detail;
}

// The verification window, on explicit times (the class is pure).
class Verification : public ::testing::Test {
 protected:
  Verification() {
    config_.enabled = true;
    config_.condition = QueryCondition{"error_ratio", Comparison::kBelow, 0.01};
    config_.for_duration = 30s;
    config_.timeout = 120s;
  }
  WallTime at(int seconds) const { return t0_ + std::chrono::seconds(seconds); }
  VerifyConfig config_;
  const WallTime t0_ = WallTime(std::chrono::hours(500000));
};

TEST_F(Verification, VerifiedOnceTheConditionHeldForTheWholeWindow) {
  RollbackVerification v(config_);
  EXPECT_EQ(v.verdict(), RollbackVerification::Verdict::kNone);
  v.start(at(0));
  EXPECT_EQ(v.verdict(), RollbackVerification::Verdict::kPending);
  EXPECT_EQ(v.observe(0.001, "", at(0)), RollbackVerification::Verdict::kPending);
  EXPECT_EQ(v.observe(0.001, "", at(20)), RollbackVerification::Verdict::kPending);
  EXPECT_EQ(v.observe(0.001, "", at(30)), RollbackVerification::Verdict::kVerified);
  EXPECT_NE(v.detail().find("verified"), std::string::npos) << v.detail();
  EXPECT_EQ(v.observe(0.9, "", at(40)), RollbackVerification::Verdict::kVerified) << "a verdict is final";
}

TEST_F(Verification, OneMissRestartsTheWindowAndNoDataIsAMiss) {
  RollbackVerification v(config_);
  v.start(at(0));
  v.observe(0.001, "", at(0));
  v.observe(0.5, "", at(25));  // a miss
  EXPECT_NE(v.detail().find("0.5 is not below 0.01"), std::string::npos) << v.detail();
  EXPECT_EQ(v.observe(0.001, "", at(30)), RollbackVerification::Verdict::kPending);
  v.observe(std::nullopt, "timeout: Prometheus did not answer", at(40));  // missing evidence
  EXPECT_NE(v.detail().find("no value: timeout"), std::string::npos) << v.detail();
  EXPECT_EQ(v.observe(0.001, "", at(45)), RollbackVerification::Verdict::kPending);
  EXPECT_EQ(v.observe(0.001, "", at(74)), RollbackVerification::Verdict::kPending);
  EXPECT_EQ(v.observe(0.001, "", at(75)), RollbackVerification::Verdict::kVerified);
}

TEST_F(Verification, FailsWhenTheTimeoutPassesWithoutAFullWindow) {
  RollbackVerification v(config_);
  v.start(at(0));
  for (int s = 0; s < 120; s += 10) {
    EXPECT_EQ(v.observe(s % 20 == 0 ? 0.001 : 0.2, "", at(s)), RollbackVerification::Verdict::kPending) << s;
  }
  EXPECT_EQ(v.observe(0.2, "", at(120)), RollbackVerification::Verdict::kFailed);
  EXPECT_NE(v.detail().find("not verified within 2m"), std::string::npos) << v.detail();
  EXPECT_STREQ(verification_name(v.verdict()), "failed");
}

}  // namespace
}  // namespace rs::sidecar
