// HTTP transport seam: the PromQL client (and anything else that calls HTTP APIs) builds
// requests, a transport executes them. Production uses make_http_transport(); tests may inject
// their own.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rs {

struct TlsOptions {
  std::string ca_file;    // empty: system trust store
  std::string cert_file;  // client certificate (mTLS), optional
  std::string key_file;   // client key (mTLS), optional
  bool insecure_skip_verify = false;
  // PEM text instead of files (a kubeconfig's *-data fields), so no secret has to be written to
  // disk; a non-empty blob takes precedence over the matching file.
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{2000};  // whole request, connect included; < 1 ms counts as 1 ms
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  TlsOptions tls;
  // Basic auth credentials; the transport never logs them.
  std::optional<std::pair<std::string, std::string>> basic_auth;
  // AWS Signature Version 4, computed by libcurl (CURLOPT_AWS_SIGV4) over the method, URL, the
  // body and every header in `headers` (so add X-Amz-Security-Token there for temporary
  // credentials, and set Content-Type explicitly). Excludes basic_auth. Never logged.
  struct SigV4 {
    std::string provider;    // "aws:amz:REGION:SERVICE", e.g. "aws:amz:eu-west-1:lambda"
    std::string access_key;  // access key id
    std::string secret_key;  // secret access key
  };
  std::optional<SigV4> sigv4;
};

enum class TransportError {
  kNone,
  kTimeout,   // request exceeded HttpRequest::timeout
  kConnect,   // could not connect / resolve / TLS handshake
  kOversize,  // body exceeded HttpRequest::max_body_bytes (transfer aborted)
  kOther,     // any other transport failure
};

struct HttpResponse {
  TransportError error = TransportError::kNone;
  std::string error_message;  // set when error != kNone; never contains credentials
  long status = 0;            // HTTP status when error == kNone
  std::string body;
  // Response headers as received (names as sent by the server; compare case-insensitively).
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::microseconds elapsed{0};
  // True when the request went over an already-open (kept-alive) connection; lets tests and
  // benchmarks check that connections are reused across calls.
  bool connection_reused = false;

  // The value of header `name` (case-insensitive), or "".
  std::string header(const std::string& name) const;
};

// Contract: perform_all() executes every request concurrently and returns one response per
// request, in the same order. It never throws; failures are reported per response. The call
// returns when every request has completed or hit its own timeout. Implementations keep
// connections alive between calls. Safe to call from one thread at a time.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) = 0;

  HttpResponse perform(const HttpRequest& request) { return std::move(perform_all({request}).front()); }
};

// libcurl (multi interface) transport. One multi handle runs a batch's requests in parallel
// and keeps its connection cache (and reused easy handles) across calls. Initialises libcurl
// once per process; sets CURLOPT_NOSIGNAL; sends no "Expect: 100-continue"; accepts compressed
// bodies (the size cap applies to the decoded body); honours the usual *_proxy environment.
// Error mapping: operation timeout → kTimeout; refused/unresolvable/TLS handshake or
// certificate problems → kConnect; body over the cap (by Content-Length or while streaming)
// → kOversize; anything else → kOther. error_message names method and URL (userinfo removed).
std::unique_ptr<HttpTransport> make_curl_transport();

// The production transport: plain http:// over its own sockets (plain_http.h) and libcurl,
// loaded on first need, for https, TLS options, SigV4 and proxies. Use this, not the above.
std::unique_ptr<HttpTransport> make_http_transport();

const char* transport_error_name(TransportError e);

}  // namespace rs
