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

const char* test_type_name(TestType t) {
  return t == TestType::kSequentialBinomial ? "sequential-binomial" : "sequential-histogram";
}

const char* test_counter_key(TestType t, int i) {
  static const char* const kBinomial[4] = {"canary_errors", "canary_total", "baseline_errors", "baseline_total"};
  static const char* const kHistogram[4] = {"canary_within", "canary_count", "baseline_within", "baseline_count"};
  if (i < 0 || i > 3) return "?";
  return t == TestType::kSequentialBinomial ? kBinomial[i] : kHistogram[i];
}

std::string queries_text(const RuleConfig& rule) {
  if (!rule.test) return rule.query;
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out += std::string(i ? "\n" : "") + test_counter_key(rule.test->type, i) + ": " + rule.test->queries[i];
  }
  return out;
}

}  // namespace rs::sidecar
