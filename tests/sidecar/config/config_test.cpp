// The config loader: every error names the key and its line; all errors come at once; a valid
// config has the documented defaults and stage overrides applied.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "sidecar/config/config.h"

namespace rs::sidecar {
namespace {

std::vector<std::string> errors_of(const std::string& yaml) {
  LoadResult r = load_config_text(yaml, "c.yml", actuators::Registry::builtin());
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string("c.yml"));
  EXPECT_EQ(r.loaded.has_value(), out.empty());
  return out;
}

bool has_error(const std::vector<std::string>& errors, const std::string& expected) {
  for (const auto& e : errors) {
    if (e.find(expected) != std::string::npos) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += e + "\n";
  return out;
}

TEST(Config, EveryErrorNamesTheKeyAndTheLineAndAllComeAtOnce) {
  const auto errors = errors_of(
      "prometheus:\n"                                                   // 1
      "  url: http://127.0.0.1:9090\n"                                  // 2
      "  timout: 2s\n"                                                  // 3
      "evaluation_interval: 5x\n"                                       // 4
      "deployment: {name: checkout, stage: prod, strategy: rolling}\n"  // 5
      "rules:\n"                                                        // 6
      "  - name: error-rate\n"                                          // 7
      "    query: 'x{v=\"{{canary}}\"}'\n"                              // 8
      "    above: high\n"                                               // 9
      "    for: 5 minutes\n"                                            // 10
      "    missing: maybe\n"                                            // 11
      "  - name: error-rate\n"                                          // 12
      "    query: y\n"                                                  // 13
      "    below: 1\n"                                                  // 14
      "    stages: {prod: {below: 2, fro: 1m}}\n"                       // 15
      "actuators:\n"                                                    // 16
      "  - type: f5\n");                                                // 17
  for (const char* expected :
       {"c.yml:3: prometheus.timout: unknown key (known here: bearer_token_file, headers, max_response_bytes, timeout, "
        "url)",
        "c.yml:4: evaluation_interval: '5x' is not a duration",
        "c.yml:5: deployment.strategy: 'rolling' is not a strategy (canary or blue-green)",
        "c.yml:9: rules[0].above: 'high' is not a finite number",
        "c.yml:10: rules[0].for: '5 minutes' is not a duration",
        "c.yml:11: rules[0].missing: 'maybe' is not one of hold, breach, ok",
        "c.yml:8: rules[0].query: unknown variable '{{canary}}' (known: deployment, stage, strategy)",
        "c.yml:15: rules[1].stages.prod.fro: unknown key (known here: above, action, baseline, below, breaches, delay, "
        "for, min_samples, missing, "
        "severity)",
        "c.yml:12: rules: rule name 'error-rate' is used twice",
        "c.yml:17: actuators[0].type: unknown actuator type 'f5' (known: argo-rollout, aws-alb, aws-codedeploy, "
        "aws-ecs, aws-lambda-alias, exec, file, gateway-httproute, haproxy, kubernetes-scale, kubernetes-service, "
        "nginx, webhook)"}) {
    EXPECT_TRUE(has_error(errors, expected)) << "missing: " << expected << "\ngot:\n" << joined(errors);
  }
}

TEST(Config, MissingRequiredSectionsAreNamed) {
  const auto errors = errors_of("listen: 127.0.0.1:9107\n");
  EXPECT_TRUE(has_error(errors, "prometheus")) << joined(errors);
  EXPECT_TRUE(has_error(errors, "deployment")) << joined(errors);
  EXPECT_TRUE(has_error(errors, "rules")) << joined(errors);
}

TEST(Config, NotYamlOrNotAMapIsAnErrorNotACrash) {
  EXPECT_FALSE(errors_of("rules: [unclosed\n").empty());
  EXPECT_TRUE(has_error(errors_of("- just\n- a list\n"), "must be a YAML map"));
  EXPECT_FALSE(errors_of("").empty());
}

// Found by fuzz_config_yaml: yaml-cpp 0.7's LoadAll never returns when a document starts with a
// ',' (or one follows a top-level flow collection): it reports empty documents at that ',' forever.
TEST(Config, AStrayCommaAtTheTopIsASyntaxErrorNotAHang) {
  for (const std::string& text : {std::string(", x"), std::string(",a"), std::string("# c\n, x"),
                                  std::string("---\n, x"), std::string("[a], b"), std::string("{a: b}, c")}) {
    const std::vector<std::string> errors = errors_of(text);
    EXPECT_TRUE(has_error(errors, "the parser cannot get past this point")) << text << "\n" << joined(errors);
  }
  const std::vector<std::string> second = errors_of("# comment\n, The rules are five signals\nprometheus: {url: x}\n");
  EXPECT_TRUE(has_error(second, "c.yml:2: YAML syntax error at line 2, column 1")) << joined(second);
  // Real second documents are still named as such.
  EXPECT_TRUE(has_error(errors_of("a: 1\n---\nb: 2\n---\nc: 3\n"), "found 3 or more"));
}

// A binary file is named as one, not handed to the YAML parser.
TEST(Config, ControlBytesAreRefusedNamingWhereNotHandedToTheYamlParser) {
  const std::vector<std::string> nul = errors_of(std::string("\0\0\0,etheus: {url: 'ht\nployment:\n  namace:c t", 44));
  EXPECT_TRUE(has_error(nul, "c.yml:1: byte 0x00 at line 1, column 1")) << joined(nul);
  EXPECT_TRUE(has_error(nul, "binary file")) << joined(nul);
  const std::vector<std::string> later = errors_of(std::string("prometheus: {url: x}\nrules: [\x01]\n"));
  EXPECT_TRUE(has_error(later, "c.yml:2: byte 0x01 at line 2, column 9")) << joined(later);
  EXPECT_TRUE(has_error(errors_of("a: b\x7f\n"), "byte 0x7f"));
}

// A failed verification pages like a failed rollback: naming RollbackFailed brings RollbackUnverified.
TEST(Config, RollbackFailedBringsRollbackUnverified) {
  LoadResult r = load_config_text(
      "prometheus: {url: 'http://prom:9090'}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary}\n"
      "rules: [{name: e, query: 'x', above: 1}]\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n"
      "notifiers:\n"
      "  - {type: webhook, url: 'http://hooks/a', messages: [RollbackFailed]}\n"
      "  - {type: webhook, url: 'http://hooks/b', messages: [RollbackStarted]}\n",
      "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  ASSERT_EQ(r.loaded->config.notifier_specs.size(), 2u);
  EXPECT_EQ(r.loaded->config.notifier_specs[0].messages,
            (std::vector<std::string>{"RollbackFailed", "RollbackUnverified"}));
  EXPECT_EQ(r.loaded->config.notifier_specs[1].messages, (std::vector<std::string>{"RollbackStarted"}));
}

TEST(Config, DefaultsVarsAndTheStageOverrideApply) {
  LoadResult r = load_config_text(
      "prometheus: {url: 'http://prom:9090'}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary, vars: {service: checkout, canary: v2}}\n"
      "rules:\n"
      "  - name: error-rate\n"
      "    query: 'errors{service=\"{{service}}\",version=\"{{canary}}\",stage=\"{{stage}}\"}'\n"
      "    above: 0.05\n"
      "    for: 5m\n"
      "    stages: {prod: {above: 0.02, for: 3m}, gamma: {above: 0.1}}\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n",
      "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].message);
  const Config& c = r.loaded->config;
  EXPECT_EQ(c.listen, "127.0.0.1:9107");
  EXPECT_EQ(c.evaluation_interval, Duration{5000});
  EXPECT_EQ(c.prometheus.timeout, std::chrono::milliseconds(2000));
  ASSERT_EQ(c.rules.size(), 1u);
  const RuleConfig& rule = c.rules[0];
  EXPECT_EQ(rule.query, "errors{service=\"checkout\",version=\"v2\",stage=\"prod\"}");
  EXPECT_DOUBLE_EQ(rule.threshold, 0.02);
  EXPECT_EQ(rule.for_duration, Duration{180000});
  EXPECT_EQ(rule.stage_override, "prod");
  EXPECT_EQ(rule.missing, Missing::kHold);
  EXPECT_EQ(rule.action, RuleAction::kRollback);
  EXPECT_TRUE(r.loaded->notifiers.empty());
}

TEST(Config, NotifiersAreBuiltThroughTheirRegistry) {
  const auto errors = errors_of(
      "prometheus: {url: 'http://prom:9090'}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary}\n"
      "rules: [{name: e, query: x, above: 1}]\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n"
      "notifiers:\n"
      "  - {type: pagerduty}\n"
      "  - {type: webhook, url: 'http://hooks', messages: [RollbackDone], give_up_after: 0s}\n");
  EXPECT_TRUE(has_error(
      errors, "c.yml:6: notifiers[0].type: unknown notifier type 'pagerduty' (known: alertmanager, slack, webhook)"))
      << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:7: notifiers[1].messages: unknown message 'RollbackDone'")) << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:7: notifiers[1].give_up_after: must be greater than 0")) << joined(errors);
}

// A config with one rule given as `rule_yaml` (a flow map), the rest valid.
std::string with_rule(const std::string& rule_yaml, const std::string& stage = "prod",
                      const std::string& actuators = "[{type: exec, command: [/bin/true]}]") {
  return "prometheus: {url: 'http://prom:9090'}\n"  // 1
         "deployment: {name: checkout, stage: " +
         stage +
         ", strategy: canary, vars: {v: x}}\n"  // 2
         "rules:\n"                             // 3
         "  - " +
         rule_yaml +
         "\n"  // 4
         "actuators: " +
         actuators + "\n";  // 5
}

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string expected;  // a substring of one error, file:line included
};

class ConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrors, NameTheKeyAndTheLine) {
  const auto errors = errors_of(GetParam().yaml);
  EXPECT_TRUE(has_error(errors, GetParam().expected)) << "missing: " << GetParam().expected << "\ngot:\n"
                                                      << joined(errors);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrors,
    ::testing::Values(
        ErrorCase{"UnknownTopLevelKey", with_rule("{name: e, query: x, above: 1}") + "dry_runn: true\n",
                  "c.yml:6: dry_runn: unknown key (known here: "},
        ErrorCase{"MissingQuery", with_rule("{name: e, above: 1}"), "c.yml:4: rules[0].query: is required"},
        ErrorCase{"MissingName", with_rule("{query: x, above: 1}"), "c.yml:4: rules[0].name: is required"},
        ErrorCase{"NoThreshold", with_rule("{name: e, query: x}"),
                  "c.yml:4: rules[0].query: needs a threshold: set above or below"},
        ErrorCase{"AboveAndBelow", with_rule("{name: e, query: x, above: 1, below: 2}"),
                  "c.yml:4: rules[0].above: set either above or below, not both"},
        ErrorCase{"ThresholdIsAList", with_rule("{name: e, query: x, above: [1, 2]}"),
                  "c.yml:4: rules[0].above: must be a scalar, found a list"},
        ErrorCase{"NaNThreshold", with_rule("{name: e, query: x, above: .nan}"),
                  "c.yml:4: rules[0].above: '.nan' is not a finite number"},
        ErrorCase{"BadDuration", with_rule("{name: e, query: x, above: 1, delay: 5x}"),
                  "c.yml:4: rules[0].delay: '5x' is not a duration"},
        ErrorCase{"BadAction", with_rule("{name: e, query: x, above: 1, action: page}"),
                  "c.yml:4: rules[0].action: 'page' is not one of rollback, notify"},
        ErrorCase{"BadRuleName", with_rule("{name: 'error rate', query: x, above: 1}"),
                  "c.yml:4: rules[0].name: 'error rate' may only contain letters, digits and _ . : -"},
        ErrorCase{"StageFlipsTheDirection", with_rule("{name: e, query: x, above: 1, stages: {prod: {below: 2}}}"),
                  "c.yml:4: rules[0].stages.prod.below: a stage may change the threshold, not its direction"},
        ErrorCase{"StagesNotAMap", with_rule("{name: e, query: x, above: 1, stages: [prod]}"),
                  "c.yml:4: rules[0].stages: must be a map of stage name to overrides"},
        ErrorCase{"TemplateUnclosed", with_rule("{name: e, query: 'x{v=\"{{v\"}', above: 1}"),
                  "c.yml:4: rules[0].query: unclosed '{{' at offset 5"},
        // breaches: "M of N" (an alternative to `for`), min_samples and baseline (issue #11).
        ErrorCase{"BreachesMOverN", with_rule("{name: e, query: x, above: 1, breaches: '6 of 5'}"),
                  "c.yml:4: rules[0].breaches: breaches \"6 of 5\": M (6) is larger than N (5); M of N needs 1 <= M "
                  "<= N <= 100"},
        ErrorCase{"BreachesZeroOfN", with_rule("{name: e, query: x, above: 1, breaches: '0 of 3'}"),
                  "c.yml:4: rules[0].breaches: breaches \"0 of 3\": M must be at least 1"},
        ErrorCase{"BreachesNotMOfN", with_rule("{name: e, query: x, above: 1, breaches: 'most of the time'}"),
                  "c.yml:4: rules[0].breaches: breaches \"most of the time\": expected a number M first"},
        ErrorCase{"BreachesIsAList", with_rule("{name: e, query: x, above: 1, breaches: [3, 5]}"),
                  "c.yml:4: rules[0].breaches: must be a scalar, found a list"},
        ErrorCase{"ForAndBreaches", with_rule("{name: e, query: x, above: 1, for: 1m, breaches: '3 of 5'}"),
                  "c.yml:4: rules[0].breaches: rule 'e' sets both `for` and `breaches`: `breaches: \"M of N\"` "
                  "replaces `for`; keep one"},
        ErrorCase{"StageForAndBreaches",
                  with_rule("{name: e, query: x, above: 1, stages: {prod: {for: 1m, breaches: '3 of 5'}}}"),
                  "c.yml:4: rules[0].stages.prod.breaches: rule 'e' sets both `for` and `breaches`"},
        ErrorCase{"MinSamplesWithoutQuery", with_rule("{name: e, query: x, above: 1, min_samples: {at_least: 10}}"),
                  "c.yml:4: rules[0].min_samples.query: is required"},
        ErrorCase{"MinSamplesWithoutAtLeast", with_rule("{name: e, query: x, above: 1, min_samples: {query: n}}"),
                  "c.yml:4: rules[0].min_samples.at_least: is required"},
        ErrorCase{"MinSamplesNegative",
                  with_rule("{name: e, query: x, above: 1, min_samples: {query: n, at_least: -1}}"),
                  "c.yml:4: rules[0].min_samples.at_least: must be at least 0, not -1"},
        ErrorCase{"MinSamplesNotANumber",
                  with_rule("{name: e, query: x, above: 1, min_samples: {query: n, at_least: many}}"),
                  "c.yml:4: rules[0].min_samples.at_least: 'many' is not a finite number"},
        ErrorCase{"MinSamplesNotAMap", with_rule("{name: e, query: x, above: 1, min_samples: 100}"),
                  "c.yml:4: rules[0].min_samples: must be a map, found a scalar"},
        ErrorCase{"MinSamplesUnknownKey",
                  with_rule("{name: e, query: x, above: 1, min_samples: {query: n, at_least: 1, atleast: 2}}"),
                  "c.yml:4: rules[0].min_samples.atleast: unknown key (known here: at_least, query)"},
        ErrorCase{"MinSamplesQueryUnknownVar",
                  with_rule("{name: e, query: x, above: 1, min_samples: {query: 'n{v=\"{{nope}}\"}', at_least: 1}}"),
                  "c.yml:4: rules[0].min_samples.query: unknown variable '{{nope}}'"},
        ErrorCase{"BaselineWithoutQuery", with_rule("{name: e, query: x, above: 1, baseline: {max_ratio: 2}}"),
                  "c.yml:4: rules[0].baseline.query: is required"},
        ErrorCase{"BaselineRatioBelowOne",
                  with_rule("{name: e, query: x, above: 1, baseline: {query: b, max_ratio: 0.5}}"),
                  "c.yml:4: rules[0].baseline.max_ratio: must be at least 1 (1 = no worse than the baseline), not 0.5"},
        ErrorCase{"BaselineNegativeDifference",
                  with_rule("{name: e, query: x, above: 1, baseline: {query: b, min_difference: -0.1}}"),
                  "c.yml:4: rules[0].baseline.min_difference: must be at least 0, not -0.1"},
        ErrorCase{"BaselineRatioNotANumber",
                  with_rule("{name: e, query: x, above: 1, baseline: {query: b, max_ratio: twice}}"),
                  "c.yml:4: rules[0].baseline.max_ratio: 'twice' is not a finite number"},
        ErrorCase{"BaselineUnknownKey", with_rule("{name: e, query: x, above: 1, baseline: {query: b, ratio: 2}}"),
                  "c.yml:4: rules[0].baseline.ratio: unknown key (known here: max_ratio, min_difference, query)"},
        ErrorCase{"BaselineQueryUnclosedTemplate",
                  with_rule("{name: e, query: x, above: 1, baseline: {query: 'b{v=\"{{v\"}'}}"),
                  "c.yml:4: rules[0].baseline.query: unclosed '{{' at offset 5"},
        ErrorCase{"StageIntroducesBaselineWithoutQuery",
                  with_rule("{name: e, query: x, above: 1, stages: {prod: {baseline: {max_ratio: 2}}}}"),
                  "c.yml:4: rules[0].stages.prod.baseline.query: is required"},
        ErrorCase{"StageBaselineRatioBelowOne",
                  with_rule("{name: e, query: x, above: 1, baseline: {query: b}, stages: {gamma: {baseline: "
                            "{max_ratio: 0.9}}}}"),
                  "c.yml:4: rules[0].stages.gamma.baseline.max_ratio: must be at least 1"},
        // test: sequential tests on four counter queries (issue #11).
        ErrorCase{"TestWithoutType", with_rule("{name: s, test: {canary_errors: a}}"),
                  "c.yml:4: rules[0].test.type: is required"},
        ErrorCase{"TestUnknownType", with_rule("{name: s, test: {type: t-test}}"),
                  "c.yml:4: rules[0].test.type: 't-test' is not one of sequential-binomial, sequential-histogram"},
        ErrorCase{"TestMissingCounter",
                  with_rule("{name: s, test: {type: sequential-binomial, canary_errors: a, canary_total: b,"
                            " baseline_errors: c}}"),
                  "c.yml:4: rules[0].test.baseline_total: is required"},
        ErrorCase{"TestEmptyCounter",
                  with_rule("{name: s, test: {type: sequential-binomial, canary_errors: '', canary_total: b,"
                            " baseline_errors: c, baseline_total: d}}"),
                  "c.yml:4: rules[0].test.canary_errors: must not be empty"},
        ErrorCase{"TestRateTooHigh",
                  with_rule("{name: s, test: {type: sequential-binomial, canary_errors: a, canary_total: b,"
                            " baseline_errors: c, baseline_total: d, false_rollback_rate: 0.7}}"),
                  "c.yml:4: rules[0].test.false_rollback_rate: rule 's': false_rollback_rate 0.7 must be in (0, 0.5]"},
        ErrorCase{"TestPassRatioNotAboveMaxRatio",
                  with_rule("{name: s, test: {type: sequential-binomial, canary_errors: a, canary_total: b,"
                            " baseline_errors: c, baseline_total: d, max_ratio: 2, pass_ratio: 1.5}}"),
                  "c.yml:4: rules[0].test.pass_ratio: rule 's': pass_ratio 1.5 must be above max_ratio (2)"},
        ErrorCase{"HistogramTestWithoutBound",
                  with_rule("{name: s, test: {type: sequential-histogram, canary_within: a, canary_count: b,"
                            " baseline_within: c, baseline_count: d}}"),
                  "c.yml:4: rules[0].test.latency_bound: is required"},
        ErrorCase{"HistogramTestWithBinomialKeys",
                  with_rule("{name: s, test: {type: sequential-histogram, latency_bound: 0.5, canary_errors: a,"
                            " canary_count: b, baseline_within: c, baseline_count: d}}"),
                  "c.yml:4: rules[0].test.canary_within: is required"},
        ErrorCase{"TestWithAQuery",
                  with_rule("{name: s, query: x, test: {type: sequential-binomial, canary_errors: a,"
                            " canary_total: b, baseline_errors: c, baseline_total: d}}"),
                  "c.yml:4: rules[0].query: rule 's' has a `test`, which judges on its own counter queries; remove "
                  "`query`"},
        ErrorCase{"TestWithAThreshold",
                  with_rule("{name: s, above: 1, test: {type: sequential-binomial, canary_errors: a,"
                            " canary_total: b, baseline_errors: c, baseline_total: d}}"),
                  "c.yml:4: rules[0].above: rule 's' has a `test`"},
        ErrorCase{"TestWithBreaches",
                  with_rule("{name: s, breaches: '3 of 5', test: {type: sequential-binomial, canary_errors: a,"
                            " canary_total: b, baseline_errors: c, baseline_total: d}}"),
                  "c.yml:4: rules[0].breaches: rule 's' has a `test`"},
        ErrorCase{"TestStageChangesTheThreshold",
                  with_rule("{name: s, test: {type: sequential-binomial, canary_errors: a, canary_total: b,"
                            " baseline_errors: c, baseline_total: d}, stages: {prod: {above: 2}}}"),
                  "c.yml:4: rules[0].stages.prod.above: rule 's' has a `test`: a stage may change for, delay, "
                  "missing, action and severity only"},
        ErrorCase{"TestCounterUnknownVar",
                  with_rule("{name: s, test: {type: sequential-binomial, canary_errors: 'e{v=\"{{nope}}\"}',"
                            " canary_total: b, baseline_errors: c, baseline_total: d}}"),
                  "c.yml:4: rules[0].test.canary_errors: unknown variable '{{nope}}'"},
        // slo: error-budget burn rate (issue #11).
        ErrorCase{"SloWithoutObjective", with_rule("{name: b, query: 'r[{{window}}]', slo: {period: 30d}}"),
                  "c.yml:4: rules[0].slo.objective: is required"},
        ErrorCase{"SloObjectiveOutOfRange", with_rule("{name: b, query: 'r[{{window}}]', slo: {objective: 99.9}}"),
                  "c.yml:4: rules[0].slo.objective: must be between 0 and 1 (exclusive), e.g. 0.999, not 99.9"},
        ErrorCase{"SloQueryWithoutWindow", with_rule("{name: b, query: 'r[5m]', slo: {objective: 0.999}}"),
                  "c.yml:4: rules[0].query: rule 'b' has an `slo`: its query is an error ratio over {{window}}"},
        ErrorCase{
            "SloShortNotShorter",
            with_rule("{name: b, query: 'r[{{window}}]', slo: {objective: 0.999, windows: [{long: 5m, short: 1h}]}}"),
            "c.yml:4: rules[0].slo.windows[0].short: must be shorter than long (5m)"},
        ErrorCase{"SloShareZero",
                  with_rule("{name: b, query: 'r[{{window}}]', slo: {objective: 0.999, windows: [{long: 1h, short: 5m,"
                            " budget_share: 0}]}}"),
                  "c.yml:4: rules[0].slo.windows[0].budget_share: must be in (0, 1], not 0"},
        ErrorCase{"SloThatCanNeverFire",
                  with_rule("{name: b, query: 'r[{{window}}]', slo: {objective: 0.9, windows: [{long: 1m, short: 10s,"
                            " budget_share: 0.5}]}}"),
                  "it can never fire; use a longer long window"},
        ErrorCase{"SloWithAThreshold",
                  with_rule("{name: b, query: 'r[{{window}}]', above: 0.1, slo: {objective: 0.999}}"),
                  "c.yml:4: rules[0].above: rule 'b' has an `slo`, which sets its own thresholds; remove `above`"},
        ErrorCase{"SloUnknownWindowKey",
                  with_rule("{name: b, query: 'r[{{window}}]', slo: {objective: 0.999, windows: [{long: 1h, short: 5m,"
                            " share: 0.1}]}}"),
                  "c.yml:4: rules[0].slo.windows[0].share: unknown key"},
        ErrorCase{"RulesNotAList",
                  "prometheus: {url: 'http://prom:9090'}\n"
                  "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                  "rules: {name: e}\n",
                  "c.yml:3: rules: must be a non-empty list of rules"},
        ErrorCase{"DeploymentNotAMap",
                  "prometheus: {url: 'http://prom:9090'}\n"
                  "deployment: checkout\n"
                  "rules: [{name: e, query: x, above: 1}]\n",
                  "c.yml:2: deployment: must be a map, found a scalar"},
        ErrorCase{"ReservedVar",
                  "prometheus: {url: 'http://prom:9090'}\n"
                  "deployment:\n"
                  "  name: checkout\n"
                  "  stage: prod\n"
                  "  strategy: canary\n"
                  "  vars: {stage: gamma}\n"
                  "rules: [{name: e, query: x, above: 1}]\n",
                  "c.yml:6: deployment.vars: 'stage' is set from deployment itself"},
        ErrorCase{"MissingDeploymentName",
                  "prometheus: {url: 'http://prom:9090'}\n"
                  "deployment:\n"
                  "  stage: prod\n"
                  "  strategy: canary\n"
                  "rules: [{name: e, query: x, above: 1}]\n",
                  "c.yml:3: deployment.name: is required"},
        ErrorCase{"PrometheusUrlScheme",
                  "prometheus:\n"
                  "  url: prom:9090\n"
                  "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                  "rules: [{name: e, query: x, above: 1}]\n",
                  "c.yml:2: prometheus.url: 'prom:9090' must start with http:// or https://"},
        ErrorCase{"IntervalTooShort", with_rule("{name: e, query: x, above: 1}") + "evaluation_interval: 50ms\n",
                  "c.yml:6: evaluation_interval: must be at least 100ms"},
        ErrorCase{"ListenNotHostPort", with_rule("{name: e, query: x, above: 1}") + "listen: 9107\n",
                  "c.yml:6: listen: '9107' must be host:port"},
        ErrorCase{"ActuatorWithoutType",
                  with_rule("{name: e, query: x, above: 1}", "prod", "\n  - {command: [/bin/true]}"),
                  "c.yml:6: actuators[0].type: is required"},
        ErrorCase{"NoActuators", with_rule("{name: e, query: x, above: 1}", "prod", "[]"), "actuators"},
        ErrorCase{"YamlSyntax", "prometheus: {url: 'http://prom:9090'\nrules: []\n", "c.yml:"}),
    [](const ::testing::TestParamInfo<ErrorCase>& row) { return row.param.name; });

// breaches, min_samples and baseline load templated like the rule's query; a stage override may
// change single sub-keys of min_samples/baseline (the others come from the rule), introduce them
// (with a query), and pick `for` or `breaches` whatever the rule set.
TEST(Config, JudgeKeysLoadTemplatedAndStageOverridesMergeThem) {
  const std::string rule =
      "{name: e, query: 'errors{version=\"{{canary}}\"}', above: 0.01, breaches: '3 of 5',"
      " min_samples: {query: 'requests{version=\"{{canary}}\"}', at_least: 100},"
      " baseline: {query: 'errors{version=\"{{stable}}\"}', max_ratio: 2, min_difference: 0.005},"
      " stages: {prod: {baseline: {max_ratio: 3}, min_samples: {at_least: 50}},"
      " gamma: {for: 1m}}}";
  const auto load = [&](const std::string& stage, const std::string& rule_yaml) {
    return load_config_text(
        "prometheus: {url: 'http://prom:9090'}\n"
        "deployment: {name: checkout, stage: " +
            stage +
            ", strategy: canary, vars: {canary: v2, stable: v1}}\n"
            "rules:\n"
            "  - " +
            rule_yaml + "\ndry_run: true\n",
        "c.yml", actuators::Registry::builtin());
  };
  {
    LoadResult r = load("prod", rule);
    ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
    const RuleConfig& c = r.loaded->config.rules.at(0);
    ASSERT_TRUE(c.breaches);
    EXPECT_EQ(*c.breaches, (BreachesSpec{3, 5}));
    EXPECT_EQ(c.for_duration.count(), 0);
    ASSERT_TRUE(c.baseline);
    EXPECT_EQ(c.baseline->query, "errors{version=\"v1\"}");
    EXPECT_EQ(c.baseline->max_ratio, 3) << "the prod override's";
    EXPECT_EQ(c.baseline->min_difference, 0.005) << "the rule's, kept under the override";
    ASSERT_TRUE(c.min_samples);
    EXPECT_EQ(c.min_samples->query, "requests{version=\"v2\"}") << "the rule's query, templated";
    EXPECT_EQ(c.min_samples->at_least, 50);
    EXPECT_EQ(c.threshold, 0.01);
  }
  {
    LoadResult r = load("gamma", rule);
    ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
    const RuleConfig& c = r.loaded->config.rules.at(0);
    EXPECT_FALSE(c.breaches) << "gamma's `for` replaces the rule's `breaches`";
    EXPECT_EQ(c.for_duration.count(), 60000);
    EXPECT_EQ(c.baseline->max_ratio, 2);
    EXPECT_EQ(c.min_samples->at_least, 100);
  }
  {
    // Defaults: max_ratio 1, min_difference 0; a stage may bring a judge the rule lacks, and
    // `breaches` where the rule has `for`.
    LoadResult r = load("prod",
                        "{name: e, query: x, below: 0.99, for: 5m, stages: {prod: {breaches: '2 of 4',"
                        " baseline: {query: 'ok{version=\"{{stable}}\"}'}}}}");
    ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
    const RuleConfig& c = r.loaded->config.rules.at(0);
    EXPECT_EQ(*c.breaches, (BreachesSpec{2, 4}));
    EXPECT_EQ(c.for_duration.count(), 0) << "`breaches` replaces `for`";
    ASSERT_TRUE(c.baseline);
    EXPECT_EQ(c.baseline->query, "ok{version=\"v1\"}");
    EXPECT_EQ(c.baseline->max_ratio, 1);
    EXPECT_EQ(c.baseline->min_difference, 0);
    EXPECT_FALSE(c.min_samples);
    EXPECT_EQ(c.comparison, Comparison::kBelow);
  }
  {
    LoadResult r = load("prod", "{name: e, query: x, above: 1}");
    ASSERT_TRUE(r.loaded);
    const RuleConfig& c = r.loaded->config.rules.at(0);
    EXPECT_FALSE(c.breaches || c.baseline || c.min_samples) << "none of them unless set";
  }
}

// `test:` loads its four counter queries templated, its numbers with their defaults, and makes
// the rule's value the ratio read against max_ratio; a stage may change `for` and `action`.
TEST(Config, SequentialTestsLoadTemplated) {
  const auto load = [](const std::string& rule_yaml) {
    return load_config_text(
        "prometheus: {url: 'http://prom:9090'}\n"
        "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2, stable: v1}}\n"
        "rules:\n"
        "  - " +
            rule_yaml + "\ndry_run: true\n",
        "c.yml", actuators::Registry::builtin());
  };
  LoadResult r = load(
      "{name: s, test: {type: sequential-binomial, canary_errors: 'sum(e{v=\"{{canary}}\"})',"
      " canary_total: 'sum(t{v=\"{{canary}}\"})', baseline_errors: 'sum(e{v=\"{{stable}}\"})',"
      " baseline_total: 'sum(t{v=\"{{stable}}\"})', max_ratio: 1.2}, stages: {prod: {action: notify}}}");
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  const RuleConfig& c = r.loaded->config.rules.at(0);
  ASSERT_TRUE(c.test);
  EXPECT_EQ(c.test->type, TestType::kSequentialBinomial);
  EXPECT_EQ(c.test->queries[0], "sum(e{v=\"v2\"})");
  EXPECT_EQ(c.test->queries[3], "sum(t{v=\"v1\"})");
  EXPECT_EQ(c.test->spec.false_rollback_rate, 0.01) << "the default";
  EXPECT_EQ(c.test->spec.max_ratio, 1.2);
  EXPECT_EQ(c.test->spec.pass_ratio, 1.5) << "the default";
  EXPECT_EQ(c.threshold, 1.2) << "the rule's value, the ratio, reads against max_ratio";
  EXPECT_EQ(c.comparison, Comparison::kAbove);
  EXPECT_TRUE(c.query.empty());
  EXPECT_EQ(c.action, RuleAction::kNotify) << "the stage's";

  r = load(
      "{name: h, test: {type: sequential-histogram, latency_bound: 0.25, canary_within: a, canary_count: b,"
      " baseline_within: c, baseline_count: d, false_rollback_rate: 0.05}}");
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  const RuleConfig& h = r.loaded->config.rules.at(0);
  EXPECT_EQ(h.test->type, TestType::kSequentialHistogram);
  EXPECT_EQ(h.test->spec.latency_bound, 0.25);
  EXPECT_EQ(h.test->spec.false_rollback_rate, 0.05);
  EXPECT_EQ(h.threshold, 1);
}

// `slo:` renders the rule's query once per window ({{window}}), derives each pair's burn rate from
// its budget share, and makes the rule's threshold the first pair's burn rate.
TEST(Config, SloLoadsItsWindowsWithDerivedBurnRates) {
  LoadResult r = load_config_text(
      "prometheus: {url: 'http://prom:9090'}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2}}\n"
      "rules:\n"
      "  - {name: budget, query: 'sum(rate(e{v=\"{{canary}}\"}[{{window}}])) / sum(rate(t[{{window}}]))',"
      " slo: {objective: 0.999}, stages: {prod: {for: 1m}}}\n"
      "dry_run: true\n",
      "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  const RuleConfig& c = r.loaded->config.rules.at(0);
  ASSERT_TRUE(c.slo);
  EXPECT_EQ(c.slo->period, std::chrono::hours(24 * 30)) << "the default";
  ASSERT_EQ(c.slo->windows.size(), 2u) << "the SRE workbook's two paging pairs by default";
  EXPECT_NEAR(c.slo->windows[0].burn_rate, 14.4, 1e-9);
  EXPECT_NEAR(c.slo->windows[1].burn_rate, 6.0, 1e-9);
  EXPECT_EQ(c.slo->windows[0].long_query, "sum(rate(e{v=\"v2\"}[1h])) / sum(rate(t[1h]))");
  EXPECT_EQ(c.slo->windows[1].short_query, "sum(rate(e{v=\"v2\"}[30m])) / sum(rate(t[30m]))");
  EXPECT_EQ(c.query, c.slo->windows[0].long_query);
  EXPECT_NEAR(c.threshold, 14.4, 1e-9);
  EXPECT_EQ(c.comparison, Comparison::kAbove);
  EXPECT_EQ(c.for_duration, std::chrono::minutes(1)) << "the stage's";

  r = load_config_text(
      "prometheus: {url: 'http://prom:9090'}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary}\n"
      "rules:\n"
      "  - {name: budget, query: 'r[{{window}}]', slo: {objective: 0.99, period: 7d,"
      " windows: [{long: 10m, short: 1m, budget_share: 0.01}]}}\n"
      "dry_run: true\n",
      "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  const SloSpec& slo = *r.loaded->config.rules.at(0).slo;
  ASSERT_EQ(slo.windows.size(), 1u);
  EXPECT_NEAR(slo.windows[0].burn_rate, 0.01 * 7 * 24 * 60 / 10, 1e-9) << "1% of a week's budget in 10 minutes";
  EXPECT_EQ(slo.windows[0].short_query, "r[1m]");
}

// A var whose value is itself a template stays unresolved in the judges' queries too.
TEST(Config, JudgeQueriesMustResolveLikeTheRulesQuery) {
  const auto errors = errors_of(
      "prometheus: {url: 'http://prom:9090'}\n"                                                // 1
      "deployment: {name: checkout, stage: prod, strategy: canary, vars: {v: '{{stage}}'}}\n"  // 2
      "rules:\n"                                                                               // 3
      "  - {name: e, query: x, above: 1, baseline: {query: 'b{v=\"{{v}}\"}'},"
      " min_samples: {query: 'n{v=\"{{v}}\"}', at_least: 1}}\n"  // 4
      "dry_run: true\n");
  EXPECT_TRUE(has_error(errors, "c.yml:4: rules[0].baseline.query: unresolved '{{stage}}' after templating"))
      << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:4: rules[0].min_samples.query: unresolved '{{stage}}' after templating"))
      << joined(errors);
}

struct StageCase {
  std::string stage;
  double threshold;
  std::int64_t for_ms;
  std::string override_used;
};

class ConfigStages : public ::testing::TestWithParam<StageCase> {};

TEST_P(ConfigStages, TheDeploymentsStagePicksItsOverrideOthersAreIgnored) {
  const StageCase& c = GetParam();
  LoadResult r = load_config_text(
      with_rule(
          "{name: e, query: x, above: 0.05, for: 5m, stages: {prod: {above: 0.02}, gamma: {above: 0.1, for: 1m}}}",
          c.stage),
      "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(r.loaded) << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
  const RuleConfig& rule = r.loaded->config.rules.at(0);
  EXPECT_DOUBLE_EQ(rule.threshold, c.threshold);
  EXPECT_EQ(rule.for_duration.count(), c.for_ms);
  EXPECT_EQ(rule.stage_override, c.override_used);
  EXPECT_EQ(rule.comparison, Comparison::kAbove);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConfigStages,
                         ::testing::Values(StageCase{"prod", 0.02, 300000, "prod"},
                                           StageCase{"gamma", 0.1, 60000, "gamma"},
                                           StageCase{"beta", 0.05, 300000, ""}),
                         [](const ::testing::TestParamInfo<StageCase>& row) { return row.param.stage; });

TEST(Config, DurationsUsePrometheusFormat) {
  for (const auto& [text, ms] : std::vector<std::pair<std::string, std::int64_t>>{
           {"500ms", 500}, {"30s", 30000}, {"5m", 300000}, {"1h30m", 5400000}, {"0s", 0}}) {
    LoadResult r = load_config_text(with_rule("{name: e, query: x, above: 1, for: " + text + "}"), "c.yml",
                                    actuators::Registry::builtin());
    ASSERT_TRUE(r.loaded) << text << ": " << (r.errors.empty() ? "" : r.errors[0].to_string("c.yml"));
    EXPECT_EQ(r.loaded->config.rules[0].for_duration.count(), ms) << text;
  }
}

// DESIGN §5: bad input gives a clear error, never a silent default. yaml-cpp accepts a repeated
// key and lookups see only one entry: a second `dry_run:` (or a second `rules:` block pasted
// below the first) must be an error, not silently ignored.
TEST(Config, ARepeatedKeyIsAnErrorNotSilentlyIgnored) {
  const std::string yaml = with_rule("{name: e, query: x, above: 1, above: 2}") + "dry_run: false\ndry_run: true\n";
  LoadResult r = load_config_text(yaml, "c.yml", actuators::Registry::builtin());
  EXPECT_FALSE(r.loaded) << "loaded with dry_run=" << r.loaded->config.dry_run
                         << " above=" << r.loaded->config.rules[0].threshold;
  const auto errors = errors_of(yaml);
  EXPECT_TRUE(has_error(errors, "c.yml:7: dry_run")) << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:4: rules[0].above")) << joined(errors);
}

TEST(Config, AnUnreadableFileIsAnErrorNamingIt) {
  LoadResult r = load_config_file("/nonexistent/sidecar.yml", actuators::Registry::builtin());
  EXPECT_FALSE(r.loaded);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(
      r.errors[0].to_string("/nonexistent/sidecar.yml"),
      "/nonexistent/sidecar.yml: cannot read the config file: /nonexistent/sidecar.yml: No such file or directory");
}

// `check --config /dev/zero` used to read until bad_alloc: only regular files, and capped.
TEST(Config, ADeviceOrFifoIsRefusedNotReadForever) {
  LoadResult r = load_config_file("/dev/zero", actuators::Registry::builtin());
  EXPECT_FALSE(r.loaded);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("not a regular file"), std::string::npos) << r.errors[0].message;
}

// Huge values (a 200k-character rule name or listen address) are config errors naming the limit,
// never a crash (std::regex recursed per character and overflowed the stack), and the error
// quotes only the start of the value.
TEST(Config, HugeNameAndListenAreErrorsNotACrash) {
  const std::string huge(200000, 'a');
  const std::string yaml = with_rule("{name: " + huge + ", query: x, above: 1}") + "listen: " + huge + ":9107\n";
  const auto errors = errors_of(yaml);
  EXPECT_TRUE(has_error(errors, "c.yml:4: rules[0].name: 'aaaa")) << joined(errors).substr(0, 2000);
  EXPECT_TRUE(has_error(errors, "is longer than 200 characters")) << joined(errors).substr(0, 2000);
  EXPECT_TRUE(has_error(errors, "c.yml:6: listen: 'aaaa")) << joined(errors).substr(0, 2000);
  for (const auto& e : errors) EXPECT_LT(e.size(), 1000u) << "the error quotes only the start: " << e.substr(0, 300);

  // Also a huge listen without a colon, and a huge port.
  EXPECT_TRUE(
      has_error(errors_of(with_rule("{name: e, query: x, above: 1}") + "listen: " + huge + "\n"), "c.yml:6: listen:"));
  EXPECT_TRUE(has_error(
      errors_of(with_rule("{name: e, query: x, above: 1}") + "listen: 'h:" + std::string(200000, '9') + "'\n"),
      "c.yml:6: listen:"));
}

TEST(Config, RuleNamesAndListenAddressesKeepTheirRules) {
  const std::string at_limit(200, 'n');
  EXPECT_TRUE(errors_of(with_rule("{name: '" + at_limit + "', query: x, above: 1}")).empty());
  EXPECT_TRUE(has_error(
      errors_of(with_rule("{name: '" + at_limit + "n', query: x, above: 1}")),
      "c.yml:4: rules[0].name: '" + std::string(80, 'n') + "...' (201 characters) is longer than 200 characters"));
  EXPECT_TRUE(errors_of(with_rule("{name: 'job:errors_5m.rate-ok_1', query: x, above: 1}")).empty());
  for (const char* bad : {"'error rate'", "'errors/5m'", "'é'", "'a{b}'"}) {
    EXPECT_TRUE(has_error(errors_of(with_rule(std::string("{name: ") + bad + ", query: x, above: 1}")),
                          "may only contain letters, digits and _ . : -"))
        << bad;
  }
  for (const char* good : {"127.0.0.1:9107", "0.0.0.0:0", "localhost:65535", "sidecar.example:80"}) {
    EXPECT_TRUE(errors_of(with_rule("{name: e, query: x, above: 1}") + "listen: '" + good + "'\n").empty()) << good;
  }
  for (const char* bad : {"9107", ":9107", "host:", "host:123456", "host:65536", "[::1]:9107", "a b:80", "host:8o",
                          "host:80:80", "host: 80"}) {
    EXPECT_TRUE(has_error(errors_of(with_rule("{name: e, query: x, above: 1}") + "listen: '" + bad + "'\n"),
                          "c.yml:6: listen: '" + std::string(bad) + "' must be host:port"))
        << bad;
  }
}

// alerts.match is RE2: an invalid pattern (or std::regex-only syntax such as a backreference) is an
// error naming the key and its line.
TEST(Config, AnInvalidAlertsMatchPatternIsAnErrorNamingTheKey) {
  const std::string base = with_rule("{name: e, query: x, above: 1}") + "api: {bearer_token_file: /run/token}\n";
  EXPECT_TRUE(errors_of(base + "alerts: {match: {severity: 'sev1|sev2', service: '{{v}}.*'}}\n").empty());
  for (const char* bad : {"'sev(1'", "'(a)\\1'", "'(?=x)'", "'a{1001}'"}) {
    const auto errors = errors_of(base + "alerts:\n  match: {severity: " + bad + "}\n");
    EXPECT_TRUE(has_error(errors, "c.yml:8: alerts.match: severity: ")) << bad << "\n" << joined(errors);
    EXPECT_TRUE(has_error(errors, "is not a valid RE2 regex")) << bad << "\n" << joined(errors);
  }
}

// Defect 2: promotion moves traffic through every actuator's set_canary_weight(); an actuator
// that cannot set weights (exec) failed the first promotion step at run time while `check`
// passed. `check` names both keys and lists the types that can, as the registry declares them.
TEST(Config, PromotionNeedsActuatorsThatSetWeights) {
  const std::string exec_only = with_rule("{name: e, query: x, above: 1}") +           // actuators: line 5
                                "promotion: {steps: [10, 100], step_duration: 1m}\n";  // line 6
  const auto errors = errors_of(exec_only);
  EXPECT_TRUE(has_error(errors,
                        "c.yml:6: promotion: needs actuators that set traffic weights; actuators[0].type "
                        "'exec' (line 5) cannot (types that can: "))
      << joined(errors);
  for (const char* type : {"haproxy", "nginx", "file", "webhook", "gateway-httproute", "aws-alb", "aws-lambda-alias"}) {
    EXPECT_TRUE(has_error(errors, type)) << type << "\n" << joined(errors);
  }
  // Mixed: the run would still fail at the exec actuator, so it is named too.
  const auto mixed = errors_of(with_rule("{name: e, query: x, above: 1}", "prod",
                                         "[{type: file, path: /tmp/w, content: 'w {{canary_weight}}'}, "
                                         "{type: exec, command: [/bin/true]}]") +
                               "promotion: {steps: [10, 100]}\n");
  EXPECT_TRUE(
      has_error(mixed, "c.yml:6: promotion: needs actuators that set traffic weights; actuators[1].type 'exec'"))
      << joined(mixed);
  // Weight-capable actuators pass.
  EXPECT_TRUE(errors_of(with_rule("{name: e, query: x, above: 1}", "prod",
                                  "[{type: file, path: /tmp/w, content: 'w {{canary_weight}}'}]") +
                        "promotion: {steps: [10, 100]}\n")
                  .empty());
}

// Hardened: `alerts: {match: {}}` matched every alert, kube-prometheus's always-firing Watchdog
// included, and rolled back at once.
TEST(Config, AnEmptyAlertsMatchIsRefused) {
  const std::string base = with_rule("{name: e, query: x, above: 1}") + "api: {bearer_token_file: /run/token}\n";
  for (const char* alerts : {"alerts: {match: {}}\n", "alerts: {match: }\n"}) {
    const auto errors = errors_of(base + alerts);
    EXPECT_TRUE(has_error(errors, "c.yml:7: alerts.match: is empty, which would match every alert"))
        << alerts << joined(errors);
  }
}

// Hardened: a password in prometheus.url sits in the config; refused, and never printed.
TEST(Config, APasswordInThePrometheusUrlIsRefusedAndNotPrinted) {
  for (const char* url :
       {"http://user:s3cret@prom:9090", "https://user:s3cret@prom:9090/api?x=1", "ftp://user:s3cret@prom"}) {
    const auto errors = errors_of("prometheus:\n  url: '" + std::string(url) +
                                  "'\n"
                                  "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                                  "rules: [{name: e, query: x, above: 1}]\n"
                                  "dry_run: true\n");
    EXPECT_TRUE(has_error(errors, "c.yml:2: prometheus.url: has a password in it (user:***@)"))
        << url << joined(errors);
    EXPECT_EQ(joined(errors).find("s3cret"), std::string::npos) << joined(errors);
  }
  // A user name alone (no password) is not a secret.
  EXPECT_TRUE(errors_of("prometheus: {url: 'http://user@prom:9090'}\n"
                        "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                        "rules: [{name: e, query: x, above: 1}]\ndry_run: true\n")
                  .empty());
}

TEST(Config, AbsurdDurationsHitAClearLimit) {
  const auto errors =
      errors_of(with_rule("{name: e, query: x, above: 1, for: 400d}") + "evaluation_interval: 99999999999h\n");
  EXPECT_TRUE(
      has_error(errors, "c.yml:6: evaluation_interval: '99999999999h' is longer than the limit of 1y (365 days)"))
      << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:4: rules[0].for: '400d' is longer than the limit of 1y")) << joined(errors);
  EXPECT_TRUE(errors_of(with_rule("{name: e, query: x, above: 1, for: 1y}")).empty());
}

TEST(Config, ASecondYamlDocumentIsAnError) {
  // Named at the second `---` itself.
  const auto errors = errors_of(with_rule("{name: e, query: x, above: 1}") + "---\ndry_run: true\n");
  EXPECT_TRUE(has_error(errors, "c.yml:6: the config must be one YAML document, found 2")) << joined(errors);
  EXPECT_TRUE(errors_of("---\n" + with_rule("{name: e, query: x, above: 1}")).empty());  // one leading marker is fine
}

// Hardened: vars are templated into PromQL string literals; a value that ends the literal or the
// matcher would change the query. A value that is itself a template stays unresolved.
TEST(Config, VarValuesCannotInjectPromQLAndTemplatesMustResolve) {
  const auto deployment = [](const std::string& value) {
    return "prometheus: {url: 'http://prom:9090'}\n"  // 1
           "deployment:\n"                            // 2
           "  name: checkout\n"                       // 3
           "  stage: prod\n"                          // 4
           "  strategy: canary\n"                     // 5
           "  vars: {canary: " +
           value +
           "}\n"                                                           // 6
           "rules: [{name: e, query: 'x{v=\"{{canary}}\"}', above: 1}]\n"  // 7
           "dry_run: true\n";
  };
  for (const auto& [value, what] :
       std::vector<std::pair<std::string, std::string>>{{"'v2\"} or vector(1) or x{a=\"'", "'\"'"},
                                                        {"'v\\2'", "'\\'"},
                                                        {"\"v2\\nx\"", "a newline"},
                                                        {"'v}'", "'}'"},
                                                        {"'{v'", "'{'"}}) {
    const auto errors = errors_of(deployment(value));
    EXPECT_TRUE(has_error(errors, "c.yml:6: deployment.vars: {{canary}} ")) << value << "\n" << joined(errors);
    EXPECT_TRUE(has_error(errors, "contains " + what + ", which would change the PromQL")) << value << "\n"
                                                                                           << joined(errors);
  }
  const auto errors = errors_of(deployment("'{{stage}}'"));
  EXPECT_TRUE(has_error(errors, "c.yml:7: rules[0].query: unresolved '{{stage}}' after templating")) << joined(errors);
}

TEST(Config, MoreThan500RulesIsAnErrorStatingTheLimit) {
  const auto rules = [](int n) {
    std::string yaml =
        "prometheus: {url: 'http://prom:9090'}\n"
        "deployment: {name: checkout, stage: prod, strategy: canary}\n"
        "dry_run: true\n"
        "rules:\n";
    for (int i = 0; i < n; ++i) yaml += "  - {name: r" + std::to_string(i) + ", query: x, above: 1}\n";
    return yaml;
  };
  EXPECT_TRUE(errors_of(rules(500)).empty());
  EXPECT_TRUE(has_error(errors_of(rules(501)), "c.yml:4: rules: 501 rules; at most 500 are allowed"));
}

// Hardened: the API token guards alerts and manual rollback. A token file that does not exist yet
// is a warning (the config loads); one anyone can write is an error.
TEST(Config, TheApiTokenFileIsCheckedMissingWarnsWorldWritableFails) {
  const std::string base = with_rule("{name: e, query: x, above: 1}");
  LoadResult missing = load_config_text(base + "api: {bearer_token_file: /nonexistent/token}\n", "c.yml",
                                        actuators::Registry::builtin());
  ASSERT_TRUE(missing.loaded);
  ASSERT_EQ(missing.warnings.size(), 1u);
  EXPECT_NE(missing.warnings[0].to_string("c.yml").find(
                "c.yml:6: api.bearer_token_file: '/nonexistent/token' cannot be read"),
            std::string::npos)
      << missing.warnings[0].to_string("c.yml");

  char path[] = "/tmp/config_test_tokenXXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_EQ(chmod(path, 0600), 0);
  LoadResult private_file =
      load_config_text(base + "api: {bearer_token_file: " + path + "}\n", "c.yml", actuators::Registry::builtin());
  EXPECT_TRUE(private_file.loaded);
  EXPECT_TRUE(private_file.warnings.empty());
  ASSERT_EQ(chmod(path, 0666), 0);
  const auto errors = errors_of(base + "api: {bearer_token_file: " + path + "}\n");
  EXPECT_TRUE(
      has_error(errors, "c.yml:6: api.bearer_token_file: '" + std::string(path) + "' is world-writable (mode 0666)"))
      << joined(errors);
  unlink(path);
}

}  // namespace
}  // namespace rs::sidecar
