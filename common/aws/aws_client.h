// One AWS service endpoint: signs each request with SigV4 (libcurl, see HttpRequest::sigv4) using
// credentials from a CredentialsProvider, and turns AWS's error replies (JSON 1.1, REST-JSON,
// Query/XML) into an error code + message as AWS sent them. Retries throttling, 5xx and transport
// errors (bounded, within the deadline); never retries 4xx such as AccessDenied or validation.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/aws/credentials.h"
#include "common/clock.h"
#include "common/http/http_transport.h"

namespace rs::aws {

struct AwsClientOptions {
  std::string service;        // signing name: lambda, elasticloadbalancing, codedeploy, ecs
  std::string endpoint_host;  // host prefix of the default endpoint (usually = service)
  std::string region;
  std::string endpoint;                      // overrides https://HOST.REGION.amazonaws.com (tests, VPC endpoints)
  std::chrono::milliseconds timeout{10000};  // per attempt
  int max_attempts = 3;
  std::chrono::milliseconds initial_backoff{200};
};

struct AwsResult {
  bool ok = false;
  long status = 0;         // HTTP status; 0 for a transport error
  std::string body;        // the reply body when ok
  std::string code;        // AWS error code ("ThrottlingException", "AccessDenied", ...) or transport
  std::string message;     // AWS's message verbatim (secrets removed)
  bool retryable = false;  // throttling, 5xx, transport error, expired token
  int attempts = 0;
  // "AccessDeniedException: User ... is not authorized ..." / "HTTP 503" / transport error text.
  std::string error_text() const;
};

class AwsClient {
 public:
  // `clock` (the Env's: deadlines are in its mono() time, backoffs sleep on it) must outlive the
  // client; null: the system clocks. A null transport is curl.
  AwsClient(AwsClientOptions options, std::shared_ptr<CredentialsProvider> credentials,
            std::shared_ptr<rs::HttpTransport> transport = nullptr, Clock* clock = nullptr);

  const AwsClientOptions& options() const { return options_; }
  std::string endpoint() const;  // the base URL requests go to

  // JSON 1.1 (`X-Amz-Target: TARGET`), e.g. target "CodeDeploy_20141006.ListDeployments".
  AwsResult json_call(const std::string& target, const std::string& json_body,
                      std::chrono::steady_clock::time_point deadline);
  // REST-JSON: METHOD path (already percent-encoded) with an optional JSON body.
  AwsResult rest_call(const std::string& method, const std::string& path, const std::string& json_body,
                      std::chrono::steady_clock::time_point deadline);
  // Query protocol: POST form Action=...&Version=...&params (XML replies).
  AwsResult query_call(const std::string& action, const std::string& version,
                       const std::vector<std::pair<std::string, std::string>>& params,
                       std::chrono::steady_clock::time_point deadline);

 private:
  AwsResult call(const std::string& method, const std::string& path,
                 std::vector<std::pair<std::string, std::string>> headers, const std::string& body,
                 std::chrono::steady_clock::time_point deadline);

  AwsClientOptions options_;
  std::shared_ptr<CredentialsProvider> credentials_;
  std::shared_ptr<rs::HttpTransport> transport_;
  Clock* clock_;
  std::mutex mu_;  // the transport is used from one thread at a time
};

// "a=1&b=x%20y" from pairs.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& params);
// AWS's error code and message from an error reply: the x-amzn-ErrorType header (REST-JSON), a
// JSON body's __type/code and message (JSON 1.1), or an XML ErrorResponse (Query); otherwise no
// code and the start of the body (cut on a character boundary) as the message.
void parse_error_reply(const rs::HttpResponse& reply, std::string* code, std::string* message);
// True for the error codes AWS services use for throttling.
bool is_throttling_code(const std::string& code);

}  // namespace rs::aws
