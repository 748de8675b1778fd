// One loader per top-level config key (internal to sidecar/config). load_config_text() reads the
// document, runs every loader in the order below, then validate() for the checks that span
// sections. A new top-level key is one new load_<key>.cpp defining `void load_<key>(LoadContext&)`,
// its declaration here, and one line in kLoaders (config.cpp).
#pragma once

#include "sidecar/config/yaml_reader.h"

namespace rs::sidecar::config_internal {

// What every loader reads from and writes to.
struct LoadContext {
  MapReader& top;  // the top-level map: a loader reads its key(s) from it (marking them known)
  LoadedConfig& loaded;
  Config& config;  // loaded.config
  Errors& errors;
  // {{name}} values: deployment.vars plus deployment, stage, strategy (set by load_deployment,
  // which runs before everything that templates).
  Vars vars;
  // Entries under `actuators:` as written (also those that failed to load), set by load_actuators.
  std::size_t actuator_entries = 0;
  // Each `actuators[index]` entry with a known type; `actuator` is null when it failed to load.
  struct ActuatorEntry {
    std::size_t index = 0;
    int line = 0;
    std::string type;
    const actuators::Actuator* actuator = nullptr;
  };
  std::vector<ActuatorEntry> actuator_entries_loaded;
  const actuators::Registry& actuator_registry;
  const notifiers::Registry& notifier_registry;
  const notifiers::Environment& notifier_env;
  const Env& world;
  const LoadOptions& options;
};

using Loader = void (*)(LoadContext&);

void load_prometheus(LoadContext& c);      // load_prometheus.cpp: prometheus
void load_runtime(LoadContext& c);         // load_runtime.cpp: listen, evaluation_interval, dry_run
void load_deployment(LoadContext& c);      // load_deployment.cpp: deployment (+ vars)
void load_rules(LoadContext& c);           // load_rules.cpp: rules (+ stage overrides)
void load_rollback(LoadContext& c);        // load_rollback.cpp: rollback (preflight, verify)
void load_actuators(LoadContext& c);       // load_actuators.cpp: actuators, cleanup
void load_api(LoadContext& c);             // load_api.cpp: api
void load_alerts(LoadContext& c);          // load_alerts.cpp: alerts
void load_promotion(LoadContext& c);       // load_promotion.cpp: promotion
void load_records(LoadContext& c);         // load_records.cpp: state_file, audit_log, incidents_dir
void load_notifiers(LoadContext& c);       // load_notifiers.cpp: notifiers
void load_cloudwatch_key(LoadContext& c);  // load_cloudwatch.cpp: cloudwatch
void load_web_config(LoadContext& c);      // load_web_config.cpp: web_config_file (+ the file it names)

// validate.cpp: the checks that span sections (promotion vs actuators, actuators vs rules,
// alerts vs api, templating leftovers, secret files). `warnings` get what is suspicious but valid.
void validate(LoadContext& c, Errors& warnings);

}  // namespace rs::sidecar::config_internal
