// AWS credentials and the standard credential provider chain.
//
// Chain order (as the AWS SDKs and the CLI resolve it; the first source that is configured wins):
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
//   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), through
//      STS AssumeRoleWithWebIdentity (endpoint: AWS_ENDPOINT_URL_STS, else ChainOptions::sts_endpoint,
//      else https://sts.REGION.amazonaws.com)
//   3. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) then AWS_CONFIG_FILE
//      (~/.aws/config), profile AWS_PROFILE, else ChainOptions::profile, else "default"
//      (static keys only: aws_access_key_id, aws_secret_access_key, aws_session_token)
//   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (against http://169.254.170.2) or
//      AWS_CONTAINER_CREDENTIALS_FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
//      AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header
//   5. EC2 instance metadata, IMDSv2 only (PUT token, then GET the role's credentials); endpoint
//      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254); skipped when
//      AWS_EC2_METADATA_DISABLED=true
// A source that is configured but fails (unreadable token file, STS refusal) is an error: the
// chain does not fall through to a weaker source. Temporary credentials are cached and fetched
// again `refresh_before` (default 5 min) before they expire; when a refresh fails while the
// cached credentials are still valid, those are used. Secrets never appear in describe(),
// errors or logs.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/http/http_transport.h"

namespace rs::aws {

using SystemClock = std::chrono::system_clock;

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;                          // empty for long-term keys
  std::optional<SystemClock::time_point> expiration;  // empty: does not expire
  std::string source;                                 // "environment", "web-identity", "shared-file:PROFILE", ...

  // "environment (key ...WXYZ)": the source and the last 4 characters of the key id, nothing else.
  std::string describe() const;
};

// Removes every secret of `c` (secret key, session token) from *text.
void redact(std::string* text, const Credentials& c);

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Current credentials; `force_refresh` drops the cache (after the service said ExpiredToken).
  // Returns false and sets *error (no secrets in it) when none can be had.
  virtual bool get(Credentials* out, std::string* error, bool force_refresh = false) = 0;
};

// Fixed credentials (tests, or keys handed over by the caller).
class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials c) : credentials_(std::move(c)) {}
  bool get(Credentials* out, std::string*, bool) override {
    *out = credentials_;
    return true;
  }

 private:
  Credentials credentials_;
};

struct ChainOptions {
  std::string profile;       // used when AWS_PROFILE is unset; "" = "default"
  std::string region;        // for the STS endpoint
  std::string sts_endpoint;  // overrides https://sts.REGION.amazonaws.com (AWS_ENDPOINT_URL_STS wins)
  std::string container_host = "http://169.254.170.2";  // base of ..._RELATIVE_URI
  std::chrono::milliseconds timeout{2000};              // per metadata / STS request
  std::chrono::seconds refresh_before{300};
  // Seams for tests: the environment, the wall clock, the HTTP transport, the home directory.
  std::function<std::optional<std::string>(const std::string&)> getenv;  // default: ::getenv
  std::function<SystemClock::time_point()> now;                          // default: system_clock
  std::shared_ptr<rs::HttpTransport> transport;                          // default: curl
  std::string home;                                                      // default: $HOME
};

// The standard chain described at the top of this file. Thread-safe.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ChainCredentialsProvider(ChainOptions options = {});
  bool get(Credentials* out, std::string* error, bool force_refresh = false) override;

 private:
  enum class Found { kNotConfigured, kOk, kError };
  Found resolve(Credentials* out, std::string* error);
  Found from_environment(Credentials* out, std::string* error);
  Found from_web_identity(Credentials* out, std::string* error);
  Found from_shared_files(Credentials* out, std::string* error);
  Found from_container(Credentials* out, std::string* error);
  Found from_imds(Credentials* out, std::string* error);
  std::optional<std::string> env(const std::string& name) const;
  SystemClock::time_point now() const;

  ChainOptions options_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

// The process-wide chain for a profile ("" = AWS_PROFILE or default) and region (for STS), built on
// first use and shared by every AWS actuator with the same pair, so they share the cache.
std::shared_ptr<CredentialsProvider> default_credentials_provider(const std::string& profile = "",
                                                                  const std::string& region = "");

}  // namespace rs::aws
