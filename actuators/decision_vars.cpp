#include "actuators/decision_vars.h"

#include <nlohmann/json.hpp>

#include "common/json_text.h"

namespace rs::actuators {

std::map<std::string, std::string> decision_variables(const DecisionContext& c, int canary_weight) {
  std::map<std::string, std::string> vars = {
      {"deployment", c.deployment},
      {"stage", c.stage},
      {"strategy", c.strategy},
      {"trigger", c.trigger},
      {"rule", c.rule},
      {"value", c.value},
      {"threshold", c.threshold},
      {"reason", c.reason},
      {"canary_weight", std::to_string(canary_weight)},
      {"stable_weight", std::to_string(100 - canary_weight)},
  };
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : vars) j[k] = v;
  j["canary_weight"] = canary_weight;
  j["stable_weight"] = 100 - canary_weight;
  vars["decision_json"] = common::dump_json(j);
  return vars;
}

std::map<std::string, std::string> sample_decision_variables() { return decision_variables(DecisionContext{}, 0); }

}  // namespace rs::actuators
