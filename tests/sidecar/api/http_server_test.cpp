// HttpServer: routing and error replies, request framing (Content-Length, keep-alive, limits), the
// bind contract, and that slow or idle clients cannot starve /healthz (slowloris).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sidecar/api/http_server.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// --- a raw client, so tests control every byte ------------------------------------------------

int connect_to(int port) {
  const int fd = rs::testing::connect_loopback(port);
  if (fd < 0) throw std::runtime_error(std::string("connect failed: ") + std::strerror(errno));
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    done += static_cast<std::size_t>(n);
  }
}

struct Response {
  int status = 0;  // 0: no (complete) response
  std::string head;
  std::string body;
  bool closed = false;  // the server closed the connection after it

  std::string header(const std::string& name) const {
    std::string lower_head = head;
    for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string want = "\r\n" + name + ":";
    for (auto& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto at = lower_head.find(want);
    if (at == std::string::npos) return "";
    const auto start = at + want.size();
    const auto end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// Waits up to `timeout` for something to read; "" on EOF, error or timeout (*eof says which).
std::string recv_some(int fd, Clock::time_point deadline, bool* eof) {
  *eof = false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  pollfd p{fd, POLLIN, 0};
  if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return "";
  char buf[65536];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) {
    *eof = true;
    return "";
  }
  return std::string(buf, static_cast<std::size_t>(n));
}

// Reads one response (Content-Length framed); `pending` keeps bytes of the next one.
Response read_response(int fd, std::string* pending, std::chrono::milliseconds timeout = 5s,
                       bool head_request = false) {
  Response r;
  const auto deadline = Clock::now() + timeout;
  std::string& buf = *pending;
  for (;;) {
    const auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      r.head = buf.substr(0, end + 2);
      const std::string cl = r.header("Content-Length");
      const std::size_t length = head_request || cl.empty() ? 0 : std::stoul(cl);
      if (buf.size() >= end + 4 + length) {
        r.status = std::stoi(buf.substr(9, 3));
        r.body = buf.substr(end + 4, length);
        buf.erase(0, end + 4 + length);
        return r;
      }
    }
    bool eof = false;
    const std::string more = recv_some(fd, deadline, &eof);
    if (more.empty()) {
      r.closed = eof;
      return r;  // status 0
    }
    buf += more;
  }
}

// True when the server closes the connection within `timeout` (any bytes before that are dropped).
bool closed_within(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    bool eof = false;
    recv_some(fd, deadline, &eof);
    if (eof) return true;
  }
  return false;
}

// One request on a fresh connection.
Response roundtrip(int port, const std::string& request, std::chrono::milliseconds timeout = 5s) {
  const int fd = connect_to(port);
  send_all(fd, request);
  std::string pending;
  Response r = read_response(fd, &pending, timeout, request.rfind("HEAD ", 0) == 0);
  ::close(fd);
  return r;
}

std::string get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"; }

// A server with a few routes, recording on_request.
class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpLimits limits = {}) {
    server_ = std::make_unique<HttpServer>(limits, [this](const std::string& route, int status) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.emplace_back(route, status);
    });
    server_->handle("GET", "/healthz", [](const HttpCall&) { return HttpReply::text(200, "ok\n"); });
    server_->handle("POST", "/echo", [](const HttpCall& c) {
      return HttpReply::json(200, {{"method", c.method},
                                   {"path", c.path},
                                   {"body", c.body},
                                   {"content_type", c.header("content-type")},
                                   {"x_test", c.header("X-Test")}});
    });
    server_->handle("GET", "/echo", [](const HttpCall& c) { return HttpReply::json(200, {{"path", c.path}}); });
    server_->handle("PUT", "/boom", [](const HttpCall&) -> HttpReply { throw std::runtime_error("kaput"); });
    std::string error;
    ASSERT_TRUE(server_->start("127.0.0.1:0", &error)) << error;
    port_ = server_->port();
    ASSERT_GT(port_, 0);
  }

  std::vector<std::pair<std::string, int>> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::pair<std::string, int>> seen_;
};

TEST_F(HttpServerTest, RoutesByMethodAndPathWithJsonErrors) {
  start();
  Response ok = roundtrip(port_, get("/healthz"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok\n");
  EXPECT_EQ(ok.header("Content-Type"), "text/plain; charset=utf-8");

  Response query = roundtrip(port_, get("/echo?since=5m&x=%2F"));
  EXPECT_EQ(query.status, 200);
  EXPECT_EQ(nlohmann::json::parse(query.body)["path"], "/echo");  // no query string, like before

  Response missing = roundtrip(port_, get("/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"], "no such endpoint: /nope");

  Response wrong = roundtrip(port_, "DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("Allow"), "GET, HEAD");
  EXPECT_NE(wrong.body.find("DELETE is not allowed on /healthz"), std::string::npos) << wrong.body;

  Response head = roundtrip(port_, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), "3");
  EXPECT_EQ(head.body, "");

  Response boom = roundtrip(port_, "PUT /boom HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(boom.status, 500);
  EXPECT_EQ(nlohmann::json::parse(boom.body)["error"], "internal error: kaput");

  const auto s = seen();
  const std::vector<std::pair<std::string, int>> want{{"/healthz", 200}, {"/echo", 200},    {"other", 404},
                                                      {"/healthz", 405}, {"/healthz", 200}, {"/boom", 500}};
  EXPECT_EQ(s, want);
}

TEST_F(HttpServerTest, PassesBodyAndHeadersToTheHandler) {
  start();
  const std::string body = R"({"reason": "test"})";
  Response r = roundtrip(port_,
                         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nx-TEST:  v1 \r\n"
                         "Content-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["body"], body);
  EXPECT_EQ(j["content_type"], "application/json");
  EXPECT_EQ(j["x_test"], "v1");
}

TEST_F(HttpServerTest, PostWithoutBodyIsAnsweredAtOnce) {
  start();
  for (const std::string& request :
       {std::string("POST /echo HTTP/1.1\r\nHost: t\r\n\r\n"), std::string("POST /echo HTTP/1.0\r\n\r\n")}) {
    const auto t0 = Clock::now();
    Response r = roundtrip(port_, request, 4s);
    const auto took = Clock::now() - t0;
    EXPECT_EQ(r.status, 200) << request;
    EXPECT_EQ(nlohmann::json::parse(r.body.empty() ? "{}" : r.body).value("body", "?"), "");
    EXPECT_LT(took, 1s) << "a POST without Content-Length has an empty body; nothing to wait for";
  }
}

TEST_F(HttpServerTest, BodyLimitIsTheConfiguredOneForEveryContentType) {
  HttpLimits limits;
  limits.max_body_bytes = 100 * 1024;
  start(limits);
  const std::string form = "a=" + std::string(90 * 1024, 'x');  // httplib refused forms over 8 KB
  Response ok = roundtrip(port_,
                          "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                          "Content-Length: " +
                              std::to_string(form.size()) + "\r\n\r\n" + form);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(nlohmann::json::parse(ok.body)["body"].get<std::string>().size(), form.size());

  const std::string big(100 * 1024 + 1, 'y');
  Response too_big = roundtrip(
      port_, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
  EXPECT_EQ(too_big.status, 413);
  EXPECT_NE(too_big.body.find("102401 bytes is larger than the limit of 102400 bytes"), std::string::npos)
      << too_big.body;
  EXPECT_EQ(too_big.header("Connection"), "close");

  // With Expect: 100-continue the 413 comes before the client sends the body.
  Response early =
      roundtrip(port_, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n");
  EXPECT_EQ(early.status, 413);
  // ...and a body within the limit is invited with 100 Continue.
  const int fd = connect_to(port_);
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  std::string pending;
  Response cont = read_response(fd, &pending, 3s);
  EXPECT_EQ(cont.status, 100);
  send_all(fd, "hi");
  Response after = read_response(fd, &pending, 3s);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(nlohmann::json::parse(after.body)["body"], "hi");
  ::close(fd);
}

TEST_F(HttpServerTest, MalformedRequestsGet4xxNamingTheProblem) {
  HttpLimits limits;
  limits.max_head_bytes = 4096;
  start(limits);
  struct Case {
    std::string request;
    int status;
    std::string says;
  };
  const std::vector<Case> cases{
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400, "invalid Content-Length 'abc'"},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length '-1'"},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", 400,
       "conflicting Content-Length"},
      {"GET /healthz\r\nHost: t\r\n\r\n", 400, "malformed request line"},
      {"GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed request line"},
      {"GET healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "not an absolute path"},
      {"GET /healthz HTTP/1.1\r\n\r\n", 400, "without a Host header"},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400, "malformed header line 'Bad Header: x'"},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\n\r\n", 400, "folded header line"},
      {"GET /healthz HTTP/1.1\nHost: t\r\n\r\n", 400, "bare CR or LF"},
      {"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP version 'HTTP/2.0' is not supported"},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 411,
       "Transfer-Encoding 'chunked' is not supported"},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417, "unsupported Expect"},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(5000, 'b') + "\r\n\r\n", 431,
       "larger than 4096 bytes"},
      {"GET /" + std::string(8000, 'p'), 431, "larger than 4096 bytes"},  // no end of head in sight
  };
  for (const auto& c : cases) {
    Response r = roundtrip(port_, c.request);
    EXPECT_EQ(r.status, c.status) << c.request.substr(0, 80);
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.request.substr(0, 80) << " -> " << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json");
  }
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  const int fd = connect_to(port_);
  std::string pending;
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  Response first = read_response(fd, &pending);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("Connection"), "");
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
  Response second = read_response(fd, &pending);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(nlohmann::json::parse(second.body)["body"], "abc");
  // Pipelined: two requests in one write, answered in order.
  send_all(fd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  Response third = read_response(fd, &pending);
  Response fourth = read_response(fd, &pending);
  EXPECT_EQ(third.status, 404);
  EXPECT_EQ(fourth.status, 200);
  EXPECT_EQ(fourth.header("Connection"), "close");
  EXPECT_TRUE(closed_within(fd, 3s)) << "Connection: close is honoured";
  ::close(fd);

  const int old = connect_to(port_);
  send_all(old, "GET /healthz HTTP/1.0\r\n\r\n");
  std::string pending_old;
  EXPECT_EQ(read_response(old, &pending_old).status, 200);
  EXPECT_TRUE(closed_within(old, 3s)) << "HTTP/1.0 closes after the reply";
  ::close(old);
}

TEST_F(HttpServerTest, IdleKeptAliveConnectionsAreClosed) {
  HttpLimits limits;
  limits.idle_timeout = 300ms;
  start(limits);
  const int fd = connect_to(port_);
  std::string pending;
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(read_response(fd, &pending).status, 200);
  EXPECT_TRUE(closed_within(fd, 3s));
  ::close(fd);
}

TEST(HttpServer, BindingAnAddressInUseFailsNamingIt) {
  HttpServer first;
  std::string error;
  ASSERT_TRUE(first.start("127.0.0.1:0", &error)) << error;
  const std::string listen = "127.0.0.1:" + std::to_string(first.port());
  HttpServer second;
  EXPECT_FALSE(second.start(listen, &error));
  EXPECT_NE(error.find("cannot bind " + listen), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  second.stop();  // never started: harmless

  // The first one still owns the port and serves.
  EXPECT_EQ(roundtrip(first.port(), get("/x")).status, 404);
  first.stop();
  first.stop();  // idempotent

  HttpServer bad;
  EXPECT_FALSE(bad.start("127.0.0.1", &error));
  EXPECT_NE(error.find("'127.0.0.1' is not host:port"), std::string::npos) << error;
  EXPECT_FALSE(bad.start("127.0.0.1:99999", &error));
  EXPECT_NE(error.find("no valid port"), std::string::npos) << error;
}

TEST(HttpServer, ListensOnIpv6Loopback) {
  HttpServer server;
  server.handle("GET", "/healthz", [](const HttpCall&) { return HttpReply::text(200, "ok\n"); });
  std::string error;
  if (!server.start("[::1]:0", &error)) GTEST_SKIP() << "no IPv6 loopback here: " << error;
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(static_cast<std::uint16_t>(server.port()));
  addr.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  send_all(fd, get("/healthz"));
  std::string pending;
  EXPECT_EQ(read_response(fd, &pending).status, 200);
  ::close(fd);
}

// The defect: 4 worker threads, each held for as long as a client dripped bytes. Here 20 idle
// connections and 8 that drip one header byte per second must not delay /healthz, and the
// drippers are cut at the head deadline (5 s from accept, not per byte).
TEST_F(HttpServerTest, SlowAndIdleClientsDoNotStarveHealthz) {
  start();  // production limits
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect_to(port_));
  constexpr int kDrippers = 8;
  std::vector<int> drippers;
  for (int i = 0; i < kDrippers; ++i) drippers.push_back(connect_to(port_));
  const auto started = Clock::now();
  // Milliseconds after `started` at which each dripper was cut; -1 while it is still open.
  std::vector<std::atomic<long long>> cut_ms(kDrippers);
  for (auto& c : cut_ms) c = -1;
  std::atomic<bool> done{false};
  std::thread drip([&] {
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(1000, 'z');
    for (std::size_t tick = 0; !done; ++tick) {  // a tick is 100 ms; one byte every 10 ticks
      for (int i = 0; i < kDrippers; ++i) {
        if (cut_ms[i] >= 0) continue;
        pollfd p{drippers[i], POLLIN, 0};
        // Readable means the server answered (408) or closed: this dripper has been cut.
        bool cut = ::poll(&p, 1, 0) > 0;
        if (!cut && tick % 10 == 0)
          cut = ::send(drippers[i], &request[(tick / 10) % request.size()], 1, MSG_NOSIGNAL) != 1;
        if (cut) cut_ms[i] = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      }
      std::this_thread::sleep_for(100ms);
    }
  });

  for (int round = 0; round < 4; ++round) {
    const auto t0 = Clock::now();
    Response r = roundtrip(port_, get("/healthz"), 10s);
    const auto took = Clock::now() - t0;
    EXPECT_EQ(r.status, 200) << "round " << round;
    EXPECT_LT(took, 2s) << "round " << round << ": /healthz waited behind slow clients";
    std::this_thread::sleep_for(1s);
  }

  // All drippers are cut by the head deadline (5 s after connect), well before their request ends.
  const bool all_cut = [&] {
    const auto give_up = started + 12s;
    while (Clock::now() < give_up) {
      bool all = true;
      for (int i = 0; i < kDrippers; ++i) all = all && cut_ms[i] >= 0;
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }();
  done = true;
  drip.join();
  EXPECT_TRUE(all_cut) << "a client dripping a byte a second kept its connection past the head deadline";
  for (int i = 0; i < kDrippers; ++i) {
    EXPECT_GE(cut_ms[i], 4000) << "dripper " << i << " cut before the 5 s head deadline";
    EXPECT_LE(cut_ms[i], 9000) << "dripper " << i;
  }
  // The idle ones are gone too (a closed connection reads EOF at once).
  for (int fd : idle) {
    EXPECT_TRUE(closed_within(fd, 3s));
    ::close(fd);
  }
  for (int fd : drippers) ::close(fd);
  EXPECT_GE(server_->stats().timed_out, 28u);
}

TEST_F(HttpServerTest, AtTheConnectionCapTheOldestWaitingConnectionMakesRoom) {
  HttpLimits limits;
  limits.max_connections = 8;
  start(limits);
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect_to(port_));
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    EXPECT_EQ(roundtrip(port_, get("/healthz"), 5s).status, 200);
    EXPECT_LT(Clock::now() - t0, 2s);
  }
  EXPECT_GE(server_->stats().evicted, 12u);
  EXPECT_TRUE(closed_within(idle.front(), 2s)) << "the oldest idle connection was closed";
  for (int fd : idle) ::close(fd);
}

TEST_F(HttpServerTest, ABodyThatNeverCompletesIsCutAtTheBodyDeadline) {
  HttpLimits limits;
  limits.body_timeout = 500ms;
  start(limits);
  const int fd = connect_to(port_);
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a part");
  std::string pending;
  Response r = read_response(fd, &pending, 5s);
  EXPECT_EQ(r.status, 408);
  EXPECT_NE(r.body.find("request body not complete within 500 ms (got 11 of 100 bytes)"), std::string::npos) << r.body;
  ::close(fd);
  EXPECT_EQ(server_->stats().timed_out, 1u);
}

TEST_F(HttpServerTest, StopClosesEverythingAndIsIdempotent) {
  start();
  const int fd = connect_to(port_);
  server_->stop();
  EXPECT_TRUE(closed_within(fd, 2s));
  ::close(fd);
  server_->stop();
  EXPECT_THROW(connect_to(port_), std::runtime_error) << "listening socket closed";
}

}  // namespace
}  // namespace rs::sidecar
