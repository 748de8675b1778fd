// send_http with a fake transport: which answers count as success, which are retried, the
// bearer token from a file, and secrets kept out of the detail.
#include <gtest/gtest.h>

#include <string>

#include "notifiers/notifier.h"
#include "tests/notifiers/fake_transport.h"
#include "tests/support/harness.h"

namespace rs::notifiers {
namespace {

using testing::FakeTransport;
using testing::TransportLog;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

rs::HttpRequest post(const std::string& url = "http://receiver:8080/hook") {
  rs::HttpRequest r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"message":"RollbackStarted"})";
  return r;
}

SendResult send_with(rs::HttpResponse response, const std::string& secret = "", const std::string& token_file = "") {
  auto log = std::make_shared<TransportLog>();
  log->script = {std::move(response)};
  FakeTransport transport(log);
  return send_http(transport, post(), "webhook http://receiver:8080/hook", token_file, secret);
}

TEST(SendHttp, AnyTwoHundredIsSuccess) {
  for (long status : {200L, 201L, 202L, 204L, 299L}) {
    SendResult r = send_with(TransportLog::ok_response(status, "ok"));
    EXPECT_TRUE(r.ok) << status;
    EXPECT_EQ(r.detail, "HTTP " + std::to_string(status));
  }
}

TEST(SendHttp, TimeoutsThrottlingAndServerErrorsAreRetryable) {
  for (long status : {408L, 429L, 500L, 502L, 503L, 504L}) {
    SendResult r = send_with(TransportLog::ok_response(status, "try later"));
    EXPECT_FALSE(r.ok) << status;
    EXPECT_TRUE(r.retryable) << status;
    EXPECT_EQ(r.detail, "webhook http://receiver:8080/hook: HTTP " + std::to_string(status) + ": try later");
  }
}

TEST(SendHttp, OtherStatusesAreNotRetryable) {
  for (long status : {100L, 301L, 400L, 401L, 403L, 404L, 410L, 413L, 422L}) {
    SendResult r = send_with(TransportLog::ok_response(status));
    EXPECT_FALSE(r.ok) << status;
    EXPECT_FALSE(r.retryable) << status;
    EXPECT_EQ(r.detail, "webhook http://receiver:8080/hook: HTTP " + std::to_string(status)) << "no body, no colon";
  }
}

TEST(SendHttp, TransportErrorsAreRetryableAndNamed) {
  for (auto e : {rs::TransportError::kTimeout, rs::TransportError::kConnect, rs::TransportError::kOversize,
                 rs::TransportError::kOther}) {
    SendResult r = send_with(TransportLog::transport_error(e, "POST http://receiver:8080/hook: connection refused"));
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.retryable);
    EXPECT_EQ(r.detail, "webhook http://receiver:8080/hook: POST http://receiver:8080/hook: connection refused");
  }
}

TEST(SendHttp, TheBodyInTheDetailIsOneShortLine) {
  SendResult r = send_with(TransportLog::ok_response(400, "line one\nline two\r\n" + std::string(500, 'x')));
  EXPECT_FALSE(contains(r.detail, "\n"));
  EXPECT_FALSE(contains(r.detail, "\r"));
  EXPECT_TRUE(contains(r.detail, "HTTP 400: line one line two  x")) << r.detail;
  EXPECT_LT(r.detail.size(), 300u);
}

TEST(SendHttp, TheRequestIsSentAsBuilt) {
  auto log = std::make_shared<TransportLog>();
  FakeTransport transport(log);
  rs::HttpRequest request = post();
  request.timeout = std::chrono::milliseconds(1234);
  ASSERT_TRUE(send_http(transport, request, "webhook").ok);
  auto sent = log->sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].url, request.url);
  EXPECT_EQ(sent[0].body, request.body);
  EXPECT_EQ(sent[0].timeout, std::chrono::milliseconds(1234));
  int authorizations = 0;
  testing::header(sent[0], "Authorization", &authorizations);
  EXPECT_EQ(authorizations, 0) << "no token file, no Authorization";
}

TEST(SendHttp, ASecretEchoedByTheServerIsRedacted) {
  const std::string secret = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX";
  SendResult r =
      send_with(TransportLog::ok_response(404, "no_service: " + secret + " (again: " + secret + ")"), secret);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(contains(r.detail, "XXXXsecretXXXX")) << r.detail;
  EXPECT_TRUE(contains(r.detail, "no_service: <redacted> (again: <redacted>)")) << r.detail;

  SendResult t = send_with(
      TransportLog::transport_error(rs::TransportError::kConnect, "POST " + secret + ": could not resolve host"),
      secret);
  EXPECT_FALSE(contains(t.detail, "XXXXsecretXXXX")) << t.detail;
  EXPECT_TRUE(contains(t.detail, "POST <redacted>: could not resolve host")) << t.detail;
}

TEST(SendHttp, ASecretCutByTheBodyLimitDoesNotLeakItsBeginning) {
  // The body is cut to 200 characters for the detail; a secret straddling the cut must not
  // leave its first part behind.
  const std::string secret = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX";
  SendResult r = send_with(TransportLog::ok_response(400, std::string(150, '.') + secret), secret);
  ASSERT_GT(150 + secret.size(), 200u) << "the secret must straddle the cut";
  EXPECT_FALSE(contains(r.detail, "T000/B000/XXXX")) << r.detail;

  testing::TempDir dir;
  testing::write_file(dir.file("token"), "tok-0123456789abcdef\n");
  SendResult t =
      send_with(TransportLog::ok_response(401, std::string(190, '.') + "tok-0123456789abcdef"), "", dir.file("token"));
  EXPECT_FALSE(contains(t.detail, "tok-012345")) << t.detail;
}

TEST(SendHttp, TheBearerTokenComesFromItsFileAndIsRedacted) {
  testing::TempDir dir;
  const std::string token_file = dir.file("token");
  testing::write_file(token_file, "s3cr3t-token\n");
  auto log = std::make_shared<TransportLog>();
  log->script = {TransportLog::ok_response(200), TransportLog::ok_response(401, "bad token s3cr3t-token")};
  FakeTransport transport(log);
  EXPECT_TRUE(send_http(transport, post(), "webhook", token_file).ok);
  SendResult rejected = send_http(transport, post(), "webhook", token_file);
  EXPECT_FALSE(rejected.ok);
  EXPECT_FALSE(rejected.retryable);
  EXPECT_FALSE(contains(rejected.detail, "s3cr3t")) << rejected.detail;
  EXPECT_TRUE(contains(rejected.detail, "bad token <redacted>")) << rejected.detail;

  // Re-read on every call: a rotated token is used at once.
  testing::write_file(token_file, "rotated\n");
  log->script.push_back(TransportLog::ok_response(200));
  EXPECT_TRUE(send_http(transport, post(), "webhook", token_file).ok);
  auto sent = log->sent();
  ASSERT_EQ(sent.size(), 3u);
  int count = 0;
  EXPECT_EQ(testing::header(sent[0], "Authorization", &count), "Bearer s3cr3t-token");
  EXPECT_EQ(count, 1);
  EXPECT_EQ(testing::header(sent[0], "Content-Type"), "application/json") << "the request's own headers stay";
  EXPECT_EQ(testing::header(sent[2], "Authorization", &count), "Bearer rotated");
  EXPECT_EQ(count, 1);
}

TEST(SendHttp, AnUnreadableTokenFileIsARetryableFailureWithoutARequest) {
  testing::TempDir dir;
  auto log = std::make_shared<TransportLog>();
  FakeTransport transport(log);
  SendResult missing = send_http(transport, post(), "webhook http://receiver:8080/hook", dir.file("absent"));
  EXPECT_FALSE(missing.ok);
  EXPECT_TRUE(missing.retryable) << "the file may appear (a secret mounted late)";
  EXPECT_TRUE(contains(missing.detail, "webhook http://receiver:8080/hook: ")) << missing.detail;
  EXPECT_TRUE(contains(missing.detail, dir.file("absent"))) << missing.detail;

  testing::write_file(dir.file("empty"), "\n");
  SendResult empty = send_http(transport, post(), "webhook", dir.file("empty"));
  EXPECT_FALSE(empty.ok);
  EXPECT_TRUE(contains(empty.detail, "empty")) << empty.detail;
  EXPECT_TRUE(log->sent().empty());
}

}  // namespace
}  // namespace rs::notifiers
