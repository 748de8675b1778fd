// `web_config_file:` (or `--web.config.file`) — TLS and basic auth on the listen port, in the
// format of the Prometheus exporter-toolkit's web config (docs/configuration.md#web_config_file).
// Loaded by load_web_config() (load_web_config.cpp); served by sidecar/api/tls_context.h and
// sidecar/api/basic_auth.h.
#pragma once

#include <map>
#include <string>

namespace rs::sidecar {

// exporter-toolkit's client_auth_type values (Go's tls.ClientAuthType).
enum class ClientAuth {
  kNoClientCert,                // never asks for a certificate
  kRequestClientCert,           // asks; accepts none or any, unverified
  kRequireAnyClientCert,        // needs one, not verified against client_ca_file
  kVerifyClientCertIfGiven,     // accepts none; one that is sent must verify
  kRequireAndVerifyClientCert,  // needs one that verifies against client_ca_file (mTLS)
};
const char* client_auth_name(ClientAuth a);

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };
const char* tls_version_name(TlsVersion v);

struct WebTlsConfig {
  bool enabled = false;  // tls_server_config present with a certificate
  // Absolute, or relative to the web config file's directory (as exporter-toolkit resolves them).
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // "" = none
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
};

struct WebConfig {
  std::string file;  // "" = no web config: plain HTTP, no basic auth
  WebTlsConfig tls;
  // user -> bcrypt hash ($2a$/$2b$/$2y$). Empty = no basic auth. The hashes are secrets: never
  // logged, never in /api/v1/status or the audit log.
  std::map<std::string, std::string> basic_auth_users;
};

}  // namespace rs::sidecar
