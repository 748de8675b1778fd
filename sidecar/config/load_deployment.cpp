// deployment: what is guarded, and the {{name}} values every templated string sees.
#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {

void load_deployment(LoadContext& c) {
  if (!c.top.has("deployment")) c.top.error("deployment", "is required (name, stage, strategy)");
  MapReader r = c.top.child("deployment");
  DeploymentConfig& out = c.config.deployment;
  out.name = r.string("name");
  out.stage = r.string("stage");
  out.strategy = r.string("strategy");
  if (!out.strategy.empty() && out.strategy != "canary" && out.strategy != "blue-green") {
    r.error("strategy", "'" + out.strategy + "' is not a strategy (canary or blue-green)");
  }
  out.vars = r.string_map("vars");
  for (const char* reserved : {"deployment", "stage", "strategy"}) {
    if (out.vars.count(reserved))
      r.error("vars", std::string("'") + reserved + "' is set from deployment itself; pick another name");
  }
  // Values are templated into PromQL string literals ({service="{{service}}"}): a quote, a
  // backslash, a newline or a brace would end the literal or the matcher and change the query.
  auto check_value = [&](const std::string& key, const std::string& name, const std::string& value) {
    const auto bad = value.find_first_of("\"\\\n{}");
    if (bad == std::string::npos) return;
    const std::string what = value[bad] == '\n' ? "a newline" : "'" + std::string(1, value[bad]) + "'";
    r.error(key, "{{" + name + "}} " + quote_clipped(value) + " contains " + what +
                     ", which would change the PromQL it is templated into; use a plain value");
  };
  check_value("name", "deployment", out.name);
  check_value("stage", "stage", out.stage);
  for (const auto& [name, value] : out.vars) check_value("vars", name, value);
  r.finish();

  c.vars = out.vars;
  c.vars["deployment"] = out.name;
  c.vars["stage"] = out.stage;
  c.vars["strategy"] = out.strategy;
}

}  // namespace rs::sidecar::config_internal
