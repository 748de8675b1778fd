// The curl transport on its own: concurrency, connection reuse, methods, body cap.
#include "common/http/http_transport.h"
#include "common/http/plain_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/harness.h"

namespace rs {
namespace {

using namespace std::chrono_literals;
using rs::testing::FakeHttpServer;

HttpRequest get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  return request;
}

// Every behaviour below holds for both transports: libcurl's, and the production one that sends
// plain http:// itself (plain_http.h).
enum class Kind { kCurl, kProduction };

class HttpTransports : public ::testing::TestWithParam<Kind> {
 protected:
  std::unique_ptr<HttpTransport> make() const {
    return GetParam() == Kind::kCurl ? make_curl_transport() : make_http_transport();
  }
};

std::string kind_name(const ::testing::TestParamInfo<Kind>& kind) {
  return kind.param == Kind::kCurl ? "curl" : "plain";
}

INSTANTIATE_TEST_SUITE_P(Both, HttpTransports, ::testing::Values(Kind::kCurl, Kind::kProduction), kind_name);

TEST_P(HttpTransports, DistinctSlowRoutesRunConcurrentlyAndKeepOrder) {
  FakeHttpServer server;
  server.set_route("/one", 200, "1", 600ms, "text/plain");
  server.set_route("/two", 201, "2", 600ms, "text/plain");
  server.set_route("/three", 202, "3", 600ms, "text/plain");
  auto transport = make();

  auto started = std::chrono::steady_clock::now();
  auto responses =
      transport->perform_all({get(server.url() + "/one"), get(server.url() + "/two"), get(server.url() + "/three")});
  auto took = std::chrono::steady_clock::now() - started;

  ASSERT_EQ(responses.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(responses[i].error, TransportError::kNone) << responses[i].error_message;
    EXPECT_EQ(responses[i].status, 200 + i);
    EXPECT_EQ(responses[i].body, std::to_string(i + 1));
    EXPECT_GE(responses[i].elapsed, 550ms);
  }
  EXPECT_LT(took, 1500ms) << "3 x 600 ms requests must overlap, not add up";
}

TEST_P(HttpTransports, ReusesConnectionsAcrossCalls) {
  FakeHttpServer server;
  server.set_route("/x", 200, "ok", 0ms, "text/plain");
  auto transport = make();

  auto first = transport->perform(get(server.url() + "/x"));
  ASSERT_EQ(first.error, TransportError::kNone) << first.error_message;
  EXPECT_FALSE(first.connection_reused);
  auto second = transport->perform(get(server.url() + "/x"));
  ASSERT_EQ(second.error, TransportError::kNone) << second.error_message;
  EXPECT_TRUE(second.connection_reused);
}

TEST_P(HttpTransports, SendsMethodBodyAndHeaders) {
  FakeHttpServer server;
  server.set_route("/r", 204, "", 0ms, "text/plain");
  auto transport = make();

  std::vector<HttpRequest> requests;
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    HttpRequest request = get(server.url() + "/r");
    request.method = method;
    if (request.method != "GET") request.body = std::string("body-of-") + method;
    request.headers = {{"X-Test", method}};
    requests.push_back(request);
  }
  auto responses = transport->perform_all(requests);
  for (auto& response : responses) EXPECT_EQ(response.status, 204) << response.error_message;

  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (auto& request : requests) {
    bool found = false;
    for (auto& s : seen) {
      if (s.method == request.method) {
        found = true;
        EXPECT_EQ(s.body, request.body);
        EXPECT_EQ(s.headers["X-Test"], request.method);
        EXPECT_EQ(s.headers.count("Expect"), 0u);
      }
    }
    EXPECT_TRUE(found) << request.method;
  }
}

TEST_P(HttpTransports, LargePostBodyDoesNotWaitForContinue) {
  FakeHttpServer server;
  server.set_route("/r", 200, "ok", 0ms, "text/plain");
  auto transport = make();
  HttpRequest request = get(server.url() + "/r");
  request.method = "POST";
  request.body = std::string(100 * 1024, 'q');  // curl 7.88 asks for 100-continue above 1 KiB
  // Not form-encoded: httplib caps form bodies at 8 KiB.
  request.headers = {{"Content-Type", "application/octet-stream"}};
  auto response = transport->perform(request);
  EXPECT_EQ(response.status, 200) << response.error_message;
  EXPECT_LT(response.elapsed, 900ms) << "an Expect: 100-continue stall costs 1 s";
}

// A one-connection HTTP server on a raw socket, for what httplib cannot do: record the request
// head byte for byte, or stream a body without Content-Length until the client hangs up.
class RawServer {
 public:
  enum class Reply { kNoContent, kEndlessBody };

  explicit RawServer(Reply reply) : reply_(reply) {
    listen_fd_ = rs::testing::listen_loopback(&port_);
    thread_ = std::thread([this] { serve_one(); });
  }
  ~RawServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept() if no client came
    thread_.join();
    close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string request_head() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_head_;
  }

 private:
  void serve_one() {
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    read_head(fd);
    if (reply_ == Reply::kNoContent) {
      send_text(fd, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    } else {
      send_text(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
      stream_until_hangup(fd);
    }
    close(fd);
  }

  void read_head(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<std::size_t>(n));
    }
    std::lock_guard<std::mutex> lock(mu_);
    request_head_ = head.substr(0, head.find("\r\n\r\n"));
  }

  static void send_text(int fd, const std::string& text) { send(fd, text.data(), text.size(), MSG_NOSIGNAL); }

  static void stream_until_hangup(int fd) {
    std::string chunk(16 * 1024, ' ');
    // Bounded so a broken client cannot make the test hang: 64 MiB at most.
    for (std::size_t sent = 0; sent < 64u * 1024 * 1024;) {
      ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
  }

  Reply reply_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::string request_head_;
  std::thread thread_;
};

TEST_P(HttpTransports, BodyWithoutLengthIsAbortedAtTheCap) {
  RawServer server(RawServer::Reply::kEndlessBody);
  auto transport = make();
  HttpRequest request = get(server.url());
  request.max_body_bytes = 100 * 1024;
  request.timeout = 10s;
  auto response = transport->perform(request);
  EXPECT_EQ(response.error, TransportError::kOversize) << response.error_message;
  EXPECT_TRUE(response.body.empty());
  EXPECT_NE(response.error_message.find("102400"), std::string::npos) << response.error_message;
}

TEST_P(HttpTransports, EmptyHeaderValueIsSent) {
  RawServer server(RawServer::Reply::kNoContent);
  auto transport = make();
  HttpRequest request = get(server.url());
  request.headers = {{"X-Empty", ""}, {"X-Full", "v"}};
  auto response = transport->perform(request);
  EXPECT_EQ(response.status, 204) << response.error_message;
  std::string head = server.request_head();
  EXPECT_NE(head.find("\r\nX-Empty:"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Full: v"), std::string::npos) << head;
  EXPECT_EQ(head.find("Expect"), std::string::npos) << head;
}

TEST_P(HttpTransports, ContentLengthOverCapIsOversize) {
  FakeHttpServer server;
  server.set_route("/big", 200, std::string(50'000, 'x'), 0ms, "text/plain");
  auto transport = make();
  HttpRequest request = get(server.url() + "/big");
  request.max_body_bytes = 1000;
  auto response = transport->perform(request);
  EXPECT_EQ(response.error, TransportError::kOversize) << response.error_message;

  request.max_body_bytes = 50'000;  // exactly at the cap is fine
  response = transport->perform(request);
  EXPECT_EQ(response.error, TransportError::kNone) << response.error_message;
  EXPECT_EQ(response.body.size(), 50'000u);
}

TEST_P(HttpTransports, OneFailureDoesNotSpoilTheBatch) {
  FakeHttpServer server;
  server.set_route("/ok", 200, "fine", 0ms, "text/plain");
  server.set_route("/slow", 200, "late", 1000ms, "text/plain");
  auto transport = make();
  HttpRequest slow = get(server.url() + "/slow");
  slow.timeout = 300ms;
  auto refused = get("http://127.0.0.1:" + std::to_string(rs::testing::free_port()) + "/");

  auto responses = transport->perform_all({get(server.url() + "/ok"), slow, refused});
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].error, TransportError::kNone);
  EXPECT_EQ(responses[0].body, "fine");
  EXPECT_EQ(responses[1].error, TransportError::kTimeout) << responses[1].error_message;
  EXPECT_EQ(responses[2].error, TransportError::kConnect) << responses[2].error_message;

  // The transport stays usable after failures.
  auto again = transport->perform(get(server.url() + "/ok"));
  EXPECT_EQ(again.body, "fine");
}

TEST_P(HttpTransports, BadUrlIsAnErrorNotACrash) {
  auto transport = make();
  auto response = transport->perform(get("ftp://127.0.0.1/x"));
  EXPECT_NE(response.error, TransportError::kNone);
  response = transport->perform(get("not a url"));
  EXPECT_NE(response.error, TransportError::kNone);
  EXPECT_TRUE(transport->perform_all({}).empty());
}

TEST_P(HttpTransports, BasicAuthPasswordNeverInErrors) {
  auto transport = make();
  HttpRequest request = get("http://127.0.0.1:" + std::to_string(rs::testing::free_port()) + "/");
  request.basic_auth = std::make_pair("alice", "p4ssw0rd-xyz");
  auto response = transport->perform(request);
  EXPECT_EQ(response.error, TransportError::kConnect);
  EXPECT_EQ(response.error_message.find("p4ssw0rd-xyz"), std::string::npos) << response.error_message;
}

// A password that occurs inside "<redacted>" itself ("e") must not make the redaction loop
// replace its own mark forever.
TEST_P(HttpTransports, APasswordInsideTheRedactionMarkStillEnds) {
  auto transport = make();
  HttpRequest request = get("http://127.0.0.1:" + std::to_string(rs::testing::free_port()) + "/");
  request.basic_auth = std::make_pair("alice", "e");
  auto response = transport->perform(request);
  EXPECT_EQ(response.error, TransportError::kConnect);
  EXPECT_LT(response.error_message.size(), 1000u) << response.error_message;
}

TEST(HttpTransport, ErrorNames) {
  EXPECT_STREQ(transport_error_name(TransportError::kNone), "none");
  EXPECT_STREQ(transport_error_name(TransportError::kTimeout), "timeout");
  EXPECT_STREQ(transport_error_name(TransportError::kConnect), "connect");
  EXPECT_STREQ(transport_error_name(TransportError::kOversize), "oversize");
  EXPECT_STREQ(transport_error_name(TransportError::kOther), "other");
}

}  // namespace
}  // namespace rs
