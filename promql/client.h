// Prometheus HTTP API client: instant and range queries, run concurrently, over an injected transport.
// Works against anything speaking the API (Prometheus, Thanos, Mimir, VictoriaMetrics).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/aws/credentials.h"
#include "common/http/http_transport.h"
#include "promql/response.h"

namespace rs::promql {

struct ClientOptions {
  std::string url = "http://127.0.0.1:9090";                 // base URL; /api/v1/query is appended
  std::chrono::milliseconds timeout{2000};                   // per query, also sent as the `timeout` param
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. X-Scope-OrgID
  // Secret files are re-read on every batch so rotated secrets take effect; trailing
  // whitespace/newlines are trimmed. A missing, unreadable or empty file fails the whole batch
  // with kAuth naming the file (never its content).
  std::string bearer_token_file;         // sent as "Authorization: Bearer <token>"
  std::string basic_auth_username;       // basic auth is used when this is set
  std::string basic_auth_password_file;  // optional: empty password when unset
  TlsOptions tls;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  // AWS SigV4 (Amazon Managed Service for Prometheus: service "aps"): every query is signed by
  // the transport (HttpRequest::sigv4) with credentials from `credentials`, by default the
  // standard chain (common/aws) for `profile` and `region`. Not with bearer or basic auth.
  struct SigV4 {
    std::string region;
    std::string service = "aps";
    std::string profile;
    std::shared_ptr<aws::CredentialsProvider> credentials;  // null: the standard chain
  };
  std::optional<SigV4> sigv4;
};

// Contract: query_all() sends every query at once as a form POST to /api/v1/query
// (query=<q>[&time=<at>]&timeout=<options.timeout>) and returns one outcome per query in the
// same order; a batch costs the slowest query, not the sum. Identical queries in one batch (the
// same text at the same time, or over the same range and step) are sent once: every position
// that holds one gets a copy of that one answer (and its elapsed time), so rules sharing a
// baseline, a min_samples or an slo window cost Prometheus one query per tick. It never throws.
// Credentials are never part of an error message.
class Client {
 public:
  Client(ClientOptions options, std::shared_ptr<HttpTransport> transport);

  // `at` (seconds since the epoch) pins the evaluation time; nullopt lets Prometheus use now.
  // `elapsed_seconds`, when given, receives each query's wall time (0 when none was sent).
  std::vector<QueryOutcome> query_all(const std::vector<std::string>& queries, std::optional<double> at = std::nullopt,
                                      std::vector<double>* elapsed_seconds = nullptr);
  QueryOutcome query(const std::string& query, std::optional<double> at = std::nullopt);

  // Range queries, the same way: every query at once as a form POST to /api/v1/query_range
  // (query=<q>&start=<start>&end=<end>&step=<step>&timeout=<options.timeout>; unix seconds with
  // millisecond precision), one outcome per query in order, the same headers, credentials, TLS,
  // timeout and body cap. Prometheus evaluates at start, start+step, ... up to end and refuses
  // more than 11,000 points per series: split longer ranges with promql/range.h.
  std::vector<RangeOutcome> query_range_all(const std::vector<std::string>& queries, double start, double end,
                                            double step);
  RangeOutcome query_range(const std::string& query, double start, double end, double step);

  const ClientOptions& options() const { return options_; }

 private:
  struct Credentials;
  std::optional<QueryError> load_credentials(Credentials* credentials) const;
  // A form POST of `form` (already encoded, without the timeout) to <url>/api/v1/<endpoint>.
  HttpRequest build_request(const char* endpoint, std::string form, const Credentials& credentials) const;
  // Sends one request per form at once; `parse` turns each response into an Outcome.
  template <typename Outcome, typename Parse>
  std::vector<Outcome> perform(const char* endpoint, const std::vector<std::string>& forms, Parse parse,
                               std::vector<double>* elapsed_seconds);
  void redact(QueryError* error, const Credentials& credentials) const;

  ClientOptions options_;
  std::shared_ptr<HttpTransport> transport_;
};

}  // namespace rs::promql
