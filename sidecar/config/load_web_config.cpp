// web_config_file: the exporter-toolkit web config (TLS and basic auth on the listen port), read
// from the file the key (or --web.config.file) names. Its errors name that file and its lines.
// Certificates are only checked to exist here; `check` and start-up also parse them
// (sidecar/api/tls_context.h), which needs OpenSSL and so lives a layer up.
#include <sys/stat.h>

#include <re2/re2.h>

#include <cerrno>
#include <cstring>

#include "common/read_file.h"
#include "common/utf8.h"
#include "sidecar/config/loaders.h"

namespace rs::sidecar {

const char* client_auth_name(ClientAuth a) {
  switch (a) {
    case ClientAuth::kNoClientCert: return "NoClientCert";
    case ClientAuth::kRequestClientCert: return "RequestClientCert";
    case ClientAuth::kRequireAnyClientCert: return "RequireAnyClientCert";
    case ClientAuth::kVerifyClientCertIfGiven: return "VerifyClientCertIfGiven";
    case ClientAuth::kRequireAndVerifyClientCert: return "RequireAndVerifyClientCert";
  }
  return "NoClientCert";
}

const char* tls_version_name(TlsVersion v) {
  switch (v) {
    case TlsVersion::kTls10: return "TLS10";
    case TlsVersion::kTls11: return "TLS11";
    case TlsVersion::kTls12: return "TLS12";
    case TlsVersion::kTls13: return "TLS13";
  }
  return "TLS12";
}

}  // namespace rs::sidecar

namespace rs::sidecar::config_internal {
namespace {

constexpr std::size_t kMaxWebConfigBytes = 1024 * 1024;

// exporter-toolkit resolves relative paths against the web config file's directory.
std::string join_dir(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return dir + "/" + path;
}

std::string directory_of(const std::string& file) {
  const auto slash = file.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : file.substr(0, slash);
}

// A path the server will open: must exist as a regular file (the content is checked by the
// TLS context when it is built).
void check_file(MapReader& r, const std::string& key, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    r.error(key, "'" + path + "' cannot be read (" + std::strerror(errno) + ")");
  } else if (!S_ISREG(st.st_mode)) {
    r.error(key, "'" + path + "' is not a regular file");
  }
}

std::optional<TlsVersion> read_version(MapReader& r, const std::string& key, TlsVersion fallback) {
  auto text = r.scalar(key, false);
  if (!text) return fallback;
  if (*text == "TLS12") return TlsVersion::kTls12;
  if (*text == "TLS13") return TlsVersion::kTls13;
  if (*text == "TLS10" || *text == "TLS11") {
    r.error(key, *text + " is not supported (OpenSSL 3 refuses it at its default security level); use TLS12 or TLS13");
    return std::nullopt;
  }
  r.error(key, quote_clipped(*text) + " is not a TLS version (TLS12, TLS13)");
  return std::nullopt;
}

void load_tls(MapReader& tls, const std::string& dir, WebTlsConfig& out) {
  const std::string cert = tls.string("cert_file", "");
  const std::string key = tls.string("key_file", "");
  const std::string ca = tls.string("client_ca_file", "");
  const std::optional<std::string> auth = tls.scalar("client_auth_type", false);
  // As exporter-toolkit's TLSConfig.IsEnabled: any of these turns TLS on.
  out.enabled = !cert.empty() || !key.empty() || !ca.empty() || auth.has_value();
  if (auth) {
    static const std::pair<const char*, ClientAuth> kTypes[] = {
        {"NoClientCert", ClientAuth::kNoClientCert},
        {"RequestClientCert", ClientAuth::kRequestClientCert},
        {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
        {"RequireClientCert", ClientAuth::kRequireAnyClientCert},  // exporter-toolkit's old name
        {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
        {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert},
    };
    bool known = false;
    for (const auto& [name, value] : kTypes) {
      if (*auth == name) {
        out.client_auth = value;
        known = true;
      }
    }
    if (!known) {
      tls.error("client_auth_type", quote_clipped(*auth) +
                                        " is not a client auth type (NoClientCert, RequestClientCert, "
                                        "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)");
    }
  }
  const auto min = read_version(tls, "min_version", TlsVersion::kTls12);
  const auto max = read_version(tls, "max_version", TlsVersion::kTls13);
  if (min) out.min_version = *min;
  if (max) out.max_version = *max;
  if (min && max && *min > *max) {
    tls.error("min_version", std::string(tls_version_name(*min)) + " is above max_version " + tls_version_name(*max));
  }
  tls.finish({
      {"cert", "inline certificates are not supported: put the PEM in a file and use cert_file"},
      {"key", "inline keys are not supported: put the PEM in a file (mode 0600) and use key_file"},
      {"client_ca", "inline CA certificates are not supported: put the PEM in a file and use client_ca_file"},
      {"client_allowed_sans",
       "is not supported by rollback-sidecar: any certificate client_ca_file verifies is accepted"},
      {"cipher_suites", "is not supported by rollback-sidecar: OpenSSL's default cipher suites apply"},
      {"curve_preferences", "is not supported by rollback-sidecar: OpenSSL's default groups apply"},
      {"prefer_server_cipher_suites", "is not supported by rollback-sidecar: OpenSSL's server preference applies"},
  });
  if (!out.enabled) return;
  if (cert.empty()) tls.error("cert_file", "is required when TLS is configured (no inline cert)");
  if (key.empty()) tls.error("key_file", "is required when TLS is configured (no inline key)");
  out.cert_file = join_dir(dir, cert);
  out.key_file = join_dir(dir, key);
  out.client_ca_file = join_dir(dir, ca);
  if (!cert.empty()) check_file(tls, "cert_file", out.cert_file);
  if (!key.empty()) check_file(tls, "key_file", out.key_file);
  if (!ca.empty()) check_file(tls, "client_ca_file", out.client_ca_file);
  if (!ca.empty() && out.client_auth == ClientAuth::kNoClientCert) {
    tls.error("client_ca_file",
              "is set but client_auth_type is NoClientCert, so no client certificate is asked for; "
              "set client_auth_type: RequireAndVerifyClientCert for mutual TLS");
  }
  // exporter-toolkit (Go) falls back to the host's root CAs here; a sidecar verifying scrapers
  // against every public CA is never what was meant, so the CA must be named.
  if (ca.empty() && (out.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                     out.client_auth == ClientAuth::kRequireAndVerifyClientCert)) {
    tls.error("client_auth_type", std::string(client_auth_name(out.client_auth)) +
                                      " needs client_ca_file: the CA that signs the clients' certificates");
  }
}

void load_users(MapReader& top, WebConfig& out) {
  const YAML::Node users = top.raw("basic_auth_users");
  if (!users || users.IsNull()) return;
  if (!users.IsMap()) {
    top.error("basic_auth_users", std::string("must be a map of user: bcrypt hash, found ") + node_kind(users));
    return;
  }
  // bcrypt in modular crypt format: $2a$ / $2b$ / $2y$, cost 04..31, 22 characters of salt and 31 of hash.
  static const re2::RE2 kBcrypt(R"(\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53})");
  for (auto it = users.begin(); it != users.end(); ++it) {
    const std::string user = it->first.Scalar();
    const std::string path = "basic_auth_users." + user;
    const int line = line_of(it->first);
    if (!it->second.IsScalar()) {
      top.add(path, line, "must be a bcrypt hash (a string), found " + std::string(node_kind(it->second)));
      continue;
    }
    if (user.empty() || user.find(':') != std::string::npos) {
      top.add("basic_auth_users", line,
              "user names must be non-empty and without ':' (Basic auth splits at the first ':')");
      continue;
    }
    // The hash is a secret: the message never shows it.
    if (!re2::RE2::FullMatch(it->second.Scalar(), kBcrypt)) {
      top.add(path, line,
              "is not a bcrypt hash ($2y$10$ followed by 53 characters; make one with "
              "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`)");
      continue;
    }
    out.basic_auth_users[user] = it->second.Scalar();
  }
}

}  // namespace

void load_web_config(LoadContext& c) {
  std::string file = c.top.string("web_config_file", "");
  std::string where = "web_config_file";
  int line = c.top.line("web_config_file");
  if (!c.options.web_config_file.empty()) {
    file = c.options.web_config_file;  // the flag wins, as a flag does over a file
    where = "--web.config.file";
    line = 0;
  }
  if (file.empty()) return;
  WebConfig& out = c.config.web;
  out.file = file;
  std::string why;
  const std::optional<std::string> text = common::read_regular_file(file, kMaxWebConfigBytes, &why);
  if (!text) {
    c.errors.push_back(ConfigError{where, line, "cannot read the web config file: " + why});
    return;
  }
  // An empty file (or only comments) is a valid web config, as in exporter-toolkit: plain HTTP,
  // no users.
  try {
    if (!common::find_control_byte(*text) && YAML::Load(*text).IsNull()) return;  // read_document names the byte
  } catch (const YAML::Exception&) {
    // read_document reports it with its line
  }
  Errors errors;
  if (std::optional<YAML::Node> root = read_document(*text, errors)) {
    MapReader top(*root, "", 1, errors);
    if (top.has("tls_server_config")) {
      MapReader tls = top.child("tls_server_config");
      load_tls(tls, directory_of(file), out.tls);
    } else {
      top.raw("tls_server_config");  // known, even when absent
    }
    load_users(top, out);
    top.finish({
        {"http_server_config", "is not supported by rollback-sidecar (HTTP/1.1 only, no extra response headers)"},
        {"rate_limit", "is not supported by rollback-sidecar (the server caps connections and request sizes itself)"},
    });
  }
  for (auto& e : errors) {
    e.file = file;
    c.errors.push_back(std::move(e));
  }
}

}  // namespace rs::sidecar::config_internal
