#include "actuators/aws/aws_settings.h"

namespace rs::actuators::aws {

std::shared_ptr<rs::aws::AwsClient> make_client(Settings& settings, const std::string& service,
                                                const std::string& endpoint_host, const Environment& env,
                                                const AwsSeams& seams) {
  rs::aws::AwsClientOptions o;
  o.service = service;
  o.endpoint_host = endpoint_host;
  o.region = settings.string("region");
  if (settings.has("region") && (o.region.empty() || o.region.find_first_of(" /:@") != std::string::npos))
    settings.error("region", "'" + o.region + "' is not an AWS region name (e.g. eu-west-1)");
  o.endpoint = settings.string("endpoint", "");
  if (!o.endpoint.empty() && o.endpoint.rfind("http://", 0) != 0 && o.endpoint.rfind("https://", 0) != 0)
    settings.error("endpoint", "must start with http:// or https:// (got '" + o.endpoint + "')");
  std::string profile = settings.string("profile", "");
  o.timeout = settings.duration("timeout", o.timeout);
  if (o.timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  auto credentials = seams.credentials ? seams.credentials : rs::aws::default_credentials_provider(profile, o.region);
  std::shared_ptr<rs::HttpTransport> transport = seams.transport;
  if (!transport && env.env->make_http) transport = env.env->make_http();
  return std::make_shared<rs::aws::AwsClient>(std::move(o), std::move(credentials), std::move(transport),
                                              env.env->clock);
}

ActResult failed(const std::string& what, const std::string& operation, const rs::aws::AwsResult& r) {
  std::string text = what + ": " + operation + ": " + r.error_text();
  if (r.attempts > 1) text += " (after " + std::to_string(r.attempts) + " attempts)";
  if (!r.retryable) text += " (not retried)";
  return ActResult::failure(text, r.retryable);
}

}  // namespace rs::actuators::aws
