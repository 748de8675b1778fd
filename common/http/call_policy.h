// The call policy every outbound HTTP caller shares (webhook actuator, notifiers, the CLI's
// remote commands): how the credential goes on a request, which answers are worth retrying, and
// how a failed answer is quoted in an error. One copy, so a redaction fix lands everywhere.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/http/http_transport.h"

namespace rs {

// Contract:
// - read_bearer_token_file() reads the token through common::read_secret_file (an empty path
//   means no token and succeeds); on failure *error names `what` and the path, never the content.
//   Callers build a policy per call, so a rotated token is used without a restart.
// - apply() adds `Authorization: Bearer <token>` after the request's own headers, and sets
//   HttpRequest::basic_auth for basic credentials (the transport builds that header itself).
// - redact() replaces every secret the policy knows with "<redacted>": the token, the password,
//   base64(user:password) as it appears in a `Basic` header a server may echo, and secrets added
//   with add_secret(). Longer secrets first, so one that contains another is not left half-done.
// - describe_failure() is what goes into errors and logs: a transport error's message, or
//   "HTTP <status>" and ": <body>" when there is one. The body is redacted first and only then
//   cut (valid UTF-8, at most max_body_bytes before the "... (N bytes)" marker, CR/LF as spaces),
//   so a secret straddling the cut cannot leave its prefix behind. No secret is ever in it.
// - The policy never logs; it only builds text for the caller.
class CallPolicy {
 public:
  static constexpr std::size_t kQuotedBodyBytes = 200;

  bool read_bearer_token_file(const std::string& path, std::string* error, const char* what = "bearer token");
  void set_bearer_token(std::string token) { token_ = std::move(token); }
  void set_basic_auth(std::string user, std::string password);
  // A secret the request carries outside the credential, e.g. a Slack webhook URL.
  void add_secret(std::string secret);

  void apply(HttpRequest* request) const;
  void redact(std::string* text) const;
  std::string describe_failure(const HttpResponse& response, std::size_t max_body_bytes = kQuotedBodyBytes) const;

 private:
  std::string token_;
  std::optional<std::pair<std::string, std::string>> basic_;
  std::vector<std::string> extra_;
};

// A 2xx answer, transport-wise complete.
bool call_succeeded(const HttpResponse& response);
// 408 (request timeout), 429 (throttled) and 5xx: the server may answer differently later. Any
// other failure status means the request itself was refused and sending it again cannot help.
bool retryable_status(long status);
// Every transport error is retryable (a timeout, refused connection or cut transfer may not
// recur); otherwise retryable_status(). False for a success.
bool call_retryable(const HttpResponse& response);

}  // namespace rs
