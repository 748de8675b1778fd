// The sidecar's YAML config: model, strict loader (errors name the key and its line), and
// the effective rules after `deployment.stage` overrides and {{var}} templating.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actuators/actuator.h"
#include "notifiers/notifier.h"
#include "promql/client.h"
#include "sidecar/config/cloudwatch_config.h"
#include "sidecar/config/web_config.h"
#include "sidecar/policy/rule.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace rs::sidecar {

struct DeploymentConfig {
  std::string name;
  std::string stage;
  std::string strategy = "canary";  // canary | blue-green
  std::map<std::string, std::string> vars;
  // Stable identity of this deployment (name, stage, strategy, vars): a latched rollback
  // holds only while it matches; a new version (new vars) starts fresh.
  std::string identity() const;
};

// Proves the stable version is healthy before traffic moves back to it (blue/green: the old
// colour may have been scaled down). Checked again after the switch.
struct PreflightConfig {
  bool enabled = false;
  std::string http_url;                 // GET must answer 2xx ("" = not checked)
  std::optional<QueryCondition> query;  // must hold ("" = not checked)
  Duration timeout{5000};
};

// After a successful rollback: the condition must hold at every evaluation for `for_duration`,
// within `timeout` of the rollback, for the rollback to count as verified.
struct VerifyConfig {
  bool enabled = false;
  QueryCondition condition;
  Duration for_duration{60000};
  Duration timeout{300000};
};

// How the executor drives actuators when rolling back.
struct RollbackConfig {
  Duration deadline{30000};  // all actuators, all retries
  Duration initial_backoff{100};
  Duration max_backoff{2000};
  PreflightConfig preflight;
  VerifyConfig verify;
  // Several sidecars (one per replica) guarding one router: replica N waits N * stagger before
  // acting, then finds the router already rolled back (noop). One effective change, and the
  // others still act if replica 0 is gone.
  Duration stagger{0};
  int replica_index = 0;
};

// The HTTP API's mutating endpoints (/api/v1/alerts, /api/v1/rollback, /api/v1/freeze).
struct ApiConfig {
  // Bearer token file; without it the mutating endpoints are off (never open).
  std::string bearer_token_file;
  std::size_t max_body_bytes = 1024 * 1024;  // larger request bodies get 413
};

// Alertmanager alerts (POST /api/v1/alerts) that roll the deployment back.
struct AlertsConfig {
  bool enabled = false;
  // label -> regex (templated; RE2 syntax, fully anchored like Alertmanager's `=~` matchers);
  // every label must match. A missing label is "".
  std::map<std::string, std::string> match;
  // label -> `match[label]` compiled once by the loader (compile_alert_matcher).
  std::map<std::string, std::shared_ptr<const re2::RE2>> compiled;
};

// Compiles an alerts.match pattern (RE2 syntax; matched against the whole value). Null, with the
// reason in *error (if given), when it is not a valid RE2 regex.
std::shared_ptr<const re2::RE2> compile_alert_matcher(const std::string& pattern, std::string* error);

// Longest accepted rules[].name: it is a metric label value and appears in log lines, alerts and reports.
constexpr std::size_t kMaxRuleNameLength = 200;
// Most rules one config may have: every rule is a query per evaluation.
constexpr std::size_t kMaxRules = 500;

// Progressive canary promotion: while every rule stays ok for step_duration, the canary's
// traffic share moves to the next step (percent); the last step is 100.
struct PromotionConfig {
  bool enabled = false;
  std::vector<int> steps;
  Duration step_duration{120000};
};

// Runs `cleanup` actuators this long after a successful rollback (e.g. stop the failed colour),
// unless the sidecar stops first.
struct CleanupConfig {
  bool enabled = false;
  Duration delay{300000};
};

// Delivery policy of one `notifiers[]` entry (the notifier itself reads its other keys).
struct NotifierSpec {
  std::string type;
  // Messages this notifier gets; default all: RollbackStarted, RollbackSucceeded,
  // RollbackFailed, RollbackDryRun, RuleNotify.
  std::vector<std::string> messages;
  Duration give_up_after{3600000};  // retries with backoff until then, then the message is dropped
  int line = 0;
};

struct ActuatorSpec {
  std::string type;
  int line = 0;
};

// When evaluations run (docs/configuration.md): just after the rules' series are scraped
// (scrape: learned from their sample timestamps; scrape_aligner.h), or on a fixed grid from
// start-up (fixed).
enum class EvaluationAlignment { kScrape, kFixed };

struct Config {
  std::string source_path;
  promql::ClientOptions prometheus;
  std::string listen = "127.0.0.1:9107";
  Duration evaluation_interval{5000};
  EvaluationAlignment evaluation_alignment = EvaluationAlignment::kScrape;
  DeploymentConfig deployment;
  std::vector<RuleConfig> rules;
  std::vector<ActuatorSpec> actuator_specs;
  std::vector<NotifierSpec> notifier_specs;  // parallel to LoadedConfig::notifiers
  RollbackConfig rollback;
  std::string state_file;  // "" = no persistence (a warning is logged at startup)
  bool dry_run = false;
  // Query the series `rollback-sidecar rules` records for each query slot instead of the
  // expressions (sidecar/core/rule_queries.h): one cheap selector per slot for Prometheus, at up to
  // one rule-group interval of lag.
  bool use_recording_rules = false;
  ApiConfig api;
  AlertsConfig alerts;
  CloudWatchConfig cloudwatch;
  PromotionConfig promotion;
  CleanupConfig cleanup;
  std::string audit_log;      // "" = no audit log
  std::string incidents_dir;  // "" = no incident reports
  WebConfig web;              // web_config_file (or --web.config.file): TLS and basic auth on `listen`
};

struct ConfigError {
  ConfigError() = default;
  ConfigError(std::string path_, int line_, std::string message_, std::string file_ = "")
      : path(std::move(path_)), line(line_), message(std::move(message_)), file(std::move(file_)) {}

  std::string path;  // e.g. "rules[1].for"
  int line = 0;      // 1-based; 0 when unknown
  std::string message;
  // Set when the error is in another file than the config (the web config file): to_string
  // names it instead of `file`.
  std::string file;
  std::string to_string(const std::string& file) const;  // "file:12: rules[1].for: ..."
};

// What the command line adds to the config file.
struct LoadOptions {
  std::string web_config_file;  // --web.config.file: replaces the config's web_config_file
};

struct LoadedConfig {
  Config config;
  std::vector<std::unique_ptr<actuators::Actuator>> actuators;  // in config order
  std::vector<std::unique_ptr<actuators::Actuator>> cleanup_actuators;
  std::vector<std::unique_ptr<notifiers::Notifier>> notifiers;  // in config order
};

struct LoadResult {
  std::optional<LoadedConfig> loaded;  // set only when errors is empty
  std::vector<ConfigError> errors;
  // Suspicious but valid (the config loads): `check` prints them, e.g. a token file that does not
  // exist yet.
  std::vector<ConfigError> warnings;
};

// Loads and validates a config. Every problem is collected (not just the first); unknown keys
// are errors. Actuators and notifiers are created through their registries, which validate
// their settings.
// `env` is what the actuators built from the config reach the world through (the composition
// root passes its Env; tests their fakes).
LoadResult load_config_file(const std::string& path, const actuators::Registry& registry,
                            const notifiers::Registry& notifier_registry = notifiers::Registry::builtin(),
                            const notifiers::Environment& notifier_env = {}, const Env& env = system_env(),
                            const LoadOptions& options = {});
LoadResult load_config_text(const std::string& yaml_text, const std::string& source_name,
                            const actuators::Registry& registry,
                            const notifiers::Registry& notifier_registry = notifiers::Registry::builtin(),
                            const notifiers::Environment& notifier_env = {}, const Env& env = system_env(),
                            const LoadOptions& options = {});

}  // namespace rs::sidecar
