#include "sidecar/policy/rule.h"

namespace rs::sidecar {

const char* comparison_name(Comparison c) { return c == Comparison::kAbove ? "above" : "below"; }
const char* missing_name(Missing m) {
  switch (m) {
    case Missing::kHold: return "hold";
    case Missing::kBreach: return "breach";
    case Missing::kOk: return "ok";
  }
  return "?";
}
const char* action_name(RuleAction a) { return a == RuleAction::kRollback ? "rollback" : "notify"; }

}  // namespace rs::sidecar
