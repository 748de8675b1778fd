// The AWS credential chain against the strict fake: each source works (the credentials it yields
// are accepted by the fake's SigV4 check through a real actuator call), the chain order holds,
// temporary credentials are refreshed before they expire, and no secret reaches an error text.
#include <gtest/gtest.h>
#include <sys/stat.h>

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
  void SetUp() override {
    fake_->reset({{"web_identity_token", "eyJ-web-identity-token"}, {"container_token", "container-auth-token-9"}});
  }

  // A chain that sees only `env` (and a home without ~/.aws), at a settable wall clock.
  std::shared_ptr<aws::ChainCredentialsProvider> chain(std::map<std::string, std::string> env) {
    aws::ChainOptions o;
    o.home = home_.path();
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
    fake_->reset({{"web_identity_token", "eyJ-web-identity-token"}, {"container_token", "container-auth-token-9"}});
  }

  static FakeAws* fake_;
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

}  // namespace
}  // namespace rs::testing
