#include "promql/response.h"

#include <charconv>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/json_text.h"

namespace rs::promql {
namespace {

using nlohmann::json;

constexpr std::size_t kSnippetChars = 200;

const char* json_type_name(const json& j) { return j.type_name(); }

// Appends a rendering of j to *out, stopping once *out passes kSnippetChars and below a small
// depth: the value is untrusted, and a plain dump() of 100 000 nested arrays recurses 100 000
// times (a stack overflow) only to be cut to 200 characters.
void render(const json& j, int depth, std::string* out) {
  if (out->size() > kSnippetChars) return;
  if (j.is_array() || j.is_object()) {
    if (depth >= 4) {
      *out += j.is_array() ? "[...]" : "{...}";
      return;
    }
    *out += j.is_array() ? '[' : '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out->size() <= kSnippetChars; ++it) {
      if (!first) *out += ',';
      first = false;
      if (j.is_object()) *out += common::dump_json(json(it.key())) + ":";
      render(it.value(), depth + 1, out);
    }
    *out += j.is_array() ? ']' : '}';
    return;
  }
  // Scalars: a string is cut before it is quoted (a 1 MB label value is not copied whole).
  if (j.is_string() && j.get_ref<const std::string&>().size() > kSnippetChars) {
    *out += common::dump_json(json(common::cut_utf8_prefix(j.get_ref<const std::string&>(), kSnippetChars)));
    return;
  }
  *out += common::dump_json(j);
}

// A short, single-line rendering of a (possibly huge or deep) JSON value for error messages.
std::string describe(const json& j) {
  std::string text;
  render(j, 0, &text);
  if (text.size() > kSnippetChars) text = common::cut_utf8_prefix(text, kSnippetChars) + "...";
  return text;
}

// First bytes of a raw body with control characters blanked, for kHttp messages.
std::string snippet(std::string_view body) {
  std::string out = common::valid_utf8(common::cut_utf8_prefix(body, kSnippetChars));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (body.size() > kSnippetChars) out += "...";
  return out;
}

QueryError parse_error(const std::string& message) { return QueryError{ErrorReason::kParse, message, 0, ""}; }

// Prometheus renders sample values with strconv.FormatFloat: decimal/exponent notation plus
// "NaN", "+Inf", "-Inf". Anything else (including C's "nan"/"infinity" spellings) is rejected.
std::optional<double> parse_sample_value(const std::string& text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    bool allowed = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
    if (!allowed) return std::nullopt;
  }
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (*begin == '+' && begin + 1 != end && begin[1] != '-' && begin[1] != '+') ++begin;  // from_chars rejects '+'
  double value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// [ <unix seconds as number>, "<value>" ] at `path`.
std::variant<Sample, QueryError> parse_value_pair(const json& pair, const std::string& path) {
  if (!pair.is_array() || pair.size() != 2) {
    return parse_error(path + ": expected [timestamp, \"value\"], got " + describe(pair));
  }
  if (!pair[0].is_number()) return parse_error(path + "[0]: timestamp is not a number: " + describe(pair[0]));
  if (!pair[1].is_string()) return parse_error(path + "[1]: value is not a string: " + describe(pair[1]));
  std::optional<double> value = parse_sample_value(pair[1].get_ref<const std::string&>());
  if (!value) return parse_error(path + "[1]: " + describe(pair[1]) + " is not a number");
  Sample sample;
  sample.timestamp = pair[0].get<double>();
  sample.value = *value;
  return sample;
}

std::optional<QueryError> parse_labels(const json& metric, const std::string& path,
                                       std::map<std::string, std::string>* labels) {
  if (!metric.is_object())
    return parse_error(path + ": expected an object, got " + std::string(json_type_name(metric)));
  for (const auto& [name, value] : metric.items()) {
    if (!value.is_string()) return parse_error(path + "." + name + ": label value is not a string: " + describe(value));
    (*labels)[name] = value.get<std::string>();
  }
  return std::nullopt;
}

std::variant<Sample, QueryError> parse_vector_element(const json& element, const std::string& path) {
  if (!element.is_object()) return parse_error(path + ": expected an object, got " + describe(element));
  if (!element.contains("value")) {
    if (element.contains("histogram")) {
      return QueryError{ErrorReason::kUnsupported, path + ": native histogram samples are not supported", 0, ""};
    }
    return parse_error(path + ".value: missing");
  }
  auto sample = parse_value_pair(element["value"], path + ".value");
  if (auto* error = std::get_if<QueryError>(&sample)) return *error;
  if (!element.contains("metric")) return parse_error(path + ".metric: missing");
  auto& parsed = std::get<Sample>(sample);
  if (auto error = parse_labels(element["metric"], path + ".metric", &parsed.labels)) return *error;
  return sample;
}

std::optional<QueryError> parse_vector(const json& result, QueryData* data) {
  if (!result.is_array()) {
    return parse_error("data.result: expected an array for a vector, got " + std::string(json_type_name(result)));
  }
  data->samples.reserve(result.size());
  for (std::size_t i = 0; i < result.size(); ++i) {
    auto sample = parse_vector_element(result[i], "data.result[" + std::to_string(i) + "]");
    if (auto* error = std::get_if<QueryError>(&sample)) return *error;
    data->samples.push_back(std::move(std::get<Sample>(sample)));
  }
  return std::nullopt;
}

std::optional<QueryError> parse_scalar(const json& result, QueryData* data) {
  auto sample = parse_value_pair(result, "data.result");
  if (auto* error = std::get_if<QueryError>(&sample)) return *error;
  data->samples.push_back(std::move(std::get<Sample>(sample)));
  return std::nullopt;
}

// {"status":"error","errorType":"...","error":"..."} → kPrometheus, or nullopt if not that shape.
// Any object whose status is "error" is Prometheus's error, whatever else it carries: errorType or
// error may be missing (pint's "API error without message"), and a "data" member next to them
// (Prometheus's own respondError can send one) is ignored, never read as a result. With neither
// errorType nor error as a string it is a parse error.
std::optional<QueryError> prometheus_error(long http_status, const json& root) {
  if (!root.is_object()) return std::nullopt;
  auto status = root.find("status");
  if (status == root.end() || *status != "error") return std::nullopt;
  auto error_type = root.find("errorType");
  auto error = root.find("error");
  const bool has_type = error_type != root.end() && error_type->is_string();
  const bool has_error = error != root.end() && error->is_string();
  if (!has_type && !has_error) {
    // Nothing says what went wrong or who sent it: not recognisably Prometheus's error.
    return QueryError{ErrorReason::kParse, "status: \"error\" without errorType or error (strings)", http_status, ""};
  }
  QueryError out;
  out.reason = ErrorReason::kPrometheus;
  out.http_status = http_status;
  if (has_type) out.error_type = error_type->get<std::string>();
  if (has_error) {
    out.message = error->get<std::string>();
  } else {
    out.message = error == root.end() || error->is_null() ? "(no error message)"
                                                          : "(error is not a string: " + describe(*error) + ")";
  }
  if (error_type != root.end() && !error_type->is_string() && !error_type->is_null()) {
    out.message += " (errorType is not a string: " + describe(*error_type) + ")";
  }
  return out;
}

// "infos" (Prometheus 3 info annotations), like "warnings": null or an array of strings.
std::optional<QueryError> parse_string_list(const json& root, const char* key, std::vector<std::string>* out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return parse_error(std::string(key) + ": expected an array, got " + json_type_name(*it));
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    if (!item.is_string()) {
      return parse_error(std::string(key) + "[" + std::to_string(i) + "]: expected a string, got " + describe(item));
    }
    out->push_back(item.get<std::string>());
  }
  return std::nullopt;
}

// VictoriaMetrics' top-level "isPartial": absent, null or a boolean.
std::optional<QueryError> parse_partial(const json& root, bool* partial) {
  auto it = root.find("isPartial");
  if (it == root.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return parse_error("isPartial: expected a boolean, got " + describe(*it));
  *partial = it->get<bool>();
  return std::nullopt;
}

// The members every successful answer has beside its result: "warnings", "infos", "isPartial".
template <typename Data>
std::optional<QueryError> parse_annotations(const json& root, Data* out) {
  std::optional<QueryError> error = parse_string_list(root, "warnings", &out->warnings);
  if (!error) error = parse_string_list(root, "infos", &out->infos);
  if (!error) error = parse_partial(root, &out->partial);
  return error;
}

// data.resultType and data.result of a success body: nullopt and *type / *result set, or the error.
std::optional<QueryError> result_of(const json& root, std::string* type, const json** result) {
  if (!root.contains("data")) return parse_error("data: missing");
  const json& data = root["data"];
  if (!data.is_object()) return parse_error("data: expected an object, got " + std::string(json_type_name(data)));
  if (!data.contains("resultType")) return parse_error("data.resultType: missing");
  const json& t = data["resultType"];
  if (!t.is_string()) return parse_error("data.resultType: expected a string, got " + describe(t));
  if (!data.contains("result")) return parse_error("data.result: missing");
  *type = t.get<std::string>();
  *result = &data["result"];
  return std::nullopt;
}

QueryOutcome parse_success(const json& root) {
  std::string type_name;
  const json* result = nullptr;
  if (auto error = result_of(root, &type_name, &result)) return *error;
  QueryData out;
  std::optional<QueryError> error;
  if (type_name == "vector") {
    out.type = ResultType::kVector;
    error = parse_vector(*result, &out);
  } else if (type_name == "scalar") {
    out.type = ResultType::kScalar;
    error = parse_scalar(*result, &out);
  } else if (type_name == "matrix" || type_name == "string") {
    return QueryError{ErrorReason::kUnsupported,
                      "result type \"" + type_name + "\" is not supported (need vector or scalar)", 0, ""};
  } else {
    return parse_error("data.resultType: unknown result type " + describe(json(type_name)));
  }
  if (!error) error = parse_annotations(root, &out);
  if (error) return *error;
  return out;
}

std::optional<QueryError> parse_series(const json& element, const std::string& path, Series* series) {
  if (!element.is_object()) return parse_error(path + ": expected an object, got " + describe(element));
  if (element.contains("histograms")) {
    return QueryError{ErrorReason::kUnsupported, path + ": native histogram samples are not supported", 0, ""};
  }
  if (!element.contains("metric")) return parse_error(path + ".metric: missing");
  if (auto error = parse_labels(element["metric"], path + ".metric", &series->labels)) return *error;
  if (!element.contains("values")) return parse_error(path + ".values: missing");
  const json& values = element["values"];
  if (!values.is_array()) {
    return parse_error(path + ".values: expected an array, got " + std::string(json_type_name(values)));
  }
  series->points.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string at = path + ".values[" + std::to_string(i) + "]";
    auto sample = parse_value_pair(values[i], at);
    if (auto* error = std::get_if<QueryError>(&sample)) return *error;
    const Sample& s = std::get<Sample>(sample);
    if (!series->points.empty() && !(s.timestamp > series->points.back().timestamp)) {
      return parse_error(at + "[0]: timestamp " + describe(values[i][0]) + " is not after the previous one");
    }
    series->points.push_back(Point{s.timestamp, s.value});
  }
  return std::nullopt;
}

std::optional<QueryError> parse_matrix(const json& result, RangeData* data) {
  if (!result.is_array()) {
    return parse_error("data.result: expected an array for a matrix, got " + std::string(json_type_name(result)));
  }
  data->series.reserve(result.size());
  std::map<std::map<std::string, std::string>, std::size_t> seen;  // label set -> first index
  for (std::size_t i = 0; i < result.size(); ++i) {
    const std::string path = "data.result[" + std::to_string(i) + "]";
    Series series;
    if (auto error = parse_series(result[i], path, &series)) return *error;
    auto [it, inserted] = seen.emplace(series.labels, i);
    if (!inserted) {
      return parse_error(path + ".metric: the same labels as data.result[" + std::to_string(it->second) + "]");
    }
    data->series.push_back(std::move(series));
  }
  return std::nullopt;
}

RangeOutcome parse_range_success(const json& root) {
  std::string type_name;
  const json* result = nullptr;
  if (auto error = result_of(root, &type_name, &result)) return *error;
  if (type_name != "matrix") {
    return parse_error("data.resultType: expected \"matrix\" for a range query, got " + describe(json(type_name)));
  }
  RangeData out;
  std::optional<QueryError> error = parse_matrix(*result, &out);
  if (!error) error = parse_annotations(root, &out);
  if (error) return *error;
  return out;
}

// The envelope both endpoints share: Prometheus's error body, the HTTP status, "status".
template <typename Outcome, typename ParseSuccess>
Outcome parse_json_body(long http_status, const json& root, ParseSuccess parse) {
  if (auto error = prometheus_error(http_status, root)) return *error;
  bool ok_status = http_status >= 200 && http_status < 300;
  if (!ok_status) {
    return QueryError{ErrorReason::kHttp, "HTTP " + std::to_string(http_status) + ": " + describe(root), http_status,
                      ""};
  }
  if (!root.is_object()) return parse_error("body: expected a JSON object, got " + std::string(json_type_name(root)));
  if (!root.contains("status")) return parse_error("status: missing");
  if (root["status"] != "success") {
    return parse_error("status: expected \"success\" or an error body, got " + describe(root["status"]));
  }
  return parse(root);
}

template <typename Outcome>
Outcome with_status(Outcome outcome, long http_status) {
  if (auto* error = std::get_if<QueryError>(&outcome)) {
    if (error->http_status == 0) error->http_status = http_status;
  }
  return outcome;
}

template <typename Outcome, typename ParseSuccess>
Outcome parse_body(long http_status, std::string_view body, ParseSuccess parse) {
  bool ok_status = http_status >= 200 && http_status < 300;
  try {
    json root = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) {
      if (!ok_status) {
        return QueryError{ErrorReason::kHttp, "HTTP " + std::to_string(http_status) + ": " + snippet(body), http_status,
                          ""};
      }
      if (body.empty()) return with_status<Outcome>(parse_error("body: empty"), http_status);
      return with_status<Outcome>(parse_error("body is not valid JSON: " + snippet(body)), http_status);
    }
    return with_status(parse_json_body<Outcome>(http_status, root, parse), http_status);
  } catch (const std::exception& e) {
    // nlohmann throws on e.g. invalid UTF-8 in dump(); the library edge turns it into a value.
    return QueryError{ok_status ? ErrorReason::kParse : ErrorReason::kHttp,
                      std::string("cannot parse response: ") + e.what(), http_status, ""};
  } catch (...) {
    return QueryError{ErrorReason::kParse, "cannot parse response", http_status, ""};
  }
}

}  // namespace

const char* error_reason_name(ErrorReason r) {
  switch (r) {
    case ErrorReason::kTimeout: return "timeout";
    case ErrorReason::kConnect: return "connect";
    case ErrorReason::kHttp: return "http";
    case ErrorReason::kPrometheus: return "prometheus";
    case ErrorReason::kParse: return "parse";
    case ErrorReason::kOversize: return "oversize";
    case ErrorReason::kUnsupported: return "unsupported";
    case ErrorReason::kAuth: return "auth";
    case ErrorReason::kTransport: return "transport";
    case ErrorReason::kPartial: return "partial";
  }
  return "unknown";
}

QueryOutcome refuse_partial(QueryOutcome outcome) {
  const auto* data = std::get_if<QueryData>(&outcome);
  if (!data || !data->partial) return outcome;
  QueryError error;
  error.reason = ErrorReason::kPartial;
  error.http_status = 200;
  error.message = "partial answer (isPartial: true: some storage nodes did not answer; " +
                  std::to_string(data->samples.size()) + " series came back), not judged";
  return error;
}

RangeOutcome refuse_partial(RangeOutcome outcome) {
  const auto* data = std::get_if<RangeData>(&outcome);
  if (!data || !data->partial) return outcome;
  QueryError error;
  error.reason = ErrorReason::kPartial;
  error.http_status = 200;
  error.message = "partial answer (isPartial: true: some storage nodes did not answer; " +
                  std::to_string(data->series.size()) + " series came back), not judged";
  return error;
}

std::string error_type_label(const QueryError& error) {
  if (error.error_type.empty()) return "";
  for (const char* known :
       {"timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found", "not_acceptable"}) {
    if (error.error_type == known) return known;
  }
  return "other";
}

bool is_transient(const QueryError& error) {
  switch (error.reason) {
    case ErrorReason::kTimeout:
    case ErrorReason::kConnect:
    case ErrorReason::kTransport:
    case ErrorReason::kAuth:     // a token file being rotated
    case ErrorReason::kPartial:  // storage nodes come back
      return true;
    case ErrorReason::kHttp: return error.http_status == 429 || error.http_status >= 500 || error.http_status == 0;
    case ErrorReason::kPrometheus: {
      const std::string& t = error.error_type;
      if (t == "bad_data" || t == "not_found" || t == "not_acceptable") return false;
      if (t == "timeout" || t == "canceled" || t == "unavailable" || t == "internal") return true;
      if (t == "execution") return error.http_status >= 500;  // 422: the query is too expensive, always
      return error.http_status == 429 || error.http_status >= 500;
    }
    case ErrorReason::kParse:
    case ErrorReason::kOversize:
    case ErrorReason::kUnsupported: return false;
  }
  return false;
}

QueryOutcome parse_query_response(long http_status, std::string_view body) {
  return parse_body<QueryOutcome>(http_status, body, parse_success);
}

RangeOutcome parse_range_response(long http_status, std::string_view body) {
  return parse_body<RangeOutcome>(http_status, body, parse_range_success);
}

}  // namespace rs::promql
