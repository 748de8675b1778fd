// prometheus.sigv4 (Amazon Managed Service for Prometheus): queries signed for service "aps" by
// libcurl's SigV4, checked by the strict AWS fake (botocore recomputes every signature).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/http/http_transport.h"
#include "promql/client.h"
#include "tests/actuators/aws/fake_aws.h"

namespace rs::promql {
namespace {

using rs::testing::FakeAws;

FakeAws& fake() {
  static FakeAws* f = new FakeAws();  // one fake for the binary's SigV4 tests
  return *f;
}

ClientOptions amp_options(std::shared_ptr<aws::CredentialsProvider> credentials,
                          const std::string& workspace = "ws-fake") {
  ClientOptions o;
  o.url = fake().url() + "/workspaces/" + workspace;
  o.timeout = std::chrono::milliseconds{5000};
  o.sigv4 = ClientOptions::SigV4{"eu-west-1", "aps", "", std::move(credentials)};
  return o;
}

TEST(PrometheusSigV4, SignedQueriesAreAnsweredByTheStrictFake) {
  fake().reset({{"aps_value", "7.5"}});
  Client client(amp_options(rs::testing::static_credentials()), make_curl_transport());
  auto outcomes = client.query_all({"sum(rate(http_requests_total{code=~\"5..\"}[5m]))", "up"}, 1700000000.0);
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& o : outcomes) {
    const auto* data = std::get_if<QueryData>(&o);
    ASSERT_TRUE(data) << std::get<QueryError>(o).message;
    ASSERT_EQ(data->samples.size(), 1u);
    EXPECT_DOUBLE_EQ(data->samples[0].value, 7.5);
  }
  int signed_ok = 0;
  for (const auto& c : fake().calls()) signed_ok += c["operation"] == "QueryMetrics" && c["status"] == 200;
  EXPECT_EQ(signed_ok, 2);
}

TEST(PrometheusSigV4, AWrongSecretIsRefusedByAwsAndNeverShown) {
  fake().reset();
  Client client(amp_options(rs::testing::static_credentials(rs::testing::kKeyId, "not/the/secret")),
                make_curl_transport());
  auto outcome = client.query("up");
  const auto* error = std::get_if<QueryError>(&outcome);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->http_status, 403);
  EXPECT_EQ(error->message.find("not/the/secret"), std::string::npos);
}

TEST(PrometheusSigV4, TemporaryCredentialsSendTheSessionToken) {
  fake().reset();
  // Issue temporary keys through the fake's container-credentials endpoint.
  auto r = rs::testing::http_request("GET", fake().url() + "/_ecs/creds");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  aws::Credentials c;
  c.access_key_id = j["AccessKeyId"];
  c.secret_access_key = j["SecretAccessKey"];
  c.session_token = j["Token"];
  c.source = "test";
  Client client(amp_options(std::make_shared<aws::StaticCredentialsProvider>(c)), make_curl_transport());
  auto outcome = client.query("up");
  ASSERT_TRUE(std::holds_alternative<QueryData>(outcome)) << std::get<QueryError>(outcome).message;
  c.session_token.clear();  // without the token AWS does not know the key
  Client without(amp_options(std::make_shared<aws::StaticCredentialsProvider>(c)), make_curl_transport());
  auto refused = without.query("up");
  ASSERT_TRUE(std::holds_alternative<QueryError>(refused));
  EXPECT_EQ(std::get<QueryError>(refused).http_status, 403);
}

TEST(PrometheusSigV4, CredentialsThatCannotBeHadFailTheBatchAsAuth) {
  struct None : aws::CredentialsProvider {
    bool get(aws::Credentials*, std::string* error, bool) override {
      *error = "no credentials in the chain";
      return false;
    }
  };
  Client client(amp_options(std::make_shared<None>()), make_curl_transport());
  auto outcome = client.query("up");
  ASSERT_TRUE(std::holds_alternative<QueryError>(outcome));
  EXPECT_EQ(std::get<QueryError>(outcome).reason, ErrorReason::kAuth);
  EXPECT_NE(std::get<QueryError>(outcome).message.find("no credentials in the chain"), std::string::npos);
}

}  // namespace
}  // namespace rs::promql
