// HttpServer over TLS (TlsContext): each client_auth_type against curl with and without client
// certificates, the protocol floor, certificate reload, and that clients which never finish a
// handshake cannot starve /healthz.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/api/http_server.h"
#include "sidecar/api/tls_context.h"
#include "tests/support/tls_support.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using testing::tls_request;
using testing::TlsRequest;

// One CA for the server and the right clients, another for a client the server must not trust.
class TlsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    testing::make_ca(*dir_, "ca");
    testing::make_leaf(*dir_, "ca", "server", 1001);
    testing::make_leaf(*dir_, "ca", "client", 1002);
    testing::make_ca(*dir_, "other-ca");
    testing::make_leaf(*dir_, "other-ca", "stranger", 1003);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  WebTlsConfig tls_config(ClientAuth auth) const {
    WebTlsConfig c;
    c.enabled = true;
    c.cert_file = dir_->file("server.crt");
    c.key_file = dir_->file("server.key");
    if (auth != ClientAuth::kNoClientCert) c.client_ca_file = dir_->file("ca.crt");
    c.client_auth = auth;
    return c;
  }

  void start(const WebTlsConfig& config, HttpLimits limits = {}) {
    server_ = std::make_unique<HttpServer>(limits);
    server_->handle("GET", "/healthz", [](const HttpCall&) { return HttpReply::text(200, "ok\n"); });
    server_->handle("GET", "/big", [](const HttpCall&) { return HttpReply::text(200, std::string(8 << 20, 'x')); });
    tls_ = std::make_shared<TlsContext>(
        config, [this] { ++reload_errors_; }, 100ms);
    server_->use_tls(tls_, [this] { ++handshake_errors_; });
    std::string error;
    ASSERT_TRUE(server_->start("127.0.0.1:0", &error)) << error;
  }

  TlsRequest request(const std::string& client = "") const {
    TlsRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/healthz";
    r.ca_file = dir_->file("ca.crt");
    if (!client.empty()) {
      r.cert_file = dir_->file(client + ".crt");
      r.key_file = dir_->file(client + ".key");
    }
    return r;
  }

  static testing::TempDir* dir_;
  std::unique_ptr<HttpServer> server_;
  std::shared_ptr<TlsContext> tls_;
  std::atomic<int> handshake_errors_{0};
  std::atomic<int> reload_errors_{0};
};

testing::TempDir* TlsServerTest::dir_ = nullptr;

TEST_F(TlsServerTest, ServesHttpsWithoutClientCertificates) {
  start(tls_config(ClientAuth::kNoClientCert));
  auto r = tls_request(request());
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_NE(r.server_subject.find("server"), std::string::npos) << r.server_subject;
  // Plain HTTP to the TLS port is a failed handshake, not a request.
  auto plain = testing::http_get("http://127.0.0.1:" + std::to_string(server_->port()) + "/healthz");
  EXPECT_NE(plain.status, 200);
  EXPECT_TRUE(testing::wait_until([&] { return handshake_errors_ >= 1; }, 2s));
  EXPECT_EQ(server_->stats().tls_handshake_failures, 1u);
}

TEST_F(TlsServerTest, RequireAndVerifyClientCertIsMutualTls) {
  start(tls_config(ClientAuth::kRequireAndVerifyClientCert));
  auto none = tls_request(request());
  EXPECT_EQ(none.status, 0) << "no client certificate must fail the handshake";
  auto stranger = tls_request(request("stranger"));
  EXPECT_EQ(stranger.status, 0) << "a certificate from another CA must fail the handshake";
  auto right = tls_request(request("client"));
  EXPECT_EQ(right.status, 200) << right.error;
  EXPECT_TRUE(testing::wait_until([&] { return handshake_errors_ == 2; }, 2s)) << handshake_errors_;
}

TEST_F(TlsServerTest, VerifyClientCertIfGivenAcceptsNoneButNotAWrongOne) {
  start(tls_config(ClientAuth::kVerifyClientCertIfGiven));
  EXPECT_EQ(tls_request(request()).status, 200);
  EXPECT_EQ(tls_request(request("client")).status, 200);
  EXPECT_EQ(tls_request(request("stranger")).status, 0);
}

TEST_F(TlsServerTest, RequireAnyClientCertTakesAnyCertificateButNeedsOne) {
  start(tls_config(ClientAuth::kRequireAnyClientCert));
  EXPECT_EQ(tls_request(request()).status, 0);
  EXPECT_EQ(tls_request(request("stranger")).status, 200);
  EXPECT_EQ(tls_request(request("client")).status, 200);
}

TEST_F(TlsServerTest, RequestClientCertAcceptsNoneAndAny) {
  start(tls_config(ClientAuth::kRequestClientCert));
  EXPECT_EQ(tls_request(request()).status, 200);
  EXPECT_EQ(tls_request(request("stranger")).status, 200);
}

TEST_F(TlsServerTest, Tls12IsRefusedWhenMinVersionIsTls13) {
  WebTlsConfig config = tls_config(ClientAuth::kNoClientCert);
  config.min_version = TlsVersion::kTls13;
  start(config);
  TlsRequest old = request();
  old.ssl_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
  auto refused = tls_request(old);
  EXPECT_EQ(refused.status, 0);
  TlsRequest current = request();
  current.ssl_version = CURL_SSLVERSION_TLSv1_3;
  EXPECT_EQ(tls_request(current).status, 200);
  EXPECT_TRUE(testing::wait_until([&] { return handshake_errors_ == 1; }, 2s));
}

TEST_F(TlsServerTest, ChangedCertificateFilesServeNewConnectionsAndABadOneKeepsTheOld) {
  // Copies, so the suite's files stay as they are.
  testing::TempDir live;
  testing::write_file(live.file("tls.crt"), testing::read_file(dir_->file("server.crt")));
  testing::write_file(live.file("tls.key"), testing::read_file(dir_->file("server.key")));
  WebTlsConfig config = tls_config(ClientAuth::kNoClientCert);
  config.cert_file = live.file("tls.crt");
  config.key_file = live.file("tls.key");
  start(config);
  auto before = tls_request(request());
  ASSERT_EQ(before.status, 200) << before.error;
  ASSERT_FALSE(before.server_serial.empty());

  testing::write_file(live.file("ca.crt"), testing::read_file(dir_->file("ca.crt")));
  testing::write_file(live.file("ca.key"), testing::read_file(dir_->file("ca.key")));
  testing::make_leaf(live, "ca", "renewed", 2002);
  testing::write_file(live.file("tls.key"), testing::read_file(live.file("renewed.key")));
  testing::write_file(live.file("tls.crt"), testing::read_file(live.file("renewed.crt")));
  testing::TlsResult after;
  EXPECT_TRUE(testing::wait_until(
      [&] {
        after = tls_request(request());
        return after.status == 200 && after.server_serial != before.server_serial;
      },
      5s, 100ms))
      << "still serial " << after.server_serial << " " << after.error;
  EXPECT_NE(after.server_subject.find("renewed"), std::string::npos) << after.server_subject;

  // A broken key: logged and counted, and the renewed certificate keeps being served.
  const int errors_before = reload_errors_;
  testing::write_file(live.file("tls.key"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
  EXPECT_TRUE(testing::wait_until(
      [&] {
        tls_request(request());
        return reload_errors_ > errors_before;
      },
      5s, 100ms));
  auto still = tls_request(request());
  EXPECT_EQ(still.status, 200) << still.error;
  EXPECT_EQ(still.server_serial, after.server_serial);
}

// OpenSSL writes with write(2): without the loop thread blocking SIGPIPE, a client leaving
// mid-reply would kill the process (here: the test binary).
TEST_F(TlsServerTest, AClientLeavingMidReplyDoesNotKillTheProcess) {
  start(tls_config(ClientAuth::kNoClientCert));
  for (int i = 0; i < 3; ++i) {
    TlsRequest big = request();
    big.url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/big";
    CURL* curl = curl_easy_init();
    std::string body;
    curl_easy_setopt(curl, CURLOPT_URL, big.url.c_str());
    curl_easy_setopt(curl, CURLOPT_CAINFO, big.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE, 1000L);  // gives up on seeing Content-Length, mid-reply
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, testing::tls_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    EXPECT_EQ(curl_easy_perform(curl), CURLE_FILESIZE_EXCEEDED);
    curl_easy_cleanup(curl);
  }
  std::this_thread::sleep_for(200ms);  // the server writes on into the closed connections
  auto r = tls_request(request());
  EXPECT_EQ(r.status, 200) << r.error;
}

int connect_to(int port) { return rs::testing::connect_loopback(port); }

TEST_F(TlsServerTest, HandshakesThatNeverFinishDoNotStarveHealthzAndAreCutAtTheHeadDeadline) {
  HttpLimits limits;
  limits.head_timeout = 1500ms;
  limits.workers = 1;
  start(tls_config(ClientAuth::kRequireAndVerifyClientCert), limits);
  // Silent connections and ones that drip the start of a ClientHello (a TLS record header).
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    if (i % 2 == 0) {
      const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
      ASSERT_EQ(::send(fd, partial, sizeof partial, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof partial));
    }
    idle.push_back(fd);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = tls_request(request("client"));
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "/healthz waited behind unfinished handshakes";
  // The deadline (from accept) closes them all; the dripping ones count as failed handshakes.
  EXPECT_TRUE(testing::wait_until([&] { return server_->stats().timed_out >= 20; }, 5s)) << server_->stats().timed_out;
  EXPECT_EQ(handshake_errors_, 10);
  for (int fd : idle) {
    char byte;
    EXPECT_EQ(::recv(fd, &byte, 1, MSG_DONTWAIT), 0) << "connection not closed";
    ::close(fd);
  }
}

TEST(TlsContext, ValidateNamesTheFileThatCannotBeUsed) {
  testing::TempDir dir;
  testing::make_ca(dir, "ca");
  testing::make_leaf(dir, "ca", "a", 1);
  testing::make_leaf(dir, "ca", "b", 2);
  WebTlsConfig c;
  c.enabled = true;
  c.cert_file = dir.file("a.crt");
  c.key_file = dir.file("b.key");
  std::string error;
  EXPECT_FALSE(TlsContext::validate(c, &error));
  EXPECT_NE(error.find("does not match cert_file"), std::string::npos) << error;
  c.key_file = dir.file("a.crt");
  EXPECT_FALSE(TlsContext::validate(c, &error));
  EXPECT_NE(error.find("key_file '" + dir.file("a.crt") + "' is not a usable PEM private key"), std::string::npos)
      << error;
  c.key_file = dir.file("a.key");
  EXPECT_TRUE(TlsContext::validate(c, &error)) << error;
  // Key content never appears in an error.
  testing::write_file(dir.file("bad.key"),
                      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n");
  c.key_file = dir.file("bad.key");
  EXPECT_FALSE(TlsContext::validate(c, &error));
  EXPECT_EQ(error.find("c2VjcmV0"), std::string::npos) << error;
}

}  // namespace
}  // namespace rs::sidecar
