// The server side of TLS on the listen port: an OpenSSL SSL_CTX built from tls_server_config,
// rebuilt when the certificate, key or client CA files change.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "sidecar/config/web_config.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace rs::sidecar {

// Contract: load() builds the first context and fails (false + error naming the file and
// OpenSSL's reason, never file content) when the cert, key or CA cannot be used or the key does
// not match the cert. current() is for the server's loop thread only: at most once per
// `check_every` it compares each file's mtime and size with the last build's and rebuilds when
// one changed; a rebuild that fails keeps the previous context, logs the reason and calls
// `on_reload_error` (no retry until a file changes again). A connection takes its own reference
// (SSL_new), so a context replaced mid-connection stays valid for it.
class TlsContext {
 public:
  explicit TlsContext(WebTlsConfig config, std::function<void()> on_reload_error = nullptr,
                      std::chrono::milliseconds check_every = std::chrono::seconds(1));
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool load(std::string* error);
  SSL_CTX* current();  // null before a successful load()
  std::uint64_t reloads() const { return reloads_; }

  // Builds a context once and drops it: for `check`.
  static bool validate(const WebTlsConfig& config, std::string* error);

 private:
  struct Stamp {
    bool exists = false;
    std::int64_t mtime_ns = 0;
    off_t size = 0;
    bool operator==(const Stamp& o) const { return exists == o.exists && mtime_ns == o.mtime_ns && size == o.size; }
  };
  struct Stamps {
    Stamp cert, key, ca;
    bool operator==(const Stamps& o) const { return cert == o.cert && key == o.key && ca == o.ca; }
  };
  Stamps stamps() const;
  static SSL_CTX* build(const WebTlsConfig& config, std::string* error);

  WebTlsConfig config_;
  std::function<void()> on_reload_error_;
  std::chrono::milliseconds check_every_;
  SSL_CTX* ctx_ = nullptr;
  Stamps built_from_;
  std::chrono::steady_clock::time_point next_check_;
  std::uint64_t reloads_ = 0;
};

}  // namespace rs::sidecar
