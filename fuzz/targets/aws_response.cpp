// AWS replies without a network: error bodies of the JSON 1.1, REST-JSON and Query (XML)
// protocols through AwsClient, STS AssumeRoleWithWebIdentity XML and container-credentials JSON
// through the credential chain, and ISO 8601 expiry times.
#include <fstream>

#include "common/aws/aws_client.h"
#include "common/aws/credentials.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = rs::fuzz::as_string(data, size);
  auto transport = std::make_shared<rs::fuzz::CannedTransport>();
  transport->body = input;
  rs::aws::Credentials keys;
  keys.access_key_id = "AKIDFUZZ";
  keys.secret_access_key = "secret";
  rs::aws::AwsClientOptions options;
  options.service = "lambda";
  options.endpoint_host = "lambda";
  options.region = "us-east-1";
  options.endpoint = "http://127.0.0.1:1";
  options.max_attempts = 1;
  rs::aws::AwsClient client(options, std::make_shared<rs::aws::StaticCredentialsProvider>(keys), transport);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (long status : {200L, 400L, 503L}) {
    transport->status = status;
    (void)client.json_call("CodeDeploy_20141006.GetDeployment", "{}", deadline).error_text();
    (void)client.query_call("DescribeRules", "2015-12-01", {{"ListenerArn", "arn"}}, deadline).error_text();
  }
  transport->status = 200;
  static const std::string token_file = [] {
    std::string path = rs::fuzz::scratch_path("web-identity-token");
    std::ofstream(path) << "token\n";
    return path;
  }();
  for (const char* source : {"web-identity", "container"}) {
    rs::aws::ChainOptions chain;
    chain.region = "us-east-1";
    chain.sts_endpoint = "http://127.0.0.1:1";
    chain.transport = transport;
    chain.home = "/nonexistent";
    const std::string which = source;
    chain.getenv = [which](const std::string& name) -> std::optional<std::string> {
      if (which == "web-identity") {
        if (name == "AWS_WEB_IDENTITY_TOKEN_FILE") return token_file;
        if (name == "AWS_ROLE_ARN") return std::string("arn:aws:iam::123456789012:role/fuzz");
      } else if (name == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        return std::string("/v2/credentials/fuzz");
      }
      return std::nullopt;
    };
    rs::aws::ChainCredentialsProvider provider(chain);
    rs::aws::Credentials out;
    std::string error;
    (void)provider.get(&out, &error);
  }
  return 0;
}
