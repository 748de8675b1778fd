// The webhook actuator against a local HTTP server: body and headers as configured, a 500 then
// a 200 succeeds after a retry, a 404 is not retried, a timeout fails within the deadline, the
// token never shows.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "actuators/webhook/webhook.h"
#include "tests/actuators/test_settings.h"
#include "tests/fakes/env.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

using actuators::Change;
using actuators::DecisionContext;
using Clock = std::chrono::steady_clock;

const DecisionContext kContext{"checkout",   "prod", "canary", "rule",
                               "error-rate", "0.31", "0.05",   "error \"rate\" high"};

// Answers each request with the next scripted status (the last one repeats), after `delay`.
class ScriptedReceiver {
 public:
  explicit ScriptedReceiver(std::vector<int> statuses, std::chrono::milliseconds delay = 0ms)
      : statuses_(std::move(statuses)), delay_(delay) {
    server_.Post("/rollback", [this](const httplib::Request& req, httplib::Response& res) {
      std::this_thread::sleep_for(delay_);
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
      const int status = statuses_[std::min(requests_.size(), statuses_.size()) - 1];
      res.status = status;
      res.set_content(status == 200 ? "{\"ok\":true}" : "pipeline busy", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    wait_until([this] { return server_.is_running(); }, 5s);
  }
  ~ScriptedReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/rollback"; }
  std::vector<httplib::Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  std::vector<int> statuses_;
  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::vector<httplib::Request> requests_;
  std::thread thread_;
  int port_ = 0;
};

std::unique_ptr<actuators::Actuator> build(MapSettings& settings) {
  auto a = actuators::make_webhook_actuator(settings, actuators::Environment{"canary"});
  EXPECT_TRUE(settings.errors.empty()) << settings.all_errors();
  return a;
}

TEST(WebhookActuator, SendsTheConfiguredBodyAndHeadersAndRetriesA500) {
  ScriptedReceiver receiver({500, 200});
  TempDir dir;
  write_file(dir.file("token"), "pipeline-token-42\n");
  MapSettings settings(
      {{"url", receiver.url()},
       {"headers", MapSettings::Map{{"X-Pipeline", "checkout-prod"}}},
       {"bearer_token_file", dir.file("token")},
       {"body", std::string(R"({"action":"rollback","weight":{{canary_weight}},"decision":{{decision_json}}})")}});
  auto actuator = build(settings);
  auto result = actuator->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(result.change, Change::kChanged);
  EXPECT_NE(result.detail.find("HTTP 200"), std::string::npos) << result.detail;
  EXPECT_NE(result.detail.find("attempt 2"), std::string::npos) << result.detail;
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  const auto& req = requests.back();
  EXPECT_EQ(req.get_header_value("Authorization"), "Bearer pipeline-token-42");
  EXPECT_EQ(req.get_header_value("X-Pipeline"), "checkout-prod");
  EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
  auto body = nlohmann::json::parse(req.body);  // the quoted reason is escaped in decision_json
  EXPECT_EQ(body["action"], "rollback");
  EXPECT_EQ(body["weight"], 0);
  EXPECT_EQ(body["decision"]["reason"], "error \"rate\" high");
  EXPECT_EQ(body["decision"]["deployment"], "checkout");
  EXPECT_EQ(body["decision"]["stable_weight"], 100);
  EXPECT_EQ(actuator->describe().find("pipeline-token"), std::string::npos);
}

// Backoff sleeps go through the env's clock (never std::this_thread): on a manual clock they are
// recorded, doubling, and a shutdown (Clock::interrupt) stops the retries at once.
TEST(WebhookActuator, BacksOffOnTheEnvClockAndStopsRetryingOnShutdown) {
  ScriptedReceiver receiver({503, 503, 200});
  fakes::ManualClock clock;
  const Env env = fakes::env_with_clock(clock);
  MapSettings settings({{"url", receiver.url()}, {"retries", std::string("5")}});
  auto actuator = actuators::make_webhook_actuator(settings, actuators::Environment{"canary", &env});
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  auto result = actuator->rollback(kContext, clock.mono() + 10s);
  ASSERT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{200ms, 400ms}));

  ScriptedReceiver busy({503});
  MapSettings busy_settings({{"url", busy.url()}, {"retries", std::string("5")}});
  auto stopping = actuators::make_webhook_actuator(busy_settings, actuators::Environment{"canary", &env});
  clock.interrupt();
  result = stopping->rollback(kContext, clock.mono() + 10s);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.detail.find("shutting down"), std::string::npos) << result.detail;
  EXPECT_EQ(busy.requests().size(), 1u) << "no retry after shutdown began";
}

TEST(WebhookActuator, A404IsNotRetried) {
  ScriptedReceiver receiver({404});
  MapSettings settings({{"url", receiver.url()}});
  auto actuator = build(settings);
  auto result = actuator->rollback(kContext, Clock::now() + 10s);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.retryable);
  EXPECT_NE(result.detail.find("HTTP 404"), std::string::npos) << result.detail;
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST(WebhookActuator, ATimeoutFailsCleanlyWithinTheDeadline) {
  ScriptedReceiver receiver({200}, 1s);
  MapSettings settings({{"url", receiver.url()}, {"timeout", std::string("200ms")}, {"retries", std::string("1")}});
  auto actuator = build(settings);
  const auto start = Clock::now();
  auto result = actuator->rollback(kContext, start + 2s);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.retryable) << "retries are spent; the executor must not add its own";
  EXPECT_LT(Clock::now() - start, 2500ms) << "bounded by the deadline";
  EXPECT_NE(result.detail.find("after 2 attempts"), std::string::npos) << result.detail;
}

TEST(WebhookActuator, NothingListeningFailsAfterItsRetriesAndTheTokenNeverShows) {
  TempDir dir;
  write_file(dir.file("token"), "very-secret-token\n");
  MapSettings settings({{"url", "http://127.0.0.1:" + std::to_string(free_port()) + "/x"},
                        {"bearer_token_file", dir.file("token")},
                        {"retries", std::string("0")}});
  auto actuator = build(settings);
  auto result = actuator->rollback(kContext, Clock::now() + 5s);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.retryable) << "retries: 0 means one request in all";
  EXPECT_NE(result.detail.find("after 1 attempts (retries: 0)"), std::string::npos) << result.detail;
  EXPECT_EQ(result.detail.find("very-secret-token"), std::string::npos) << result.detail;
}

TEST(WebhookActuator, ConfigErrorsNameTheKey) {
  MapSettings s({{"url", std::string("ftp://pipeline")},
                 {"method", std::string("DELETE")},
                 {"headers", MapSettings::Map{{"authorization", "Bearer x"}}},
                 {"body", std::string("{{weight}}")},
                 {"retries", std::string("99")}});
  actuators::make_webhook_actuator(s, actuators::Environment{"canary"});
  const std::string errors = s.all_errors();
  for (const char* expected : {"url: must start with http", "method: 'DELETE' is not one of POST, PUT, PATCH",
                               "headers: set Authorization through bearer_token_file",
                               "body: unknown variable '{{weight}}'", "retries: must be between 0 and 20"}) {
    EXPECT_NE(errors.find(expected), std::string::npos) << expected << "\n" << errors;
  }
}

}  // namespace
}  // namespace rs::testing
