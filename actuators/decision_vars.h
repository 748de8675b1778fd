// The {{name}} variables that templated actuators (file, webhook) render with.
#pragma once

#include <map>
#include <string>

#include "actuators/actuator.h"

namespace rs::actuators {

// deployment, stage, strategy, trigger, rule, value, threshold, reason (the decision),
// canary_weight and stable_weight (percent, as text: "0", "100"), and decision_json (all of
// these as one JSON object, safely escaped, for JSON bodies).
std::map<std::string, std::string> decision_variables(const DecisionContext& context, int canary_weight);

// The variable names decision_variables() defines, for validating templates at config time.
std::map<std::string, std::string> sample_decision_variables();

}  // namespace rs::actuators
