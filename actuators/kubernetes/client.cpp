#include "actuators/kubernetes/client.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "common/base64.h"
#include "common/atomic_file.h"
#include "common/env/env.h"
#include "common/json_text.h"
#include "common/read_file.h"
#include "common/secret_file.h"
#include "common/utf8.h"

namespace rs::actuators::kubernetes {

namespace {

std::optional<std::string> env_value(const ConnectionSettings& s, const std::string& name) {
  if (s.getenv) return s.getenv(name);
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

// kubeconfig paths are relative to the kubeconfig file.
std::string relative_to(const std::string& base_file, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const std::string dir = common::directory_of(base_file);
  return (dir == "/" ? "" : dir) + "/" + path;
}

// yaml-cpp throws when a scalar or a sequence is indexed by a key, so only maps are looked into.
std::string scalar(const YAML::Node& node, const char* key) {
  if (!node.IsMap()) return "";
  const YAML::Node v = node[key];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

// The `name: X, <kind>: {...}` entry of a kubeconfig list (clusters, users, contexts).
YAML::Node named(const YAML::Node& list, const char* field, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list)
    if (item.IsMap() && scalar(item, "name") == name && item[field]) return item[field];
  return YAML::Node();
}

bool read_kubeconfig(const std::string& text, const std::string& path, const std::string& wanted_context, Cluster* c,
                     std::string* error) {
  const std::string where = "kubeconfig " + path;
  if (const auto control = common::find_control_byte(text)) {
    *error = where + " is not valid YAML: " + control->describe() + " is a control character";
    return false;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // The parser's message names a line and column, never a value.
    *error = where + " is not valid YAML: " + e.what();
    return false;
  }
  if (!root.IsMap()) {
    *error = where + " is not a mapping";
    return false;
  }
  const std::string context = wanted_context.empty() ? scalar(root, "current-context") : wanted_context;
  if (context.empty()) {
    *error = where + " has no current-context; set `context`";
    return false;
  }
  const YAML::Node ctx = named(root["contexts"], "context", context);
  if (!ctx.IsMap()) {
    *error = where + " has no context named '" + context + "'";
    return false;
  }
  const std::string cluster_name = scalar(ctx, "cluster"), user_name = scalar(ctx, "user");
  const YAML::Node cluster = named(root["clusters"], "cluster", cluster_name);
  if (!cluster.IsMap()) {
    *error = where + " context '" + context + "' names cluster '" + cluster_name + "', which is not in clusters";
    return false;
  }
  c->source = where + " context " + context;
  c->server = scalar(cluster, "server");
  if (c->server.rfind("https://", 0) != 0 && c->server.rfind("http://", 0) != 0) {
    *error = where + " cluster '" + cluster_name + "' has no http(s) server";
    return false;
  }
  if (const std::string data = scalar(cluster, "certificate-authority-data"); !data.empty()) {
    auto pem = base64_decode(data);
    if (!pem) {
      *error = where + " cluster '" + cluster_name + "': certificate-authority-data is not base64";
      return false;
    }
    c->tls.ca_pem = *pem;
  } else {
    c->tls.ca_file = relative_to(path, scalar(cluster, "certificate-authority"));
  }
  if (scalar(cluster, "insecure-skip-tls-verify") == "true") c->tls.insecure_skip_verify = true;

  if (user_name.empty()) return true;  // e.g. a proxy that authenticates for us
  const YAML::Node user = named(root["users"], "user", user_name);
  if (!user.IsMap()) {
    *error = where + " context '" + context + "' names user '" + user_name + "', which is not in users";
    return false;
  }
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if (user[unsupported]) {
      *error = where + " user '" + user_name + "' uses `" + unsupported +
               "`, which the sidecar does not support: use a token, tokenFile or a client certificate";
      return false;
    }
  }
  c->token = scalar(user, "token");
  c->token_file = relative_to(path, scalar(user, "tokenFile"));
  for (auto [data_key, file_key, pem, file] :
       {std::make_tuple("client-certificate-data", "client-certificate", &c->tls.cert_pem, &c->tls.cert_file),
        std::make_tuple("client-key-data", "client-key", &c->tls.key_pem, &c->tls.key_file)}) {
    if (const std::string data = scalar(user, data_key); !data.empty()) {
      auto decoded = base64_decode(data);
      if (!decoded) {
        *error = where + " user '" + user_name + "': " + data_key + " is not base64";
        return false;
      }
      *pem = *decoded;
    } else {
      *file = relative_to(path, scalar(user, file_key));
    }
  }
  const bool has_cert = !c->tls.cert_pem.empty() || !c->tls.cert_file.empty();
  const bool has_key = !c->tls.key_pem.empty() || !c->tls.key_file.empty();
  if (has_cert != has_key) {
    *error =
        where + " user '" + user_name + "' has a client certificate without its key, or a key without its certificate";
    return false;
  }
  return true;
}

}  // namespace

bool cluster_from_kubeconfig(const std::string& text, const std::string& path, const std::string& wanted_context,
                             Cluster* c, std::string* error) {
  try {
    return read_kubeconfig(text, path, wanted_context, c, error);
  } catch (const YAML::Exception& e) {  // a shape the checks did not foresee: an error, never a crash
    *error = "kubeconfig " + path + " has an unexpected shape: " + e.what();
    return false;
  }
}

namespace {

// *retryable: only a kubeconfig that is not there yet (a volume still being mounted) may come
// right; what it says, once read, stays wrong until someone edits it.
bool load_kubeconfig(const ConnectionSettings& s, Cluster* c, std::string* error, bool* retryable) {
  const std::string where = "kubeconfig " + s.kubeconfig;
  std::string why;
  bool missing = false;
  // Capped: a kubeconfig that is /dev/zero or a FIFO is an error, not a hang or bad_alloc.
  std::optional<std::string> text =
      common::read_regular_file(s.kubeconfig, common::kMaxConfigFileBytes, &why, &missing);
  if (!text) {
    *error = "cannot read kubeconfig: " + why;
    *retryable = missing;
    return false;
  }
  *retryable = false;
  return cluster_from_kubeconfig(*text, s.kubeconfig, s.context, c, error);
}

std::string status_text(long code) {
  switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

// Turns a 2xx reply whose body is not a JSON object into an error naming the path and what came
// back (cut, on a character boundary).
void not_an_object(const std::string& method, const std::string& path, bool parsed, Reply* reply) {
  std::string got;
  if (reply->raw.empty()) {
    got = "an empty body";
  } else {
    std::string snippet = common::cut_utf8_prefix(reply->raw, 200);
    std::replace(snippet.begin(), snippet.end(), '\n', ' ');
    got = (parsed ? std::string("JSON ") + reply->body.type_name() : std::string("not JSON")) + ": " + snippet;
  }
  reply->error = rs::TransportError::kOther;
  reply->error_message = method + " " + path + ": HTTP " + std::to_string(reply->status) +
                         " but the body is not a JSON object (" + got + ")";
  reply->body = nullptr;
}

}  // namespace

bool resolve_cluster(const ConnectionSettings& s, Cluster* c, std::string* error, bool* retryable) {
  bool ignored = true;
  if (!retryable) retryable = &ignored;
  *retryable = true;
  *c = Cluster{};
  c->request_timeout = s.request_timeout;
  // Which keys go together (kubeconfig or api_server, context with kubeconfig, api_server's
  // scheme) is checked once, by the factories (a config error at load).
  if (!s.kubeconfig.empty()) return load_kubeconfig(s, c, error, retryable);
  if (!s.api_server.empty()) {
    c->server = s.api_server;
    c->token_file = s.token_file;
    c->tls.ca_file = s.ca_file;
    c->source = "api_server " + s.api_server;
  } else {
    auto host = env_value(s, "KUBERNETES_SERVICE_HOST"), port = env_value(s, "KUBERNETES_SERVICE_PORT");
    if (!host || host->empty() || !port || port->empty()) {
      *error =
          "not running in a cluster (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set): "
          "set kubeconfig, or api_server with token_file and ca_file";
      return false;
    }
    const bool ipv6 = host->find(':') != std::string::npos;
    c->server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
    c->token_file = s.token_file.empty() ? s.service_account_dir + "/token" : s.token_file;
    c->tls.ca_file = s.ca_file.empty() ? s.service_account_dir + "/ca.crt" : s.ca_file;
    c->source = "in-cluster " + c->server;
  }
  std::string why;
  if (!c->tls.ca_file.empty() && !common::read_regular_file(c->tls.ca_file, common::kMaxConfigFileBytes, &why)) {
    *error = "cannot read the CA file: " + why;
    return false;
  }
  while (!c->server.empty() && c->server.back() == '/') c->server.pop_back();
  return true;
}

bool Reply::retryable() const {
  if (error != rs::TransportError::kNone) return true;
  return status == 409 || status == 429 || status >= 500;
}

std::string Reply::describe() const {
  if (error != rs::TransportError::kNone) return error_message;
  std::string out = "HTTP " + std::to_string(status);
  if (common::string_member(body, "kind") == "Status") {
    const std::string reason = common::string_member(body, "reason");
    const std::string message = common::string_member(body, "message");
    out += " " + (reason.empty() ? status_text(status) : reason);
    if (!message.empty()) out += ": " + message;
    return out;
  }
  if (const std::string t = status_text(status); !t.empty()) out += " " + t;
  std::string snippet = common::cut_utf8_prefix(raw, 200);  // never half a character
  std::replace(snippet.begin(), snippet.end(), '\n', ' ');
  if (!snippet.empty()) out += ": " + snippet;
  return out;
}

Client::Client(Cluster cluster, std::shared_ptr<rs::HttpTransport> transport, Clock* clock)
    : cluster_(std::move(cluster)),
      transport_(transport ? std::move(transport) : rs::make_http_transport()),
      clock_(clock ? clock : system_env().clock) {}

bool Client::refresh_token(bool force, std::string* error) {
  if (cluster_.token_file.empty()) {
    token_ = cluster_.token;
    return true;
  }
  struct stat st {};
  if (::stat(cluster_.token_file.c_str(), &st) != 0) {
    return common::read_secret_file(cluster_.token_file, "token", &token_, error);  // names the errno
  }
  if (!force && !token_.empty() && st.st_mtim.tv_sec == token_mtime_.tv_sec &&
      st.st_mtim.tv_nsec == token_mtime_.tv_nsec && st.st_size == token_size_)
    return true;
  std::string token;
  if (!common::read_secret_file(cluster_.token_file, "token", &token, error)) return false;
  token_ = std::move(token);
  token_mtime_ = st.st_mtim;
  token_size_ = st.st_size;
  return true;
}

Reply Client::get(const std::string& path, Deadline deadline) { return send("GET", path, "", "", deadline); }

Reply Client::patch(const std::string& path, const std::string& content_type, const nlohmann::json& body,
                    Deadline deadline) {
  return send("PATCH", path, content_type, common::dump_json(body), deadline);
}

Reply Client::send(const std::string& method, const std::string& path, const std::string& content_type,
                   const std::string& body, Deadline deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  Reply reply;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    std::string error;
    if (!refresh_token(attempt > 1, &error)) {
      reply = Reply{};
      reply.error = rs::TransportError::kOther;
      reply.error_message = error;
      return reply;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_->mono());
    if (left.count() <= 0) {
      reply = Reply{};
      reply.error = rs::TransportError::kTimeout;
      reply.error_message = method + " " + path + ": deadline passed";
      return reply;
    }
    rs::HttpRequest request;
    request.method = method;
    request.url = cluster_.server + path;
    request.tls = cluster_.tls;
    request.timeout = std::min(cluster_.request_timeout, left);
    request.max_body_bytes = 4 * 1024 * 1024;
    request.headers = {{"Accept", "application/json"}, {"User-Agent", "rollback-sidecar"}};
    if (!content_type.empty()) request.headers.emplace_back("Content-Type", content_type);
    if (!token_.empty()) request.headers.emplace_back("Authorization", "Bearer " + token_);
    request.body = body;
    rs::HttpResponse response = transport_->perform(request);
    reply = Reply{};
    reply.error = response.error;
    reply.error_message = response.error_message;
    reply.status = response.status;
    reply.raw = std::move(response.body);
    common::redact(&reply.error_message, token_);
    common::redact(&reply.raw, token_);
    reply.body = nlohmann::json::parse(reply.raw, nullptr, false);
    const bool parsed = !reply.body.is_discarded();
    if (!parsed) reply.body = nullptr;
    // Everything the actuators read on a 2xx is an object (a resource, a list, a Status); any other
    // body (`[]`, `"x"`, `null`, a proxy's HTML page) is not the API server's answer.
    if (reply.ok() && !reply.body.is_object()) not_an_object(method, path, parsed, &reply);
    // A 401 with a token file: the token may have been rotated under us; read it again once.
    if (reply.error == rs::TransportError::kNone && reply.status == 401 && !cluster_.token_file.empty() && attempt == 1)
      continue;
    break;
  }
  return reply;
}

std::optional<std::string> base64_decode(const std::string& text) {
  return common::base64_decode(text, common::Base64Input::kLenient);
}

}  // namespace rs::actuators::kubernetes
