#include "sidecar/app/sidecar.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "common/duration.h"
#include "promql/client.h"
#include "sidecar/api/api.h"
#include "sidecar/api/http_server.h"
#include "sidecar/api/tls_context.h"
#include "sidecar/app/version.h"
#include "sidecar/core/rule_queries.h"
#include "sidecar/core/scheduler.h"
#include "sidecar/core/scrape_aligner.h"
#include "sidecar/core/state_store.h"
#include "sidecar/records/notification_dispatcher.h"
#include "sidecar/records/record_keeper.h"

namespace rs::sidecar {
namespace {

std::vector<std::string> rule_names(const Config& config) {
  std::vector<std::string> names;
  for (const auto& r : config.rules) names.push_back(r.name);
  return names;
}

std::vector<actuators::Actuator*> pointers(const std::vector<std::unique_ptr<actuators::Actuator>>& owned) {
  std::vector<actuators::Actuator*> out;
  for (const auto& a : owned) out.push_back(a.get());
  return out;
}

}  // namespace

// Declared in data-path order; destroyed in reverse, so nothing outlives what it uses.
struct Sidecar::Parts {
  Parts(LoadedConfig& l, Env& e)
      : loaded(l),
        config(l.config),
        env(e),
        clock(*e.clock),
        metrics(RS_VERSION, rule_names(config), deployment_state_names()),
        client(config.prometheus, e.make_http()),
        store(config.state_file),
        engine(config, pointers(l.actuators), client, e, metrics, store),
        records(config, metrics),
        server(config.api.max_body_bytes,
               [this](const std::string& route, int status) { metrics.count_api_request(route, status); }) {}

  LoadedConfig& loaded;
  const Config& config;
  Env& env;
  Clock& clock;
  SelfMetrics metrics;
  promql::Client client;
  StateStore store;
  Engine engine;
  std::unique_ptr<ScrapeAligner> aligner;  // evaluation_alignment: scrape
  RecordKeeper records;
  std::unique_ptr<NotificationDispatcher> notifications;
  std::unique_ptr<Api> api;
  HttpServer server;
  std::unique_ptr<Scheduler> scheduler;
  std::atomic<MonoTime::rep> last_tick{0};
  bool started = false;
};

std::unique_ptr<Sidecar> Sidecar::create(LoadedConfig& loaded, Env& env) {
  return std::unique_ptr<Sidecar>(new Sidecar(std::make_unique<Parts>(loaded, env)));
}

Sidecar::Sidecar(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {
  Parts& p = *parts_;
  p.engine.set_cleanup_actuators(pointers(p.loaded.cleanup_actuators));
  p.records.set_persist_health(&p.engine.persist_health());
  std::vector<NotificationDispatcher::Target> targets;
  for (std::size_t i = 0; i < p.loaded.notifiers.size(); ++i)
    targets.push_back({p.loaded.notifiers[i].get(), p.config.notifier_specs[i]});
  p.notifications = std::make_unique<NotificationDispatcher>(
      p.config, std::move(targets), p.metrics, p.clock, NotificationDispatcher::outbox_path_for(p.config.state_file),
      [&p](const nlohmann::json& fields) { p.records.record_notification(fields); });
  p.notifications->set_persist_health(&p.engine.persist_health());
  // Liveness: a tick must start at least this often, or the loop is wedged.
  const auto stuck_after = 3 * p.config.evaluation_interval + p.config.prometheus.timeout + p.config.rollback.deadline;
  p.last_tick = p.clock.mono().time_since_epoch().count();
  p.api = std::make_unique<Api>(p.config, p.engine, p.metrics, p.env, [&p, stuck_after](std::string* why) {
    const auto since = p.clock.mono() - MonoTime(MonoTime::duration(p.last_tick.load()));
    if (since <= stuck_after) return true;
    *why = "no evaluation started for " + common::format_duration(std::chrono::duration_cast<Duration>(since));
    return false;
  });
  p.api->install(p.server);
  if (p.config.web.tls.enabled) {
    p.server.use_tls(
        std::make_shared<TlsContext>(p.config.web.tls, [&p] { p.metrics.count_web_config_reload_error(); }),
        [&p] { p.metrics.count_tls_handshake_error(); });
  }
  Scheduler::Retime retime;
  if (p.config.evaluation_alignment == EvaluationAlignment::kScrape) {
    p.aligner =
        std::make_unique<ScrapeAligner>(p.config, rule_queries_for(p.config).queries(), p.client, p.clock, p.metrics);
    p.engine.set_alignment_source([&p] { return p.aligner->view(); });
    retime = [&p](MonoTime now, MonoTime next) -> std::optional<MonoTime> {
      std::optional<MonoTime> moved = p.aligner->next_tick(now, next);
      // Moving the grid earlier while a rule's `for` or `delay` runs would make it measure short
      // at the evaluation where it is due, and cost a whole interval: such moves wait.
      if (moved && *moved < next && p.engine.timing_a_rule()) return std::nullopt;
      if (moved) p.engine.restart_grid();
      return moved;
    };
  }
  p.scheduler = std::make_unique<Scheduler>(
      p.clock, p.config.evaluation_interval, [this] { evaluate_once(); },
      [&p](std::uint64_t skipped) {
        p.metrics.count_evaluation_overruns(static_cast<double>(skipped));
        spdlog::warn("evaluation took longer than evaluation_interval {}; skipped {} tick(s)",
                     common::format_duration(p.config.evaluation_interval), skipped);
      },
      std::move(retime));
}

Sidecar::~Sidecar() {
  stop();
  finish();
}

void Sidecar::evaluate_once() {
  Parts& p = *parts_;
  p.last_tick = p.clock.mono().time_since_epoch().count();
  if (p.aligner) p.aligner->before_evaluation();
  p.engine.evaluate_once();
}

bool Sidecar::start(std::string* error, const StartOptions& options) {
  Parts& p = *parts_;
  if (!p.engine.restore(error)) return false;
  if (!p.records.start(error)) return false;
  p.engine.add_observer(&p.records);
  p.records.record_startup(RS_VERSION, deployment_state_name(p.engine.state()));
  p.notifications->start();
  p.notifications->recover(p.engine.last_decision());
  p.engine.add_observer(p.notifications.get());
  p.started = true;
  if (options.serve_http && !p.server.start(p.config.listen, error)) {
    finish();
    return false;
  }
  const Config& c = p.config;
  std::string serving = options.serve_http ? c.listen : std::string("nothing (no HTTP listener)");
  if (options.serve_http && c.web.tls.enabled) {
    serving += std::string(" (HTTPS, ") + tls_version_name(c.web.tls.min_version) + "-" +
               tls_version_name(c.web.tls.max_version) +
               ", client certificates: " + client_auth_name(c.web.tls.client_auth) + ")";
  }
  if (options.serve_http && !c.web.basic_auth_users.empty()) {
    serving += " with basic auth (" + std::to_string(c.web.basic_auth_users.size()) + " user(s))";
  }
  spdlog::info(
      "rollback-sidecar {} watching deployment {} (stage {}, strategy {}{}): {} rule(s) every {} against {}; "
      "serving on {}",
      RS_VERSION, c.deployment.name, c.deployment.stage, c.deployment.strategy, c.dry_run ? ", DRY RUN" : "",
      c.rules.size(), common::format_duration(c.evaluation_interval), c.prometheus.url, serving);
  return true;
}

void Sidecar::run() {
  parts_->scheduler->run();
  finish();
}

void Sidecar::stop() { parts_->scheduler->stop(); }

void Sidecar::finish() {
  Parts& p = *parts_;
  if (!p.started) return;
  p.started = false;
  p.engine.shutdown();
  p.server.stop();
  p.notifications->stop();
  p.records.record_shutdown(deployment_state_name(p.engine.state()));
  p.records.stop();
  spdlog::info("stopped; deployment {} is {}", p.config.deployment.name, deployment_state_name(p.engine.state()));
}

Engine& Sidecar::engine() { return parts_->engine; }
SelfMetrics& Sidecar::metrics() { return parts_->metrics; }
int Sidecar::port() const { return parts_->server.port(); }

}  // namespace rs::sidecar
