// The sidecar's HTTP endpoints: what each route does, on top of HttpServer and Engine.
#pragma once

#include <functional>
#include <string>

#include "sidecar/api/alert_intake.h"
#include "sidecar/api/api_auth.h"
#include "sidecar/api/basic_auth.h"
#include "sidecar/api/cloudwatch_intake.h"
#include "sidecar/core/engine.h"
#include "sidecar/api/http_server.h"
#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {

// Routes (docs/api.md has the request and response bodies):
//   open:         GET / (status page), /metrics, /healthz, /readyz, /api/v1/status, /api/v1/incidents/latest
//   bearer token: POST /api/v1/alerts (Alertmanager webhook v4), POST /api/v1/rollback,
//                 PUT /api/v1/freeze, DELETE /api/v1/freeze
//   bearer token, API key or SNS signature: POST /api/v1/cloudwatch (cloudwatch_intake.h)
// Bad bodies get 400 naming the field; auth failures 401 (no token) / 403 (wrong token, or the
// API is off because no token file is configured); every request is counted by endpoint and code.
//
// With basic_auth_users in the web config, every route needs Basic credentials first (401 +
// `WWW-Authenticate: Basic` without), as exporter-toolkit guards every path. One exception: a
// request to a mutating route that carries `Authorization: Bearer ...` is judged by the bearer
// token alone, since both use the one Authorization header and the token is that route's own,
// stronger credential (Alertmanager's http_config and `rollback-sidecar rollback` send only it).
class Api {
 public:
  // The CloudWatch intake reaches time and HTTP (SNS certificates, confirmations) through `env`.
  Api(const Config& config, Engine& engine, SelfMetrics& metrics, const Env& env,
      std::function<bool(std::string*)> alive);
  void install(HttpServer& server);

 private:
  HttpReply post_alerts(const HttpCall& call);
  HttpReply post_rollback(const HttpCall& call);
  HttpReply put_freeze(const HttpCall& call);
  HttpReply delete_freeze(const HttpCall& call);
  HttpReply latest_incident() const;
  // nullopt when allowed; otherwise the reply to send.
  std::optional<HttpReply> authorize(const HttpCall& call) const;
  // nullopt when basic auth is off, passes, or is not asked of this request (see above).
  std::optional<HttpReply> check_basic_auth(const HttpCall& call, bool mutating) const;

  const Config& config_;
  Engine& engine_;
  SelfMetrics& metrics_;
  std::function<bool(std::string*)> alive_;
  BearerAuth auth_;
  BasicAuth basic_;
  CloudWatchIntake cloudwatch_;
};

}  // namespace rs::sidecar
