// AWS credentials and the standard credential provider chain.
//
// Chain order (as the AWS SDKs and the CLI resolve it; the first source that is configured wins):
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); skipped when
//      ChainOptions::profile names a profile (like the CLI's --profile; AWS_PROFILE does not)
//   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), through
//      STS AssumeRoleWithWebIdentity (endpoint: AWS_ENDPOINT_URL_STS, else ChainOptions::sts_endpoint,
//      else https://sts.REGION.amazonaws.com)
//   3. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) then AWS_CONFIG_FILE
//      (~/.aws/config), profile AWS_PROFILE, else ChainOptions::profile, else "default". Within the
//      profile, in the order of the AWS CLI / botocore:
//      a. role_arn: STS AssumeRole (Query protocol, SigV4-signed with the source credentials; same
//         STS endpoint as web identity) with role_session_name (default
//         rollback-sidecar-<unix time>), external_id, duration_seconds. The source credentials
//         come from source_profile (a profile with static keys, role_arn or SSO, resolved the same
//         way; chains allowed, a cycle is an error; a profile may name itself only when it has
//         static keys) or credential_source (Environment | Ec2InstanceMetadata | EcsContainer:
//         sources 1, 5 and 4 of this chain), never both.
//      b. SSO: sso_session = NAME with a [sso-session NAME] section (sso_start_url, sso_region) in
//         the config file, or the legacy sso_start_url + sso_region in the profile; plus
//         sso_account_id and sso_role_name. The token `aws sso login` cached at
//         HOME/.aws/sso/cache/<sha1 hex of the session name, or of the start URL (legacy)>.json
//         (accessToken, expiresAt) is exchanged by GET /federation/credentials at
//         AWS_ENDPOINT_URL_SSO, else ChainOptions::sso_endpoint, else
//         https://portal.sso.SSO_REGION.amazonaws.com (header x-amz-sso_bearer_token, unsigned).
//         A missing or expired token is an error telling to run `aws sso login --profile X`; the
//         token itself is not refreshed here.
//      c. static keys: aws_access_key_id, aws_secret_access_key (+ aws_session_token), from the
//         credentials file's [NAME], else the config file's [profile NAME] ([default]).
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
#include <vector>

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
  std::string profile;       // used when AWS_PROFILE is unset; "" = "default"; set: source 1 is skipped
  std::string region;        // for the STS endpoint
  std::string sts_endpoint;  // overrides https://sts.REGION.amazonaws.com (AWS_ENDPOINT_URL_STS wins)
  std::string sso_endpoint;  // overrides https://portal.sso.SSO_REGION.amazonaws.com (AWS_ENDPOINT_URL_SSO wins)
  std::string container_host = "http://169.254.170.2";  // base of ..._RELATIVE_URI
  std::chrono::milliseconds timeout{2000};              // per metadata / STS request
  std::chrono::seconds refresh_before{300};
  // Seams for tests: the environment, the wall clock, the HTTP transport, the home directory.
  std::function<std::optional<std::string>(const std::string&)> getenv;  // default: ::getenv
  std::function<SystemClock::time_point()> now;                          // default: system_clock
  std::shared_ptr<rs::HttpTransport> transport;                          // default: curl
  std::string home;  // default: $HOME (also the root of ~/.aws/sso/cache)
};

// The standard chain described at the top of this file. Thread-safe.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ChainCredentialsProvider(ChainOptions options = {});
  bool get(Credentials* out, std::string* error, bool force_refresh = false) override;

 private:
  enum class Found { kNotConfigured, kOk, kError };
  struct SharedFiles;  // the two shared files, parsed (credentials.cpp)
  Found resolve(Credentials* out, std::string* error);
  Found from_environment(Credentials* out, std::string* error);
  Found from_web_identity(Credentials* out, std::string* error);
  Found from_shared_files(Credentials* out, std::string* error);
  // One profile of the shared files (3a-c above). `visited` holds the profiles on the way here
  // through source_profile (cycle check); `top` is false for a source profile, where static keys
  // win over role_arn as in botocore.
  Found from_profile(const SharedFiles& files, const std::string& name, bool top, std::vector<std::string>* visited,
                     Credentials* out, std::string* error);
  Found assume_role(const SharedFiles& files, const std::string& name, std::vector<std::string>* visited,
                    Credentials* out, std::string* error);
  Found from_sso(const SharedFiles& files, const std::string& name, Credentials* out, std::string* error);
  std::string sts_region() const;
  std::string sts_endpoint() const;  // AWS_ENDPOINT_URL_STS, options_.sts_endpoint or sts.REGION
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
