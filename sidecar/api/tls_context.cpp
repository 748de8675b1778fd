#include "sidecar/api/tls_context.h"

#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <spdlog/spdlog.h>

namespace rs::sidecar {
namespace {

// OpenSSL's queued errors as one line (reasons like "PEM lib" or "key values mismatch"; they
// never carry key material), and the queue cleared.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

int protocol_version(TlsVersion v) {
  switch (v) {
    case TlsVersion::kTls10: return TLS1_VERSION;
    case TlsVersion::kTls11: return TLS1_1_VERSION;
    case TlsVersion::kTls12: return TLS1_2_VERSION;
    case TlsVersion::kTls13: return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

// RequestClientCert and RequireAnyClientCert take any certificate without verifying it (Go's
// semantics): the chain check's verdict is ignored.
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

}  // namespace

TlsContext::TlsContext(WebTlsConfig config, std::function<void()> on_reload_error,
                       std::chrono::milliseconds check_every)
    : config_(std::move(config)), on_reload_error_(std::move(on_reload_error)), check_every_(check_every) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

SSL_CTX* TlsContext::build(const WebTlsConfig& config, std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    *error = "TLS: cannot create a context: " + openssl_errors();
    return nullptr;
  }
  auto fail = [&](const std::string& what) {
    *error = what + ": " + openssl_errors();
    SSL_CTX_free(ctx);
    return nullptr;
  };
  SSL_CTX_set_min_proto_version(ctx, protocol_version(config.min_version));
  SSL_CTX_set_max_proto_version(ctx, protocol_version(config.max_version));
  // The loop retries a partial SSL_write with the same (not moved) buffer; no renegotiation.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A client closing without close_notify is an EOF, not an error: requests are framed by
  // Content-Length, so a cut cannot pass for a complete one.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Scrapers keep their connection; no session cache or tickets to reason about.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1)
    return fail("tls_server_config.cert_file '" + config.cert_file + "' is not a usable PEM certificate");
  if (SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)  // OpenSSL 3 checks here
      return fail("tls_server_config.key_file '" + config.key_file + "' does not match cert_file '" + config.cert_file +
                  "'");
    return fail("tls_server_config.key_file '" + config.key_file + "' is not a usable PEM private key");
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail("tls_server_config.key_file '" + config.key_file + "' does not match cert_file '" + config.cert_file +
                "'");
  if (!config.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca_file.c_str(), nullptr) != 1)
      return fail("tls_server_config.client_ca_file '" + config.client_ca_file + "' is not a usable PEM CA bundle");
    // Names the acceptable CAs in the certificate request, so clients (Go's, Prometheus's) pick
    // the certificate that CA signed.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
    if (!names) return fail("tls_server_config.client_ca_file '" + config.client_ca_file + "' holds no certificate");
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  switch (config.client_auth) {
    case ClientAuth::kNoClientCert: SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr); break;
    case ClientAuth::kRequestClientCert: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_certificate); break;
    case ClientAuth::kRequireAnyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_certificate);
      break;
    case ClientAuth::kVerifyClientCertIfGiven: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr); break;
    case ClientAuth::kRequireAndVerifyClientCert:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  // One context per config: the peer's certificate is checked against it, not against a session id.
  static const unsigned char kSessionContext[] = "rollback-sidecar";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

TlsContext::Stamps TlsContext::stamps() const {
  auto stamp = [](const std::string& path) {
    Stamp s;
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return s;
    s.exists = true;
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.size = st.st_size;
    return s;
  };
  return Stamps{stamp(config_.cert_file), stamp(config_.key_file), stamp(config_.client_ca_file)};
}

bool TlsContext::load(std::string* error) {
  const Stamps seen = stamps();
  SSL_CTX* ctx = build(config_, error);
  if (!ctx) return false;
  SSL_CTX_free(ctx_);
  ctx_ = ctx;
  built_from_ = seen;
  next_check_ = std::chrono::steady_clock::now() + check_every_;
  return true;
}

SSL_CTX* TlsContext::current() {
  const auto now = std::chrono::steady_clock::now();
  if (!ctx_ || now < next_check_) return ctx_;
  next_check_ = now + check_every_;
  const Stamps seen = stamps();
  if (seen == built_from_) return ctx_;
  // Stamped before the build: a file written during it is seen as changed at the next check.
  built_from_ = seen;
  std::string error;
  SSL_CTX* ctx = build(config_, &error);
  if (!ctx) {
    spdlog::error("TLS: the changed certificate files cannot be used, still serving the previous ones: {}", error);
    if (on_reload_error_) on_reload_error_();
    return ctx_;
  }
  SSL_CTX_free(ctx_);  // connections hold their own references
  ctx_ = ctx;
  ++reloads_;
  spdlog::info("TLS: certificate files changed; new connections use the reloaded {}", config_.cert_file);
  return ctx_;
}

bool TlsContext::validate(const WebTlsConfig& config, std::string* error) {
  SSL_CTX* ctx = build(config, error);
  SSL_CTX_free(ctx);
  return ctx != nullptr;
}

}  // namespace rs::sidecar
