// The `webhook` actuator: asks a system with an HTTP API to roll back (Spinnaker, Jenkins, a
// CDK pipeline's API Gateway, a router's admin API).
//
// Settings keys:
//   url                http(s) URL (required)
//   method             POST (default), PUT or PATCH
//   headers            map of extra headers; Authorization is refused (use bearer_token_file)
//   bearer_token_file  optional; re-read on every call, never logged
//   body               template (default "{{decision_json}}"): the variables of the file
//                      actuator's decision set ({{canary_weight}}, {{stable_weight}},
//                      {{deployment}}, {{reason}}, ..., {{decision_json}}); values are inserted
//                      as they are, so build JSON bodies from {{decision_json}} or numbers
//   content_type       default application/json
//   timeout            per attempt, default 10s
//   retries            extra attempts on connection errors, timeouts, 408, 429 and 5xx (default 3),
//                      with backoff 200 ms doubling, all within the rollback deadline
//
// The receiver cannot be read first, so every call sends the request (the receiving system must
// be idempotent: a second "roll back" is harmless) and a 2xx is reported as changed, verified by
// the receiver's own answer. A 4xx other than 408/429 fails at once, not retried: the request
// itself is wrong. set_canary_weight() sends the same request with the new weights.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "actuators/actuator.h"
#include "common/clock.h"
#include "common/http/http_transport.h"

namespace rs::actuators {

struct WebhookOptions {
  std::string url;
  std::string method = "POST";
  std::map<std::string, std::string> headers;
  std::string bearer_token_file;
  std::string body = "{{decision_json}}";
  std::string content_type = "application/json";
  std::chrono::milliseconds timeout{10000};
  int retries = 3;
  std::chrono::milliseconds initial_backoff{200};
};

class WebhookActuator final : public Actuator {
 public:
  // Backoff sleeps and deadlines are on `clock` (the env's), so a shutdown cuts them short.
  WebhookActuator(WebhookOptions options, std::shared_ptr<rs::HttpTransport> transport, rs::Clock& clock);
  std::string type() const override { return "webhook"; }
  std::string describe() const override { return "webhook " + options_.method + " " + options_.url; }
  ActResult rollback(const DecisionContext& context, std::chrono::steady_clock::time_point deadline) override;
  ActResult probe(std::chrono::steady_clock::time_point deadline) override;
  bool supports_weights() const override { return true; }
  ActResult set_canary_weight(int percent, const DecisionContext& context,
                              std::chrono::steady_clock::time_point deadline) override;

 private:
  ActResult send(int canary_weight, const DecisionContext& context, std::chrono::steady_clock::time_point deadline);

  WebhookOptions options_;
  std::shared_ptr<rs::HttpTransport> transport_;
  rs::Clock& clock_;
  std::mutex mu_;  // the transport is used from one thread at a time
};

std::unique_ptr<Actuator> make_webhook_actuator(Settings& settings, const Environment& env,
                                                std::shared_ptr<rs::HttpTransport> transport = nullptr);

}  // namespace rs::actuators
