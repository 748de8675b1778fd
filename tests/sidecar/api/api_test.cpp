// Api in-process: its routes installed on a real HttpServer on 127.0.0.1:0, over an Engine with a
// scripted Prometheus, a manual clock and a counting actuator, called over loopback with a raw
// client (so status, headers and body are all visible). What tests/cli/api_test.cpp proves through
// the binary (latch across restarts, the CLI, retry after rollback_failed, CloudWatch) is not
// repeated; these cases check Api's own answers: every 4xx names what is wrong, the auth verdicts,
// readiness, the freeze bodies, the per-alert results and the request counters.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actuators/actuator.h"
#include "common/http/http_transport.h"
#include "promql/client.h"
#include "sidecar/api/api.h"
#include "sidecar/api/http_server.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "tests/e2e/e2e_support.h"  // metric_sum, or_zero
#include "tests/fakes/credentials.h"
#include "tests/fakes/env.h"
#include "tests/fakes/prometheus.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using actuators::ActResult;
using fakes::ManualClock;

const std::string kToken = "unit-s3cret-token-91c2";

// Counts its rollbacks (they run on the engine's background thread) and keeps the last context.
class CountingActuator : public actuators::Actuator {
 public:
  std::string type() const override { return "counting"; }
  std::string describe() const override { return "counting router"; }
  ActResult rollback(const actuators::DecisionContext& context, std::chrono::steady_clock::time_point) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = context;
    }
    ++calls;
    return ActResult::changed("canary weight 10 -> 0");
  }
  ActResult probe(std::chrono::steady_clock::time_point) override { return ActResult::noop("ok"); }
  actuators::DecisionContext last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  std::atomic<int> calls{0};

 private:
  std::mutex mu_;
  actuators::DecisionContext last_;
};

// What the engine tells its observers about freezes (the audit log is one).
class FreezeObserver : public DecisionObserver {
 public:
  void on_decision(const Decision&) override {}
  void on_rollback_finished(const Decision&, const StatusView&) override {}
  void on_verification_finished(const Decision&, WallTime) override {}
  void on_freeze(const FreezeEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back((e.frozen ? "freeze" : "unfreeze") + std::string(" by ") + e.actor + ": " + e.reason);
  }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> seen_;
};

// A reply as the client saw it; header names lower-cased.
struct Reply {
  int status = 0;  // 0: no complete reply
  std::map<std::string, std::string> headers;
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  // The "error" member of a JSON error body, "" when there is none.
  std::string error() const {
    const nlohmann::json j = json();
    return j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
  }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One request on a fresh connection (Connection: close), read until the server closes it.
Reply roundtrip(int port, const std::string& method, const std::string& path, const std::string& body,
                const std::vector<std::string>& headers) {
  const int fd = rs::testing::connect_loopback(port);
  if (fd < 0) throw std::runtime_error(std::string("connect failed: ") + std::strerror(errno));
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<std::size_t>(n));
  ::close(fd);

  Reply reply;
  const auto end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) return reply;
  std::size_t at = raw.find("\r\n") + 2;
  while (at < end + 2) {
    const auto eol = raw.find("\r\n", at);
    const std::string line = raw.substr(at, eol - at);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      reply.headers[lower(line.substr(0, colon))] = value;
    }
    at = eol + 2;
  }
  reply.body = raw.substr(end + 4);
  const std::string length = reply.header("content-length");
  if (length.empty() || reply.body.size() != std::stoul(length)) return reply;  // incomplete
  reply.status = std::stoi(raw.substr(9, 3));
  return reply;
}

// The Authorization header line for user:password.
std::string basic(const std::string& user_password) {
  return "Authorization: " + fakes::basic_credentials(user_password);
}

std::string bearer(const std::string& token) { return "Authorization: Bearer " + token; }

struct Options {
  bool token_file = true;                               // api.bearer_token_file configured (and written)
  std::string extra_yaml;                               // appended top-level keys
  std::map<std::string, std::string> basic_auth_users;  // as the web config loader fills them
};

class ApiTest : public ::testing::Test {
 protected:
  // (Re)builds engine, Api and server; the server counts requests as the sidecar wires it.
  void start(const Options& o = {}) {
    stop();
    write_file(dir_.file("token"), kToken + "\n");
    const std::string yaml =
        "prometheus: {url: 'http://prometheus.invalid:9090'}\n"
        "evaluation_interval: 1s\n"
        "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2}}\n"
        "rules: [{name: errors, query: errors, above: 0.05}]\n"
        "actuators: [{type: exec, command: [/bin/true]}]\n" +
        (o.token_file ? "api: {bearer_token_file: '" + dir_.file("token") + "'}\n" : std::string()) + o.extra_yaml;
    LoadResult result = load_config_text(yaml, "api.yml", actuators::Registry::builtin());
    for (const auto& e : result.errors) ADD_FAILURE() << e.to_string("api.yml");
    ASSERT_TRUE(result.loaded);
    loaded_ = std::make_unique<LoadedConfig>(std::move(*result.loaded));
    loaded_->config.web.basic_auth_users = o.basic_auth_users;
    metrics_ = std::make_unique<SelfMetrics>("test", std::vector<std::string>{"errors"}, deployment_state_names());
    client_ =
        std::make_unique<promql::Client>(promql::ClientOptions{}, std::make_shared<fakes::OneValuePrometheus>("0.001"));
    store_ = std::make_unique<StateStore>(loaded_->config.state_file);
    engine_ = std::make_unique<Engine>(loaded_->config, std::vector<actuators::Actuator*>{&actuator_}, *client_, env_,
                                       *metrics_, *store_);
    std::string error;
    ASSERT_TRUE(engine_->restore(&error)) << error;
    engine_->add_observer(&observer_);
    api_ = std::make_unique<Api>(loaded_->config, *engine_, *metrics_, env_, [this](std::string* why) {
      if (alive_) return true;
      *why = "no evaluation started for 1m";
      return false;
    });
    server_ = std::make_unique<HttpServer>(
        HttpLimits{}, [this](const std::string& route, int status) { metrics_->count_api_request(route, status); });
    api_->install(*server_);
    ASSERT_TRUE(server_->start("127.0.0.1:0", &error)) << error;
  }
  void stop() {
    if (server_) server_->stop();
    if (engine_) engine_->shutdown();
    server_.reset();
    api_.reset();
    engine_.reset();
  }
  void TearDown() override { stop(); }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             std::vector<std::string> headers = {}) {
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    return roundtrip(server_->port(), method, path, body, headers);
  }
  Reply with_token(const std::string& method, const std::string& path, const std::string& body = "") {
    return call(method, path, body, {bearer(kToken)});
  }
  Reply get(const std::string& path) { return call("GET", path); }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    return e2e::or_zero(e2e::metric_sum(metrics_->serialize(), name, labels));
  }
  std::string state() const { return deployment_state_name(engine_->state()); }

  static void write_file(const std::string& path, const std::string& content) {
    rs::testing::write_file(path, content);
  }

  testing::TempDir dir_;
  ManualClock clock_;
  Env env_ = fakes::env_with_clock(clock_);
  CountingActuator actuator_;
  FreezeObserver observer_;
  std::atomic<bool> alive_{true};
  std::unique_ptr<LoadedConfig> loaded_;
  std::unique_ptr<SelfMetrics> metrics_;
  std::unique_ptr<promql::Client> client_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ApiTest, ReadRoutesAreOpenAndAnswerWithTheirContentTypes) {
  start();
  const Reply page = get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>rollback-sidecar</title>"), std::string::npos);

  const Reply metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("rollback_sidecar_deployment_state{state=\"healthy\"} 1"), std::string::npos)
      << metrics.body;

  const Reply status = get("/api/v1/status");
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.header("content-type"), "application/json");
  const nlohmann::json s = status.json();
  ASSERT_TRUE(s.is_object()) << "not valid JSON: " << status.body;
  EXPECT_EQ(s["deployment"]["name"], "checkout");
  EXPECT_EQ(s["state"], "healthy");
  EXPECT_EQ(s["freeze"]["frozen"], false);
  EXPECT_EQ(s, engine_->status()) << "the route serves Engine::status() as it is";

  const Reply health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
}

TEST_F(ApiTest, HealthzAnswers503WithTheReasonWhenTheLoopIsWedged) {
  start();
  alive_ = false;
  const Reply wedged = get("/healthz");
  EXPECT_EQ(wedged.status, 503);
  EXPECT_EQ(wedged.body, "unhealthy: no evaluation started for 1m\n");
  alive_ = true;
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(ApiTest, ReadyzIs503BeforeTheFirstEvaluationAndWhileARecordCannotBeWritten) {
  start();
  const Reply before = get("/readyz");
  EXPECT_EQ(before.status, 503);
  EXPECT_EQ(before.body, "not ready: no evaluation has completed yet\n");

  engine_->evaluate_once();
  const Reply after = get("/readyz");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "ready\n");

  engine_->persist_health().failed(PersistFile::kAudit,
                                   "audit log /x/audit.jsonl: cannot write: No space left on device");
  const Reply failing = get("/readyz");
  EXPECT_EQ(failing.status, 503);
  EXPECT_EQ(failing.body,
            "not ready: cannot persist: audit: audit log /x/audit.jsonl: cannot write: No space left on device\n");
  engine_->persist_health().succeeded(PersistFile::kAudit);
  EXPECT_EQ(get("/readyz").status, 200);
}

// The four bearer routes: 401 (+ WWW-Authenticate: Bearer) without a Bearer header, 403 for a wrong
// token; counted by reason, never acted on, and the token is not in any answer.
TEST_F(ApiTest, MutatingRoutesAnswer401WithoutABearerTokenAnd403WithAWrongOne) {
  start({true, "alerts: {match: {severity: sev1}}\n", {}});
  const std::string body = R"({"reason": "test", "actor": "ci"})";
  const std::vector<std::pair<std::string, std::string>> routes = {{"POST", "/api/v1/rollback"},
                                                                   {"PUT", "/api/v1/freeze"},
                                                                   {"DELETE", "/api/v1/freeze"},
                                                                   {"POST", "/api/v1/alerts"}};
  for (const auto& [method, path] : routes) {
    const std::string name = method + " " + path;
    const Reply none = call(method, path, body);
    EXPECT_EQ(none.status, 401) << name;
    EXPECT_EQ(none.header("www-authenticate"), "Bearer") << name;
    EXPECT_NE(none.error().find("missing Authorization"), std::string::npos) << name << ": " << none.body;

    const Reply scheme = call(method, path, body, {"Authorization: Token " + kToken});
    EXPECT_EQ(scheme.status, 401) << name;
    EXPECT_NE(scheme.error().find("Bearer scheme"), std::string::npos) << name << ": " << scheme.body;
    EXPECT_EQ(scheme.body.find(kToken), std::string::npos) << name << ": the answer repeats the token";

    const Reply wrong = call(method, path, body, {bearer(kToken + "x")});
    EXPECT_EQ(wrong.status, 403) << name;
    EXPECT_TRUE(wrong.header("www-authenticate").empty()) << name;
    EXPECT_NE(wrong.error().find("wrong bearer token"), std::string::npos) << name << ": " << wrong.body;
    EXPECT_EQ(wrong.body.find(kToken), std::string::npos) << name;
  }
  EXPECT_EQ(metric("rollback_sidecar_http_auth_failures_total", {{"reason", "bearer_missing"}}), 8);
  EXPECT_EQ(metric("rollback_sidecar_http_auth_failures_total", {{"reason", "bearer_wrong"}}), 4);
  EXPECT_EQ(state(), "healthy");
  EXPECT_EQ(engine_->freeze().has_value(), false);
  EXPECT_EQ(actuator_.calls.load(), 0);
}

TEST_F(ApiTest, WithoutATokenFileEveryMutatingRouteIs403AndSaysWhichSettingTurnsItOn) {
  start({/*token_file=*/false, "", {}});
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{{"POST", "/api/v1/rollback"},
                                                                                     {"PUT", "/api/v1/freeze"},
                                                                                     {"DELETE", "/api/v1/freeze"},
                                                                                     {"POST", "/api/v1/alerts"}}) {
    for (const std::string& authorization : {std::string(), bearer(kToken)}) {
      const Reply r =
          call(method, path, R"({"reason": "x", "actor": "y"})",
               authorization.empty() ? std::vector<std::string>{} : std::vector<std::string>{authorization});
      EXPECT_EQ(r.status, 403) << method << " " << path << " with '" << authorization << "'";
      EXPECT_NE(r.error().find("api.bearer_token_file"), std::string::npos) << method << " " << path << ": " << r.body;
    }
  }
  EXPECT_EQ(state(), "healthy");
  EXPECT_EQ(actuator_.calls.load(), 0);
}

TEST_F(ApiTest, AnUnreadableTokenFileIs503AndNamesTheFile) {
  start();
  ASSERT_EQ(::unlink(dir_.file("token").c_str()), 0);
  const Reply r = with_token("POST", "/api/v1/rollback", R"({"reason": "x", "actor": "y"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.error().find(dir_.file("token")), std::string::npos) << r.body;
  EXPECT_EQ(actuator_.calls.load(), 0);
}

struct BadBody {
  std::string body;
  std::string error;  // a part of the "error" member
};

// docs/api.md: 400 for malformed JSON or the wrong shape, the error naming the field.
TEST_F(ApiTest, BadRollbackBodiesAre400AndNameWhatIsWrong) {
  start();
  const std::vector<BadBody> cases = {
      {"", "body must be a JSON object"},
      {"{oops", "body must be a JSON object"},
      {"[1]", "body must be a JSON object"},
      {R"("customers report errors")", "body must be a JSON object"},
      {R"({"actor": "ci"})", "reason is required"},
      {R"({"reason": "errors"})", "actor is required"},
      {R"({"reason": 5, "actor": "ci"})", "reason must be a non-empty string"},
      {R"({"reason": "", "actor": "ci"})", "reason must be a non-empty string"},
      {R"({"reason": "errors", "actor": null})", "actor must be a non-empty string"},
      {R"({"reason": "errors", "actor": ["ci"]})", "actor must be a non-empty string"},
      {R"({"reason": "errors", "actor": "ci", "force": true})", "unknown field 'force' (known: reason, actor)"},
  };
  for (const auto& c : cases) {
    const Reply r = with_token("POST", "/api/v1/rollback", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.header("content-type"), "application/json") << c.body;
    EXPECT_NE(r.error().find(c.error), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(state(), "healthy");
  EXPECT_TRUE(engine_->status()["last_decision"].is_null()) << "a refused request takes no decision";
  EXPECT_EQ(actuator_.calls.load(), 0);
}

TEST_F(ApiTest, AManualRollbackIsAcceptedOnceThenRefusedNamingTheLatchedState) {
  start();
  engine_->evaluate_once();
  const Reply first =
      with_token("POST", "/api/v1/rollback", R"({"reason": "customers report errors", "actor": "alice"})");
  ASSERT_EQ(first.status, 202) << first.body;
  const nlohmann::json accepted = first.json();
  EXPECT_EQ(accepted["accepted"], true);
  EXPECT_EQ(accepted["decision"], "rollback");
  EXPECT_EQ(accepted["decision_id"], 1);
  EXPECT_EQ(accepted["state"], "rolling_back");
  EXPECT_EQ(accepted["message"], "rolling back; follow GET /api/v1/status");

  ASSERT_TRUE(testing::wait_until([&] { return state() == "rolled_back"; }, 5s)) << state();
  EXPECT_EQ(actuator_.calls.load(), 1);
  const actuators::DecisionContext context = actuator_.last();
  EXPECT_EQ(context.trigger, "manual");
  EXPECT_EQ(context.reason, "manual rollback by alice: customers report errors");
  const nlohmann::json decision = engine_->status()["last_decision"];
  EXPECT_EQ(decision["details"], (nlohmann::json{{"actor", "alice"}, {"reason", "customers report errors"}}));
  EXPECT_EQ(decision["rule"], "manual");

  const Reply again = with_token("POST", "/api/v1/rollback", R"({"reason": "still bad", "actor": "bob"})");
  EXPECT_EQ(again.status, 200) << again.body;
  const nlohmann::json refused = again.json();
  EXPECT_EQ(refused["accepted"], false);
  EXPECT_EQ(refused["state"], "rolled_back");
  EXPECT_EQ(refused["message"], "deployment checkout is rolled_back; nothing to do");
  EXPECT_FALSE(refused.contains("decision_id")) << again.body;
  engine_->shutdown();
  EXPECT_EQ(actuator_.calls.load(), 1) << "latched: the second request ran nothing";
}

TEST_F(ApiTest, InDryRunAManualRollbackIsAHoldAndChangesNothing) {
  start({true, "dry_run: true\n", {}});
  const Reply r = with_token("POST", "/api/v1/rollback", R"({"reason": "errors", "actor": "alice"})");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["decision"], "hold");
  EXPECT_EQ(r.json()["message"], "dry run: would roll back; nothing was changed");
  engine_->shutdown();
  EXPECT_EQ(actuator_.calls.load(), 0);
  EXPECT_EQ(state(), "healthy");
}

// PUT needs reason and actor (docs/api.md); DELETE takes an optional {"actor": ...} and says
// whether there was a freeze to lift.
TEST_F(ApiTest, FreezeIsSetAndLiftedAndBadFreezeBodiesAre400) {
  start();
  const std::vector<BadBody> bad_puts = {
      {"", "body must be a JSON object"},
      {"{", "body must be a JSON object"},
      {R"({"reason": "black friday"})", "actor is required"},
      {R"({"actor": "release-bot"})", "reason is required"},
      {R"({"reason": "black friday", "actor": 7})", "actor must be a non-empty string"},
      {R"({"reason": "black friday", "actor": "release-bot", "until": "monday"})", "unknown field 'until'"},
  };
  for (const auto& c : bad_puts) {
    const Reply r = with_token("PUT", "/api/v1/freeze", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(r.error().find(c.error), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(engine_->freeze().has_value(), false) << "a refused PUT freezes nothing";

  const Reply frozen = with_token("PUT", "/api/v1/freeze", R"({"reason": "black friday", "actor": "release-bot"})");
  ASSERT_EQ(frozen.status, 200) << frozen.body;
  EXPECT_EQ(frozen.json(), (nlohmann::json{{"frozen", true},
                                           {"reason", "black friday"},
                                           {"actor", "release-bot"},
                                           {"since", to_rfc3339(ManualClock::kWallStart)}}));
  EXPECT_EQ(frozen.json(), get("/api/v1/status").json()["freeze"]);

  const std::vector<BadBody> bad_deletes = {
      {"{", "body must be a JSON object"},
      {"[]", "body must be a JSON object"},
      {R"({"actor": ""})", "actor must be a non-empty string"},
      {R"({"who": "ops"})", "unknown field 'who'"},
  };
  for (const auto& c : bad_deletes) {
    const Reply r = with_token("DELETE", "/api/v1/freeze", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(r.error().find(c.error), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(engine_->freeze().has_value(), true) << "a refused DELETE lifts nothing";

  const Reply lifted = with_token("DELETE", "/api/v1/freeze");  // no body at all
  EXPECT_EQ(lifted.status, 200) << lifted.body;
  EXPECT_EQ(lifted.json(), (nlohmann::json{{"frozen", false}, {"was_frozen", true}}));
  EXPECT_EQ(engine_->freeze().has_value(), false);

  ASSERT_EQ(with_token("PUT", "/api/v1/freeze", R"({"reason": "incident", "actor": "ops"})").status, 200);
  const Reply with_reason = with_token("DELETE", "/api/v1/freeze", R"({"actor": "ops", "reason": "incident over"})");
  EXPECT_EQ(with_reason.status, 200) << with_reason.body;
  EXPECT_EQ(with_reason.json()["was_frozen"], true);
  const Reply again = with_token("DELETE", "/api/v1/freeze", R"({"actor": "ops"})");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json(), (nlohmann::json{{"frozen", false}, {"was_frozen", false}}));
  // The records hear who froze and lifted it and why (`rollback-sidecar unfreeze --reason` sends
  // one); a DELETE without a body is by "unknown"; a DELETE with nothing to lift records nothing.
  EXPECT_EQ(observer_.seen(), (std::vector<std::string>{"freeze by release-bot: black friday", "unfreeze by unknown: ",
                                                        "freeze by ops: incident", "unfreeze by ops: incident over"}));
}

TEST_F(ApiTest, AlertsAre404UntilAlertsMatchIsConfigured) {
  start();
  const Reply r = with_token("POST", "/api/v1/alerts", R"({"version": "4", "alerts": []})");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.error().find("alerts.match"), std::string::npos) << r.body;
}

nlohmann::json alert(const std::string& status, const std::string& name, const std::string& severity,
                     const std::string& fingerprint) {
  return {{"status", status},
          {"labels", {{"alertname", name}, {"severity", severity}}},
          {"annotations", {{"summary", "5xx above 5%"}}},
          {"startsAt", "2026-11-22T10:00:00Z"},
          {"endsAt", "0001-01-01T00:00:00Z"},
          {"generatorURL", "http://prometheus/graph"},
          {"fingerprint", fingerprint}};
}

std::string webhook(const nlohmann::json& alerts) {
  return nlohmann::json{{"version", "4"}, {"status", "firing"}, {"receiver", "sidecar"}, {"alerts", alerts}}.dump();
}

// One payload, several alerts: each gets its result, the first matching firing one decides, a
// later matching one in the same payload does not take a second decision; a resend is duplicate.
TEST_F(ApiTest, EachAlertOfAWebhookGetsItsResultAndAtMostOneRollbackIsTaken) {
  start({true, "alerts: {match: {severity: 'sev1|sev2'}}\n", {}});
  const std::string payload =
      webhook({alert("resolved", "Old", "sev1", "f0"), alert("firing", "Noise", "sev4", "f1"),
               alert("firing", "CheckoutErrors", "sev2", "f2"), alert("firing", "CheckoutLatency", "sev1", "f3")});
  const Reply r = with_token("POST", "/api/v1/alerts", payload);
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json body = r.json();
  EXPECT_EQ(body["alerts"],
            (nlohmann::json{{{"alertname", "Old"}, {"status", "resolved"}, {"result", "resolved"}},
                            {{"alertname", "Noise"}, {"status", "firing"}, {"result", "ignored"}},
                            {{"alertname", "CheckoutErrors"}, {"status", "firing"}, {"result", "matched"}},
                            {{"alertname", "CheckoutLatency"}, {"status", "firing"}, {"result", "matched"}}}));
  EXPECT_EQ(body["rollback"]["accepted"], true) << r.body;
  EXPECT_EQ(body["rollback"]["decision_id"], 1) << r.body;
  ASSERT_TRUE(testing::wait_until([&] { return state() == "rolled_back"; }, 5s)) << state();
  EXPECT_EQ(actuator_.calls.load(), 1);
  const nlohmann::json decision = engine_->status()["last_decision"];
  EXPECT_EQ(decision["trigger"], "alert");
  EXPECT_EQ(decision["rule"], "CheckoutErrors");
  EXPECT_EQ(decision["severity"], "sev2");
  EXPECT_EQ(decision["reason"], "alert CheckoutErrors firing since 2026-11-22T10:00:00Z: 5xx above 5%");

  const Reply resend = with_token("POST", "/api/v1/alerts", payload);
  ASSERT_EQ(resend.status, 200) << resend.body;
  EXPECT_EQ(resend.json()["alerts"][2]["result"], "duplicate");
  EXPECT_EQ(resend.json()["alerts"][3]["result"], "duplicate");
  EXPECT_FALSE(resend.json().contains("rollback")) << "no alert asked for one: " << resend.body;

  const Reply bad =
      with_token("POST", "/api/v1/alerts", R"({"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.error().find("alerts[0].labels.a must be a string"), std::string::npos) << bad.body;

  EXPECT_EQ(metric("rollback_sidecar_alerts_received_total", {{"result", "resolved"}}), 2);
  EXPECT_EQ(metric("rollback_sidecar_alerts_received_total", {{"result", "ignored"}}), 2);
  EXPECT_EQ(metric("rollback_sidecar_alerts_received_total", {{"result", "matched"}}), 2);
  EXPECT_EQ(metric("rollback_sidecar_alerts_received_total", {{"result", "duplicate"}}), 2);
  EXPECT_EQ(metric("rollback_sidecar_alerts_received_total", {{"result", "rejected"}}), 1);
  engine_->shutdown();
  EXPECT_EQ(actuator_.calls.load(), 1);
}

TEST_F(ApiTest, LatestIncidentIsServedAsMarkdownOr404WhenThereIsNone) {
  start();
  const Reply off = get("/api/v1/incidents/latest");
  EXPECT_EQ(off.status, 404);
  EXPECT_EQ(off.error(), "incident reports are off: set incidents_dir");

  const std::string incidents = dir_.file("incidents");
  ASSERT_EQ(::mkdir(incidents.c_str(), 0755), 0);
  start({true, "incidents_dir: '" + incidents + "'\n", {}});
  const Reply none = get("/api/v1/incidents/latest");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.error(), "no incident report yet");

  const std::string report = "# Incident: rollback of checkout (decision #1)\n\n| a \\| b |\n";
  write_file(incidents + "/latest.md", report);
  const Reply latest = get("/api/v1/incidents/latest");
  EXPECT_EQ(latest.status, 200);
  EXPECT_EQ(latest.header("content-type"), "text/markdown; charset=utf-8");
  EXPECT_EQ(latest.body, report);

  // Not a regular file: an error of the server (500 naming the path), not "none yet".
  ASSERT_EQ(::unlink((incidents + "/latest.md").c_str()), 0);
  ASSERT_EQ(::mkdir((incidents + "/latest.md").c_str(), 0755), 0);
  const Reply broken = get("/api/v1/incidents/latest");
  EXPECT_EQ(broken.status, 500);
  EXPECT_NE(broken.error().find(incidents + "/latest.md"), std::string::npos) << broken.body;
}

// The sidecar counts what the server answers, by the route as registered (unknown paths: "other").
TEST_F(ApiTest, EveryRequestIsCountedByRouteAndCode) {
  start();
  get("/healthz");
  get("/healthz");
  get("/readyz");  // 503: no evaluation yet
  call("POST", "/api/v1/rollback", R"({"reason": "r", "actor": "a"})");
  with_token("POST", "/api/v1/rollback", "{");
  with_token("POST", "/api/v1/rollback", R"({"reason": "r", "actor": "a"})");
  get("/no/such/path");
  engine_->shutdown();
  const auto requests = [&](const std::string& endpoint, const std::string& code) {
    return metric("rollback_sidecar_api_requests_total", {{"endpoint", endpoint}, {"code", code}});
  };
  EXPECT_EQ(requests("/healthz", "200"), 2);
  EXPECT_EQ(requests("/readyz", "503"), 1);
  EXPECT_EQ(requests("/api/v1/rollback", "401"), 1);
  EXPECT_EQ(requests("/api/v1/rollback", "400"), 1);
  EXPECT_EQ(requests("/api/v1/rollback", "202"), 1);
  EXPECT_EQ(requests("other", "404"), 1);
  EXPECT_EQ(metric("rollback_sidecar_api_requests_total"), 7) << metrics_->serialize();
}

// web config basic_auth_users: every route needs Basic credentials, except a mutating request that
// carries a Bearer token, which is judged by the token alone.
TEST_F(ApiTest, BasicAuthGuardsEveryRouteButABearerRequestIsJudgedByItsToken) {
  start({true, "", {{"ops", fakes::bcrypt_hash("ops-pass")}}});
  for (const char* path : {"/", "/metrics", "/healthz", "/readyz", "/api/v1/status", "/api/v1/incidents/latest"}) {
    const Reply none = get(path);
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_EQ(none.header("www-authenticate"), "Basic") << path;
    EXPECT_EQ(call("GET", path, "", {basic("ops:wrong")}).status, 401) << path;
  }
  const Reply scrape = call("GET", "/metrics", "", {basic("ops:ops-pass")});
  EXPECT_EQ(scrape.status, 200);
  EXPECT_NE(scrape.body.find("rollback_sidecar_"), std::string::npos);
  EXPECT_EQ(metric("rollback_sidecar_http_auth_failures_total", {{"reason", "basic_missing"}}), 6);
  EXPECT_EQ(metric("rollback_sidecar_http_auth_failures_total", {{"reason", "basic_wrong"}}), 6);

  const std::string body = R"({"reason": "errors", "actor": "alertmanager"})";
  const Reply no_credentials = call("POST", "/api/v1/rollback", body);
  EXPECT_EQ(no_credentials.status, 401);
  EXPECT_EQ(no_credentials.header("www-authenticate"), "Basic") << "without any credentials Basic is asked first";
  const Reply wrong_token = call("POST", "/api/v1/rollback", body, {bearer("nope")});
  EXPECT_EQ(wrong_token.status, 403) << "judged by the token, not refused for lacking Basic";
  // Basic alone gets past the first guard but is no bearer token for a mutating route.
  const Reply basic_only = call("PUT", "/api/v1/freeze", R"({"reason": "r", "actor": "a"})", {basic("ops:ops-pass")});
  EXPECT_EQ(basic_only.status, 401);
  EXPECT_EQ(basic_only.header("www-authenticate"), "Bearer");
  EXPECT_EQ(actuator_.calls.load(), 0);

  const Reply token_only = call("POST", "/api/v1/rollback", body, {bearer(kToken)});
  EXPECT_EQ(token_only.status, 202) << token_only.body;
  engine_->shutdown();
  EXPECT_EQ(actuator_.calls.load(), 1);
}

}  // namespace
}  // namespace rs::sidecar
