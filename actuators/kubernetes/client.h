// A small Kubernetes API client for the kubernetes actuators: where the API server is and how to
// authenticate (in-cluster service account, a kubeconfig context, or an explicit api_server with
// token and CA files), and GET / PATCH with the API server's Status errors reported verbatim.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/http/http_transport.h"

namespace rs::actuators::kubernetes {

using Deadline = std::chrono::steady_clock::time_point;

// The credential keys of every kubernetes actuator (docs/kubernetes.md). With none of them set
// the client runs in-cluster: token and CA from `service_account_dir`, the server from
// KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT.
struct ConnectionSettings {
  std::string kubeconfig;  // path; with `context` (default: the kubeconfig's current-context)
  std::string context;
  std::string api_server;  // https://host:port; with token_file and ca_file
  std::string token_file;
  std::string ca_file;
  std::chrono::milliseconds request_timeout{5000};
  // Seams for tests; production uses the standard path and the process environment.
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// Where and how to talk to one API server, resolved from ConnectionSettings.
struct Cluster {
  std::string server;      // "https://host:port", no trailing slash
  rs::TlsOptions tls;      // CA (file or PEM), client certificate and key (file or PEM)
  std::string token;       // a static token (kubeconfig `token`)
  std::string token_file;  // a token re-read when the file changes and after a 401
  std::string source;      // "in-cluster", "kubeconfig /x context y", "api_server https://..."
  std::chrono::milliseconds request_timeout{5000};
};

// Resolves the settings; false with *error (never containing a credential) when incomplete.
// *retryable (when given) is false when waiting cannot help: a kubeconfig that is not a readable
// regular file, is not valid YAML, or lacks the context, cluster or user it names.
bool resolve_cluster(const ConnectionSettings& settings, Cluster* cluster, std::string* error,
                     bool* retryable = nullptr);

// The cluster a kubeconfig's text names (context `context`, or its current-context); `path` is
// where it was read from (relative file paths in it are relative to that, messages name it).
// What resolve_cluster() does with a kubeconfig after reading the file; false with *error.
bool cluster_from_kubeconfig(const std::string& text, const std::string& path, const std::string& context,
                             Cluster* cluster, std::string* error);

// One API answer. describe() quotes a Status body's reason and message verbatim.
struct Reply {
  rs::TransportError error = rs::TransportError::kNone;
  std::string error_message;
  long status = 0;
  nlohmann::json body;  // null when the body is not JSON
  std::string raw;      // the body as received (cut to 64 KiB by the transport)

  bool ok() const { return error == rs::TransportError::kNone && status >= 200 && status < 300; }
  bool conflict() const { return error == rs::TransportError::kNone && status == 409; }
  // Transport failures, 429 and 5xx may pass; 400/401/403/404/415/422 will not (409: re-read).
  bool retryable() const;
  std::string describe() const;  // "HTTP 403 Forbidden: services \"x\" is forbidden: ..."
};

class Client {
 public:
  // `clock` (the Env's: deadlines are in its mono() time) must outlive the client; null: the
  // system clocks. A null transport is curl.
  Client(Cluster cluster, std::shared_ptr<rs::HttpTransport> transport, Clock* clock = nullptr);

  Reply get(const std::string& path, Deadline deadline);
  // `content_type`: application/merge-patch+json, application/strategic-merge-patch+json or
  // application/json-patch+json.
  Reply patch(const std::string& path, const std::string& content_type, const nlohmann::json& body, Deadline deadline);

 private:
  Reply send(const std::string& method, const std::string& path, const std::string& content_type,
             const std::string& body, Deadline deadline);
  // Loads the token file when it changed since the last read (or always with `force`).
  bool refresh_token(bool force, std::string* error);

  Cluster cluster_;
  std::shared_ptr<rs::HttpTransport> transport_;
  Clock* clock_;
  std::mutex mu_;  // the transport is used from one thread at a time; guards the token
  std::string token_;
  struct timespec token_mtime_ {};
  off_t token_size_ = -1;
};

// Standard base64 (kubeconfig *-data fields); nullopt when malformed.
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace rs::actuators::kubernetes
