// HTTP/1.1 over plain TCP, without libcurl: the transport for `http://` requests, which are
// what the sidecar sends every tick in the usual setups (Prometheus, Alertmanager, webhooks on
// the cluster network). libcurl and its thirty libraries (OpenSSL, GnuTLS, Kerberos, LDAP, ...)
// are then never loaded, which is most of the sidecar's resident memory (bench/README.md).
#pragma once

#include <memory>

#include "common/http/http_transport.h"

namespace rs {

// Contract (HttpTransport's, for requests it can_send()): every request of a batch runs
// concurrently (non-blocking sockets, one poll loop); each is bounded by its own timeout,
// connecting and resolving included (a name is resolved on a helper thread that is abandoned at
// the deadline); connections are kept alive per host:port (at most 8 idle each) and a request
// that finds its reused connection closed by the server before any reply is sent once more on a
// new one. Bodies: Content-Length, chunked, or until close; over max_body_bytes → kOversize.
// Sends `Accept: */*`, basic auth as `Authorization: Basic`, and a form Content-Type for a body
// without one (as libcurl does). No compression, no proxies, no redirects (libcurl follows none
// either, as configured). Error mapping and messages as make_curl_transport()'s.
class PlainHttpTransport final : public HttpTransport {
 public:
  PlainHttpTransport();
  ~PlainHttpTransport() override;
  PlainHttpTransport(const PlainHttpTransport&) = delete;
  PlainHttpTransport& operator=(const PlainHttpTransport&) = delete;

  // Whether this transport can send `request`: an `http://` URL without userinfo, no TLS
  // option, no SigV4, and no proxy configured in the environment (*_proxy variables).
  static bool can_send(const HttpRequest& request);

  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override;

 private:
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

// make_http_transport() (http_transport.h) sends with PlainHttpTransport what it can_send(), and
// with libcurl the rest; a batch that mixes both goes to libcurl as a whole.

}  // namespace rs
