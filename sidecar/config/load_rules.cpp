// rules: each rule as it applies to deployment.stage (its `stages:` override merged), templated.
#include <set>

#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// rules[].name: letters, digits and _ . : - (a Prometheus label value and a log token).
bool is_rule_name(const std::string& name) {
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_ascii_digit(c) || c == '_' || c == '.' ||
                    c == ':' || c == '-';
    if (!ok) return false;
  }
  return !name.empty();
}

struct RuleFields {
  std::optional<double> above, below;
  std::optional<Duration> for_duration, delay;
  std::optional<Missing> missing;
  std::optional<RuleAction> action;
  std::optional<std::string> severity;
};

// Reads the fields a rule and its stage overrides share.
RuleFields read_rule_fields(MapReader& r) {
  RuleFields f;
  f.above = r.number("above");
  f.below = r.number("below");
  // raw() first, so `for` and `delay` are listed as known keys even when absent.
  if (r.raw("for")) f.for_duration = r.duration("for", Duration{0});
  if (r.raw("delay")) f.delay = r.duration("delay", Duration{0});
  if (auto m = r.scalar("missing", false)) {
    if (*m == "hold")
      f.missing = Missing::kHold;
    else if (*m == "breach")
      f.missing = Missing::kBreach;
    else if (*m == "ok")
      f.missing = Missing::kOk;
    else
      r.error("missing", "'" + *m + "' is not one of hold, breach, ok");
  }
  if (auto a = r.scalar("action", false)) {
    if (*a == "rollback")
      f.action = RuleAction::kRollback;
    else if (*a == "notify")
      f.action = RuleAction::kNotify;
    else
      r.error("action", "'" + *a + "' is not one of rollback, notify");
  }
  if (auto s = r.scalar("severity", false)) f.severity = *s;
  if (f.above && f.below) r.error("above", "set either above or below, not both");
  return f;
}

void load_rule(MapReader r, const DeploymentConfig& dep, const Vars& vars, std::vector<RuleConfig>& out) {
  RuleConfig rule;
  rule.line = r.line();
  rule.name = r.string("name");
  if (rule.name.size() > kMaxRuleNameLength) {
    r.error("name", quote_clipped(rule.name) + " is longer than " + std::to_string(kMaxRuleNameLength) + " characters");
  } else if (!rule.name.empty() && !is_rule_name(rule.name)) {
    r.error("name", quote_clipped(rule.name) + " may only contain letters, digits and _ . : -");
  }
  std::string query_template = r.string("query");
  RuleFields base = read_rule_fields(r);
  if (!base.above && !base.below) r.error("query", "needs a threshold: set above or below");

  RuleFields over;
  if (r.has("stages")) {
    YAML::Node stages = r.raw("stages");
    if (!stages.IsMap()) {
      r.error("stages", "must be a map of stage name to overrides");
    } else {
      for (auto it = stages.begin(); it != stages.end(); ++it) {
        std::string stage = it->first.Scalar();
        MapReader s(it->second, r.key_path("stages") + "." + stage, line_of(it->first), r.errors());
        RuleFields f = read_rule_fields(s);
        if ((f.above && base.below) || (f.below && base.above)) {
          s.error(f.above ? "above" : "below", "a stage may change the threshold, not its direction");
        }
        s.finish();
        if (stage == dep.stage) {
          over = f;
          rule.stage_override = stage;
        }
      }
    }
  }
  rule.comparison = (over.below || (!over.above && base.below)) ? Comparison::kBelow : Comparison::kAbove;
  rule.threshold = over.above   ? *over.above
                   : over.below ? *over.below
                   : base.above ? *base.above
                                : base.below.value_or(0);
  rule.for_duration = over.for_duration.value_or(base.for_duration.value_or(Duration{0}));
  rule.delay = over.delay.value_or(base.delay.value_or(Duration{0}));
  rule.missing = over.missing.value_or(base.missing.value_or(Missing::kHold));
  rule.action = over.action.value_or(base.action.value_or(RuleAction::kRollback));
  rule.severity = over.severity.value_or(base.severity.value_or("sev2"));
  if (rule.for_duration.count() < 0) r.error("for", "must not be negative");
  if (rule.delay.count() < 0) r.error("delay", "must not be negative");

  if (!query_template.empty()) {
    if (auto q = r.render("query", query_template, vars)) rule.query = *q;
  }
  r.finish();
  out.push_back(std::move(rule));
}

}  // namespace

void load_rules(LoadContext& c) {
  YAML::Node rules = c.top.raw("rules");
  if (!rules || !rules.IsSequence() || rules.size() == 0) {
    c.top.error("rules", "must be a non-empty list of rules");
    return;
  }
  if (rules.size() > kMaxRules) {
    c.top.error("rules", std::to_string(rules.size()) + " rules; at most " + std::to_string(kMaxRules) +
                             " are allowed (each is a query every evaluation_interval): split the config");
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    load_rule(MapReader(rules[i], "rules[" + std::to_string(i) + "]", line_of(rules[i]), c.errors), c.config.deployment,
              c.vars, c.config.rules);
  }
  std::set<std::string> names;
  for (const auto& r : c.config.rules) {
    if (!r.name.empty() && !names.insert(r.name).second) {
      c.errors.push_back(ConfigError{"rules", r.line, "rule name '" + r.name + "' is used twice"});
    }
  }
}

}  // namespace rs::sidecar::config_internal
