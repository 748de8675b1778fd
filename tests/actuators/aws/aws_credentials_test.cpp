// The AWS credential chain against the strict fake: each source works (the credentials it yields
// are accepted by the fake's SigV4 check through a real actuator call), the chain order holds,
// temporary credentials are refreshed before they expire, and no secret reaches an error text.
// AwsProfiles: role_arn profiles (STS AssumeRole signed with the source credentials) and SSO
// profiles (the cached `aws sso login` token exchanged at the portal) in the shared files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>

#include "actuators/aws/lambda_alias.h"
#include "common/aws/aws_client.h"
#include "common/aws/credentials.h"
#include "common/utf8.h"
#include "tests/actuators/aws/fake_aws.h"
#include "tests/actuators/test_settings.h"

namespace rs::testing {
namespace {

using Clock = std::chrono::steady_clock;

class AwsCredentials : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fake_ = new FakeAws(); }
  static void TearDownTestSuite() { delete fake_; }
  void SetUp() override { fake_->reset(fake_config_); }

  // A chain that sees only `env` (and a home without ~/.aws), at a settable wall clock.
  std::shared_ptr<aws::ChainCredentialsProvider> chain(std::map<std::string, std::string> env,
                                                       const std::string& profile = "") {
    aws::ChainOptions o;
    o.home = home_.path();
    o.profile = profile;
    o.getenv = [env](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    o.now = [this] { return aws::SystemClock::now() + skew_; };
    o.container_host = fake_->url();
    return std::make_shared<aws::ChainCredentialsProvider>(o);
  }
  std::map<std::string, std::string> no_imds() { return {{"AWS_EC2_METADATA_DISABLED", "true"}}; }

  // Rolls the fake's alias back with these credentials: proves the fake accepted the signature.
  void expect_accepted(std::shared_ptr<aws::CredentialsProvider> creds) {
    MapSettings s({{"function", std::string("checkout")},
                   {"alias", std::string("live")},
                   {"region", std::string("eu-west-1")},
                   {"endpoint", fake_->url()}});
    auto a = actuators::make_aws_lambda_alias_actuator(s, actuators::Environment{"canary"}, {creds, nullptr});
    auto r = a->rollback({}, Clock::now() + 10s);
    EXPECT_TRUE(r.ok) << r.detail;
    fake_->reset(fake_config_);
  }

  static FakeAws* fake_;
  // What the fake accepts (tokens, roles), set again after each reset.
  nlohmann::json fake_config_ = {{"web_identity_token", "eyJ-web-identity-token"},
                                 {"container_token", "container-auth-token-9"}};
  TempDir home_;
  std::chrono::seconds skew_{0};
};
FakeAws* AwsCredentials::fake_ = nullptr;

TEST_F(AwsCredentials, EnvironmentFirstAndDescribeShowsNoSecret) {
  auto env = no_imds();
  env["AWS_ACCESS_KEY_ID"] = kKeyId;
  env["AWS_SECRET_ACCESS_KEY"] = kSecret;
  env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/nonexistent";  // would fail: the environment wins first
  env["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/sidecar";
  auto c = chain(env);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_EQ(creds.source, "environment");
  EXPECT_EQ(creds.describe(), "environment (key ...0001)");
  expect_accepted(c);
  auto partial = chain({{"AWS_ACCESS_KEY_ID", kKeyId}});
  EXPECT_FALSE(partial->get(&creds, &error));
  EXPECT_NE(error.find("AWS_SECRET_ACCESS_KEY is not set"), std::string::npos) << error;
}

TEST_F(AwsCredentials, SharedFilesWithProfile) {
  write_file(home_.file("credentials"),
             "[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = x\n"
             "[deploy]\naws_access_key_id = " +
                 std::string(kKeyId) + "\naws_secret_access_key = " + kSecret + "\n");
  auto env = no_imds();
  env["AWS_SHARED_CREDENTIALS_FILE"] = home_.file("credentials");
  env["AWS_PROFILE"] = "deploy";
  auto c = chain(env);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_NE(creds.source.find("profile deploy"), std::string::npos);
  expect_accepted(c);
  env["AWS_PROFILE"] = "missing";
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("profile 'missing' has no keys"), std::string::npos) << error;
}

TEST_F(AwsCredentials, SharedFileThatIsNotARegularFileIsAClearError) {
  const std::string fifo = home_.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  aws::Credentials creds;
  for (auto [path, expected] : std::vector<std::pair<std::string, std::string>>{
           {"/dev/zero", "shared file: /dev/zero: not a regular file (character device)"},
           {fifo, "shared file: " + fifo + ": not a regular file (FIFO)"}}) {
    auto env = no_imds();
    env["AWS_SHARED_CREDENTIALS_FILE"] = path;
    std::string error;
    EXPECT_FALSE(chain(env)->get(&creds, &error));  // neither hangs nor reads until memory runs out
    EXPECT_EQ(error, expected);
  }
  // An absent file is only "not configured": the chain goes on (and here finds nothing).
  auto env = no_imds();
  env["AWS_SHARED_CREDENTIALS_FILE"] = home_.file("absent");
  std::string error;
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("no AWS credentials found"), std::string::npos) << error;
}

// Answers every request with one canned reply.
class CannedTransport : public HttpTransport {
 public:
  CannedTransport(long status, std::string body) : status_(status), body_(std::move(body)) {}
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::vector<HttpResponse> out(requests.size());
    for (auto& r : out) {
      r.status = status_;
      r.body = body_;
    }
    return out;
  }

 private:
  long status_;
  std::string body_;
};

// Bodies quoted in errors are cut on a character boundary: "é" (2 bytes) straddles the cut.
TEST(AwsErrorText, QuotedBodiesAreCutOnACharacterBoundary) {
  aws::AwsClientOptions o;
  o.service = "lambda";
  o.region = "eu-west-1";
  o.max_attempts = 1;
  aws::AwsClient client(o, static_credentials(),
                        std::make_shared<CannedTransport>(502, std::string(199, 'a') + "\xC3\xA9 gateway"));
  aws::AwsResult r = client.rest_call("GET", "/", "", Clock::now() + 5s);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.message, std::string(199, 'a'));
  EXPECT_EQ(common::valid_utf8(r.error_text()), r.error_text());

  aws::ChainOptions chain;
  chain.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_CONTAINER_CREDENTIALS_FULL_URI") return std::string("http://127.0.0.1:1/creds");
    return std::nullopt;
  };
  chain.home = "/nonexistent";
  chain.transport = std::make_shared<CannedTransport>(500, std::string(299, 'b') + "\xC3\xA9 down");
  aws::Credentials creds;
  std::string error;
  EXPECT_FALSE(aws::ChainCredentialsProvider(chain).get(&creds, &error));
  EXPECT_EQ(error, "container credentials http://127.0.0.1:1/creds: HTTP 500: " + std::string(299, 'b'));
}

TEST_F(AwsCredentials, WebIdentityThroughStsAndRefreshBeforeExpiry) {
  write_file(home_.file("token"), "eyJ-web-identity-token\n");
  auto env = no_imds();
  env["AWS_WEB_IDENTITY_TOKEN_FILE"] = home_.file("token");
  env["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/sidecar";
  env["AWS_ENDPOINT_URL_STS"] = fake_->url();
  auto c = chain(env);
  aws::Credentials first, again, later;
  std::string error;
  ASSERT_TRUE(c->get(&first, &error)) << error;
  EXPECT_EQ(first.access_key_id.rfind("ASIA", 0), 0u);
  EXPECT_FALSE(first.session_token.empty());
  ASSERT_TRUE(c->get(&again, &error));
  EXPECT_EQ(again.access_key_id, first.access_key_id);  // cached
  skew_ = std::chrono::seconds(3600 - 299);             // within 5 min of expiry: refreshed
  ASSERT_TRUE(c->get(&later, &error)) << error;
  EXPECT_NE(later.access_key_id, first.access_key_id);
  skew_ = std::chrono::seconds(0);
  expect_accepted(c);  // signed with the session token (X-Amz-Security-Token, signed by curl)
  write_file(home_.file("token"), "not-the-token\n");
  EXPECT_FALSE(chain(env)->get(&later, &error));
  EXPECT_NE(error.find("InvalidIdentityToken"), std::string::npos) << error;
  EXPECT_EQ(error.find("not-the-token"), std::string::npos) << error;
}

TEST_F(AwsCredentials, ContainerCredentialsFullAndRelativeUriWithRefresh) {
  write_file(home_.file("auth"), "container-auth-token-9\n");
  auto env = no_imds();
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = fake_->url() + "/_ecs/creds";
  env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = home_.file("auth");
  auto c = chain(env);
  aws::Credentials first, later;
  std::string error;
  ASSERT_TRUE(c->get(&first, &error)) << error;
  EXPECT_NE(first.source.find("container"), std::string::npos);
  skew_ = std::chrono::seconds(3600 - 60);
  ASSERT_TRUE(c->get(&later, &error)) << error;
  EXPECT_NE(later.access_key_id, first.access_key_id);
  skew_ = std::chrono::seconds(0);
  expect_accepted(c);
  auto relative = no_imds();
  relative["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/_ecs/creds";
  relative["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong-container-token";
  EXPECT_FALSE(chain(relative)->get(&later, &error));
  EXPECT_NE(error.find("HTTP 401"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-container-token"), std::string::npos) << error;
  relative["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "container-auth-token-9";
  EXPECT_TRUE(chain(relative)->get(&later, &error)) << error;
}

TEST_F(AwsCredentials, InstanceMetadataV2AndItsSwitch) {
  auto c = chain({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_->url()}});
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_EQ(creds.source, "instance-metadata role fake-instance-role");
  EXPECT_GE(fake_->count("IMDS PUT /latest/api/token"), 1);
  expect_accepted(c);
  auto off = chain({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_->url()}, {"AWS_EC2_METADATA_DISABLED", "true"}});
  EXPECT_FALSE(off->get(&creds, &error));
  EXPECT_NE(error.find("no AWS credentials found"), std::string::npos) << error;
}

TEST_F(AwsCredentials, ExpiredTemporaryKeyIsRefreshedAfterExpiredToken) {
  // The fake issues keys that expire in 1 s; our clock runs 30 s late, so the cache still trusts
  // the key: the fake's ExpiredTokenException makes the client drop the cache and retry.
  fake_->control("config", {{"cred_ttl_seconds", 1}});
  aws::ChainOptions o;
  o.home = home_.path();
  o.refresh_before = std::chrono::seconds(0);
  o.now = [] { return aws::SystemClock::now() - std::chrono::seconds(30); };
  const std::string url = fake_->url();
  o.getenv = [url](const std::string& n) -> std::optional<std::string> {
    if (n == "AWS_EC2_METADATA_SERVICE_ENDPOINT") return url;
    return std::nullopt;
  };
  auto c = std::make_shared<aws::ChainCredentialsProvider>(o);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  fake_->control("config", {{"cred_ttl_seconds", 3600}});
  std::this_thread::sleep_for(1500ms);  // the key expires at the fake
  MapSettings s({{"function", std::string("checkout")},
                 {"alias", std::string("live")},
                 {"region", std::string("eu-west-1")},
                 {"endpoint", fake_->url()}});
  auto a = actuators::make_aws_lambda_alias_actuator(s, actuators::Environment{"canary"}, {c, nullptr});
  auto r = a->rollback({}, Clock::now() + 10s);
  EXPECT_TRUE(r.ok) << r.detail;
  bool saw_expired = false;
  for (const auto& call : fake_->calls()) saw_expired = saw_expired || call["code"] == "ExpiredTokenException";
  EXPECT_TRUE(saw_expired);
}

// ---- role_arn and SSO profiles in the shared files

constexpr const char* kRole = "arn:aws:iam::123456789012:role/deployer";
constexpr const char* kSsoToken = "aoaFAKE-sso-access-token-0001";

class AwsProfiles : public AwsCredentials {
 protected:
  void SetUp() override {
    fake_config_ = {
        {"roles",
         {{kRole, {{"external_id", "ext-42"}}}, {"arn:aws:iam::123456789012:role/base", nlohmann::json::object()}}},
        {"sso_tokens", {{kSsoToken, {"123456789012/Deployer"}}}}};
    fake_->reset(fake_config_);
  }
  // The shared files and the endpoints of the fake; AWS_PROFILE = `profile` unless empty.
  std::map<std::string, std::string> files(const std::string& config, const std::string& credentials,
                                           const std::string& profile) {
    write_file(home_.file("config"), config);
    write_file(home_.file("credentials"), credentials);
    auto env = no_imds();
    env["AWS_CONFIG_FILE"] = home_.file("config");
    env["AWS_SHARED_CREDENTIALS_FILE"] = home_.file("credentials");
    env["AWS_ENDPOINT_URL_STS"] = fake_->url();
    env["AWS_ENDPOINT_URL_SSO"] = fake_->url();
    env["AWS_REGION"] = "eu-west-1";  // the STS signing region the fake expects
    if (!profile.empty()) env["AWS_PROFILE"] = profile;
    return env;
  }
  std::string static_keys(const std::string& section) {
    return "[" + section + "]\naws_access_key_id = " + kKeyId + "\naws_secret_access_key = " + kSecret + "\n";
  }
  // An SSO token as `aws sso login` caches it, at HOME/.aws/sso/cache/<sha1 hex>.json.
  void cache_sso_token(const std::string& sha1_hex, const std::string& expires_at) {
    std::filesystem::create_directories(home_.file(".aws/sso/cache"));
    write_file(home_.file(".aws/sso/cache/" + sha1_hex + ".json"),
               nlohmann::json{{"startUrl", "https://corp.awsapps.com/start"},
                              {"region", "eu-west-1"},
                              {"accessToken", kSsoToken},
                              {"expiresAt", expires_at}}
                   .dump());
  }
  static std::string rfc3339_in(std::chrono::seconds from_now) {
    std::time_t t = aws::SystemClock::to_time_t(aws::SystemClock::now() + from_now);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
  }
  std::vector<std::string> keys_of(const std::string& operation) {
    std::vector<std::string> out;
    for (const auto& c : fake_->calls())
      if (c["operation"] == operation) out.push_back(c["key"].get<std::string>() + " " + c["code"].get<std::string>());
    return out;
  }
};

TEST_F(AwsProfiles, AssumeRoleFromSourceProfileWithStaticKeysAndRefreshBeforeExpiry) {
  auto env = files(std::string("[profile deploy]\nrole_arn = ") + kRole +
                       "\nsource_profile = base\nrole_session_name = sidecar-test\nexternal_id = ext-42\n"
                       "duration_seconds = 1800\n",
                   static_keys("base"), "deploy");
  auto c = chain(env);
  aws::Credentials first, again, later;
  std::string error;
  ASSERT_TRUE(c->get(&first, &error)) << error;
  EXPECT_EQ(first.access_key_id.rfind("ASIA", 0), 0u);
  EXPECT_FALSE(first.session_token.empty());
  EXPECT_EQ(first.source, std::string("assume-role ") + kRole + " (profile deploy, from shared-file " +
                              home_.file("credentials") + " profile base)");
  ASSERT_TRUE(first.expiration);
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(*first.expiration - aws::SystemClock::now());
  EXPECT_NEAR(ttl.count(), 1800, 10) << "duration_seconds is sent as DurationSeconds";
  // Signed with the source profile's static keys (the fake checked the signature; an ExternalId
  // other than ext-42 would have been AccessDenied).
  EXPECT_EQ(keys_of("AssumeRole"), std::vector<std::string>{std::string(kKeyId) + " "});
  ASSERT_TRUE(c->get(&again, &error));
  EXPECT_EQ(again.access_key_id, first.access_key_id);  // cached
  skew_ = std::chrono::seconds(1800 - 299);             // within 5 min of expiry: assumed again
  ASSERT_TRUE(c->get(&later, &error)) << error;
  EXPECT_NE(later.access_key_id, first.access_key_id);
  EXPECT_EQ(keys_of("AssumeRole").size(), 2u);
  skew_ = std::chrono::seconds(0);
  expect_accepted(c);  // the assumed credentials sign a Lambda call the fake accepts
  EXPECT_EQ(first.describe().find(first.secret_access_key), std::string::npos);
}

TEST_F(AwsProfiles, AssumeRoleWithCredentialSourceEnvironment) {
  auto env = files(std::string("[profile deploy]\nrole_arn = ") + kRole +
                       "\ncredential_source = Environment\nexternal_id = ext-42\n",
                   "", "");
  env["AWS_ACCESS_KEY_ID"] = kKeyId;
  env["AWS_SECRET_ACCESS_KEY"] = kSecret;
  // The profile named in the config (an actuator's `profile:`) negates the environment source,
  // whose keys then sign the AssumeRole.
  auto c = chain(env, "deploy");
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_EQ(creds.source, std::string("assume-role ") + kRole + " (profile deploy, from environment)");
  EXPECT_EQ(keys_of("AssumeRole"), std::vector<std::string>{std::string(kKeyId) + " "});
  expect_accepted(c);
  // Without the environment's keys the source is configured but empty: an error, no fall-through.
  env.erase("AWS_ACCESS_KEY_ID");
  env.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_FALSE(chain(env, "deploy")->get(&creds, &error));
  EXPECT_NE(error.find("credential_source Environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
            std::string::npos)
      << error;
  auto bad =
      files(std::string("[profile deploy]\nrole_arn = ") + kRole + "\ncredential_source = Ec2Metadata\n", "", "deploy");
  EXPECT_FALSE(chain(bad)->get(&creds, &error));
  EXPECT_NE(error.find("credential_source 'Ec2Metadata' is not one of Environment, Ec2InstanceMetadata, EcsContainer"),
            std::string::npos)
      << error;
}

TEST_F(AwsProfiles, AssumeRoleWithCredentialSourceEc2InstanceMetadata) {
  auto env = files(std::string("[profile deploy]\nrole_arn = ") + kRole +
                       "\ncredential_source = Ec2InstanceMetadata\nexternal_id = ext-42\n",
                   "", "deploy");
  env.erase("AWS_EC2_METADATA_DISABLED");
  env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fake_->url();
  auto c = chain(env);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_EQ(creds.source,
            std::string("assume-role ") + kRole + " (profile deploy, from instance-metadata role fake-instance-role)");
  // The instance role's temporary key (with its session token) signed the AssumeRole.
  auto calls = keys_of("AssumeRole");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].rfind("ASIAFAKETEMP", 0), 0u) << calls[0];
  expect_accepted(c);
}

TEST_F(AwsProfiles, ChainedSourceProfilesAssumeEachRoleInTurn) {
  auto env = files(std::string("[profile deploy]\nrole_arn = ") + kRole +
                       "\nsource_profile = middle\nexternal_id = ext-42\n"
                       "[profile middle]\nrole_arn = arn:aws:iam::123456789012:role/base\nsource_profile = keys\n",
                   static_keys("keys"), "deploy");
  auto c = chain(env);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_NE(creds.source.find("from assume-role arn:aws:iam::123456789012:role/base (profile middle"),
            std::string::npos)
      << creds.source;
  // First the base role with the static keys, then the deployer role with the base role's keys.
  auto calls = keys_of("AssumeRole");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], std::string(kKeyId) + " ");
  EXPECT_EQ(calls[1].rfind("ASIAFAKETEMP", 0), 0u) << calls[1];
  expect_accepted(c);
}

TEST_F(AwsProfiles, SourceProfileCycleIsRefusedButASelfReferenceWithKeysIsNot) {
  auto env = files(
      "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/base\nsource_profile = b\n"
      "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/base\nsource_profile = a\n",
      "", "a");
  aws::Credentials creds;
  std::string error;
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("source_profile cycle: a -> b -> a"), std::string::npos) << error;
  EXPECT_EQ(fake_->count("AssumeRole"), 0);
  // A profile naming itself with its own static keys is the CLI's "keys and role in one place".
  env = files("[profile self]\nrole_arn = arn:aws:iam::123456789012:role/base\nsource_profile = self\n",
              static_keys("self"), "self");
  ASSERT_TRUE(chain(env)->get(&creds, &error)) << error;
  EXPECT_EQ(creds.access_key_id.rfind("ASIA", 0), 0u);
  env = files("[profile self]\nrole_arn = arn:aws:iam::123456789012:role/base\nsource_profile = self\n", "", "self");
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("source_profile cycle: self -> self"), std::string::npos) << error;
}

TEST_F(AwsProfiles, AccessDeniedFromStsIsReportedVerbatimWithoutRetryOrSecret) {
  auto env = files("[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/not-trusting\nsource_profile = base\n",
                   static_keys("base"), "deploy");
  aws::Credentials creds;
  std::string error;
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("STS AssumeRole for arn:aws:iam::123456789012:role/not-trusting at " + fake_->url()),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("AccessDenied (HTTP 403): User: arn:aws:iam::123456789012:user/sidecar is not authorized to "
                       "perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/not-trusting"),
            std::string::npos)
      << error;
  EXPECT_EQ(error.find(kSecret), std::string::npos) << error;
  EXPECT_EQ(fake_->count("AssumeRole"), 1) << "AccessDenied is not retried";
}

TEST_F(AwsProfiles, SsoSessionProfileGetsRoleCredentialsWithTheCachedToken) {
  auto env = files(
      "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deployer\n"
      "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
      "sso_registration_scopes = sso:account:access\n",
      "", "sso");
  cache_sso_token("ee0bfd2552fbd840c02cc48b6e823320543c450f", rfc3339_in(std::chrono::hours(1)));  // sha1("corp")
  auto c = chain(env);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_EQ(creds.source, "sso 123456789012/Deployer (profile sso)");
  EXPECT_FALSE(creds.session_token.empty());
  ASSERT_TRUE(creds.expiration);  // from roleCredentials.expiration in milliseconds
  EXPECT_NEAR(std::chrono::duration_cast<std::chrono::seconds>(*creds.expiration - aws::SystemClock::now()).count(),
              3600, 10);
  EXPECT_EQ(fake_->count("GetRoleCredentials"), 1);
  expect_accepted(c);
}

TEST_F(AwsProfiles, LegacySsoProfileKeysTheCacheByStartUrl) {
  auto env = files(
      "[profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\nsso_region = eu-west-1\n"
      "sso_account_id = 123456789012\nsso_role_name = Deployer\n",
      "", "legacy");
  // sha1("https://legacy.awsapps.com/start"), with the CLI v1 style "UTC" suffix.
  std::string expires = rfc3339_in(std::chrono::hours(1));
  cache_sso_token("79e435d7a515078e81c9dffc35f38d5687ebd3a7", expires.substr(0, expires.size() - 1) + "UTC");
  auto c = chain(env);
  aws::Credentials creds;
  std::string error;
  ASSERT_TRUE(c->get(&creds, &error)) << error;
  EXPECT_EQ(creds.source, "sso 123456789012/Deployer (profile legacy)");
  expect_accepted(c);
  // A role the token is not assigned: the portal's answer, verbatim.
  env = files(
      "[profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\nsso_region = eu-west-1\n"
      "sso_account_id = 123456789012\nsso_role_name = Admin\n",
      "", "legacy");
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("ForbiddenException (HTTP 403): No access"), std::string::npos) << error;
  EXPECT_EQ(error.find(kSsoToken), std::string::npos) << error;
}

TEST_F(AwsProfiles, ExpiredOrMissingSsoTokenIsRefusedWithTheLoginCommand) {
  auto env = files(
      "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deployer\n"
      "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n",
      "", "sso");
  aws::Credentials creds;
  std::string error;
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("no SSO token cached for corp"), std::string::npos) << error;
  EXPECT_NE(error.find("run `aws sso login --profile sso`"), std::string::npos) << error;
  const std::string past = rfc3339_in(-std::chrono::minutes(5));
  cache_sso_token("ee0bfd2552fbd840c02cc48b6e823320543c450f", past);
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("the cached SSO token for corp expired at " + past + ": run `aws sso login --profile sso`"),
            std::string::npos)
      << error;
  EXPECT_EQ(error.find(kSsoToken), std::string::npos) << error;
  EXPECT_EQ(fake_->count("GetRoleCredentials"), 0) << "an expired token is not sent";
}

TEST_F(AwsProfiles, MissingSsoSessionSectionOrKeysAreClearErrors) {
  auto env =
      files("[profile sso]\nsso_session = nope\nsso_account_id = 123456789012\nsso_role_name = Deployer\n", "", "sso");
  aws::Credentials creds;
  std::string error;
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("sso_session 'nope' has no [sso-session nope] section in " + home_.file("config")),
            std::string::npos)
      << error;
  env = files(
      "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n"
      "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n",
      "", "sso");
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("[sso-session corp] in " + home_.file("config") + ": sso_region is missing"), std::string::npos)
      << error;
  env = files(
      "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n"
      "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n",
      "", "sso");
  EXPECT_FALSE(chain(env)->get(&creds, &error));
  EXPECT_NE(error.find("an SSO profile needs sso_role_name"), std::string::npos) << error;
}

}  // namespace
}  // namespace rs::testing
