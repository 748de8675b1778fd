// The kubernetes actuators against the strict fake API server (tests/fakes/kubernetes/): each
// acts, verifies, is a noop the second time, loses a race (409) and recovers without
// overwriting the other writer, and reports 403/404 with the API server's words; the client
// re-reads rotated tokens, follows a kubeconfig's named context (token or client certificate),
// runs in-cluster, and never puts a token in an error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "actuators/kubernetes/client.h"
#include "actuators/kubernetes/kubernetes.h"
#include "common/http/url.h"
#include "tests/actuators/test_settings.h"
#include "tests/fakes/env.h"
#include "tests/fakes/kubernetes/fake_apiserver.h"

namespace rs::actuators {
namespace {

using json = nlohmann::json;
using rs::testing::FakeApiServer;
using rs::testing::MapSettings;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kSecret = "s3cr3t-sidecar-token-0123456789";
const std::string kService = "/api/v1/namespaces/shop/services/checkout";
const std::string kCanaryScale = "/apis/apps/v1/namespaces/shop/deployments/checkout-v2/scale";
const std::string kRoute = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout";
const std::string kRollout = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout";

json all_rights(const std::string& user) {
  return {{"user", user}, {"rules", json::array({{{"verbs", {"*"}}, {"resources", {"*"}}}})}};
}

json rights(const std::string& user, const json& verbs, const json& resources) {
  return {{"user", user}, {"rules", json::array({{{"verbs", verbs}, {"resources", resources}}})}};
}

json pod(const std::string& name, const std::string& track, const std::string& ip) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "shop"}, {"labels", {{"app", "checkout"}, {"track", track}}}}},
          {"status", {{"podIP", ip}}}};
}

json deployment(const std::string& name, int replicas) {
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", "shop"}}},
      {"spec", {{"replicas", replicas}, {"selector", {{"matchLabels", {{"app", "checkout"}, {"version", name}}}}}}}};
}

json seed() {
  json route = {{"apiVersion", "gateway.networking.k8s.io/v1"},
                {"kind", "HTTPRoute"},
                {"metadata", {{"name", "checkout"}, {"namespace", "shop"}, {"labels", {{"team", "payments"}}}}},
                {"spec",
                 {{"parentRefs", {{{"name", "public"}, {"namespace", "gateways"}}}},
                  {"hostnames", {"shop.example.com"}},
                  {"rules",
                   {{{"matches", {{{"path", {{"type", "PathPrefix"}, {"value", "/checkout"}}}}}},
                     {"filters",
                      {{{"type", "RequestHeaderModifier"},
                        {"requestHeaderModifier", {{"set", {{{"name", "x-route"}, {"value", "checkout"}}}}}}}}},
                     {"backendRefs",
                      {{{"name", "checkout-v1"}, {"port", 8080}, {"weight", 90}},
                       {{"name", "checkout-v2"}, {"port", 8080}, {"weight", 10}}}}},
                    {{"matches", {{{"path", {{"type", "PathPrefix"}, {"value", "/static"}}}}}},
                     {"backendRefs", {{{"name", "static"}, {"port", 80}}}}}}}}},
                {"status", {{"parents", json::array()}}}};
  return json::array({
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}},
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", {{"name", "checkout"}, {"namespace", "shop"}}},
       {"spec",
        {{"selector", {{"app", "checkout"}, {"track", "canary"}}},
         {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}},
      pod("checkout-v1-a", "stable", "10.0.0.11"),
      pod("checkout-v1-b", "stable", "10.0.0.12"),
      pod("checkout-v2-a", "canary", "10.0.0.21"),
      deployment("checkout-v1", 2),
      deployment("checkout-v2", 2),
      route,
      {{"apiVersion", "argoproj.io/v1alpha1"},
       {"kind", "Rollout"},
       {"metadata",
        {{"name", "checkout"}, {"namespace", "shop"}, {"annotations", {{"rollout.argoproj.io/revision", "7"}}}}},
       {"spec", {{"replicas", 3}}},
       {"status", {{"phase", "Paused"}, {"stableRS", "5d8f"}, {"currentPodHash", "77c9"}}}},
  });
}

class KubernetesActuatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_unique<FakeApiServer>(
        seed(), json{{"admin-token", all_rights("admin")},
                     {kSecret, all_rights("system:serviceaccount:shop:rollback-sidecar")},
                     {"read-only", rights("system:serviceaccount:shop:viewer", {"get", "list"}, {"*"})},
                     {"no-slices", rights("system:serviceaccount:shop:narrow", {"get", "patch"}, {"services"})}});
    write_token(kSecret);
  }

  void write_token(const std::string& token) { rs::testing::write_file(dir_.file("token"), token + "\n"); }

  MapSettings settings(std::map<std::string, MapSettings::Value> extra) {
    std::map<std::string, MapSettings::Value> v = {{"namespace", "shop"},
                                                   {"name", "checkout"},
                                                   {"api_server", fake_->url()},
                                                   {"token_file", dir_.file("token")},
                                                   {"ca_file", fake_->ca_file()}};
    for (auto& [k, val] : extra) v[k] = val;
    return MapSettings(v);
  }

  std::unique_ptr<Actuator> service(std::map<std::string, MapSettings::Value> extra = {}) {
    extra.insert({"label", "track"});
    extra.insert({"stable", "stable"});
    extra.insert({"canary", "canary"});
    auto s = settings(extra);
    auto a = make_kubernetes_service_actuator(s, {});
    EXPECT_TRUE(s.errors.empty()) << s.all_errors();
    return a;
  }
  std::unique_ptr<Actuator> scale(std::map<std::string, MapSettings::Value> extra = {}) {
    extra.insert({"name", "checkout-v1"});
    extra.insert({"canary_deployment", "checkout-v2"});
    auto s = settings(extra);
    auto a = make_kubernetes_scale_actuator(s, {});
    EXPECT_TRUE(s.errors.empty()) << s.all_errors();
    return a;
  }
  std::unique_ptr<Actuator> route(std::map<std::string, MapSettings::Value> extra = {}) {
    extra.insert({"stable_backend", "checkout-v1"});
    extra.insert({"canary_backend", "checkout-v2"});
    auto s = settings(extra);
    auto a = make_gateway_httproute_actuator(s, {});
    EXPECT_TRUE(s.errors.empty()) << s.all_errors();
    return a;
  }
  std::unique_ptr<Actuator> rollout(std::map<std::string, MapSettings::Value> extra = {}) {
    auto s = settings(extra);
    auto a = make_argo_rollout_actuator(s, {});
    EXPECT_TRUE(s.errors.empty()) << s.all_errors();
    return a;
  }

  static Clock::time_point deadline() { return Clock::now() + 10s; }
  ActResult roll(Actuator& a) { return a.rollback(DecisionContext{}, deadline()); }

  rs::testing::TempDir dir_;
  std::unique_ptr<FakeApiServer> fake_;
};

::testing::AssertionResult is(const ActResult& r, Change change) {
  if (r.ok && r.change == change) return ::testing::AssertionSuccess() << r.detail;
  return ::testing::AssertionFailure() << (r.ok ? (r.change == Change::kNoop ? "noop: " : "changed: ") : "failed: ")
                                       << r.detail;
}
#define EXPECT_CHANGED(r) EXPECT_TRUE(is((r), Change::kChanged))
#define EXPECT_NOOP(r) EXPECT_TRUE(is((r), Change::kNoop))

// ---- kubernetes-service -------------------------------------------------------------------

TEST_F(KubernetesActuatorTest, ServiceFlipsTheSelectorVerifiesEndpointSlicesThenNoops) {
  auto a = service();
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  EXPECT_NE(r.detail.find("selector track canary -> stable"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("EndpointSlices list 2 endpoint(s), all stable pods"), std::string::npos) << r.detail;
  json svc = fake_->object(kService);
  EXPECT_EQ(svc["spec"]["selector"], (json{{"app", "checkout"}, {"track", "stable"}}));
  // A strategic merge patch that carries the resourceVersion it was computed from.
  bool seen = false;
  for (const auto& q : fake_->requests()) {
    if (q["method"] != "PATCH") continue;
    seen = true;
    EXPECT_EQ(q["content_type"], "application/strategic-merge-patch+json");
    EXPECT_TRUE(json::parse(q["body"].get<std::string>())["metadata"].contains("resourceVersion")) << q["body"];
  }
  EXPECT_TRUE(seen);
  ActResult again = roll(*a);
  EXPECT_NOOP(again);
  EXPECT_EQ(fake_->count("PATCH", kService), 1);
  EXPECT_NOOP(a->probe(deadline()));
}

TEST_F(KubernetesActuatorTest, ServiceLosesARaceRereadsAndKeepsTheOtherWritersChange) {
  fake_->race(kService, {{"metadata", {{"annotations", {{"owner", "someone-else"}}}}}});
  auto a = service();
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  EXPECT_EQ(fake_->count("PATCH", kService), 2) << "a 409, then a patch against the re-read version";
  json svc = fake_->object(kService);
  EXPECT_EQ(svc["metadata"]["annotations"]["owner"], "someone-else");
  EXPECT_EQ(svc["spec"]["selector"]["track"], "stable");
}

TEST_F(KubernetesActuatorTest, ServiceRaceWonByAnotherSidecarEndsInNoop) {
  fake_->race(kService, {{"spec", {{"selector", {{"track", "stable"}}}}}});
  auto a = service();
  ActResult r = roll(*a);
  EXPECT_NOOP(r);
  EXPECT_EQ(fake_->count("PATCH", kService), 1);
}

TEST_F(KubernetesActuatorTest, ServiceForbiddenAndNotFoundAreClearAndNotRetried) {
  write_token("read-only");
  auto a = service();
  ActResult r = roll(*a);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("HTTP 403 Forbidden: services \"checkout\" is forbidden: User "
                          "\"system:serviceaccount:shop:viewer\" cannot patch resource \"services\""),
            std::string::npos)
      << r.detail;

  write_token(kSecret);
  auto missing = service({{"name", "nope"}});
  ActResult m = roll(*missing);
  EXPECT_FALSE(m.ok);
  EXPECT_FALSE(m.retryable);
  EXPECT_NE(m.detail.find("HTTP 404 NotFound: services \"nope\" not found"), std::string::npos) << m.detail;
}

TEST_F(KubernetesActuatorTest, ServiceWithoutRightsOnEndpointSlicesStillVerifiesTheSelector) {
  write_token("no-slices");
  auto a = service();
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  EXPECT_NE(r.detail.find("EndpointSlices not checked (HTTP 403 Forbidden"), std::string::npos) << r.detail;
}

TEST_F(KubernetesActuatorTest, ServerErrorsAreRetryableAndQuotedVerbatim) {
  fake_->fail(kService, 503, 1, "etcdserver: request timed out");
  auto a = service();
  ActResult r = roll(*a);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_NE(r.detail.find("HTTP 503 ServiceUnavailable: etcdserver: request timed out"), std::string::npos) << r.detail;
  EXPECT_CHANGED(roll(*a));  // the executor's retry
}

// ---- kubernetes-scale ---------------------------------------------------------------------

TEST_F(KubernetesActuatorTest, ScaleTakesTheCanaryToZeroAndTheStableUpThenNoops) {
  auto a = scale({{"stable_replicas", "3"}});
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  EXPECT_NE(r.detail.find("checkout-v1 2 -> 3, checkout-v2 2 -> 0"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("checkout-v1 readyReplicas 3"), std::string::npos) << r.detail;
  EXPECT_EQ(fake_->object("/apis/apps/v1/namespaces/shop/deployments/checkout-v2")["spec"]["replicas"], 0);
  for (const auto& q : fake_->requests()) {
    if (q["method"] == "PATCH") {
      EXPECT_EQ(q["content_type"], "application/merge-patch+json");
    }
  }
  EXPECT_NOOP(roll(*a));
  EXPECT_EQ(fake_->count("PATCH", kCanaryScale), 1);
}

TEST_F(KubernetesActuatorTest, ScaleNoopDetailIsTheSameOnEveryCall) {
  auto a = scale({{"stable_replicas", "2"}});
  EXPECT_CHANGED(roll(*a));
  const ActResult first = roll(*a);
  EXPECT_NOOP(first);
  EXPECT_NE(first.detail.find("already scaled (checkout-v1 2 replicas, checkout-v2 0 replicas)"), std::string::npos)
      << first.detail;
  for (int i = 0; i < 5; ++i) {
    const ActResult again = roll(*a);
    EXPECT_NOOP(again);
    EXPECT_EQ(again.detail, first.detail);
  }
}

TEST_F(KubernetesActuatorTest, ScaleWaitsForReadyReplicas) {
  fake_->control("/_fake/lag", {{"path", "/apis/apps/v1/namespaces/shop/deployments/checkout-v2"}, {"reads", 3}});
  auto a = scale();
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  EXPECT_NE(r.detail.find("checkout-v2 readyReplicas 0"), std::string::npos) << r.detail;
}

// The factories take the clock and the HTTP transport from the Env (actuators::Environment).
class KubernetesEnvTest : public KubernetesActuatorTest {
 protected:
  void SetUp() override {
    KubernetesActuatorTest::SetUp();
    env_.make_http = [this] {
      ++transports_;
      return make_curl_transport();
    };
  }
  std::unique_ptr<Actuator> scale_on_env() {
    auto s = settings({{"name", "checkout-v1"}, {"canary_deployment", "checkout-v2"}});
    auto a = make_kubernetes_scale_actuator(s, Environment{"canary", &env_});
    EXPECT_TRUE(s.errors.empty()) << s.all_errors();
    return a;
  }
  const std::string canary_ = "/apis/apps/v1/namespaces/shop/deployments/checkout-v2";
  fakes::ManualClock clock_;
  Env env_ = fakes::env_with_clock(clock_);
  int transports_ = 0;
};

TEST_F(KubernetesEnvTest, PollsSleepOnTheEnvClockAndUseTheEnvTransport) {
  fake_->control("/_fake/lag", {{"path", canary_}, {"reads", 3}});
  // The deadline is in the manual clock's time, which real steady_clock time is far past.
  ActResult r = scale_on_env()->rollback(DecisionContext{}, clock_.mono() + 10s);
  EXPECT_CHANGED(r);
  EXPECT_EQ(transports_, 1);
  const auto sleeps = clock_.sleeps();
  EXPECT_FALSE(sleeps.empty());
  for (auto d : sleeps) EXPECT_EQ(d, 200ms);
}

TEST_F(KubernetesEnvTest, APollToTheDeadlineDoesNotWaitInRealTime) {
  fake_->control("/_fake/lag", {{"path", canary_}, {"reads", 1000000}});  // never ready
  const auto started = std::chrono::steady_clock::now();
  const MonoTime deadline = clock_.mono() + 10s;
  ActResult r = scale_on_env()->rollback(DecisionContext{}, deadline);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_NE(r.detail.find("by the deadline checkout-v2 readyReplicas 2"), std::string::npos) << r.detail;
  EXPECT_GE(clock_.mono() + 200ms, deadline);
  EXPECT_GE(clock_.sleeps().size(), 40u);
  // Sleeping for real would take at least 49 x 200 ms; the requests alone take far less.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 9s);
}

TEST_F(KubernetesActuatorTest, ScaleLosesARaceAndRecovers) {
  fake_->race(kCanaryScale, {{"spec", {{"replicas", 5}}}});
  auto a = scale();
  EXPECT_CHANGED(roll(*a));
  EXPECT_EQ(fake_->count("PATCH", kCanaryScale), 2);
  EXPECT_EQ(fake_->object(kCanaryScale)["spec"]["replicas"], 0);
}

TEST_F(KubernetesActuatorTest, ScaleReportsForbiddenAndMissingDeployments) {
  write_token("read-only");
  ActResult r = roll(*scale());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("cannot patch resource \"deployments/scale\""), std::string::npos) << r.detail;
  write_token(kSecret);
  ActResult m = roll(*scale({{"canary_deployment", "checkout-v9"}}));
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.detail.find("deployments.apps \"checkout-v9\" not found"), std::string::npos) << m.detail;
}

// ---- gateway-httproute --------------------------------------------------------------------

TEST_F(KubernetesActuatorTest, HttpRouteRollsBackKeepingEveryOtherFieldThenNoops) {
  json before = fake_->object(kRoute);
  auto a = route();
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  json after = fake_->object(kRoute);
  json expected = before["spec"];
  expected["rules"][0]["backendRefs"][0]["weight"] = 100;
  expected["rules"][0]["backendRefs"][1]["weight"] = 0;
  EXPECT_EQ(after["spec"], expected) << after.dump(2);
  EXPECT_EQ(after["metadata"]["labels"], before["metadata"]["labels"]);
  for (const auto& q : fake_->requests()) {
    if (q["method"] == "PATCH") {
      EXPECT_EQ(q["content_type"], "application/merge-patch+json");
    }
  }
  EXPECT_NOOP(roll(*a));
  EXPECT_EQ(fake_->count("PATCH", kRoute), 1);
}

TEST_F(KubernetesActuatorTest, HttpRouteSetsCanaryWeightsForPromotion) {
  auto a = route();
  ASSERT_TRUE(a->supports_weights());
  ActResult r = a->set_canary_weight(25, {}, deadline());
  EXPECT_CHANGED(r);
  json refs = fake_->object(kRoute)["spec"]["rules"][0]["backendRefs"];
  EXPECT_EQ(refs[0]["weight"], 75);
  EXPECT_EQ(refs[1]["weight"], 25);
  EXPECT_NOOP(a->set_canary_weight(25, {}, deadline()));
  EXPECT_FALSE(a->set_canary_weight(101, {}, deadline()).ok);
}

TEST_F(KubernetesActuatorTest, HttpRouteLosesARaceAndKeepsTheOtherWritersRules) {
  json before = fake_->object(kRoute);
  json rules = before["spec"]["rules"];
  rules[1]["backendRefs"][0]["port"] = 81;  // someone edits another rule meanwhile
  fake_->race(kRoute, {{"spec", {{"rules", rules}}}});
  ActResult r = roll(*route());
  EXPECT_CHANGED(r);
  EXPECT_EQ(fake_->count("PATCH", kRoute), 2);
  json after = fake_->object(kRoute);
  EXPECT_EQ(after["spec"]["rules"][1]["backendRefs"][0]["port"], 81);
  EXPECT_EQ(after["spec"]["rules"][0]["backendRefs"][1]["weight"], 0);
}

TEST_F(KubernetesActuatorTest, HttpRouteReportsForbiddenNotFoundAndAMissingStableBackend) {
  write_token("read-only");
  ActResult f = roll(*route());
  EXPECT_FALSE(f.ok);
  EXPECT_FALSE(f.retryable);
  EXPECT_NE(f.detail.find("cannot patch resource \"httproutes\" in API group \"gateway.networking.k8s.io\""),
            std::string::npos)
      << f.detail;
  write_token(kSecret);
  ActResult m = roll(*route({{"name", "other"}}));
  EXPECT_NE(m.detail.find("httproutes.gateway.networking.k8s.io \"other\" not found"), std::string::npos) << m.detail;
  ActResult b = roll(*route({{"stable_backend", "checkout-v0"}}));
  EXPECT_FALSE(b.ok);
  EXPECT_NE(b.detail.find("rule 0 routes to checkout-v2 but has no backendRef checkout-v0"), std::string::npos)
      << b.detail;
}

// ---- argo-rollout -------------------------------------------------------------------------

TEST_F(KubernetesActuatorTest, RolloutAbortsThroughTheStatusSubresourceThenNoops) {
  auto a = rollout();
  ActResult r = roll(*a);
  EXPECT_CHANGED(r);
  EXPECT_NE(r.detail.find("phase Degraded: RolloutAborted: Rollout aborted update to revision 7"), std::string::npos)
      << r.detail;
  EXPECT_EQ(fake_->count("PATCH", kRollout + "/status"), 1);
  for (const auto& q : fake_->requests()) {
    if (q["method"] != "PATCH") continue;
    EXPECT_EQ(q["content_type"], "application/merge-patch+json");
    EXPECT_EQ(json::parse(q["body"].get<std::string>()), (json{{"status", {{"abort", true}}}}));
  }
  EXPECT_NOOP(roll(*a));
  EXPECT_EQ(fake_->count("PATCH", kRollout + "/status"), 1);
}

TEST_F(KubernetesActuatorTest, RolloutWithoutAnUpdateInProgressIsANoop) {
  json ro = fake_->object(kRollout);
  ro["status"]["currentPodHash"] = ro["status"]["stableRS"];
  ro["status"]["phase"] = "Healthy";
  fake_->put(ro);
  ActResult r = roll(*rollout());
  EXPECT_NOOP(r);
  EXPECT_NE(r.detail.find("no update in progress"), std::string::npos) << r.detail;
}

TEST_F(KubernetesActuatorTest, RolloutReportsForbiddenAndNotFound) {
  write_token("read-only");
  ActResult f = roll(*rollout());
  EXPECT_FALSE(f.ok);
  EXPECT_FALSE(f.retryable);
  EXPECT_NE(f.detail.find("cannot patch resource \"rollouts/status\" in API group \"argoproj.io\""), std::string::npos)
      << f.detail;
  write_token(kSecret);
  ActResult m = roll(*rollout({{"name", "gone"}}));
  EXPECT_FALSE(m.retryable);
  EXPECT_NE(m.detail.find("rollouts.argoproj.io \"gone\" not found"), std::string::npos) << m.detail;
}

// ---- credentials --------------------------------------------------------------------------

TEST_F(KubernetesActuatorTest, RotatedTokenFileIsReadAgain) {
  auto a = service();
  EXPECT_NOOP(a->probe(deadline()));
  // Rotation: the server now accepts only the new token, and the file holds it (new mtime).
  fake_->set_tokens({{"rotated-token-1", all_rights("sa")}, {"admin-token", all_rights("admin")}});
  write_token("rotated-token-1");
  EXPECT_NOOP(a->probe(deadline()));
  // A rotation the mtime does not show (same size, mtime put back): the 401 makes it re-read.
  struct stat before {};
  ASSERT_EQ(stat(dir_.file("token").c_str(), &before), 0);
  fake_->set_tokens({{"rotated-token-2", all_rights("sa")}, {"admin-token", all_rights("admin")}});
  write_token("rotated-token-2");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, dir_.file("token").c_str(), times, 0), 0);
  EXPECT_CHANGED(roll(*a));
  // A token the server does not know: 401, not retried, and never quoted.
  write_token("unknown-token-value");
  ActResult r = roll(*service());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("HTTP 401 Unauthorized"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("unknown-token-value"), std::string::npos) << r.detail;
}

TEST_F(KubernetesActuatorTest, KubeconfigNamedContextWithTokenOrClientCertificate) {
  auto b64 = [](const std::string& path) {
    auto r = rs::testing::read_file(path);
    std::string out;
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    for (; i + 2 < r.size(); i += 3) {
      unsigned n = (unsigned char)r[i] << 16 | (unsigned char)r[i + 1] << 8 | (unsigned char)r[i + 2];
      out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
    }
    if (i + 1 == r.size()) {
      unsigned n = (unsigned char)r[i] << 16;
      out += {k[n >> 18], k[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == r.size()) {
      unsigned n = (unsigned char)r[i] << 16 | (unsigned char)r[i + 1] << 8;
      out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
    }
    return out;
  };
  const std::string kubeconfig = dir_.file("kubeconfig");
  rs::testing::write_file(kubeconfig, R"(apiVersion: v1
kind: Config
current-context: elsewhere
clusters:
  - name: nowhere
    cluster: {server: "https://127.0.0.1:1"}
  - name: fake
    cluster:
      server: )" + fake_->url() + R"(
      certificate-authority-data: )" + b64(fake_->ca_file()) +
                                          R"(
users:
  - name: sidecar
    user: {token: )" + kSecret + R"(}
  - name: admin-cert
    user:
      client-certificate-data: )" + b64(fake_->client_cert()) +
                                          R"(
      client-key-data: )" + b64(fake_->client_key()) +
                                          R"(
contexts:
  - name: elsewhere
    context: {cluster: nowhere, user: sidecar}
  - name: shop
    context: {cluster: fake, user: sidecar, namespace: shop}
  - name: shop-cert
    context: {cluster: fake, user: admin-cert}
)");
  fake_->set_tokens({{kSecret, all_rights("sa")},
                     {"admin-token", all_rights("admin")},
                     {"cert:fake-admin", rights("fake-admin", {"get"}, {"services"})}});
  auto make = [&](const std::string& context) {
    MapSettings s({{"namespace", "shop"},
                   {"name", "checkout"},
                   {"kubeconfig", kubeconfig},
                   {"context", context},
                   {"label", "track"},
                   {"stable", "stable"},
                   {"canary", "canary"}});
    auto a = make_kubernetes_service_actuator(s, {});
    EXPECT_TRUE(s.errors.empty()) << s.all_errors();
    return a;
  };
  EXPECT_CHANGED(roll(*make("shop")));
  // The client certificate authenticates as cert:fake-admin, which may only get.
  ActResult c = roll(*make("shop-cert"));
  EXPECT_NOOP(c);
  EXPECT_NOOP(make("shop-cert")->probe(deadline()));
  ActResult missing = roll(*make("nope"));
  EXPECT_FALSE(missing.ok);
  EXPECT_FALSE(missing.retryable);  // the kubeconfig will not grow the context while we retry
  EXPECT_NE(missing.detail.find("has no context named 'nope'"), std::string::npos) << missing.detail;
  EXPECT_EQ(missing.detail.find(kSecret), std::string::npos);
}

TEST_F(KubernetesActuatorTest, KubeconfigPathsAreRelativeToTheKubeconfig) {
  rs::testing::write_file(dir_.file("ca.crt"), rs::testing::read_file(fake_->ca_file()));
  rs::testing::write_file(dir_.file("kubeconfig"), R"(current-context: shop
clusters: [{name: fake, cluster: {server: ")" + fake_->url() +
                                                       R"(", certificate-authority: ca.crt}}]
users: [{name: sidecar, user: {tokenFile: token}}]
contexts: [{name: shop, context: {cluster: fake, user: sidecar}}]
)");
  MapSettings s({{"namespace", "shop"}, {"name", "checkout"}, {"kubeconfig", dir_.file("kubeconfig")}});
  EXPECT_CHANGED(roll(*make_argo_rollout_actuator(s, {})));
}

TEST_F(KubernetesActuatorTest, KubeconfigAndCaFilesAreReadCappedAndContentErrorsAreNotRetried) {
  const std::string fifo = dir_.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  rs::testing::write_file(dir_.file("bad.yaml"), "clusters: [unclosed\n");
  rs::testing::write_file(dir_.file("nul.yaml"), std::string("\0,x", 3));  // a binary file
  // Found by fuzz_kubernetes_api: a list item that is not a map threw from yaml-cpp.
  rs::testing::write_file(dir_.file("scalar-items.yaml"), "current-context: kind\ncontexts:\n- na1\nclusters: [x]\n");
  struct Case {
    std::string kubeconfig, expected;
    bool retryable;
  };
  for (const Case& k : std::vector<Case>{
           {"/dev/zero", "cannot read kubeconfig: /dev/zero: not a regular file (character device)", false},
           {fifo, "cannot read kubeconfig: " + fifo + ": not a regular file (FIFO)", false},
           {dir_.file("bad.yaml"), "kubeconfig " + dir_.file("bad.yaml") + " is not valid YAML", false},
           {dir_.file("nul.yaml"), "kubeconfig " + dir_.file("nul.yaml") + " is not valid YAML: byte 0x00 at line 1",
            false},
           {dir_.file("scalar-items.yaml"),
            "kubeconfig " + dir_.file("scalar-items.yaml") + " has no context named 'kind'", false},
           // Not there yet (a volume being mounted): may come.
           {dir_.file("absent"), "cannot read kubeconfig: " + dir_.file("absent") + ": No such file or directory",
            true}}) {
    MapSettings s({{"namespace", "shop"}, {"name", "checkout"}, {"kubeconfig", k.kubeconfig}});
    ActResult r = roll(*make_argo_rollout_actuator(s, {}));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.retryable, k.retryable) << r.detail;
    EXPECT_NE(r.detail.find(k.expected), std::string::npos) << r.detail;
  }
  for (const std::string& ca : {std::string("/dev/zero"), fifo}) {
    ActResult r = roll(*rollout({{"ca_file", ca}}));
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.detail.find("cannot read the CA file: " + ca + ": not a regular file"), std::string::npos) << r.detail;
  }
}

TEST_F(KubernetesActuatorTest, InClusterUsesTheServiceAccountFilesAndEnvironment) {
  rs::testing::TempDir sa;
  rs::testing::write_file(sa.file("token"), kSecret + "\n");
  rs::testing::write_file(sa.file("ca.crt"), rs::testing::read_file(fake_->ca_file()));
  KubernetesSeams seams;
  seams.service_account_dir = sa.path();
  const std::string port = std::to_string(fake_->port());
  seams.getenv = [port](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBERNETES_SERVICE_HOST") return std::string("127.0.0.1");
    if (name == "KUBERNETES_SERVICE_PORT") return port;
    return std::nullopt;
  };
  MapSettings s({{"namespace", "shop"}, {"name", "checkout"}});
  auto a = make_argo_rollout_actuator(s, {}, seams);
  EXPECT_TRUE(s.errors.empty()) << s.all_errors();
  EXPECT_CHANGED(roll(*a));

  seams.getenv = [](const std::string&) { return std::nullopt; };
  MapSettings s2({{"namespace", "shop"}, {"name", "checkout"}});
  ActResult r = roll(*make_argo_rollout_actuator(s2, {}, seams));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("KUBERNETES_SERVICE_HOST"), std::string::npos) << r.detail;
}

TEST_F(KubernetesActuatorTest, NoTokenInAnyErrorText) {
  // A server (or proxy) that echoes the request's credentials back in its error.
  fake_->fail(kService, 500, 1, "upstream said: Authorization: Bearer " + kSecret);
  ActResult r = roll(*service());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail.find(kSecret), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("<redacted>"), std::string::npos) << r.detail;
  for (auto* make : {&make_kubernetes_service_actuator, &make_kubernetes_scale_actuator,
                     &make_gateway_httproute_actuator, &make_argo_rollout_actuator}) {
    MapSettings s = settings({{"name", "absent"},
                              {"label", "l"},
                              {"stable", "a"},
                              {"canary", "b"},
                              {"canary_deployment", "absent2"},
                              {"stable_backend", "a"},
                              {"canary_backend", "b"}});
    auto a = (*make)(s, {}, {});
    for (const ActResult& x : {roll(*a), a->probe(deadline())}) {
      EXPECT_FALSE(x.ok) << x.detail;
      EXPECT_EQ(x.detail.find(kSecret), std::string::npos) << x.detail;
    }
  }
}

TEST(KubernetesActuatorConfig, RejectsIncompleteOrContradictorySettings) {
  MapSettings s({{"namespace", "Shop"},
                 {"kubeconfig", "/k"},
                 {"api_server", "ftp://x"},
                 {"label", "l"},
                 {"stable", "v"},
                 {"canary", "v"}});
  make_kubernetes_service_actuator(s, {});
  const std::string e = s.all_errors();
  for (const char* expected : {"name: missing", "namespace: 'Shop' is not a Kubernetes object name",
                               "api_server: set either kubeconfig", "api_server: must start with https://",
                               "token_file: api_server needs token_file", "canary: must differ from stable"})
    EXPECT_NE(e.find(expected), std::string::npos) << "missing: " << expected << "\ngot:\n" << e;

  MapSettings scale({{"namespace", "shop"},
                     {"name", "web"},
                     {"canary_deployment", "web"},
                     {"stable_replicas", "0"},
                     {"context", "x"}});
  make_kubernetes_scale_actuator(scale, {});
  for (const char* expected :
       {"canary_deployment: must differ from name", "stable_replicas: must be at least 1", "context: needs kubeconfig"})
    EXPECT_NE(scale.all_errors().find(expected), std::string::npos) << expected << "\n" << scale.all_errors();
}

// Answers every request with one canned 200 and counts the requests.
class CannedTransport : public HttpTransport {
 public:
  explicit CannedTransport(std::string body) : body_(std::move(body)) {}
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::vector<HttpResponse> out;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      HttpResponse r;
      r.status = 200;
      r.body = body_;
      out.push_back(r);
      ++requests_;
    }
    return out;
  }
  int requests_ = 0;

 private:
  std::string body_;
};

TEST(KubernetesClient, A2xxBodyThatIsNotAnObjectIsAClearError) {
  kubernetes::Cluster cluster;
  cluster.server = "http://api.invalid";
  const std::string path = "/api/v1/namespaces/shop/services/checkout";
  for (auto [body, got] :
       std::vector<std::pair<std::string, std::string>>{{"[]", "(JSON array: [])"},
                                                        {"\"x\"", "(JSON string: \"x\")"},
                                                        {"null", "(JSON null: null)"},
                                                        {"42", "(JSON number: 42)"},
                                                        {"<html>\nproxy</html>", "(not JSON: <html> proxy</html>)"},
                                                        {"", "(an empty body)"}}) {
    kubernetes::Client client(cluster, std::make_shared<CannedTransport>(body));
    kubernetes::Reply r = client.get(path, Clock::now() + 5s);
    EXPECT_FALSE(r.ok()) << body;
    EXPECT_TRUE(r.body.is_null()) << body;
    EXPECT_EQ(r.describe(), "GET " + path + ": HTTP 200 but the body is not a JSON object " + got);
  }
  kubernetes::Client client(cluster, std::make_shared<CannedTransport>(R"({"kind":"Service"})"));
  EXPECT_TRUE(client.get(path, Clock::now() + 5s).ok());
}

TEST(KubernetesClient, ActuatorsFailCleanlyOnNonObjectBodies) {
  rs::testing::TempDir dir;
  rs::testing::write_file(dir.file("token"), "t0ken\n");
  for (const char* body : {"[]", "\"x\"", "null", "{\"metadata\": [], \"spec\": \"x\", \"status\": 3}"}) {
    for (auto* make : {&make_kubernetes_service_actuator, &make_kubernetes_scale_actuator,
                       &make_gateway_httproute_actuator, &make_argo_rollout_actuator}) {
      MapSettings s({{"namespace", "shop"},
                     {"name", "checkout"},
                     {"api_server", "http://api.invalid"},
                     {"token_file", dir.file("token")},
                     {"label", "l"},
                     {"stable", "a"},
                     {"canary", "b"},
                     {"canary_deployment", "checkout-v2"},
                     {"stable_backend", "a"},
                     {"canary_backend", "b"}});
      KubernetesSeams seams;
      seams.transport = std::make_shared<CannedTransport>(body);
      auto a = (*make)(s, {}, seams);
      ASSERT_TRUE(s.errors.empty()) << s.all_errors();
      // Never throws; an object with fields of the wrong types reads as absent fields.
      ActResult r = a->rollback(DecisionContext{}, Clock::now() + 1s);
      ActResult p = a->probe(Clock::now() + 1s);
      if (std::string(body)[0] != '{') {
        EXPECT_FALSE(r.ok) << a->describe() << ": " << r.detail;
        EXPECT_NE(r.detail.find("but the body is not a JSON object"), std::string::npos) << r.detail;
        EXPECT_FALSE(p.ok) << p.detail;
      }
    }
  }
}

TEST(KubernetesClient, QuotedBodiesAreCutOnACharacterBoundary) {
  kubernetes::Reply r;
  r.status = 502;
  r.raw = std::string(199, 'a') + "\xC3\xA9 gateway";  // "é" straddles the 200-byte cut
  EXPECT_EQ(r.describe(), "HTTP 502: " + std::string(199, 'a'));
}

// Found by the kubernetes_api fuzz target: a Status body whose `kind` (a duplicate key, the last
// wins) is a number made describe() throw nlohmann's type_error out of the actuator.
TEST(KubernetesClient, StatusBodiesWithFieldsOfOtherTypesAreDescribedNotThrown) {
  kubernetes::Reply r;
  r.status = 403;
  r.raw = R"({"kind": "Status", "status": "Failure", "message": "forbidden", "kind": 806})";
  r.body = nlohmann::json::parse(r.raw);
  EXPECT_EQ(r.describe(), "HTTP 403 Forbidden: " + r.raw);
  r.raw = R"({"kind": "Status", "reason": 5, "message": ["forbidden"]})";
  r.body = nlohmann::json::parse(r.raw);
  EXPECT_EQ(r.describe(), "HTTP 403 Forbidden");
}

TEST(KubernetesClient, Base64AndQueryEscaping) {
  EXPECT_EQ(kubernetes::base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(kubernetes::base64_decode("aGVs\nbG8h"), "hello!");
  EXPECT_FALSE(kubernetes::base64_decode("a$b="));
  EXPECT_EQ(rs::percent_encode("kubernetes.io/service-name=a,b"), "kubernetes.io%2Fservice-name%3Da%2Cb");
}

}  // namespace
}  // namespace rs::actuators
