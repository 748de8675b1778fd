// Client over the real curl transport against an in-process fake Prometheus.
#include "promql/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "tests/support/harness.h"

namespace rs::promql {
namespace {

using namespace std::chrono_literals;
using rs::testing::FakeHttpServer;
using rs::testing::TempDir;

const char* kOneSample =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000000,"0.5"]}]}})";

std::string vector_of(const std::string& value) {
  return R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,")" + value +
         R"("]}]}})";
}

class ClientTest : public ::testing::Test {
 protected:
  ClientOptions options_for(const std::string& base_url) {
    ClientOptions options;
    options.url = base_url;
    options.timeout = 2s;
    return options;
  }
  Client make_client(ClientOptions options) { return Client(std::move(options), transport_); }

  // The single /api/v1/query request the server saw.
  FakeHttpServer::Seen only_query_request() {
    FakeHttpServer::Seen found;
    int count = 0;
    for (auto& seen : server_.seen()) {
      if (seen.path == "/api/v1/query") {
        found = seen;
        ++count;
      }
    }
    EXPECT_EQ(count, 1);
    return found;
  }

  FakeHttpServer server_;
  TempDir dir_;
  std::shared_ptr<HttpTransport> transport_ = make_curl_transport();
};

QueryData expect_data(const QueryOutcome& outcome) {
  if (auto* error = std::get_if<QueryError>(&outcome)) {
    ADD_FAILURE() << "unexpected error (" << error_reason_name(error->reason) << "): " << error->message;
    return {};
  }
  return std::get<QueryData>(outcome);
}

QueryError expect_error(const QueryOutcome& outcome) {
  if (std::holds_alternative<QueryData>(outcome)) {
    ADD_FAILURE() << "expected an error, got data";
    return {};
  }
  return std::get<QueryError>(outcome);
}

TEST_F(ClientTest, SendsFormPostWithQueryTimeAndTimeout) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  auto options = options_for(server_.url() + "/");  // trailing slash must not double up
  options.timeout = 1500ms;
  auto client = make_client(options);

  auto data = expect_data(client.query(R"(sum(rate(x{a="b c"}[1m])) > 0 & y + 1)", 1700000000.25));
  ASSERT_EQ(data.samples.size(), 1u);
  EXPECT_DOUBLE_EQ(data.samples[0].value, 0.5);

  auto seen = only_query_request();
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.headers["Content-Type"], "application/x-www-form-urlencoded");
  EXPECT_EQ(seen.body,
            "query=sum%28rate%28x%7Ba%3D%22b%20c%22%7D%5B1m%5D%29%29%20%3E%200%20%26%20y%20%2B%201"
            "&time=1700000000.250&timeout=1s500ms");
}

TEST_F(ClientTest, OmitsTimeWhenNotPinned) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  auto client = make_client(options_for(server_.url()));
  expect_data(client.query("up"));
  EXPECT_EQ(only_query_request().body, "query=up&timeout=2s");
}

TEST_F(ClientTest, SendsExtraHeadersAndBearerTokenFromFile) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  rs::testing::write_file(dir_.file("token"), "s3cr3t-token\n");
  auto options = options_for(server_.url());
  options.headers = {{"X-Scope-OrgID", "team-a"}};
  options.bearer_token_file = dir_.file("token");
  auto client = make_client(options);

  expect_data(client.query("up"));
  auto seen = only_query_request();
  EXPECT_EQ(seen.headers["X-Scope-OrgID"], "team-a");
  EXPECT_EQ(seen.headers["Authorization"], "Bearer s3cr3t-token");
}

TEST_F(ClientTest, RereadsBearerTokenFileOnEveryBatch) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  rs::testing::write_file(dir_.file("token"), "first");
  auto options = options_for(server_.url());
  options.bearer_token_file = dir_.file("token");
  auto client = make_client(options);

  expect_data(client.query("up"));
  rs::testing::write_file(dir_.file("token"), "second \r\n");
  expect_data(client.query("up"));
  auto seen = server_.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].headers["Authorization"], "Bearer first");
  EXPECT_EQ(seen[1].headers["Authorization"], "Bearer second");
}

TEST_F(ClientTest, SendsBasicAuthWithPasswordFromFile) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  rs::testing::write_file(dir_.file("password"), "open sesame\n");
  auto options = options_for(server_.url());
  options.basic_auth_username = "alice";
  options.basic_auth_password_file = dir_.file("password");
  auto client = make_client(options);

  expect_data(client.query("up"));
  // base64("alice:open sesame")
  EXPECT_EQ(only_query_request().headers["Authorization"], "Basic YWxpY2U6b3BlbiBzZXNhbWU=");
}

TEST_F(ClientTest, MissingTokenFileIsAuthErrorNamingTheFileOnly) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  auto options = options_for(server_.url());
  options.bearer_token_file = dir_.file("absent-token");
  auto client = make_client(options);

  auto outcomes = client.query_all({"up", "down"});
  ASSERT_EQ(outcomes.size(), 2u);
  for (auto& outcome : outcomes) {
    auto error = expect_error(outcome);
    EXPECT_EQ(error.reason, ErrorReason::kAuth);
    EXPECT_NE(error.message.find(dir_.file("absent-token")), std::string::npos) << error.message;
  }
  EXPECT_TRUE(server_.seen().empty()) << "no request goes out without its credentials";
}

TEST_F(ClientTest, UnreadableOrEmptyTokenNeverLeaksContent) {
  // A directory cannot be read as a file; an all-whitespace file holds no token.
  auto options = options_for(server_.url());
  options.bearer_token_file = dir_.path();
  auto error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kAuth);
  EXPECT_NE(error.message.find(dir_.path()), std::string::npos) << error.message;

  rs::testing::write_file(dir_.file("blank"), " \n");
  options.bearer_token_file = dir_.file("blank");
  error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kAuth);
  EXPECT_NE(error.message.find("empty"), std::string::npos) << error.message;

  // The password file of basic auth behaves the same.
  options = options_for(server_.url());
  options.basic_auth_username = "alice";
  options.basic_auth_password_file = dir_.file("no-password");
  error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kAuth);
  EXPECT_NE(error.message.find("no-password"), std::string::npos) << error.message;
}

TEST_F(ClientTest, TokenNeverAppearsInErrorMessages) {
  const std::string token = "tok-9f8e7d6c5b4a";
  rs::testing::write_file(dir_.file("token"), token + "\n");
  // A misbehaving server echoing the Authorization header back in its error.
  server_.set_route("/api/v1/query", 401, "bad credentials: Bearer " + token, 0ms, "text/plain");
  auto options = options_for(server_.url());
  options.bearer_token_file = dir_.file("token");
  auto error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kHttp);
  EXPECT_EQ(error.message.find(token), std::string::npos) << error.message;

  // Connection failure with the credentials set.
  options.url = "http://127.0.0.1:" + std::to_string(rs::testing::free_port());
  error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kConnect);
  EXPECT_EQ(error.message.find(token), std::string::npos) << error.message;
}

TEST_F(ClientTest, PasswordInUrlIsRedactedFromErrors) {
  auto options = options_for("http://bob:hunter2@127.0.0.1:" + std::to_string(rs::testing::free_port()));
  auto error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kConnect);
  EXPECT_EQ(error.message.find("hunter2"), std::string::npos) << error.message;
}

TEST_F(ClientTest, PrometheusErrorIsSurfacedVerbatim) {
  server_.set_route(
      "/api/v1/query", 422,
      R"({"status":"error","errorType":"execution","error":"query processing would load too many samples"})");
  auto error = expect_error(make_client(options_for(server_.url())).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kPrometheus);
  EXPECT_EQ(error.error_type, "execution");
  EXPECT_EQ(error.message, "query processing would load too many samples");
  EXPECT_EQ(error.http_status, 422);
}

TEST_F(ClientTest, NonJsonErrorPageIsHttp) {
  server_.set_route("/api/v1/query", 502, "<html>bad gateway</html>", 0ms, "text/html");
  auto error = expect_error(make_client(options_for(server_.url())).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kHttp);
  EXPECT_EQ(error.http_status, 502);
}

TEST_F(ClientTest, OversizeBodyIsAborted) {
  server_.set_route("/api/v1/query", 200, vector_of("1") + std::string(64 * 1024, ' '));
  auto options = options_for(server_.url());
  options.max_body_bytes = 4096;
  auto error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kOversize) << error.message;
  EXPECT_NE(error.message.find("4096"), std::string::npos) << error.message;
}

TEST_F(ClientTest, SlowServerBeyondTimeoutIsTimeout) {
  server_.set_route("/api/v1/query", 200, kOneSample, 2000ms);
  auto options = options_for(server_.url());
  options.timeout = 300ms;
  auto started = std::chrono::steady_clock::now();
  auto error = expect_error(make_client(options).query("up"));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(error.reason, ErrorReason::kTimeout) << error.message;
  EXPECT_LT(took, 1500ms) << "the timeout must bound the call";
}

TEST_F(ClientTest, ConnectionRefusedIsConnect) {
  auto options = options_for("http://127.0.0.1:" + std::to_string(rs::testing::free_port()));
  auto error = expect_error(make_client(options).query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kConnect) << error.message;
  EXPECT_NE(error.message.find("127.0.0.1"), std::string::npos) << error.message;
}

TEST_F(ClientTest, BatchRunsConcurrently) {
  server_.set_route("/api/v1/query", 200, kOneSample, 600ms);
  auto client = make_client(options_for(server_.url()));
  auto started = std::chrono::steady_clock::now();
  auto outcomes = client.query_all({"q1", "q2", "q3"});
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(outcomes.size(), 3u);
  for (auto& outcome : outcomes) expect_data(outcome);
  EXPECT_LT(took, 1500ms) << "3 x 600 ms queries must overlap, not add up";
}

TEST_F(ClientTest, OutcomesKeepQueryOrder) {
  server_.set_route("/api/v1/query", 200, kOneSample);
  auto client = make_client(options_for(server_.url()));
  std::vector<std::string> queries;
  for (int i = 0; i < 12; ++i) queries.push_back("q" + std::to_string(i));
  auto outcomes = client.query_all(queries);
  ASSERT_EQ(outcomes.size(), queries.size());
  for (auto& outcome : outcomes) expect_data(outcome);
  std::vector<std::string> bodies;
  for (auto& seen : server_.seen()) bodies.push_back(seen.body);
  for (auto& query : queries) {
    EXPECT_NE(std::find(bodies.begin(), bodies.end(), "query=" + query + "&timeout=2s"), bodies.end()) << query;
  }
}

TEST_F(ClientTest, EmptyBatchIsEmpty) {
  auto client = make_client(options_for(server_.url()));
  EXPECT_TRUE(client.query_all({}).empty());
  EXPECT_TRUE(server_.seen().empty());
}

TEST_F(ClientTest, MixedOutcomesInOneBatch) {
  server_.set_route("/api/v1/query", 200, vector_of("NaN"));
  auto good = make_client(options_for(server_.url()));
  auto data = expect_data(good.query("up"));
  ASSERT_EQ(data.samples.size(), 1u);
  EXPECT_TRUE(std::isnan(data.samples[0].value));

  server_.set_route("/api/v1/query", 200, vector_of("abc"));
  auto error = expect_error(good.query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kParse);
  EXPECT_EQ(error.http_status, 200);
}

TEST_F(ClientTest, NullTransportIsAnErrorNotACrash) {
  Client client(options_for(server_.url()), nullptr);
  auto error = expect_error(client.query("up"));
  EXPECT_EQ(error.reason, ErrorReason::kTransport);
}

}  // namespace
}  // namespace rs::promql
