#include "common/aws/aws_client.h"

#include <nlohmann/json.hpp>
#include <tinyxml2.h>

#include <algorithm>

#include "common/http/url.h"
#include "common/utf8.h"

namespace rs::aws {

using Deadline = std::chrono::steady_clock::time_point;

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += percent_encode(k) + "=" + percent_encode(v);
  }
  return out;
}

bool is_throttling_code(const std::string& code) {
  static const char* codes[] = {"Throttling",
                                "ThrottlingException",
                                "ThrottledException",
                                "RequestThrottledException",
                                "TooManyRequestsException",
                                "ProvisionedThroughputExceededException",
                                "TransactionInProgressException",
                                "RequestLimitExceeded",
                                "BandwidthLimitExceeded",
                                "LimitExceededException",
                                "RequestThrottled",
                                "SlowDown",
                                "PriorRequestNotComplete",
                                "EC2ThrottledException"};
  return std::find(std::begin(codes), std::end(codes), code) != std::end(codes);
}

namespace {

// For clients built without an Env (tools, tests of the client alone).
Clock* system_clock() {
  static rs::SystemClock clock;
  return &clock;
}

bool is_expired_token_code(const std::string& code) {
  return code == "ExpiredToken" || code == "ExpiredTokenException" || code == "RequestExpired";
}

bool is_retryable_code(const std::string& code) {
  return is_throttling_code(code) || is_expired_token_code(code) || code == "InternalFailure" ||
         code == "InternalError" || code == "ServiceUnavailable" || code == "ServiceUnavailableException" ||
         code == "ServerException" || code == "RequestTimeout" || code == "RequestTimeoutException";
}

}  // namespace

void parse_error_reply(const rs::HttpResponse& r, std::string* code, std::string* message) {
  std::string type = r.header("x-amzn-ErrorType");
  if (!type.empty()) *code = type.substr(0, type.find(':'));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    for (const char* k : {"__type", "code", "Code"}) {
      if (code->empty() && j.contains(k) && j[k].is_string()) *code = j[k].get<std::string>();
    }
    auto hash = code->rfind('#');
    if (hash != std::string::npos) *code = code->substr(hash + 1);
    for (const char* k : {"message", "Message", "errorMessage"}) {
      if (message->empty() && j.contains(k) && j[k].is_string()) *message = j[k].get<std::string>();
    }
    return;
  }
  tinyxml2::XMLDocument doc;
  if (doc.Parse(r.body.c_str(), r.body.size()) == tinyxml2::XML_SUCCESS && doc.RootElement()) {
    const tinyxml2::XMLElement* err = doc.RootElement()->FirstChildElement("Error");
    if (!err) {
      const auto* errors = doc.RootElement()->FirstChildElement("Errors");
      err = errors ? errors->FirstChildElement("Error") : nullptr;
    }
    if (!err && std::string(doc.RootElement()->Name()) == "Error") err = doc.RootElement();
    if (err) {
      const auto* c = err->FirstChildElement("Code");
      const auto* m = err->FirstChildElement("Message");
      if (code->empty() && c && c->GetText()) *code = c->GetText();
      if (m && m->GetText()) *message = m->GetText();
      return;
    }
  }
  std::string body = rs::common::cut_utf8_prefix(r.body, 200);  // never half a character
  std::replace(body.begin(), body.end(), '\n', ' ');
  *message = body;
}

std::string AwsResult::error_text() const {
  if (ok) return "";
  std::string text = code.empty() ? (status ? "HTTP " + std::to_string(status) : std::string("transport error"))
                                  : code + " (HTTP " + std::to_string(status) + ")";
  if (!message.empty()) text += ": " + message;
  return text;
}

AwsClient::AwsClient(AwsClientOptions options, std::shared_ptr<CredentialsProvider> credentials,
                     std::shared_ptr<rs::HttpTransport> transport, Clock* clock)
    : options_(std::move(options)),
      credentials_(credentials ? std::move(credentials) : default_credentials_provider("", options_.region)),
      transport_(transport ? std::move(transport) : rs::make_http_transport()),
      clock_(clock ? clock : system_clock()) {
  if (options_.endpoint_host.empty()) options_.endpoint_host = options_.service;
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
}

std::string AwsClient::endpoint() const {
  if (!options_.endpoint.empty()) return options_.endpoint;
  std::string suffix = options_.region.rfind("cn-", 0) == 0 ? ".amazonaws.com.cn" : ".amazonaws.com";
  return "https://" + options_.endpoint_host + "." + options_.region + suffix;
}

AwsResult AwsClient::json_call(const std::string& target, const std::string& json_body, Deadline deadline) {
  return call("POST", "/", {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", target}},
              json_body.empty() ? "{}" : json_body, deadline);
}

AwsResult AwsClient::rest_call(const std::string& method, const std::string& path, const std::string& json_body,
                               Deadline deadline) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!json_body.empty()) headers.emplace_back("Content-Type", "application/json");
  return call(method, path, std::move(headers), json_body, deadline);
}

AwsResult AwsClient::query_call(const std::string& action, const std::string& version,
                                const std::vector<std::pair<std::string, std::string>>& params, Deadline deadline) {
  std::vector<std::pair<std::string, std::string>> all = {{"Action", action}, {"Version", version}};
  all.insert(all.end(), params.begin(), params.end());
  return call("POST", "/", {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}, form_encode(all),
              deadline);
}

AwsResult AwsClient::call(const std::string& method, const std::string& path,
                          std::vector<std::pair<std::string, std::string>> headers, const std::string& body,
                          Deadline deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  AwsResult result;
  auto backoff = options_.initial_backoff;
  bool force_refresh = false;
  for (int attempt = 1;; ++attempt) {
    result = AwsResult{};
    result.attempts = attempt;
    Credentials creds;
    std::string why;
    if (!credentials_->get(&creds, &why, force_refresh)) {
      result.code = "NoCredentials";
      result.message = why;
      result.retryable = true;  // a metadata endpoint may come back; the executor decides
      return result;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_->mono());
    if (left.count() <= 0) {
      result.code = "DeadlineExceeded";
      result.message = "deadline passed before " + method + " " + endpoint() + path;
      result.retryable = true;
      return result;
    }
    rs::HttpRequest request;
    request.method = method;
    request.url = endpoint() + path;
    request.headers = headers;
    if (!creds.session_token.empty()) request.headers.emplace_back("X-Amz-Security-Token", creds.session_token);
    request.body = body;
    request.timeout = std::min(options_.timeout, left);
    request.max_body_bytes = 4 * 1024 * 1024;
    request.sigv4 = rs::HttpRequest::SigV4{"aws:amz:" + options_.region + ":" + options_.service, creds.access_key_id,
                                           creds.secret_access_key};
    rs::HttpResponse response = transport_->perform(request);
    if (response.error != rs::TransportError::kNone) {
      result.code = std::string("transport:") + rs::transport_error_name(response.error);
      result.message = response.error_message;
      result.retryable = response.error != rs::TransportError::kOversize;
    } else if (response.status >= 200 && response.status < 300) {
      result.ok = true;
      result.status = response.status;
      result.body = std::move(response.body);
      return result;
    } else {
      result.status = response.status;
      parse_error_reply(response, &result.code, &result.message);
      result.retryable = response.status == 429 || response.status >= 500 || is_retryable_code(result.code);
      force_refresh = is_expired_token_code(result.code);
    }
    redact(&result.message, creds);
    if (!result.retryable || attempt >= options_.max_attempts) return result;
    if (clock_->mono() + backoff >= deadline) return result;
    if (!clock_->sleep_until(clock_->mono() + backoff)) return result;  // shutting down
    backoff *= 2;
  }
}

}  // namespace rs::aws
