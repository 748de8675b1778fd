// What the AWS actuators share: the common settings keys (region, endpoint, profile, timeout),
// and turning an AwsResult failure into an ActResult (AWS's code + message verbatim; throttling,
// 5xx and transport errors retryable, other 4xx not).
#pragma once

#include <memory>
#include <string>

#include "actuators/actuator.h"
#include "common/aws/aws_client.h"

namespace rs::actuators::aws {

// Seams for tests: credentials and transport (nullptr: the standard chain, the Env's transport).
struct AwsSeams {
  std::shared_ptr<rs::aws::CredentialsProvider> credentials;
  std::shared_ptr<rs::HttpTransport> transport;
};

// Reads `region` (required), `endpoint` (optional http(s) URL), `profile` (optional),
// `timeout` (per request, default 10s) and builds the client for `service`, on env.env's clock
// and (without a seam transport) its HTTP transport.
std::shared_ptr<rs::aws::AwsClient> make_client(Settings& settings, const std::string& service,
                                                const std::string& endpoint_host, const Environment& env,
                                                const AwsSeams& seams);

// "<what>: <Operation>: <Code> (HTTP n): <message>" as a failure; retryable as AWS's answer says.
ActResult failed(const std::string& what, const std::string& operation, const rs::aws::AwsResult& r);

}  // namespace rs::actuators::aws
