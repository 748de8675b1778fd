#include "sidecar/rollback/rollback_checks.h"

#include "common/duration.h"
#include "sidecar/policy/decision.h"

namespace rs::sidecar {

StableHealthCheck::StableHealthCheck(PreflightConfig config, promql::ClientOptions prometheus,
                                     std::shared_ptr<rs::HttpTransport> transport)
    : config_(std::move(config)),
      transport_(transport),
      client_(
          [&] {
            prometheus.timeout = config_.timeout;
            return prometheus;
          }(),
          transport) {}

CheckResult StableHealthCheck::run_http() {
  rs::HttpRequest request;
  request.method = "GET";
  request.url = config_.http_url;
  request.timeout = config_.timeout;
  request.max_body_bytes = 64 * 1024;
  auto response = transport_->perform(request);
  if (response.error != rs::TransportError::kNone) {
    return {false, "stable health " + config_.http_url + ": " + response.error_message};
  }
  if (response.status / 100 != 2) {
    return {false, "stable health " + config_.http_url + " answered HTTP " + std::to_string(response.status)};
  }
  return {true, "stable health " + config_.http_url + " answered HTTP " + std::to_string(response.status)};
}

CheckResult StableHealthCheck::run_query() {
  const QueryCondition& c = *config_.query;
  auto outcome = promql::refuse_partial(client_.query(c.query));  // a missing series must not pass
  const std::string what = "stable query " + c.query;
  if (const auto* error = std::get_if<promql::QueryError>(&outcome)) {
    return {false, what + ": " + promql::error_reason_name(error->reason) + ": " + error->message};
  }
  const auto& data = std::get<promql::QueryData>(outcome);
  if (data.samples.empty()) return {false, what + ": no data"};
  for (const auto& sample : data.samples) {  // every series must hold: no stable instance may be bad
    if (!c.holds(sample.value)) {
      return {false, what + " = " + format_value(sample.value) + ", not " + comparison_name(c.comparison) + " " +
                         format_value(c.threshold)};
    }
  }
  return {true, what + " = " + format_value(data.samples.front().value) + " (" + comparison_name(c.comparison) + " " +
                    format_value(c.threshold) + ")"};
}

CheckResult StableHealthCheck::run() {
  CheckResult result{true, ""};
  if (checks_http()) {
    result = run_http();
    if (!result.ok) return result;
  }
  if (config_.query) {
    CheckResult q = run_query();
    if (!q.ok) return q;
    result.detail += (result.detail.empty() ? "" : "; ") + q.detail;
  }
  return result;
}

void RollbackVerification::start(WallTime now) {
  verdict_ = Verdict::kPending;
  started_ = now;
  holding_since_.reset();
  detail_ = "waiting for " + config_.condition.query + " " + comparison_name(config_.condition.comparison) + " " +
            format_value(config_.condition.threshold) + " for " + common::format_duration(config_.for_duration);
}

RollbackVerification::Verdict RollbackVerification::observe(std::optional<double> value, const std::string& problem,
                                                            WallTime now) {
  if (verdict_ != Verdict::kPending) return verdict_;
  const bool holds = value && config_.condition.holds(*value);
  if (holds) {
    if (!holding_since_) holding_since_ = now;
    if (now - *holding_since_ >= config_.for_duration) {
      verdict_ = Verdict::kVerified;
      detail_ = "verified: " + format_value(*value) + " " + comparison_name(config_.condition.comparison) + " " +
                format_value(config_.condition.threshold) + " for " + common::format_duration(config_.for_duration);
    }
  } else {
    holding_since_.reset();
    detail_ = value
                  ? "last value " + format_value(*value) + " is not " + comparison_name(config_.condition.comparison) +
                        " " + format_value(config_.condition.threshold)
                  : "no value: " + problem;
  }
  if (verdict_ == Verdict::kPending && now - started_ >= config_.timeout) {
    verdict_ = Verdict::kFailed;
    detail_ = "not verified within " + common::format_duration(config_.timeout) + ": " + detail_;
  }
  return verdict_;
}

}  // namespace rs::sidecar
