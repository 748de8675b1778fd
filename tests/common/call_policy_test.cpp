// common/http/call_policy.h: the credential on a request, which answers are retried, and a failed
// answer quoted with every secret redacted before it is cut.
#include "common/http/call_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/utf8.h"
#include "tests/support/harness.h"

namespace rs {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

HttpResponse answer(long status, std::string body = "") {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse failed(TransportError e, std::string message) {
  HttpResponse r;
  r.error = e;
  r.error_message = std::move(message);
  return r;
}

// The headers named `name`, in order.
std::vector<std::string> headers(const HttpRequest& request, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : request.headers) {
    if (k == name) out.push_back(v);
  }
  return out;
}

TEST(CallPolicy, RetryableStatuses) {
  const std::pair<long, bool> table[] = {
      {408, true},  {429, true},  {500, true},  {502, true},  {503, true},  {504, true},  {599, true},
      {100, false}, {200, false}, {204, false}, {301, false}, {400, false}, {401, false}, {403, false},
      {404, false}, {409, false}, {410, false}, {413, false}, {422, false}, {428, false}, {499, false}};
  for (const auto& [status, retryable] : table) {
    EXPECT_EQ(retryable_status(status), retryable) << status;
    EXPECT_EQ(call_retryable(answer(status)), retryable) << status;
  }
}

TEST(CallPolicy, SuccessIsAComplete2xxAndEveryTransportErrorIsRetryable) {
  for (long status : {200L, 201L, 204L, 299L}) EXPECT_TRUE(call_succeeded(answer(status))) << status;
  for (long status : {0L, 199L, 300L, 404L, 500L}) EXPECT_FALSE(call_succeeded(answer(status))) << status;
  for (auto e :
       {TransportError::kTimeout, TransportError::kConnect, TransportError::kOversize, TransportError::kOther}) {
    HttpResponse r = failed(e, "POST http://x/: failed");
    r.status = 200;  // whatever a transport left there, a transport error is no success
    EXPECT_FALSE(call_succeeded(r)) << transport_error_name(e);
    EXPECT_TRUE(call_retryable(r)) << transport_error_name(e);
  }
}

TEST(CallPolicy, TheBearerTokenComesFromItsFileAfterTheRequestsOwnHeaders) {
  testing::TempDir dir;
  testing::write_file(dir.file("token"), "s3cr3t-token \r\n");
  CallPolicy policy;
  std::string error;
  ASSERT_TRUE(policy.read_bearer_token_file(dir.file("token"), &error)) << error;
  HttpRequest request;
  request.headers = {{"Content-Type", "application/json"}};
  policy.apply(&request);
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[0].first, "Content-Type");
  EXPECT_EQ(headers(request, "Authorization"), std::vector<std::string>{"Bearer s3cr3t-token"});
  EXPECT_FALSE(request.basic_auth);
}

TEST(CallPolicy, NoTokenFileMeansNoAuthorizationAndAnUnreadableOneNamesOnlyThePath) {
  CallPolicy none;
  std::string error;
  EXPECT_TRUE(none.read_bearer_token_file("", &error));
  HttpRequest request;
  none.apply(&request);
  EXPECT_TRUE(request.headers.empty());
  EXPECT_FALSE(request.basic_auth);

  testing::TempDir dir;
  CallPolicy missing;
  EXPECT_FALSE(missing.read_bearer_token_file(dir.file("absent"), &error, "token"));
  EXPECT_TRUE(contains(error, "cannot read token file " + dir.file("absent"))) << error;
  missing.apply(&request);
  EXPECT_TRUE(request.headers.empty()) << "no credential, no header";

  testing::write_file(dir.file("empty"), " \n");
  CallPolicy empty;
  EXPECT_FALSE(empty.read_bearer_token_file(dir.file("empty"), &error));
  EXPECT_EQ(error, "bearer token file " + dir.file("empty") + " is empty");
}

TEST(CallPolicy, BasicAuthGoesToTheTransportNotIntoAHeader) {
  CallPolicy policy;
  policy.set_basic_auth("alice", "open sesame");
  HttpRequest request;
  policy.apply(&request);
  ASSERT_TRUE(request.basic_auth);
  EXPECT_EQ(request.basic_auth->first, "alice");
  EXPECT_EQ(request.basic_auth->second, "open sesame");
  EXPECT_TRUE(headers(request, "Authorization").empty());
}

TEST(CallPolicy, TheBase64BasicFormAndThePasswordAreRedacted) {
  // The header a server may echo: Basic base64(user:password), with 0, 1 and 2 padding characters.
  const struct {
    const char* user;
    const char* password;
    const char* encoded;
  } cases[] = {{"alice", "open sesame", "YWxpY2U6b3BlbiBzZXNhbWU="},
               {"u1", "pw-xyz", "dTE6cHcteHl6"},
               {"u1", "pw-xy", "dTE6cHcteHk="},
               {"u1", "pw-x", "dTE6cHcteA=="},
               {"bot", "p\xC3\xA4ss", "Ym90OnDDpHNz"}};
  for (const auto& c : cases) {
    CallPolicy policy;
    policy.set_basic_auth(c.user, c.password);
    std::string text = std::string("you sent Authorization: Basic ") + c.encoded + " and " + c.password + "!";
    policy.redact(&text);
    EXPECT_EQ(text, "you sent Authorization: Basic <redacted> and <redacted>!") << c.encoded;
  }
}

TEST(CallPolicy, TheFailureQuotesTheBodyOnOneLine) {
  CallPolicy policy;
  EXPECT_EQ(policy.describe_failure(answer(404)), "HTTP 404") << "no body, no colon";
  EXPECT_EQ(policy.describe_failure(answer(503, "try\r\nlater\n")), "HTTP 503: try  later ");
  EXPECT_EQ(policy.describe_failure(failed(TransportError::kConnect, "POST http://x/: refused")),
            "POST http://x/: refused");
}

TEST(CallPolicy, ASecretStraddlingTheCutIsRedactedNotHalfShown) {
  testing::TempDir dir;
  testing::write_file(dir.file("token"), "tok-0123456789abcdef\n");
  CallPolicy policy;
  std::string error;
  ASSERT_TRUE(policy.read_bearer_token_file(dir.file("token"), &error)) << error;
  const std::string url = "https://hooks.example/services/T000/B000/XXXXsecretXXXX";
  policy.add_secret(url);
  for (std::size_t before : {180u, 190u, 195u, 199u}) {
    const std::string body = std::string(before, '.') + "tok-0123456789abcdef" + std::string(300, 'x');
    ASSERT_GT(body.size(), CallPolicy::kQuotedBodyBytes);
    const std::string d = policy.describe_failure(answer(401, body));
    EXPECT_FALSE(contains(d, "tok-")) << d;
    EXPECT_TRUE(contains(d, "... (")) << "a cut body says so: " << d;
    EXPECT_LT(d.size(), 250u) << d;
  }
  const std::string d = policy.describe_failure(answer(400, std::string(180, '.') + url));
  EXPECT_FALSE(contains(d, "hooks.example")) << d;
  EXPECT_FALSE(contains(d, "https:")) << d;
  // Transport messages get the same treatment (curl names the URL).
  EXPECT_EQ(policy.describe_failure(failed(TransportError::kConnect, "POST " + url + ": could not resolve host")),
            "POST <redacted>: could not resolve host");
}

TEST(CallPolicy, ASecretInsideALongerOneLeavesNothingOfTheLongerOne) {
  CallPolicy policy;
  policy.set_bearer_token("abc123");
  policy.add_secret("https://hook/abc123/path");
  std::string text = "GET https://hook/abc123/path failed, token abc123";
  policy.redact(&text);
  EXPECT_EQ(text, "GET <redacted> failed, token <redacted>");
}

TEST(CallPolicy, InvalidUtf8IsCutOnACharacterBoundaryAndRepaired) {
  CallPolicy policy;
  const std::string check = "\xE2\x9C\x93";  // U+2713, 3 bytes
  // A character straddling the cut is left out whole.
  std::string d = policy.describe_failure(answer(500, std::string(199, 'a') + check + "tail"));
  EXPECT_EQ(d, "HTTP 500: " + std::string(199, 'a') + "... (206 bytes)");
  // Stray bytes become U+FFFD, and the cut still bounds what is shown.
  d = policy.describe_failure(answer(500, std::string(500, '\xFF')));
  EXPECT_EQ(common::valid_utf8(d), d);
  const std::size_t prefix = std::string("HTTP 500: ").size();
  const std::string quoted = d.substr(prefix, d.find("...") - prefix);
  EXPECT_LE(quoted.size(), CallPolicy::kQuotedBodyBytes);
  EXPECT_GT(quoted.size(), 190u);
  // A lead byte cut off from its continuation is repaired too.
  d = policy.describe_failure(answer(502, "ok \xE2\x9C"));
  EXPECT_EQ(d, "HTTP 502: ok \xEF\xBF\xBD");
}

}  // namespace
}  // namespace rs
