#include "sidecar/api/api.h"

#include "common/read_file.h"
#include "sidecar/api/status_page.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

namespace rs::sidecar {
namespace {

constexpr std::size_t kMaxIncidentReportBytes =
    16 * 1024 * 1024;  // reports are a few KiB; the cap only guards the read

// Reads {"reason": "...", "actor": "..."}: both non-empty strings unless optional.
bool read_reason_actor(const std::string& body, bool reason_required, std::string* reason, std::string* actor,
                       std::string* error) {
  nlohmann::json j =
      body.empty() && !reason_required ? nlohmann::json::object() : nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "body must be a JSON object like {\"reason\": \"...\", \"actor\": \"...\"}";
    return false;
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "reason" && key != "actor") {
      *error = "unknown field '" + key + "' (known: reason, actor)";
      return false;
    }
    if (!value.is_string() || value.get<std::string>().empty()) {
      *error = key + " must be a non-empty string";
      return false;
    }
  }
  if (reason_required && !j.contains("reason")) {
    *error = "reason is required";
    return false;
  }
  if (!j.contains("actor") && reason_required) {
    *error = "actor is required (who asks: a person or a pipeline)";
    return false;
  }
  *reason = j.value("reason", "");
  *actor = j.value("actor", "unknown");
  return true;
}

}  // namespace

Api::Api(const Config& config, Engine& engine, SelfMetrics& metrics, const Env& env,
         std::function<bool(std::string*)> alive)
    : config_(config),
      engine_(engine),
      metrics_(metrics),
      alive_(std::move(alive)),
      auth_(config.api.bearer_token_file),
      basic_(config.web.basic_auth_users),
      cloudwatch_(
          config.cloudwatch, config.api.bearer_token_file,
          {[this](const RollbackRequest& r) { return engine_.request_rollback(r); },
           [this](const std::string& result) { metrics_.count_cloudwatch(result); },
           [clock = env.clock] { return clock ? clock->wall() : std::chrono::system_clock::now(); },
           config.cloudwatch.enabled && env.make_http ? std::shared_ptr<HttpTransport>(env.make_http()) : nullptr,
           [this](const std::string& key, std::optional<WallTime> started) {
             return engine_.admit_alert("cloudwatch " + key, started);
           },
           [this] { return engine_.deployment_since(); }}) {
  if (config.cloudwatch.enabled && config.cloudwatch.sns_topics.empty()) {
    spdlog::warn(
        "cloudwatch: SNS messages from any topic are accepted when correctly signed; list yours in "
        "cloudwatch.sns_topics");
  }
}

std::optional<HttpReply> Api::authorize(const HttpCall& call) const {
  std::string why;
  auto verdict = auth_.check(call.header("Authorization"), &why);
  if (verdict == BearerAuth::Verdict::kAllowed) return std::nullopt;
  if (verdict == BearerAuth::Verdict::kUnavailable)
    spdlog::error("{} {}: {}", call.method, call.path, why);
  else
    spdlog::warn("{} {} refused: {}", call.method, call.path, why);
  if (verdict == BearerAuth::Verdict::kMissing) metrics_.count_auth_failure("bearer_missing");
  if (verdict == BearerAuth::Verdict::kWrong) metrics_.count_auth_failure("bearer_wrong");
  HttpReply reply = HttpReply::error(BearerAuth::http_status(verdict), why);
  if (verdict == BearerAuth::Verdict::kMissing) reply.headers.emplace_back("WWW-Authenticate", "Bearer");
  return reply;
}

std::optional<HttpReply> Api::check_basic_auth(const HttpCall& call, bool mutating) const {
  if (!basic_.enabled()) return std::nullopt;
  const std::string authorization = call.header("Authorization");
  static const std::string kBearer = "Bearer ";
  if (mutating && authorization.compare(0, kBearer.size(), kBearer) == 0) return std::nullopt;  // authorize() judges it
  const BasicAuth::Verdict verdict = basic_.check(authorization);
  if (verdict == BasicAuth::Verdict::kAllowed) return std::nullopt;
  const bool missing = verdict == BasicAuth::Verdict::kMissing;
  metrics_.count_auth_failure(missing ? "basic_missing" : "basic_wrong");
  // Neither the user nor anything else from the header is logged: a password typed as the user
  // name would land in the log.
  spdlog::warn("{} {} refused: {}", call.method, call.path,
               missing ? "no Basic credentials (basic_auth_users is set in the web config)"
                       : "wrong Basic credentials (unknown user, wrong password or malformed header)");
  HttpReply reply = HttpReply::text(401, "Unauthorized\n");
  reply.headers.emplace_back("WWW-Authenticate", "Basic");
  return reply;
}

void Api::install(HttpServer& real_server) {
  // Every route goes through check_basic_auth first; the non-GET ones are the mutating ones.
  struct Guarded {
    Api* api;
    HttpServer& server;
    void handle(const std::string& method, const std::string& path, HttpHandler handler) {
      server.handle(method, path,
                    [api = api, mutating = method != "GET", handler = std::move(handler)](const HttpCall& c) {
                      if (auto refused = api->check_basic_auth(c, mutating)) return *refused;
                      return handler(c);
                    });
    }
  } server{this, real_server};
  server.handle("GET", "/", [](const HttpCall&) {
    HttpReply r = HttpReply::text(200, status_page_html());
    r.content_type = "text/html; charset=utf-8";
    return r;
  });
  server.handle("GET", "/metrics", [this](const HttpCall&) {
    HttpReply r = HttpReply::text(200, metrics_.serialize());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  server.handle("GET", "/healthz", [this](const HttpCall&) {
    std::string why;
    return alive_(&why) ? HttpReply::text(200, "ok\n") : HttpReply::text(503, "unhealthy: " + why + "\n");
  });
  server.handle("GET", "/readyz", [this](const HttpCall&) {
    if (!engine_.ready()) return HttpReply::text(503, "not ready: no evaluation has completed yet\n");
    // A sidecar that cannot write its state would forget (or repeat) a rollback on restart.
    const std::string failing = engine_.persist_health().failing();
    if (!failing.empty()) return HttpReply::text(503, "not ready: cannot persist: " + failing + "\n");
    return HttpReply::text(200, "ready\n");
  });
  server.handle("GET", "/api/v1/status", [this](const HttpCall&) { return HttpReply::json(200, engine_.status()); });
  server.handle("GET", "/api/v1/incidents/latest", [this](const HttpCall&) { return latest_incident(); });
  server.handle("POST", "/api/v1/alerts", [this](const HttpCall& c) { return post_alerts(c); });
  server.handle("POST", "/api/v1/cloudwatch", [this](const HttpCall& c) { return cloudwatch_.handle(c); });
  server.handle("POST", "/api/v1/rollback", [this](const HttpCall& c) { return post_rollback(c); });
  server.handle("PUT", "/api/v1/freeze", [this](const HttpCall& c) { return put_freeze(c); });
  server.handle("DELETE", "/api/v1/freeze", [this](const HttpCall& c) { return delete_freeze(c); });
}

HttpReply Api::post_alerts(const HttpCall& call) {
  if (auto refused = authorize(call)) return *refused;
  if (!config_.alerts.enabled) {
    return HttpReply::error(404, "alert-triggered rollback is off: configure alerts.match to enable it");
  }
  std::vector<ReceivedAlert> alerts;
  std::string error;
  if (!parse_alertmanager_webhook(call.body, &alerts, &error)) {
    metrics_.count_alert("rejected");
    spdlog::warn("POST /api/v1/alerts rejected: {}", error);
    return HttpReply::error(400, error);
  }
  nlohmann::json outcome = nlohmann::json::array();
  std::optional<RollbackRequestResult> decision;
  for (const auto& alert : alerts) {
    const std::string name = alert.labels.count("alertname") ? alert.labels.at("alertname") : "";
    std::string result;
    if (alert.status != "firing") {
      result = "resolved";  // a resolved alert never rolls back
    } else if (!alert_matches(alert, config_.alerts)) {
      result = "ignored";
    } else if (const AlertAdmission admission = engine_.admit_alert(alert.key(), alert.started);
               admission != AlertAdmission::kNew) {
      result = admission == AlertAdmission::kStale ? "ignored_stale" : "duplicate";
      if (admission == AlertAdmission::kStale) {
        const auto since = engine_.deployment_since();
        spdlog::info("alert {} started at {}, before deployment {} began at {}: about an earlier deployment; ignored",
                     name, alert.starts_at, config_.deployment.name, since ? to_rfc3339(*since) : "?");
      }
    } else {
      result = "matched";
      if (!decision) {
        RollbackRequest request;
        request.trigger = Trigger::kAlert;
        request.name = name.empty() ? "alert" : name;
        request.severity = alert.labels.count("severity") ? alert.labels.at("severity") : "";
        request.reason = "alert " + request.name + " firing since " + alert.starts_at;
        if (alert.annotations.count("summary")) request.reason += ": " + alert.annotations.at("summary");
        request.started_at = alert.started;
        request.details = alert.evidence();
        decision = engine_.request_rollback(request);
      }
    }
    metrics_.count_alert(result);
    spdlog::info("alert {} ({}) from Alertmanager: {}", name, alert.status, result);
    outcome.push_back({{"alertname", name}, {"status", alert.status}, {"result", result}});
  }
  nlohmann::json body = {{"alerts", outcome}};
  if (decision) body["rollback"] = to_json(*decision);
  // 200 for every well-formed payload: anything else makes Alertmanager retry.
  return HttpReply::json(200, body);
}

HttpReply Api::post_rollback(const HttpCall& call) {
  if (auto refused = authorize(call)) return *refused;
  std::string reason, actor, error;
  if (!read_reason_actor(call.body, true, &reason, &actor, &error)) return HttpReply::error(400, error);
  RollbackRequest request;
  request.trigger = Trigger::kManual;
  request.name = "manual";
  request.reason = "manual rollback by " + actor + ": " + reason;
  request.details = {{"actor", actor}, {"reason", reason}};
  spdlog::warn("manual rollback requested by {}: {}", actor, reason);
  RollbackRequestResult result = engine_.request_rollback(request);
  return HttpReply::json(result.accepted ? 202 : 200, to_json(result));
}

HttpReply Api::put_freeze(const HttpCall& call) {
  if (auto refused = authorize(call)) return *refused;
  std::string reason, actor, error;
  if (!read_reason_actor(call.body, true, &reason, &actor, &error)) return HttpReply::error(400, error);
  engine_.set_freeze(reason, actor);
  return HttpReply::json(200, freeze_to_json(engine_.freeze()));
}

HttpReply Api::delete_freeze(const HttpCall& call) {
  if (auto refused = authorize(call)) return *refused;
  std::string reason, actor, error;
  if (!read_reason_actor(call.body, false, &reason, &actor, &error)) return HttpReply::error(400, error);
  const bool was_frozen = engine_.clear_freeze(actor, reason);
  return HttpReply::json(200, {{"frozen", false}, {"was_frozen", was_frozen}});
}

HttpReply Api::latest_incident() const {
  if (config_.incidents_dir.empty()) return HttpReply::error(404, "incident reports are off: set incidents_dir");
  std::string why;
  bool missing = false;
  auto text = common::read_regular_file(config_.incidents_dir + "/latest.md", kMaxIncidentReportBytes, &why, &missing);
  if (!text) return missing ? HttpReply::error(404, "no incident report yet") : HttpReply::error(500, why);
  HttpReply r = HttpReply::text(200, std::move(*text));
  r.content_type = "text/markdown; charset=utf-8";
  return r;
}

}  // namespace rs::sidecar
