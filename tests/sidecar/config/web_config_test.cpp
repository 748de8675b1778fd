// web_config_file (and --web.config.file): the exporter-toolkit web config, strictly read; every
// error names the web config file and its line; listen exposure checks across sections.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sidecar/config/config.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

// A valid bcrypt hash (cost 4) of "pw"; only its shape matters to the loader.
const std::string kHash = "$2y$04$3MiPmzqU9kvhxAmVzDkoKuDUDS7K0uYWQaKSuUqSxNUqH69hd5RUm";

class WebConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f : {"server.crt", "server.key", "ca.crt"}) testing::write_file(dir_.file(f), "pem\n");
  }

  std::string config(const std::string& extra) const {
    return "prometheus: {url: 'http://prom:9090'}\n"
           "deployment: {name: checkout, stage: prod, strategy: canary}\n"
           "rules: [{name: r, query: q, above: 1}]\n"
           "actuators: [{type: exec, command: [/bin/true]}]\n" +
           extra;
  }

  LoadResult load(const std::string& web_yaml, const std::string& extra = "", LoadOptions options = {}) {
    testing::write_file(dir_.file("web.yml"), web_yaml);
    std::string top = extra;
    if (options.web_config_file.empty()) top += "web_config_file: " + dir_.file("web.yml") + "\n";
    return load_config_text(config(top), "c.yml", actuators::Registry::builtin(), notifiers::Registry::builtin(), {},
                            system_env(), options);
  }

  std::string errors(const LoadResult& r) const {
    std::string out;
    for (const auto& e : r.errors) out += e.to_string("c.yml") + "\n";
    return out;
  }

  testing::TempDir dir_;
};

TEST_F(WebConfigTest, ReadsTlsAndUsersWithPathsRelativeToTheWebConfigFile) {
  auto r = load(
      "tls_server_config:\n"
      "  cert_file: server.crt\n"
      "  key_file: " +
      dir_.file("server.key") +
      "\n"
      "  client_ca_file: ca.crt\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  min_version: TLS13\n"
      "basic_auth_users:\n"
      "  prometheus: " +
      kHash + "\n");
  ASSERT_TRUE(r.loaded) << errors(r);
  const WebConfig& web = r.loaded->config.web;
  EXPECT_EQ(web.file, dir_.file("web.yml"));
  EXPECT_TRUE(web.tls.enabled);
  EXPECT_EQ(web.tls.cert_file, dir_.path() + "/server.crt");
  EXPECT_EQ(web.tls.key_file, dir_.file("server.key"));
  EXPECT_EQ(web.tls.client_ca_file, dir_.path() + "/ca.crt");
  EXPECT_EQ(web.tls.client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(web.tls.min_version, TlsVersion::kTls13);
  EXPECT_EQ(web.tls.max_version, TlsVersion::kTls13);
  EXPECT_EQ(web.basic_auth_users.at("prometheus"), kHash);
}

TEST_F(WebConfigTest, UsersWithoutTlsAndNoWebConfigAtAll) {
  auto r = load("basic_auth_users: {prometheus: '" + kHash + "'}\n");
  ASSERT_TRUE(r.loaded) << errors(r);
  EXPECT_FALSE(r.loaded->config.web.tls.enabled);
  auto none = load_config_text(config(""), "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(none.loaded) << errors(none);
  EXPECT_TRUE(none.loaded->config.web.file.empty());
  EXPECT_TRUE(none.loaded->config.web.basic_auth_users.empty());
}

TEST_F(WebConfigTest, TheFlagReplacesTheKey) {
  testing::write_file(dir_.file("other.yml"), "basic_auth_users: {ops: '" + kHash + "'}\n");
  LoadOptions options;
  options.web_config_file = dir_.file("other.yml");
  auto r = load_config_text(config("web_config_file: /nonexistent/web.yml\n"), "c.yml", actuators::Registry::builtin(),
                            notifiers::Registry::builtin(), {}, system_env(), options);
  ASSERT_TRUE(r.loaded) << errors(r);
  EXPECT_EQ(r.loaded->config.web.basic_auth_users.count("ops"), 1u);
  options.web_config_file = dir_.file("missing.yml");
  auto missing = load_config_text(config(""), "c.yml", actuators::Registry::builtin(), notifiers::Registry::builtin(),
                                  {}, system_env(), options);
  EXPECT_NE(errors(missing).find("c.yml: --web.config.file: cannot read the web config file: "), std::string::npos)
      << errors(missing);
}

TEST_F(WebConfigTest, EveryErrorNamesTheWebConfigFileAndLine) {
  const std::string web = dir_.file("web.yml");
  auto r = load(
      "tls_server_config:\n"                         // 1
      "  cert_file: server.crt\n"                    // 2
      "  client_ca_file: ca.crt\n"                   // 3
      "  client_auth_type: RequireMutualTLS\n"       // 4
      "  min_version: TLS11\n"                       // 5
      "  max_version: SSL3\n"                        // 6
      "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"  // 7
      "  key: inline\n"                              // 8
      "  client_allowed_sans: [a]\n"                 // 9
      "  colour: blue\n"                             // 10
      "basic_auth_users:\n"                          // 11
      "  prometheus: plaintext-password\n"           // 12
      "  'a:b': " +
      kHash +
      "\n"                                      // 13
      "  ops: [x]\n"                            // 14
      "http_server_config: {http2: false}\n"    // 15
      "rate_limit: {interval: 1s, burst: 5}\n"  // 16
      "tls_client_config: {}\n");               // 17
  const std::string text = errors(r);
  for (const std::string& expected : {
           web + ":4: tls_server_config.client_auth_type: 'RequireMutualTLS' is not a client auth type",
           web + ":5: tls_server_config.min_version: TLS11 is not supported",
           web + ":6: tls_server_config.max_version: 'SSL3' is not a TLS version (TLS12, TLS13)",
           web + ":7: tls_server_config.cipher_suites: is not supported by rollback-sidecar",
           web + ":8: tls_server_config.key: inline keys are not supported",
           web + ":9: tls_server_config.client_allowed_sans: is not supported",
           web + ":10: tls_server_config.colour: unknown key (known here: ",
           web + ":2: tls_server_config.key_file: is required when TLS is configured",
           web + ":12: basic_auth_users.prometheus: is not a bcrypt hash",
           web + ":13: basic_auth_users: user names must be non-empty and without ':'",
           web + ":14: basic_auth_users.ops: must be a bcrypt hash (a string), found a list",
           web + ":15: http_server_config: is not supported by rollback-sidecar",
           web + ":16: rate_limit: is not supported by rollback-sidecar",
           web + ":17: tls_client_config: unknown key (known here: basic_auth_users, tls_server_config)",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nin:\n" << text;
  }
  EXPECT_EQ(text.find("plaintext-password"), std::string::npos) << "a secret in an error:\n" << text;
  EXPECT_EQ(text.find("inline"), text.find("inline keys")) << text;
}

TEST_F(WebConfigTest, ClientCertificateRulesFollowExporterToolkit) {
  const std::string web = dir_.file("web.yml");
  auto ca_without_auth =
      load("tls_server_config: {cert_file: server.crt, key_file: server.key, client_ca_file: ca.crt}\n");
  EXPECT_NE(errors(ca_without_auth)
                .find(web + ":1: tls_server_config.client_ca_file: is set but client_auth_type is "
                            "NoClientCert"),
            std::string::npos)
      << errors(ca_without_auth);
  auto verify_without_ca = load(
      "tls_server_config:\n"
      "  cert_file: server.crt\n"
      "  key_file: server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n");
  EXPECT_NE(errors(verify_without_ca)
                .find(web + ":4: tls_server_config.client_auth_type: RequireAndVerifyClientCert "
                            "needs client_ca_file"),
            std::string::npos)
      << errors(verify_without_ca);
  auto missing_file = load("tls_server_config: {cert_file: nope.crt, key_file: server.key}\n");
  EXPECT_NE(errors(missing_file)
                .find(web + ":1: tls_server_config.cert_file: '" + dir_.path() +
                      "/nope.crt' cannot be read (No such file or directory)"),
            std::string::npos)
      << errors(missing_file);
  auto inverted = load(
      "tls_server_config: {cert_file: server.crt, key_file: server.key, min_version: TLS13, "
      "max_version: TLS12}\n");
  EXPECT_NE(errors(inverted).find("min_version: TLS13 is above max_version TLS12"), std::string::npos)
      << errors(inverted);
  auto old_name = load(
      "tls_server_config: {cert_file: server.crt, key_file: server.key, client_auth_type: "
      "RequireClientCert}\n");
  ASSERT_TRUE(old_name.loaded) << errors(old_name);
  EXPECT_EQ(old_name.loaded->config.web.tls.client_auth, ClientAuth::kRequireAnyClientCert);
  auto empty_tls = load("tls_server_config: {}\n");
  ASSERT_TRUE(empty_tls.loaded) << errors(empty_tls);
  EXPECT_FALSE(empty_tls.loaded->config.web.tls.enabled);
}

TEST_F(WebConfigTest, ANonLoopbackListenNeedsTheTokenOrTlsBeforeAnIntakeCanRollBack) {
  const std::string tls = "tls_server_config: {cert_file: server.crt, key_file: server.key}\n";
  const std::string cloudwatch =
      "cloudwatch: {match: {alarm: 'checkout-.*'}, api_key_file: " + dir_.file("ca.crt") + "}\n";
  auto exposed = load("basic_auth_users: {}\n", "listen: 0.0.0.0:9107\n" + cloudwatch);
  EXPECT_NE(errors(exposed).find("c.yml:5: listen: '0.0.0.0:9107' is not a loopback address and cloudwatch intake is "
                                 "on with neither api.bearer_token_file nor TLS"),
            std::string::npos)
      << errors(exposed);
  auto with_tls = load(tls, "listen: 0.0.0.0:9107\n" + cloudwatch);
  EXPECT_TRUE(with_tls.loaded) << errors(with_tls);
  for (const char* loopback : {"127.0.0.1", "127.3.2.1", "localhost"}) {
    auto local = load("", "listen: '" + std::string(loopback) + ":9107'\n" + cloudwatch);
    EXPECT_TRUE(local.loaded) << loopback << ": " << errors(local);
  }
  // With the token but without TLS it starts, with a warning that the token travels in clear text.
  testing::write_file(dir_.file("token"), "t\n");
  auto token = load("", "listen: 0.0.0.0:9107\napi: {bearer_token_file: " + dir_.file("token") + "}\n");
  ASSERT_TRUE(token.loaded) << errors(token);
  bool warned = false;
  for (const auto& w : token.warnings) warned |= w.message.find("clear text") != std::string::npos;
  EXPECT_TRUE(warned);
  // Nothing mutating enabled: nothing to refuse.
  auto read_only = load("", "listen: 0.0.0.0:9107\n");
  EXPECT_TRUE(read_only.loaded) << errors(read_only);
}

}  // namespace
}  // namespace rs::sidecar
