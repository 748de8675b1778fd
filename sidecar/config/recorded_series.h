// The series `rollback-sidecar rules` records for each query slot when `use_recording_rules: true`
// (docs/configuration.md, "use_recording_rules"): a stable contract between the rule file, the
// sidecar's queries and the user's Prometheus. Metric kRecordedMetric keeps the expression's own
// labels (so several series reduce as on the expression) and adds the three below, which name the
// deployment, the rule and the slot (RuleQueries::key_of: "query", "baseline", "slo_1h", ...).
#pragma once

#include <string>

namespace rs::sidecar {

inline constexpr const char* kRecordedMetric = "rollback_sidecar:slot_value";
inline constexpr const char* kDeploymentLabel = "rollback_sidecar_deployment";
inline constexpr const char* kRuleLabel = "rollback_sidecar_rule";
inline constexpr const char* kSlotLabel = "rollback_sidecar_slot";

// `rollback_sidecar:slot_value{rollback_sidecar_deployment="checkout",rollback_sidecar_rule="error-rate",
// rollback_sidecar_slot="query"}`. Deployment and rule names cannot contain '"' or '\' (config
// validation), so they need no escaping.
inline std::string recorded_selector(const std::string& deployment, const std::string& rule,
                                     const std::string& slot_key) {
  return std::string(kRecordedMetric) + "{" + kDeploymentLabel + "=\"" + deployment + "\"," + kRuleLabel + "=\"" +
         rule + "\"," + kSlotLabel + "=\"" + slot_key + "\"}";
}

// Why `query` cannot be recorded under these labels, or "" when it can: a query that reads the
// recorded metric or names one of the labels (as an identifier of its own, not a prefix such as
// rollback_sidecar_rule_value) would see its series' labels overwritten by the recording rule's,
// and distinct series would collapse into one.
inline std::string unrecordable_reason(const std::string& query) {
  auto ident = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
  };
  for (const char* name : {kRecordedMetric, kDeploymentLabel, kRuleLabel, kSlotLabel}) {
    const std::string n = name;
    for (auto at = query.find(n); at != std::string::npos; at = query.find(n, at + 1)) {
      const bool starts = at == 0 || !ident(query[at - 1]);
      const bool ends = at + n.size() == query.size() || !ident(query[at + n.size()]);
      if (starts && ends) {
        return "it names " + n + ", which the recording rule sets on the recorded series (" + kRecordedMetric +
               "); its own series would lose it";
      }
    }
  }
  return "";
}

}  // namespace rs::sidecar
