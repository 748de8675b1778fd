// The checks that span sections, after every loader ran.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sidecar/config/loaders.h"
#include "sidecar/config/recorded_series.h"

namespace rs::sidecar::config_internal {
namespace {

// Promotion moves traffic through every actuator's set_canary_weight() (the executor drives them
// in order and stops at the first failure), so each one must be able to set weights.
void check_promotion_actuators(LoadContext& c) {
  if (!c.config.promotion.enabled) return;
  for (const auto& entry : c.actuator_entries_loaded) {
    if (!entry.actuator || entry.actuator->supports_weights()) continue;  // a failed entry has its own error
    c.errors.push_back(
        ConfigError{"promotion", c.top.line("promotion"),
                    "needs actuators that set traffic weights; actuators[" + std::to_string(entry.index) + "].type '" +
                        entry.type + "' (line " + std::to_string(entry.line) +
                        ") cannot (types that can: " + comma_list(c.actuator_registry.weight_types()) + ")"});
  }
  if (c.actuator_entries == 0) c.top.error("promotion", "needs at least one actuator");
}

void check_actuators_for_rollback_rules(LoadContext& c) {
  const auto& rules = c.config.rules;
  const bool rolls_back =
      std::any_of(rules.begin(), rules.end(), [](const RuleConfig& r) { return r.action == RuleAction::kRollback; });
  if (rolls_back && !c.config.dry_run && c.actuator_entries == 0) {
    c.top.error("actuators", "rules with action: rollback need at least one actuator (or set dry_run: true)");
  }
}

void check_alerts_need_the_api_token(LoadContext& c) {
  if (c.config.alerts.enabled && c.config.api.bearer_token_file.empty()) {
    c.top.error("alerts",
                "needs api.bearer_token_file: Alertmanager authenticates with it (http_config.authorization)");
  }
}

// A `{{name}}` still in a string after templating (a variable's value that itself looks like a
// template) would reach Prometheus or the matcher verbatim.
void check_templated(LoadContext& c, const std::string& path, int line, const std::string& text) {
  const auto open = text.find("{{");
  if (open == std::string::npos) return;
  const auto close = text.find("}}", open);
  const std::string var = text.substr(open, close == std::string::npos ? std::string::npos : close + 2 - open);
  c.errors.push_back(ConfigError{
      path, line,
      "unresolved " + quote_clipped(var) + " after templating: a variable's value must not contain a template"});
}

void check_templating_is_complete(LoadContext& c) {
  for (std::size_t i = 0; i < c.config.rules.size(); ++i) {
    const RuleConfig& r = c.config.rules[i];
    const std::string path = "rules[" + std::to_string(i) + "]";
    check_templated(c, path + ".query", r.line, r.query);
    if (r.baseline) check_templated(c, path + ".baseline.query", r.line, r.baseline->query);
    if (r.min_samples) check_templated(c, path + ".min_samples.query", r.line, r.min_samples->query);
  }
  const RollbackConfig& rb = c.config.rollback;
  const int rollback_line = c.top.line("rollback");
  check_templated(c, "rollback.preflight.http", rollback_line, rb.preflight.http_url);
  if (rb.preflight.query) check_templated(c, "rollback.preflight.query", rollback_line, rb.preflight.query->query);
  if (rb.verify.enabled) check_templated(c, "rollback.verify.query", rollback_line, rb.verify.condition.query);
  for (const auto& [label, pattern] : c.config.alerts.match) {
    check_templated(c, "alerts.match." + label, c.top.line("alerts"), pattern);
  }
}

// The API token guards alerts, manual rollback and freeze: a file anyone can write lets anyone
// roll back. One that does not exist (yet: a secret mounted later) is only a warning; the
// mutating endpoints refuse every request until it does.
void check_api_token_file(LoadContext& c, Errors& warnings) {
  const std::string& file = c.config.api.bearer_token_file;
  if (file.empty()) return;
  const int line = c.top.line("api");
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const std::string why = std::strerror(errno);
    warnings.push_back(ConfigError{
        "api.bearer_token_file", line,
        "'" + file + "' cannot be read (" + why + "): alerts, manual rollback and freeze are refused until it can"});
    return;
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    c.errors.push_back(ConfigError{"api.bearer_token_file", line,
                                   "'" + file + "' is world-writable (mode " + mode +
                                       "): anyone on the host could set the token and roll back; chmod o-w it"});
  }
}

// `listen` host parts that only this machine can reach.
bool is_loopback_host(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1") return true;
  unsigned a = 0, b = 0, c = 0, d = 0;
  char tail = 0;
  return std::sscanf(host.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 &&
         d < 256;
}

// What reaches the listen port from other hosts. The alert and CloudWatch intakes roll back;
// with neither the bearer token nor TLS in front of them, anyone on the network who can reach
// the port (or read its traffic) can trigger or replay a rollback. An empty host binds every
// interface.
void check_exposed_listen(LoadContext& c, Errors& warnings) {
  const std::string& listen = c.config.listen;
  const std::string host = listen.substr(0, listen.rfind(':'));
  if (is_loopback_host(host)) return;
  const bool tls = c.config.web.tls.enabled;
  const bool token = !c.config.api.bearer_token_file.empty();
  const bool intake = c.config.alerts.enabled || c.config.cloudwatch.enabled;
  if (intake && !token && !tls) {
    c.top.error("listen", quote_clipped(listen) + " is not a loopback address and " +
                              (c.config.alerts.enabled ? "alerts" : "cloudwatch") +
                              " intake is on with neither api.bearer_token_file nor TLS (web_config_file "
                              "tls_server_config): anyone who reaches the port could roll back; configure one, or "
                              "listen on 127.0.0.1");
  } else if (token && !tls) {
    warnings.push_back(ConfigError{"listen", c.top.line("listen"),
                                   quote_clipped(listen) + " is not a loopback address and serves plain HTTP: the API "
                                                           "bearer token crosses the network in clear text; configure "
                                                           "tls_server_config in web_config_file"});
  }
}

// use_recording_rules: every query slot is read from the series a recording rule writes for it
// (recorded_series.h). A query whose series carry the labels that recording sets cannot be
// recorded faithfully: refused, naming the query's key.
void check_recordable(LoadContext& c) {
  if (!c.config.use_recording_rules) return;
  auto check = [&](const std::string& path, int line, const std::string& query) {
    const std::string why = unrecordable_reason(query);
    if (!why.empty()) {
      c.errors.push_back(ConfigError{path, line, "cannot be recorded with use_recording_rules: true: " + why});
    }
  };
  for (std::size_t i = 0; i < c.config.rules.size(); ++i) {
    const RuleConfig& r = c.config.rules[i];
    const std::string path = "rules[" + std::to_string(i) + "]";
    if (r.test) {
      for (int q = 0; q < 4; ++q) {
        check(path + ".test." + test_counter_key(r.test->type, q), r.line, r.test->queries[q]);
      }
    } else if (r.slo) {
      check(path + ".query", r.line, r.slo->windows.front().long_query);  // the windows differ only in length
    } else {
      check(path + ".query", r.line, r.query);
    }
    if (r.baseline) check(path + ".baseline.query", r.line, r.baseline->query);
    if (r.min_samples) check(path + ".min_samples.query", r.line, r.min_samples->query);
  }
}

}  // namespace

void validate(LoadContext& c, Errors& warnings) {
  check_recordable(c);
  check_promotion_actuators(c);
  check_actuators_for_rollback_rules(c);
  check_alerts_need_the_api_token(c);
  check_templating_is_complete(c);
  check_api_token_file(c, warnings);
  check_exposed_listen(c, warnings);
}

}  // namespace rs::sidecar::config_internal
