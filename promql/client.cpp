#include "promql/client.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "common/duration.h"
#include "common/http/url.h"
#include "common/secret_file.h"

namespace rs::promql {
namespace {

// Unix seconds with millisecond precision, locale-independent ("1700000000.123").
std::string format_time(double seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", seconds);
  for (char* p = buf; *p; ++p) {
    if (*p == ',') *p = '.';  // a "," decimal separator from a non-C locale
  }
  return buf;
}

std::string api_url(const std::string& base, const char* endpoint) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/api/v1/" + endpoint;
}

ErrorReason reason_for(TransportError error) {
  switch (error) {
    case TransportError::kTimeout: return ErrorReason::kTimeout;
    case TransportError::kConnect: return ErrorReason::kConnect;
    case TransportError::kOversize: return ErrorReason::kOversize;
    default: return ErrorReason::kTransport;
  }
}

}  // namespace

// Everything a batch needs from the credentials files, read once per batch.
struct Client::Credentials {
  std::string bearer_token;
  std::optional<std::pair<std::string, std::string>> basic_auth;
  std::optional<aws::Credentials> aws;
};

Client::Client(ClientOptions options, std::shared_ptr<HttpTransport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {
  if (options_.sigv4 && !options_.sigv4->credentials) {
    options_.sigv4->credentials = aws::default_credentials_provider(options_.sigv4->profile, options_.sigv4->region);
  }
}

std::optional<QueryError> Client::load_credentials(Credentials* credentials) const {
  std::string error;
  if (!options_.bearer_token_file.empty() &&
      !common::read_secret_file(options_.bearer_token_file, "bearer token", &credentials->bearer_token, &error)) {
    return QueryError{ErrorReason::kAuth, error, 0, ""};
  }
  if (!options_.basic_auth_username.empty()) {
    std::string password;
    if (!options_.basic_auth_password_file.empty() &&
        !common::read_secret_file(options_.basic_auth_password_file, "basic auth password", &password, &error)) {
      return QueryError{ErrorReason::kAuth, error, 0, ""};
    }
    credentials->basic_auth = std::make_pair(options_.basic_auth_username, password);
  }
  if (options_.sigv4) {
    aws::Credentials c;
    if (!options_.sigv4->credentials->get(&c, &error)) {
      return QueryError{ErrorReason::kAuth, "AWS credentials for SigV4: " + error, 0, ""};
    }
    credentials->aws = std::move(c);
  }
  return std::nullopt;
}

HttpRequest Client::build_request(const char* endpoint, std::string form, const Credentials& credentials) const {
  HttpRequest request;
  request.method = "POST";
  request.url = api_url(options_.url, endpoint);
  request.timeout = options_.timeout;
  request.max_body_bytes = options_.max_body_bytes;
  request.tls = options_.tls;
  request.basic_auth = credentials.basic_auth;
  request.body = std::move(form);
  request.body += "&timeout=" + percent_encode(common::format_duration(options_.timeout));
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "rollback-sidecar");
  for (const auto& header : options_.headers) request.headers.push_back(header);
  if (!credentials.bearer_token.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + credentials.bearer_token);
  }
  if (options_.sigv4 && credentials.aws) {
    const aws::Credentials& c = *credentials.aws;
    request.sigv4 = HttpRequest::SigV4{"aws:amz:" + options_.sigv4->region + ":" + options_.sigv4->service,
                                       c.access_key_id, c.secret_access_key};
    if (!c.session_token.empty()) request.headers.emplace_back("X-Amz-Security-Token", c.session_token);
  }
  return request;
}

void Client::redact(QueryError* error, const Credentials& credentials) const {
  common::redact(&error->message, credentials.bearer_token);
  if (credentials.basic_auth) common::redact(&error->message, credentials.basic_auth->second);
  if (credentials.aws) aws::redact(&error->message, *credentials.aws);
}

template <typename Outcome, typename Parse>
std::vector<Outcome> Client::perform(const char* endpoint, const std::vector<std::string>& forms, Parse parse,
                                     std::vector<double>* elapsed_seconds) {
  if (elapsed_seconds) elapsed_seconds->assign(forms.size(), 0.0);
  try {
    Credentials credentials;
    if (auto error = load_credentials(&credentials)) return std::vector<Outcome>(forms.size(), *error);
    if (!transport_) {
      return std::vector<Outcome>(forms.size(),
                                  QueryError{ErrorReason::kTransport, "no HTTP transport configured", 0, ""});
    }

    // Rules share queries (one baseline for several rules, an slo window, the verification query):
    // each distinct form is sent once and its answer parsed once, then copied to every position
    // that asked for it. The form holds the query and its time or range, so only requests that
    // would get the same answer are merged.
    std::unordered_map<std::string_view, std::size_t> unique_of;
    std::vector<std::size_t> position_to_unique(forms.size());
    std::vector<HttpRequest> requests;
    requests.reserve(forms.size());
    for (std::size_t i = 0; i < forms.size(); ++i) {
      const auto [it, added] = unique_of.emplace(forms[i], requests.size());
      if (added) requests.push_back(build_request(endpoint, forms[i], credentials));
      position_to_unique[i] = it->second;
    }
    std::vector<HttpResponse> responses = transport_->perform_all(requests);

    std::vector<Outcome> unique_outcomes;
    unique_outcomes.reserve(requests.size());
    for (std::size_t u = 0; u < requests.size(); ++u) {
      if (u >= responses.size()) {  // a transport broke its contract; still answer every query
        unique_outcomes.push_back(QueryError{ErrorReason::kTransport, "transport returned no response", 0, ""});
        continue;
      }
      const HttpResponse& response = responses[u];
      Outcome outcome = response.error != TransportError::kNone
                            ? Outcome(QueryError{reason_for(response.error), response.error_message, 0, ""})
                            : parse(response.status, response.body);
      if (auto* error = std::get_if<QueryError>(&outcome)) redact(error, credentials);
      unique_outcomes.push_back(std::move(outcome));
    }
    std::vector<Outcome> outcomes;
    outcomes.reserve(forms.size());
    for (std::size_t i = 0; i < forms.size(); ++i) {
      const std::size_t u = position_to_unique[i];
      outcomes.push_back(unique_outcomes[u]);
      if (elapsed_seconds && u < responses.size()) {
        (*elapsed_seconds)[i] = std::chrono::duration<double>(responses[u].elapsed).count();
      }
    }
    return outcomes;
  } catch (const std::exception& e) {
    return std::vector<Outcome>(forms.size(),
                                QueryError{ErrorReason::kTransport, std::string("internal error: ") + e.what(), 0, ""});
  }
}

std::vector<QueryOutcome> Client::query_all(const std::vector<std::string>& queries, std::optional<double> at,
                                            std::vector<double>* elapsed_seconds) {
  std::vector<std::string> forms;
  forms.reserve(queries.size());
  for (const auto& query : queries) {
    std::string form = "query=" + percent_encode(query);
    if (at) form += "&time=" + percent_encode(format_time(*at));
    forms.push_back(std::move(form));
  }
  return perform<QueryOutcome>("query", forms, parse_query_response, elapsed_seconds);
}

QueryOutcome Client::query(const std::string& query, std::optional<double> at) {
  return std::move(query_all({query}, at).front());
}

std::vector<RangeOutcome> Client::query_range_all(const std::vector<std::string>& queries, double start, double end,
                                                  double step) {
  const std::string window = "&start=" + percent_encode(format_time(start)) +
                             "&end=" + percent_encode(format_time(end)) + "&step=" + percent_encode(format_time(step));
  std::vector<std::string> forms;
  forms.reserve(queries.size());
  for (const auto& query : queries) forms.push_back("query=" + percent_encode(query) + window);
  return perform<RangeOutcome>("query_range", forms, parse_range_response, nullptr);
}

RangeOutcome Client::query_range(const std::string& query, double start, double end, double step) {
  return std::move(query_range_all({query}, start, end, step).front());
}

}  // namespace rs::promql
