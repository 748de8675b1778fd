#include "common/http/call_policy.h"

#include <algorithm>
#include <cstdint>

#include "common/base64.h"
#include "common/secret_file.h"
#include "common/utf8.h"

namespace rs {

namespace {}  // namespace

bool CallPolicy::read_bearer_token_file(const std::string& path, std::string* error, const char* what) {
  token_.clear();
  if (path.empty()) return true;
  return common::read_secret_file(path, what, &token_, error);
}

void CallPolicy::set_basic_auth(std::string user, std::string password) {
  basic_ = std::make_pair(std::move(user), std::move(password));
}

void CallPolicy::add_secret(std::string secret) {
  if (!secret.empty()) extra_.push_back(std::move(secret));
}

void CallPolicy::apply(HttpRequest* request) const {
  if (!token_.empty()) request->headers.emplace_back("Authorization", "Bearer " + token_);
  if (basic_) request->basic_auth = basic_;
}

void CallPolicy::redact(std::string* text) const {
  std::vector<std::string> secrets = extra_;
  secrets.push_back(token_);
  if (basic_) {
    secrets.push_back(basic_->second);
    secrets.push_back(common::base64_encode(basic_->first + ":" + basic_->second));  // as curl sends it
  }
  // Longest first: redacting a short secret inside a longer one would leave the rest of it.
  std::sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& s : secrets) common::redact(text, s);
}

std::string CallPolicy::describe_failure(const HttpResponse& response, std::size_t max_body_bytes) const {
  std::string out;
  if (response.error != TransportError::kNone) {
    out = response.error_message;
    redact(&out);
    return out;
  }
  // Redact before cutting: a secret the cut splits would no longer match, and its prefix would show.
  std::string body = response.body;
  redact(&body);
  // valid_utf8 first, so the cut bounds what is shown (a replacement character is 3 bytes).
  body = common::clip_for_message(common::valid_utf8(body), max_body_bytes);
  std::replace(body.begin(), body.end(), '\n', ' ');
  std::replace(body.begin(), body.end(), '\r', ' ');
  out = "HTTP " + std::to_string(response.status) + (body.empty() ? "" : ": " + body);
  return out;
}

bool call_succeeded(const HttpResponse& response) {
  return response.error == TransportError::kNone && response.status >= 200 && response.status < 300;
}

bool retryable_status(long status) { return status == 408 || status == 429 || status >= 500; }

bool call_retryable(const HttpResponse& response) {
  return response.error != TransportError::kNone || retryable_status(response.status);
}

}  // namespace rs
