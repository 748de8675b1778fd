// PlainHttpTransport on the wire: what it sends, the response framings it must read (chunked,
// interim 1xx, close-delimited), keep-alive with a server that closes, malformed replies, and
// which requests it leaves to libcurl. (Behaviour shared with libcurl: http_transport_test.)
#include "common/http/plain_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace rs {
namespace {

using namespace std::chrono_literals;

// A loopback server that answers each request (head + Content-Length body) with the next
// scripted reply, raw; a reply with `close` ends its connection after it (an empty reply with
// `close` hangs up without answering). Records every request as received.
class ScriptedServer {
 public:
  struct Reply {
    std::string bytes;
    bool close = false;
  };

  explicit ScriptedServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    listen_fd_ = rs::testing::listen_loopback(&port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
  }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_;
  }

 private:
  void serve() {
    std::size_t next = 0;
    while (next < replies_.size()) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++connections_;
      }
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      while (next < replies_.size()) {
        std::string request;
        if (!read_request(fd, &request)) break;
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(request);
        }
        const Reply& reply = replies_[next++];
        send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
        if (reply.close) break;
      }
      close(fd);
    }
  }

  static bool read_request(int fd, std::string* out) {
    std::string data;
    char buf[4096];
    while (true) {
      const std::size_t head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        const std::size_t cl = data.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) length = std::strtoul(data.c_str() + cl + 16, nullptr, 10);
        if (data.size() >= head_end + 4 + length) {
          *out = data;
          return true;
        }
      }
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<std::size_t>(n));
    }
  }

  std::vector<Reply> replies_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> requests_;
  int connections_ = 0;
  std::thread thread_;
};

HttpRequest get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  r.timeout = 5s;
  return r;
}

TEST(PlainHttp, ReadsChunkedBodiesWithExtensionsAndTrailersAfterAnInterimResponse) {
  ScriptedServer server(
      {{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\n"}});
  PlainHttpTransport transport;
  HttpResponse r = transport.perform(get(server.url("/q")));
  ASSERT_EQ(r.error, TransportError::kNone) << r.error_message;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, world");
  EXPECT_EQ(r.header("content-type"), "application/json");
}

TEST(PlainHttp, ReadsABodyDelimitedByTheServerClosing) {
  ScriptedServer server({{"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true}});
  PlainHttpTransport transport;
  HttpResponse r = transport.perform(get(server.url()));
  ASSERT_EQ(r.error, TransportError::kNone) << r.error_message;
  EXPECT_EQ(r.body, "until the end");
}

TEST(PlainHttp, SendsTheRequestLineHostAuthAndAFormContentTypeLikeLibcurl) {
  ScriptedServer server({{"HTTP/1.1 204 No Content\r\n\r\n"}});
  PlainHttpTransport transport;
  HttpRequest r = get(server.url("/api/v1/query?x=1#frag"));
  r.method = "POST";
  r.body = "query=1";
  r.basic_auth = std::make_pair("alice", "s3cret");
  r.headers = {{"X-Scope-OrgID", "team-a"}, {"X-Empty", ""}};
  HttpResponse response = transport.perform(r);
  ASSERT_EQ(response.status, 204) << response.error_message;
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string sent = server.requests()[0];
  EXPECT_EQ(sent.rfind("POST /api/v1/query?x=1 HTTP/1.1\r\n", 0), 0u) << sent;
  EXPECT_NE(sent.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nContent-Type: application/x-www-form-urlencoded\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nContent-Length: 7\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nX-Scope-OrgID: team-a\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nX-Empty: \r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.substr(sent.size() - 11), "\r\n\r\nquery=1");
}

TEST(PlainHttp, KeepsConnectionsAliveAndResendsOnceWhenTheServerClosedAReusedOne) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"},
                         {"", true},  // the second request on that connection: hung up, no answer
                         {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree"}});
  PlainHttpTransport transport;
  HttpResponse first = transport.perform(get(server.url()));
  ASSERT_EQ(first.body, "one") << first.error_message;
  EXPECT_FALSE(first.connection_reused);
  HttpResponse second = transport.perform(get(server.url()));
  ASSERT_EQ(second.error, TransportError::kNone) << second.error_message;
  EXPECT_EQ(second.body, "two");
  EXPECT_FALSE(second.connection_reused) << "sent again on a new connection";
  HttpResponse third = transport.perform(get(server.url()));
  EXPECT_EQ(third.body, "three");
  EXPECT_TRUE(third.connection_reused);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST(PlainHttp, MalformedRepliesAreErrorsNamingTheProblem) {
  struct Case {
    std::string reply;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.x response"},
      {"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunked encoding"},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a'), "response headers exceed 65536 bytes"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "connection closed before the response was complete"},
      {"", "empty reply from server"},
  };
  for (const auto& c : cases) {
    ScriptedServer server({{c.reply, true}});
    PlainHttpTransport transport;
    HttpResponse r = transport.perform(get(server.url()));
    EXPECT_EQ(r.error, TransportError::kOther) << c.error;
    EXPECT_NE(r.error_message.find(c.error), std::string::npos) << r.error_message;
    EXPECT_NE(r.error_message.find("GET " + server.url()), std::string::npos) << r.error_message;
  }
}

TEST(PlainHttp, ResolvesNamesAndReportsTheOnesThatDoNotResolve) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  PlainHttpTransport transport;
  HttpResponse r = transport.perform(get("http://localhost:" + std::to_string(server.port()) + "/"));
  EXPECT_EQ(r.body, "ok") << r.error_message;
  HttpRequest nowhere = get("http://no-such-host.invalid/");
  nowhere.timeout = 3s;
  r = transport.perform(nowhere);
  EXPECT_TRUE(r.error == TransportError::kConnect || r.error == TransportError::kTimeout) << r.error_message;
  EXPECT_NE(r.error_message.find("no-such-host.invalid"), std::string::npos) << r.error_message;
}

TEST(PlainHttp, LeavesHttpsTlsSigV4UserinfoAndProxiesToLibcurl) {
  EXPECT_TRUE(PlainHttpTransport::can_send(get("http://127.0.0.1:9090/api/v1/query")));
  EXPECT_TRUE(PlainHttpTransport::can_send(get("HTTP://[::1]:9090")));
  EXPECT_FALSE(PlainHttpTransport::can_send(get("https://prometheus:9090/")));
  EXPECT_FALSE(PlainHttpTransport::can_send(get("http://user:pw@prometheus:9090/")));
  EXPECT_FALSE(PlainHttpTransport::can_send(get("http://prometheus:99999999/")));
  EXPECT_FALSE(PlainHttpTransport::can_send(get("ftp://prometheus/")));
  HttpRequest tls = get("http://prometheus:9090/");
  tls.tls.ca_file = "/etc/ca.pem";
  EXPECT_FALSE(PlainHttpTransport::can_send(tls));
  HttpRequest signed_request = get("http://aps:9090/");
  signed_request.sigv4 = HttpRequest::SigV4{"aws:amz:eu-west-1:aps", "AKID", "secret"};
  EXPECT_FALSE(PlainHttpTransport::can_send(signed_request));
  setenv("http_proxy", "http://proxy:3128", 1);
  EXPECT_FALSE(PlainHttpTransport::can_send(get("http://127.0.0.1:9090/")));
  unsetenv("http_proxy");
}

}  // namespace
}  // namespace rs
