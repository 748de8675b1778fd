// The checks that span sections, after every loader ran.
#include <algorithm>

#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

// Promotion moves traffic through every actuator's set_canary_weight() (the executor drives them
// in order and stops at the first failure), so each one must be able to set weights.
void check_promotion_actuators(LoadContext& c) {
  if (!c.config.promotion.enabled) return;
  for (const auto& entry : c.actuator_entries_loaded) {
    if (!entry.actuator || entry.actuator->supports_weights()) continue;  // a failed entry has its own error
    c.errors.push_back(ConfigError{
        "promotion", c.top.line("promotion"),
        "needs actuators that set traffic weights; actuators[" + std::to_string(entry.index) + "].type '" +
            entry.type + "' (line " + std::to_string(entry.line) + ") cannot (types that can: " +
            comma_list(c.actuator_registry.weight_types()) + ")"});
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
    c.top.error("alerts", "needs api.bearer_token_file: Alertmanager authenticates with it (http_config.authorization)");
  }
}

}  // namespace

void validate(LoadContext& c, Errors& warnings) {
  (void)warnings;
  check_promotion_actuators(c);
  check_actuators_for_rollback_rules(c);
  check_alerts_need_the_api_token(c);
}

}  // namespace rs::sidecar::config_internal
