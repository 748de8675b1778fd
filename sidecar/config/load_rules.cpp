// rules: each rule as it applies to deployment.stage (its `stages:` override merged), templated.
#include <set>

#include "common/duration.h"
#include "sidecar/config/loaders.h"
#include "sidecar/policy/breach_window.h"
#include "sidecar/policy/decision.h"  // format_value

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

// A judge's map as one level (the rule, or a stage override) wrote it: every sub-key optional,
// so a stage may change one of them and keep the rule's others. Queries are templated.
struct MinSamplesFields {
  std::optional<std::string> query;
  std::optional<double> at_least;
};
struct BaselineFields {
  std::optional<std::string> query;
  std::optional<double> max_ratio, min_difference;
};

struct RuleFields {
  std::optional<double> above, below;
  std::optional<Duration> for_duration, delay;
  std::optional<BreachesSpec> breaches;
  bool breaches_set = false;  // `breaches` present (also when it failed to parse)
  std::optional<Missing> missing;
  std::optional<RuleAction> action;
  std::optional<std::string> severity;
  std::optional<MinSamplesFields> min_samples;
  std::optional<BaselineFields> baseline;
};

// A judge's query: required where the judge is introduced (`needed`), templated like the
// rule's query (same vars, same errors).
std::optional<std::string> judge_query(MapReader& m, bool needed, const Vars& vars) {
  auto text = m.scalar("query", needed);
  if (!text) return std::nullopt;
  if (text->empty()) {
    m.error("query", "must not be empty");
    return std::nullopt;
  }
  return m.render("query", *text, vars);
}

// `min_samples: {query, at_least}`. `rule_has` is the rule's own map when reading a stage's:
// the stage may then set only the sub-keys it changes.
MinSamplesFields read_min_samples(MapReader& r, const Vars& vars, const std::optional<MinSamplesFields>& rule_has) {
  MapReader m = r.child("min_samples");
  MinSamplesFields f;
  f.query = judge_query(m, !rule_has, vars);
  const YAML::Node at_least = m.raw("at_least");
  if (!rule_has && (!at_least || at_least.IsNull()))
    m.error("at_least", "is required (the fewest samples to judge on)");
  f.at_least = m.number("at_least");
  if (f.at_least && *f.at_least < 0) m.error("at_least", "must be at least 0, not " + format_value(*f.at_least));
  m.finish();
  return f;
}

// `baseline: {query, max_ratio, min_difference}` (max_ratio defaults to 1, min_difference to 0).
BaselineFields read_baseline(MapReader& r, const Vars& vars, const std::optional<BaselineFields>& rule_has) {
  MapReader m = r.child("baseline");
  BaselineFields f;
  f.query = judge_query(m, !rule_has, vars);
  f.max_ratio = m.number("max_ratio");
  if (f.max_ratio && *f.max_ratio < 1) {
    m.error("max_ratio", "must be at least 1 (1 = no worse than the baseline), not " + format_value(*f.max_ratio));
  }
  f.min_difference = m.number("min_difference");
  if (f.min_difference && *f.min_difference < 0) {
    m.error("min_difference", "must be at least 0, not " + format_value(*f.min_difference));
  }
  m.finish();
  return f;
}

// `test: {type, four counter queries, false_rollback_rate, max_ratio, pass_ratio[, latency_bound]}`.
// Only at the rule's level: a stage cannot swap a test's queries or its error budget halfway.
std::optional<TestConfig> read_test(MapReader& r, const std::string& rule_name, const Vars& vars) {
  MapReader m = r.child("test");
  TestConfig t;
  const auto type = m.scalar("type", true);
  if (!type) {
    m.finish();
    return std::nullopt;
  }
  if (*type == test_type_name(TestType::kSequentialBinomial)) {
    t.type = TestType::kSequentialBinomial;
  } else if (*type == test_type_name(TestType::kSequentialHistogram)) {
    t.type = TestType::kSequentialHistogram;
  } else {
    m.error("type", quote_clipped(*type) + " is not one of sequential-binomial, sequential-histogram");
    m.finish();
    return std::nullopt;
  }
  bool ok = true;
  for (int i = 0; i < 4; ++i) {
    const std::string key = test_counter_key(t.type, i);
    auto text = m.scalar(key, true);
    if (text && text->empty()) m.error(key, "must not be empty");
    auto q = text && !text->empty() ? m.render(key, *text, vars) : std::nullopt;
    if (q)
      t.queries[i] = *q;
    else
      ok = false;
  }
  if (auto a = m.number("false_rollback_rate")) t.spec.false_rollback_rate = *a;
  if (auto a = m.number("max_ratio")) t.spec.max_ratio = *a;
  if (auto a = m.number("pass_ratio")) t.spec.pass_ratio = *a;
  if (t.type == TestType::kSequentialHistogram) {
    if (!m.has("latency_bound")) m.error("latency_bound", "is required (seconds: the `le` of canary_within's bucket)");
    if (auto b = m.number("latency_bound")) t.spec.latency_bound = *b;
  }
  if (t.type == TestType::kSequentialHistogram && !(t.spec.latency_bound > 0)) {
    m.error("latency_bound", "must be above 0 seconds, not " + format_value(t.spec.latency_bound));
    ok = false;
  }
  const std::string why = validate(t.spec);  // starts with the key it is about
  if (!why.empty()) {
    m.error(why.substr(0, why.find(' ')), "rule '" + rule_name + "': " + why);
    ok = false;
  }
  m.finish();
  if (!ok) return std::nullopt;
  return t;
}

// `slo: {objective, period, windows: [{long, short, budget_share}]}`, the rule's query rendered once
// per window with {{window}} set to its duration. Only at the rule's level.
std::optional<SloSpec> read_slo(MapReader& r, const std::string& rule_name, const std::string& query_template,
                                const Vars& vars) {
  MapReader m = r.child("slo");
  SloSpec spec;
  bool ok = true;
  const auto fail = [&](const std::string& key, const std::string& why) {
    m.error(key, why);
    ok = false;
  };
  const YAML::Node objective_node = m.raw("objective");
  if (!objective_node || objective_node.IsNull()) {
    fail("objective", "is required (the SLO's success ratio, e.g. 0.999)");
  } else if (auto o = m.number("objective")) {
    if (!(*o > 0 && *o < 1))
      fail("objective", "must be between 0 and 1 (exclusive), e.g. 0.999, not " + format_value(*o));
    spec.objective = *o;
  } else {
    ok = false;
  }
  if (m.raw("period")) spec.period = m.duration("period", spec.period);
  if (spec.period.count() <= 0) fail("period", "must be longer than 0");
  struct Raw {
    Duration long_window, short_window;
    double share;
    std::string path;
    int line;
  };
  std::vector<Raw> raw;
  const YAML::Node windows = m.raw("windows");
  if (!windows || windows.IsNull()) {
    // The Google SRE workbook's paging pairs: 2% of the budget in 1h, 5% in 6h.
    raw = {{std::chrono::hours(1), std::chrono::minutes(5), 0.02, m.key_path("windows"), m.line()},
           {std::chrono::hours(6), std::chrono::minutes(30), 0.05, m.key_path("windows"), m.line()}};
  } else if (!windows.IsSequence() || windows.size() == 0) {
    fail("windows", "must be a non-empty list of {long, short, budget_share}");
  } else {
    for (std::size_t i = 0; i < windows.size(); ++i) {
      MapReader w(windows[i], m.key_path("windows") + "[" + std::to_string(i) + "]", line_of(windows[i]), m.errors());
      Raw x{w.duration("long"), w.duration("short"), 0.02, w.path(), w.line()};
      if (auto share = w.number("budget_share")) x.share = *share;
      if (!(x.share > 0 && x.share <= 1)) {
        w.error("budget_share", "must be in (0, 1], not " + format_value(x.share));
        ok = false;
      }
      if (x.long_window.count() <= 0 || x.short_window.count() <= 0) {
        w.error("long", "long and short must be longer than 0");
        ok = false;
      } else if (x.short_window >= x.long_window) {
        w.error("short", "must be shorter than long (" + common::format_duration(x.long_window) + ")");
        ok = false;
      }
      w.finish();
      raw.push_back(x);
    }
  }
  m.finish();
  if (vars.count("window")) {
    r.error("slo", "rule '" + rule_name + "' sets {{window}} itself; rename deployment.vars.window");
    ok = false;
  }
  if (query_template.find("{{window}}") == std::string::npos) {
    r.error("query", "rule '" + rule_name +
                         "' has an `slo`: its query is an error ratio over {{window}}, e.g. "
                         "sum(rate(errors[{{window}}])) / sum(rate(requests[{{window}}]))");
    ok = false;
  }
  if (!ok) return std::nullopt;
  for (const Raw& x : raw) {
    SloWindow w;
    w.long_window = x.long_window;
    w.short_window = x.short_window;
    w.budget_share = x.share;
    w.burn_rate = x.share * static_cast<double>(spec.period.count()) / static_cast<double>(x.long_window.count());
    if (w.burn_rate * spec.budget() >= 1) {
      m.add(x.path, x.line,
            "budget_share " + format_value(x.share) + " in " + common::format_duration(x.long_window) +
                " is a burn rate of " + format_value(w.burn_rate) + ", an error ratio above " +
                format_value(w.burn_rate * spec.budget()) + ": it can never fire; use a longer long window");
      return std::nullopt;
    }
    Vars with_window = vars;
    with_window["window"] = common::format_duration(x.long_window);
    auto long_query = r.render("query", query_template, with_window);
    with_window["window"] = common::format_duration(x.short_window);
    auto short_query = r.render("query", query_template, with_window);
    if (!long_query || !short_query) return std::nullopt;
    w.long_query = *long_query;
    w.short_query = *short_query;
    spec.windows.push_back(std::move(w));
  }
  return spec;
}

// Reads the fields a rule and its stage overrides share. `rule` is null when reading the rule
// itself, and the rule's fields when reading one of its stage overrides.
RuleFields read_rule_fields(MapReader& r, const std::string& rule_name, const Vars& vars,
                            const RuleFields* rule = nullptr) {
  RuleFields f;
  f.above = r.number("above");
  f.below = r.number("below");
  // raw() first, so `for` and `delay` are listed as known keys even when absent.
  if (r.raw("for")) f.for_duration = r.duration("for", Duration{0});
  if (r.raw("delay")) f.delay = r.duration("delay", Duration{0});
  if (r.raw("breaches")) {
    f.breaches_set = true;
    if (auto text = r.scalar("breaches", false)) {
      std::string why;
      f.breaches = parse_breaches(*text, &why);
      if (!f.breaches) r.error("breaches", why);
    }
  }
  if (f.for_duration && f.breaches_set) {
    r.error("breaches",
            "rule '" + rule_name + "' sets both `for` and `breaches`: `breaches: \"M of N\"` replaces `for`; keep one");
  }
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
  if (r.raw("min_samples")) f.min_samples = read_min_samples(r, vars, rule ? rule->min_samples : std::nullopt);
  if (r.raw("baseline")) f.baseline = read_baseline(r, vars, rule ? rule->baseline : std::nullopt);
  if (f.above && f.below) r.error("above", "set either above or below, not both");
  return f;
}

// A stage's sub-keys over the rule's; the query is always set when both levels were read
// without errors (the level that introduces the judge must have one).
std::optional<MinSamplesSpec> merged(const std::optional<MinSamplesFields>& over,
                                     const std::optional<MinSamplesFields>& base) {
  if (!over && !base) return std::nullopt;
  MinSamplesFields none;
  const MinSamplesFields& o = over ? *over : none;
  const MinSamplesFields& b = base ? *base : none;
  MinSamplesSpec spec;
  spec.query = o.query.value_or(b.query.value_or(""));
  spec.at_least = o.at_least.value_or(b.at_least.value_or(0));
  return spec;
}

std::optional<BaselineSpec> merged(const std::optional<BaselineFields>& over,
                                   const std::optional<BaselineFields>& base) {
  if (!over && !base) return std::nullopt;
  BaselineFields none;
  const BaselineFields& o = over ? *over : none;
  const BaselineFields& b = base ? *base : none;
  BaselineSpec spec;
  spec.query = o.query.value_or(b.query.value_or(""));
  spec.max_ratio = o.max_ratio.value_or(b.max_ratio.value_or(1.0));
  spec.min_difference = o.min_difference.value_or(b.min_difference.value_or(0.0));
  return spec;
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
  const bool tested = r.has("test");
  const bool budgeted = r.has("slo");
  std::string query_template = tested ? "" : r.string("query");
  RuleFields base = read_rule_fields(r, rule.name, vars);
  if (budgeted) {
    // The threshold is the window pairs' burn rates: nothing else may set one.
    for (const char* key : {"above", "below", "baseline", "test"}) {
      if (r.has(key)) {
        r.raw(key);
        r.error(key, std::string("rule '") + rule.name + "' has an `slo`, which sets its own thresholds; remove `" +
                         key + "`");
      }
    }
    rule.slo = read_slo(r, rule.name, query_template, vars);
  } else if (tested) {
    // The test judges on its own counters, against its own ratio: nothing else may judge.
    for (const char* key : {"query", "above", "below", "baseline", "min_samples", "breaches"}) {
      if (r.has(key)) {
        r.raw(key);
        r.error(key, std::string("rule '") + rule.name +
                         "' has a `test`, which judges on its own counter queries; remove `" + key + "`");
      }
    }
    rule.test = read_test(r, rule.name, vars);
  } else if (!base.above && !base.below) {
    r.error("query", "needs a threshold: set above or below");
  }

  RuleFields over;
  if (r.has("stages")) {
    YAML::Node stages = r.raw("stages");
    if (!stages.IsMap()) {
      r.error("stages", "must be a map of stage name to overrides");
    } else {
      for (auto it = stages.begin(); it != stages.end(); ++it) {
        std::string stage = it->first.Scalar();
        MapReader s(it->second, r.key_path("stages") + "." + stage, line_of(it->first), r.errors());
        RuleFields f = read_rule_fields(s, rule.name, vars, &base);
        if (budgeted && (f.above || f.below || f.baseline)) {
          s.error(f.above   ? "above"
                  : f.below ? "below"
                            : "baseline",
                  "rule '" + rule.name + "' has an `slo`: its thresholds are the window pairs' burn rates");
        }
        if (tested && (f.above || f.below || f.baseline || f.min_samples || f.breaches_set)) {
          s.error(f.above         ? "above"
                  : f.below       ? "below"
                  : f.baseline    ? "baseline"
                  : f.min_samples ? "min_samples"
                                  : "breaches",
                  "rule '" + rule.name +
                      "' has a `test`: a stage may change for, delay, missing, action and severity only");
        }
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
  if (rule.test) base.above = rule.test->spec.max_ratio;  // the rule's value is the ratio, read against max_ratio
  if (rule.slo) base.above = rule.slo->windows.front().burn_rate;  // the value is the first pair's long burn rate
  rule.threshold = over.above   ? *over.above
                   : over.below ? *over.below
                   : base.above ? *base.above
                                : base.below.value_or(0);
  // `for` or `breaches`: a stage that sets either one picks it, whatever the rule set.
  const RuleFields& timing = (over.for_duration || over.breaches_set) ? over : base;
  rule.breaches = timing.breaches;
  rule.for_duration = timing.breaches_set ? Duration{0} : timing.for_duration.value_or(Duration{0});
  rule.min_samples = merged(over.min_samples, base.min_samples);
  rule.baseline = merged(over.baseline, base.baseline);
  rule.delay = over.delay.value_or(base.delay.value_or(Duration{0}));
  rule.missing = over.missing.value_or(base.missing.value_or(Missing::kHold));
  rule.action = over.action.value_or(base.action.value_or(RuleAction::kRollback));
  rule.severity = over.severity.value_or(base.severity.value_or("sev2"));
  if (rule.for_duration.count() < 0) r.error("for", "must not be negative");
  if (rule.delay.count() < 0) r.error("delay", "must not be negative");

  if (rule.slo) {
    rule.query = rule.slo->windows.front().long_query;
  } else if (!query_template.empty() && !budgeted) {
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
