// alerts: which Alertmanager alerts roll back (label -> RE2 pattern, templated, compiled once).
#include "common/template.h"
#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {

void load_alerts(LoadContext& c) {
  if (!c.top.has("alerts")) {
    c.top.raw("alerts");  // known, even when absent
    return;
  }
  AlertsConfig& out = c.config.alerts;
  MapReader alerts = c.top.child("alerts");
  if (!alerts.has("match")) alerts.error("match", "is required: the labels an alert must have to roll back");
  const auto match = alerts.string_map("match");
  const YAML::Node written = alerts.raw("match");
  if (written && (written.IsNull() || (written.IsMap() && written.size() == 0))) {
    alerts.error("match",
                 "is empty, which would match every alert (also kube-prometheus's always-firing "
                 "Watchdog) and roll back at once; list at least one label, e.g. {service: '{{deployment}}'}");
  }
  for (const auto& [label, pattern] : match) {
    std::string why;
    auto rendered = common::render_template(pattern, c.vars, &why);
    if (!rendered) {
      alerts.error("match", label + ": " + why);
      continue;
    }
    auto compiled = compile_alert_matcher(*rendered, &why);
    if (!compiled) {
      alerts.error("match", label + ": " + quote_clipped(*rendered) + " is not a valid RE2 regex (" + why + ")");
      continue;
    }
    out.match[label] = *rendered;
    out.compiled[label] = std::move(compiled);
  }
  out.enabled = true;
  alerts.finish();
}

}  // namespace rs::sidecar::config_internal
