// TLS options of the client against an in-process HTTPS server with throwaway certificates.
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "promql/client.h"
#include "tests/support/harness.h"

namespace rs::promql {
namespace {

using namespace std::chrono_literals;
using rs::testing::TempDir;

const char* kOneSample =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}})";

// Self-signed certificate for 127.0.0.1 (it is its own CA); false when openssl failed.
bool make_certificate(const TempDir& dir, const std::string& name, std::string* why) {
  std::string openssl = rs::testing::find_binary("openssl");
  if (openssl.empty()) {
    *why = "openssl not installed";
    return false;
  }
  rs::testing::Process process(
      {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir.file(name + ".key"), "-out",
       dir.file(name + ".crt")},
      dir.file("openssl.log"));
  int status = process.wait_exit(30s);
  if (status != 0) {
    *why = "openssl failed (" + std::to_string(status) + "): " + process.log();
    return false;
  }
  return true;
}

// HTTPS server answering every POST with one sample; optionally requires a client certificate.
class TlsServer {
 public:
  TlsServer(const TempDir& dir, const char* client_ca)
      : server_(dir.file("server.crt").c_str(), dir.file("server.key").c_str(), client_ca) {
    server_.Post(
        ".*", [](const httplib::Request&, httplib::Response& res) { res.set_content(kOneSample, "application/json"); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() does nothing before the listen loop runs; wait so ~TlsServer cannot hang.
    if (!rs::testing::wait_until([this] { return server_.is_running(); }, 10s, 1ms)) {
      thread_.detach();  // leaks the server rather than hanging in the destructor
      throw std::runtime_error("TLS test server did not start");
    }
  }
  ~TlsServer() {
    server_.stop();
    thread_.join();
  }
  bool valid() const { return server_.is_valid() && port_ > 0; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(make_certificate(dir_, "server", &why)) << why;
    ASSERT_TRUE(make_certificate(dir_, "client", &why)) << why;
  }

  QueryOutcome query(const std::string& url, const TlsOptions& tls) {
    ClientOptions options;
    options.url = url;
    options.tls = tls;
    return Client(options, make_curl_transport()).query("up");
  }

  TempDir dir_;
};

std::string describe(const QueryOutcome& outcome) {
  if (auto* error = std::get_if<QueryError>(&outcome)) {
    return std::string(error_reason_name(error->reason)) + ": " + error->message;
  }
  return "data";
}

TEST_F(TlsTest, TrustsServerThroughCaFile) {
  TlsServer server(dir_, nullptr);
  ASSERT_TRUE(server.valid());
  TlsOptions tls;
  tls.ca_file = dir_.file("server.crt");
  auto outcome = query(server.url(), tls);
  EXPECT_TRUE(std::holds_alternative<QueryData>(outcome)) << describe(outcome);
}

TEST_F(TlsTest, UnknownCertificateIsConnectError) {
  TlsServer server(dir_, nullptr);
  ASSERT_TRUE(server.valid());
  auto outcome = query(server.url(), TlsOptions{});  // system trust store does not know it
  auto* error = std::get_if<QueryError>(&outcome);
  ASSERT_TRUE(error) << "an untrusted certificate must be refused";
  EXPECT_EQ(error->reason, ErrorReason::kConnect) << error->message;
}

TEST_F(TlsTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  TlsServer server(dir_, nullptr);
  ASSERT_TRUE(server.valid());
  TlsOptions tls;
  tls.insecure_skip_verify = true;
  auto outcome = query(server.url(), tls);
  EXPECT_TRUE(std::holds_alternative<QueryData>(outcome)) << describe(outcome);
}

TEST_F(TlsTest, ClientCertificateForMutualTls) {
  std::string client_ca = dir_.file("client.crt");
  TlsServer server(dir_, client_ca.c_str());
  ASSERT_TRUE(server.valid());
  TlsOptions tls;
  tls.ca_file = dir_.file("server.crt");
  tls.cert_file = dir_.file("client.crt");
  tls.key_file = dir_.file("client.key");
  auto outcome = query(server.url(), tls);
  EXPECT_TRUE(std::holds_alternative<QueryData>(outcome)) << describe(outcome);

  tls.cert_file.clear();
  tls.key_file.clear();
  outcome = query(server.url(), tls);
  EXPECT_TRUE(std::holds_alternative<QueryError>(outcome)) << "the server requires a client certificate";
}

TEST_F(TlsTest, MissingCaFileIsAnErrorNotACrash) {
  TlsServer server(dir_, nullptr);
  TlsOptions tls;
  tls.ca_file = dir_.file("absent.crt");
  auto outcome = query(server.url(), tls);
  auto* error = std::get_if<QueryError>(&outcome);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->reason, ErrorReason::kConnect) << error->message;
}

}  // namespace
}  // namespace rs::promql
