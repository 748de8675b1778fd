// The config's rules as a Prometheus rule file, so Alertmanager shows the same signals the
// sidecar acts on.
#pragma once

#include <string>

#include "sidecar/config/config.h"

namespace rs::sidecar {

// One alerting rule per config rule (effective after stage overrides and templating):
//   alert:  the rule name in CamelCase ("error-rate" -> "ErrorRate")
//   expr:   (<query>) > <threshold>   (or <), with `or on() absent(...)` for missing: breach
//   for:    the rule's `for`
//   labels: severity, rule, deployment, stage, action
//   annotations: summary, description (with {{ $value }}), query
// in one group named "rollback-sidecar-<deployment>" evaluated every evaluation_interval.
// With `use_recording_rules: true`, a second group "rollback-sidecar-<deployment>-queries" (same
// interval) records every query the sidecar evaluates as rollback_sidecar:slot_value with the
// labels rollback_sidecar_deployment, rollback_sidecar_rule and rollback_sidecar_slot
// (sidecar/config/recorded_series.h), each distinct query once (under the first rule and slot
// that hold it): the series the sidecar then queries (sidecar/core/rule_queries.h).
std::string render_prometheus_rules(const Config& config);

std::string alert_name_for(const std::string& rule_name);  // "error-rate" -> "ErrorRate"

}  // namespace rs::sidecar
