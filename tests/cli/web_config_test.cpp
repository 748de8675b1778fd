// The listen port behind web_config_file / --web.config.file on the real binary: `check`
// validates it, a non-loopback listen with an unguarded intake is refused, Basic auth and the
// bearer token together, and a real Prometheus scraping over mutual TLS with basic auth using a
// standard scrape_config.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_support.h"
#include "tests/fakes/credentials.h"
#include "tests/support/harness.h"
#include "tests/support/tls_support.h"

namespace rs::testing {
namespace {

const std::string kToken = "api-token-8d1e0c";
const std::string kPassword = "scrape-pass-4b7f";

struct RunResult {
  int exit_code = -1;
  std::string output;
};

class WebConfigCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TempDir();
    make_ca(*certs_, "ca");
    make_leaf(*certs_, "ca", "server", 11);
    make_leaf(*certs_, "ca", "prometheus", 12);
    make_ca(*certs_, "other-ca");
    make_leaf(*certs_, "other-ca", "stranger", 13);
    hash_ = new std::string(fakes::bcrypt_hash(kPassword));
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete hash_;
  }

  void SetUp() override {
    prometheus_api_.set_route("/api/v1/query", 200, vector_reply("0.001"));
    write_file(dir_.file("token"), kToken + "\n");
    port_ = free_port();
  }

  // The web config, with paths relative to its own directory as exporter-toolkit reads them.
  void write_web_config(const std::string& client_auth = "RequireAndVerifyClientCert") {
    for (const char* f : {"ca.crt", "server.crt", "server.key"}) write_file(dir_.file(f), read_file(certs_->file(f)));
    write_file(dir_.file("web.yml"),
               "tls_server_config:\n"
               "  cert_file: server.crt\n"
               "  key_file: server.key\n"
               "  client_ca_file: ca.crt\n"
               "  client_auth_type: " +
                   client_auth +
                   "\n"
                   "basic_auth_users:\n"
                   "  prometheus: " +
                   *hash_ + "\n");
  }

  std::string config(const std::string& listen, const std::string& extra) {
    return "prometheus: {url: " + prometheus_api_.url() +
           "}\n"
           "listen: " +
           listen +
           "\n"
           "evaluation_interval: 500ms\n"
           "deployment: {name: checkout, stage: prod, strategy: canary}\n"
           "rules: [{name: error-rate, query: errors, above: 0.05, for: 1m}]\n"
           "actuators: [{type: exec, command: [/bin/true]}]\n" +
           extra;
  }

  RunResult run(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kSidecarBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p(argv, dir_.file("run.log"));
    RunResult r;
    const int status = p.wait_exit(30s);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.output = read_file(dir_.file("run.log"));
    ::unlink(dir_.file("run.log").c_str());
    return r;
  }

  void start_sidecar(const std::string& extra, const std::vector<std::string>& flags = {}) {
    write_file(dir_.file("config.yml"), config("127.0.0.1:" + std::to_string(port_), extra));
    std::vector<std::string> argv{kSidecarBinary, "run", "--config", dir_.file("config.yml")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    sidecar_ = std::make_unique<Process>(argv, dir_.file("sidecar.log"));
    ASSERT_TRUE(
        wait_until([&] { return sidecar_->log().find("serving on") != std::string::npos || !sidecar_->alive(); }, 15s));
    ASSERT_TRUE(sidecar_->alive()) << sidecar_->log();
  }

  TlsRequest https(const std::string& path, const std::string& client = "prometheus") {
    TlsRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(port_) + path;
    r.ca_file = certs_->file("ca.crt");
    if (!client.empty()) {
      r.cert_file = certs_->file(client + ".crt");
      r.key_file = certs_->file(client + ".key");
    }
    return r;
  }

  static TempDir* certs_;
  static std::string* hash_;
  TempDir dir_;
  FakeHttpServer prometheus_api_;
  int port_ = 0;
  std::unique_ptr<Process> sidecar_;
};

TempDir* WebConfigCli::certs_ = nullptr;
std::string* WebConfigCli::hash_ = nullptr;

TEST_F(WebConfigCli, CheckValidatesTheWebConfigFromTheKeyOrTheFlag) {
  write_web_config();
  write_file(dir_.file("config.yml"), config("127.0.0.1:9107", "web_config_file: " + dir_.file("web.yml") + "\n"));
  RunResult ok = run({"check", "--config", dir_.file("config.yml")});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("web config " + dir_.file("web.yml") +
                           ": HTTPS TLS12-TLS13, client certificates RequireAndVerifyClientCert, basic auth 1 user(s)"),
            std::string::npos)
      << ok.output;
  EXPECT_EQ(ok.output.find(*hash_), std::string::npos) << "the hash is a secret";

  // The flag replaces the key; a key that does not match the certificate fails `check`.
  write_file(dir_.file("bad.yml"),
             "tls_server_config:\n  cert_file: server.crt\n  key_file: " + certs_->file("prometheus.key") + "\n");
  RunResult mismatch = run({"check", "--config", dir_.file("config.yml"), "--web.config.file", dir_.file("bad.yml")});
  EXPECT_EQ(mismatch.exit_code, 1) << mismatch.output;
  EXPECT_NE(mismatch.output.find(dir_.file("bad.yml") + ": tls_server_config.key_file '" +
                                 certs_->file("prometheus.key") + "' does not match cert_file"),
            std::string::npos)
      << mismatch.output;
  EXPECT_EQ(mismatch.output.find("PRIVATE KEY"), std::string::npos);

  write_file(dir_.file("typo.yml"),
             "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
             "basic_auth_user:\n  prometheus: x\n");
  RunResult typo = run({"check", "--config", dir_.file("config.yml"), "--web.config.file", dir_.file("typo.yml")});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.output.find(dir_.file("typo.yml") + ":4: basic_auth_user: unknown key"), std::string::npos)
      << typo.output;
}

TEST_F(WebConfigCli, RefusesToExposeAnUnguardedIntakeBeyondLoopback) {
  const std::string cloudwatch =
      "cloudwatch: {match: {alarm: 'checkout-.*'}, api_key_file: " + dir_.file("token") + "}\n";
  write_file(dir_.file("config.yml"), config("0.0.0.0:" + std::to_string(port_), cloudwatch));
  RunResult started = run({"run", "--config", dir_.file("config.yml")});
  EXPECT_EQ(started.exit_code, 1) << started.output;
  EXPECT_NE(started.output.find("is not a loopback address and cloudwatch intake is on with neither "
                                "api.bearer_token_file nor TLS"),
            std::string::npos)
      << started.output;
  EXPECT_EQ(run({"check", "--config", dir_.file("config.yml")}).exit_code, 1);
  // TLS makes it acceptable.
  write_web_config();
  RunResult with_tls = run({"check", "--config", dir_.file("config.yml"), "--web.config.file", dir_.file("web.yml")});
  EXPECT_EQ(with_tls.exit_code, 0) << with_tls.output;
}

TEST_F(WebConfigCli, BasicAuthGuardsEveryEndpointAndTheBearerTokenStillGuardsMutations) {
  write_web_config("VerifyClientCertIfGiven");
  start_sidecar("api: {bearer_token_file: " + dir_.file("token") + "}\n", {"--web.config.file", dir_.file("web.yml")});
  for (const std::string path : {"/metrics", "/healthz", "/api/v1/status"}) {
    auto none = tls_request(https(path));
    EXPECT_EQ(none.status, 401) << path << " " << none.error;
    auto wrong = https(path);
    wrong.userpwd = "prometheus:nope";
    EXPECT_EQ(tls_request(wrong).status, 401) << path;
    auto right = https(path);
    right.userpwd = "prometheus:" + kPassword;
    EXPECT_EQ(tls_request(right).status, 200) << path;
  }
  const std::string body = R"({"reason": "test", "actor": "ci"})";
  // The mutating endpoints: the bearer token alone (what Alertmanager and `rollback-sidecar
  // freeze` send) is judged by itself; Basic credentials alone are not enough.
  auto freeze = https("/api/v1/freeze", "");
  freeze.method = "PUT";
  freeze.body = body;
  freeze.headers = {"Content-Type: application/json", "Authorization: Bearer " + kToken};
  auto frozen = tls_request(freeze);
  EXPECT_EQ(frozen.status, 200) << frozen.body << frozen.error;
  freeze.headers = {"Content-Type: application/json", "Authorization: Bearer wrong"};
  EXPECT_EQ(tls_request(freeze).status, 403);
  freeze.headers = {"Content-Type: application/json"};
  freeze.userpwd = "prometheus:" + kPassword;
  auto basic_only = tls_request(freeze);
  EXPECT_EQ(basic_only.status, 401) << basic_only.body;
  EXPECT_NE(basic_only.body.find("Bearer"), std::string::npos) << basic_only.body;
  freeze.userpwd.clear();
  EXPECT_EQ(tls_request(freeze).status, 401);

  auto metrics = https("/metrics");
  metrics.userpwd = "prometheus:" + kPassword;
  const std::string text = tls_request(metrics).body;
  EXPECT_GE(metric_value(text, R"(rollback_sidecar_http_auth_failures_total{reason="basic_missing"})"), 3) << text;
  EXPECT_GE(metric_value(text, R"(rollback_sidecar_http_auth_failures_total{reason="basic_wrong"})"), 3);
  EXPECT_EQ(metric_value(text, R"(rollback_sidecar_http_auth_failures_total{reason="bearer_wrong"})"), 1);
  // A stranger's certificate fails the handshake; counted.
  EXPECT_EQ(tls_request(https("/healthz", "stranger")).status, 0);
  EXPECT_TRUE(wait_until(
      [&] { return metric_value(tls_request(metrics).body, "rollback_sidecar_tls_handshake_errors_total") == 1; }, 5s));

  // The CLI's remote commands speak https too; the bearer token alone passes basic auth.
  RunResult unfreeze = run({"unfreeze", "--address", "https://127.0.0.1:" + std::to_string(port_), "--token-file",
                            dir_.file("token"), "--ca-file", certs_->file("ca.crt"), "--cert-file",
                            certs_->file("prometheus.crt"), "--key-file", certs_->file("prometheus.key")});
  EXPECT_EQ(unfreeze.exit_code, 0) << unfreeze.output;
  EXPECT_NE(unfreeze.output.find("\"was_frozen\": true"), std::string::npos) << unfreeze.output;

  auto status = https("/api/v1/status");
  status.userpwd = "prometheus:" + kPassword;
  const std::string status_body = tls_request(status).body;
  sidecar_->stop();
  for (const std::string& secret : {*hash_, kPassword, kToken, read_file(certs_->file("server.key"))}) {
    EXPECT_EQ(sidecar_->log().find(secret), std::string::npos) << "a secret in the log";
    EXPECT_EQ(status_body.find(secret), std::string::npos) << "a secret in /api/v1/status";
  }
}

// The one that matters: an unchanged, standard Prometheus scrape_config over mTLS + basic auth.
TEST_F(WebConfigCli, RealPrometheusScrapesOverMutualTlsWithBasicAuth) {
  write_web_config();
  start_sidecar("web_config_file: " + dir_.file("web.yml") + "\n");
  write_file(dir_.file("password"), kPassword + "\n");
  write_file(dir_.file("wrong-password"), "not-" + kPassword + "\n");
  const std::string target = "127.0.0.1:" + std::to_string(port_);
  auto job = [&](const std::string& name, const std::string& password_file) {
    return "  - job_name: " + name +
           "\n"
           "    scheme: https\n"
           "    tls_config:\n"
           "      ca_file: " +
           certs_->file("ca.crt") +
           "\n"
           "      cert_file: " +
           certs_->file("prometheus.crt") +
           "\n"
           "      key_file: " +
           certs_->file("prometheus.key") +
           "\n"
           "    basic_auth:\n"
           "      username: prometheus\n"
           "      password_file: " +
           password_file +
           "\n"
           "    static_configs:\n"
           "      - targets: ['" +
           target + "']\n";
  };
  PrometheusServer::Options options;
  options.job = "sidecar";
  options.extra_scrape_configs =
      job("sidecar", dir_.file("password")) + job("sidecar-wrong-password", dir_.file("wrong-password"));
  PrometheusServer prometheus(options);
  prometheus.start();
  EXPECT_TRUE(prometheus.wait_scraped(30s)) << prometheus.log() << "\n" << sidecar_->log();
  EXPECT_TRUE(wait_until([&] { return prometheus.query_value("rollback_sidecar_build_info{job=\"sidecar\"}") == "1"; },
                         15s, 200ms))
      << prometheus.log();
  EXPECT_TRUE(
      wait_until([&] { return prometheus.query_value("up{job=\"sidecar-wrong-password\"}") == "0"; }, 15s, 200ms))
      << prometheus.log();
  EXPECT_EQ(prometheus.query_value("rollback_sidecar_build_info{job=\"sidecar-wrong-password\"}"), "");
  // The refusals of the wrong password show in the next scrape of the right one.
  EXPECT_TRUE(wait_until(
      [&] {
        return prometheus.query_value(
                   "rollback_sidecar_http_auth_failures_total{job=\"sidecar\",reason=\"basic_wrong\"} > 0") != "";
      },
      15s, 200ms))
      << prometheus.log();
}

}  // namespace
}  // namespace rs::testing
