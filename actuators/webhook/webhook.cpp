#include "actuators/webhook/webhook.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "actuators/decision_vars.h"
#include "common/http/call_policy.h"
#include "common/template.h"

namespace rs::actuators {

using Clock = std::chrono::steady_clock;

WebhookActuator::WebhookActuator(WebhookOptions options, std::shared_ptr<rs::HttpTransport> transport, rs::Clock& clock)
    : options_(std::move(options)), transport_(std::move(transport)), clock_(clock) {}

ActResult WebhookActuator::rollback(const DecisionContext& context, Clock::time_point deadline) {
  return send(0, context, deadline);
}

ActResult WebhookActuator::set_canary_weight(int percent, const DecisionContext& context, Clock::time_point deadline) {
  if (percent < 0 || percent > 100)
    return ActResult::failure(describe() + ": canary weight " + std::to_string(percent) + " is not in 0-100", false);
  return send(percent, context, deadline);
}

ActResult WebhookActuator::send(int w, const DecisionContext& context, Clock::time_point deadline) {
  const std::string what = describe();
  try {
    std::string error;
    auto body = common::render_template(options_.body, decision_variables(context, w), &error);
    if (!body) return ActResult::failure(what + ": body: " + error, false);
    rs::CallPolicy policy;
    if (!policy.read_bearer_token_file(options_.bearer_token_file, &error))
      return ActResult::failure(what + ": " + error, true);

    rs::HttpRequest request;
    request.method = options_.method;
    request.url = options_.url;
    request.headers = {{"Content-Type", options_.content_type}};
    for (const auto& h : options_.headers) request.headers.push_back(h);
    policy.apply(&request);
    request.body = *body;
    request.max_body_bytes = 64 * 1024;

    std::lock_guard<std::mutex> lock(mu_);
    auto backoff = options_.initial_backoff;
    std::string last;
    for (int attempt = 1;; ++attempt) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.mono());
      if (left.count() <= 0)
        return ActResult::failure(what + ": deadline passed" + (last.empty() ? "" : " after " + last), true);
      request.timeout = std::min(options_.timeout, left);
      rs::HttpResponse response = transport_->perform(request);
      if (rs::call_succeeded(response)) {
        return ActResult::changed(what + ": HTTP " + std::to_string(response.status) + " (canary weight " +
                                  std::to_string(w) + ", attempt " + std::to_string(attempt) + ")");
      }
      last = policy.describe_failure(response);
      if (!rs::call_retryable(response))
        return ActResult::failure(what + ": " + last + " (not retried: the request itself was refused)", false);
      // `retries` is the one bound on requests: the executor must not retry on top of it.
      if (attempt > options_.retries) {
        return ActResult::failure(what + ": " + last + " after " + std::to_string(attempt) +
                                      " attempts (retries: " + std::to_string(options_.retries) + ")",
                                  false);
      }
      spdlog::warn("{}: attempt {} failed ({}); retrying in {}ms", what, attempt, last, backoff.count());
      if (clock_.mono() + backoff >= deadline)
        return ActResult::failure(what + ": " + last + "; no time left to retry", true);
      if (!clock_.sleep_until(clock_.mono() + backoff))
        return ActResult::failure(what + ": " + last + "; not retried: shutting down", true);
      backoff *= 2;
    }
  } catch (const std::exception& e) {
    return ActResult::failure(what + ": internal error: " + e.what(), true);
  }
}

ActResult WebhookActuator::probe(Clock::time_point) {
  // Any request could trigger the receiver's action, so probing only checks the token file.
  rs::CallPolicy policy;
  std::string error;
  if (!policy.read_bearer_token_file(options_.bearer_token_file, &error))
    return ActResult::failure(describe() + ": " + error, false);
  return ActResult::noop(describe() + ": not called by probe (a request could trigger the rollback)");
}

std::unique_ptr<Actuator> make_webhook_actuator(Settings& settings, const Environment& env,
                                                std::shared_ptr<rs::HttpTransport> transport) {
  WebhookOptions o;
  o.url = settings.string("url");
  if (!o.url.empty() && o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0)
    settings.error("url", "must start with http:// or https:// (got '" + o.url + "')");
  o.method = settings.string("method", o.method);
  if (o.method != "POST" && o.method != "PUT" && o.method != "PATCH")
    settings.error("method", "'" + o.method + "' is not one of POST, PUT, PATCH");
  o.headers = settings.string_map("headers");
  for (const auto& [name, value] : o.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "authorization")
      settings.error("headers", "set Authorization through bearer_token_file, so the secret stays in a file");
  }
  o.bearer_token_file = settings.string("bearer_token_file", "");
  o.body = settings.string("body", o.body);
  std::string why;
  if (!common::render_template(o.body, sample_decision_variables(), &why)) settings.error("body", why);
  o.content_type = settings.string("content_type", o.content_type);
  o.timeout = settings.duration("timeout", o.timeout);
  if (o.timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  long long retries = settings.integer("retries", 3);
  if (retries < 0 || retries > 20)
    settings.error("retries", "must be between 0 and 20");
  else
    o.retries = static_cast<int>(retries);
  std::shared_ptr<rs::HttpTransport> http = transport ? std::move(transport) : env.env->make_http();
  return std::make_unique<WebhookActuator>(std::move(o), std::move(http), *env.env->clock);
}

}  // namespace rs::actuators
