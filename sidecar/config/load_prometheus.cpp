// prometheus: where the queries go and how they authenticate.
#include <algorithm>

#include "sidecar/config/load_cloudwatch.h"
#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

// The userinfo of a URL ("user:pass" in http://user:pass@host/), or "" when there is none.
std::string userinfo_of(const std::string& url) {
  const auto scheme = url.find("://");
  const std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const std::size_t end = url.find_first_of("/?#", start);
  const std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  const auto at = authority.rfind('@');
  return at == std::string::npos ? "" : authority.substr(0, at);
}

// The URL with its userinfo's password replaced by "***", for messages.
std::string redacted(const std::string& url) {
  const std::string userinfo = userinfo_of(url);
  const auto colon = userinfo.find(':');
  if (colon == std::string::npos) return url;
  const auto at = url.find(userinfo) + userinfo.size();
  return url.substr(0, url.find(userinfo)) + userinfo.substr(0, colon) + ":***" + url.substr(at);
}

}  // namespace

void load_prometheus(LoadContext& c) {
  if (!c.top.has("prometheus")) c.top.error("prometheus", "is required (at least prometheus.url)");
  MapReader r = c.top.child("prometheus");
  promql::ClientOptions& out = c.config.prometheus;
  out.url = r.string("url");
  if (!out.url.empty() && out.url.rfind("http://", 0) != 0 && out.url.rfind("https://", 0) != 0) {
    r.error("url", "'" + redacted(out.url) + "' must start with http:// or https://");
  }
  // A password in the URL sits in the config (and in every log line quoting the URL): refused,
  // and never repeated in the message.
  if (userinfo_of(out.url).find(':') != std::string::npos) {
    r.error("url",
            "has a password in it (user:***@); put the password in a file: "
            "basic_auth: {username: ..., password_file: /run/secrets/...}");
    out.url = redacted(out.url);
  }
  while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  out.timeout = r.duration("timeout", std::chrono::milliseconds{2000});
  if (out.timeout.count() <= 0) r.error("timeout", "must be greater than 0");
  for (const auto& [k, v] : r.string_map("headers")) {
    if (k == "Authorization" || k == "authorization") {
      r.error("headers", "set Authorization through bearer_token_file or basic_auth, so the secret stays in a file");
    }
    out.headers.emplace_back(k, v);
  }
  out.bearer_token_file = r.string("bearer_token_file", "");
  if (r.has("basic_auth")) {
    MapReader b = r.child("basic_auth");
    out.basic_auth_username = b.string("username");
    out.basic_auth_password_file = b.string("password_file");
    b.finish({{"password", "put the password in a file and use password_file, so it never sits in the config"}});
  }
  if (r.has("tls")) {
    MapReader t = r.child("tls");
    out.tls.ca_file = t.string("ca_file", "");
    out.tls.cert_file = t.string("cert_file", "");
    out.tls.key_file = t.string("key_file", "");
    out.tls.insecure_skip_verify = t.boolean("insecure_skip_verify", false);
    if (out.tls.cert_file.empty() != out.tls.key_file.empty())
      t.error("cert_file", "cert_file and key_file go together");
    t.finish();
  }
  if (r.has("sigv4")) {
    MapReader s = r.child("sigv4");
    load_prometheus_sigv4(r, s, out);
    s.finish();
  }
  if (!out.bearer_token_file.empty() && !out.basic_auth_username.empty()) {
    r.error("bearer_token_file", "use either bearer_token_file or basic_auth, not both");
  }
  long long max_bytes = r.integer("max_response_bytes", 4LL * 1024 * 1024);
  if (max_bytes < 1024) r.error("max_response_bytes", "must be at least 1024");
  out.max_body_bytes = static_cast<size_t>(std::max(max_bytes, 1024LL));
  r.finish({{"bearer_token", "put the token in a file and use bearer_token_file"}});
}

}  // namespace rs::sidecar::config_internal
