// Model of a Prometheus /api/v1/query (instant) and /api/v1/query_range (range) response and
// their strict parsers. No decision logic here.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rs::promql {

struct Sample {
  std::map<std::string, std::string> labels;
  double timestamp = 0;  // seconds since the epoch, as Prometheus reported it
  double value = 0;      // may be NaN or +/-Inf
};

enum class ResultType { kVector, kScalar };

struct QueryData {
  ResultType type = ResultType::kVector;
  std::vector<Sample> samples;        // scalar: exactly one sample with no labels
  std::vector<std::string> warnings;  // Prometheus "warnings", verbatim
  std::vector<std::string> infos;     // Prometheus "infos" (PromQL info annotations), verbatim
  // VictoriaMetrics cluster's top-level "isPartial": true: some storage nodes did not answer, so
  // the samples may be missing series. A partial answer must not be mistaken for a complete one
  // (a missing series can hide a breach of an `above` rule and fake one of a `below` rule).
  bool partial = false;
};

// One series of a range query's matrix: its labels and its points, oldest first.
struct Point {
  double timestamp = 0;  // seconds since the epoch, as Prometheus reported it
  double value = 0;      // may be NaN or +/-Inf
};
struct Series {
  std::map<std::string, std::string> labels;
  std::vector<Point> points;  // strictly increasing timestamps
};

// A /api/v1/query_range answer: a matrix (resultType "matrix"). A series has a point at an
// evaluation step only when the expression had a value for it there, exactly like the instant
// query at that time.
struct RangeData {
  std::vector<Series> series;  // label sets are distinct
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
  bool partial = false;  // VictoriaMetrics' isPartial, as in QueryData
};

// Why a query produced no usable data. The reason strings are the `reason` label values of
// rollback_sidecar_query_errors_total and are part of the contract.
enum class ErrorReason {
  kTimeout,      // "timeout"
  kConnect,      // "connect"
  kHttp,         // "http": non-2xx status without a Prometheus error body
  kPrometheus,   // "prometheus": status "error" from Prometheus (errorType/error verbatim)
  kParse,        // "parse": body is not a valid query response
  kOversize,     // "oversize": body larger than the configured cap
  kUnsupported,  // "unsupported": matrix or string result where a vector/scalar is needed
  kAuth,         // "auth": credentials could not be read (e.g. token file missing)
  kTransport,    // "transport": any other transport failure
  kPartial,      // "partial": a partial answer (isPartial: true), refused by refuse_partial()
};
const char* error_reason_name(ErrorReason r);

struct QueryError {
  ErrorReason reason = ErrorReason::kParse;
  std::string message;     // human-readable, names what was wrong
  long http_status = 0;    // when known (also for kPrometheus: 400, 422, 499, 500, 503, or 200)
  std::string error_type;  // Prometheus errorType verbatim, when reason == kPrometheus ("" if absent)
};

// A bounded label value for a Prometheus errorType: one of Prometheus's own values ("timeout",
// "canceled", "execution", "bad_data", "internal", "unavailable", "not_found", "not_acceptable")
// verbatim, "other" for anything else (Cortex's "server_error", vmalert's "type:"), "" when absent.
// Safe as a metric label: at most these ten values, whatever a server sends.
std::string error_type_label(const QueryError& error);

// Whether asking again later may succeed: transport failures, timeouts, HTTP 429/5xx, and
// Prometheus errors of type timeout/canceled/unavailable/internal/execution(503) and the like.
// A bad_data or not_found error (the query itself is wrong) and parse/unsupported errors (the
// answer will keep its shape) are not transient, whatever HTTP status carried them.
bool is_transient(const QueryError& error);

using QueryOutcome = std::variant<QueryData, QueryError>;
using RangeOutcome = std::variant<RangeData, QueryError>;

// A partial answer (VictoriaMetrics' isPartial: true) is not judged: a missing series can hide a
// breach of an `above` rule or fake one of a `below` rule, and a ratio can move either way. It
// becomes a transient kPartial error (counted, logged, never a datapoint); anything else is
// returned unchanged.
QueryOutcome refuse_partial(QueryOutcome outcome);
RangeOutcome refuse_partial(RangeOutcome outcome);

// Parses a response body. http_status is used to classify non-2xx responses: Prometheus
// answers 400/422/503 with a JSON error body, which is surfaced as kPrometheus with its
// errorType and error verbatim; other non-2xx bodies become kHttp. Never throws.
QueryOutcome parse_query_response(long http_status, std::string_view body);

// The same for a range query's body (errors classified the same way). Strict: resultType must be
// "matrix"; each series needs "metric" (string label values) and "values" ([timestamp, "value"]
// pairs with strictly increasing timestamps); two series with the same labels are refused (kParse);
// native histogram points ("histograms") are kUnsupported. Never throws.
RangeOutcome parse_range_response(long http_status, std::string_view body);

}  // namespace rs::promql
