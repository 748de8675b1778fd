// The config loader: every error names the key and its line; all errors come at once; a valid
// config has the documented defaults and stage overrides applied.
#include <gtest/gtest.h>

#include "sidecar/config.h"

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
      "prometheus:\n"                                            // 1
      "  url: http://127.0.0.1:9090\n"                           // 2
      "  timout: 2s\n"                                           // 3
      "evaluation_interval: 5x\n"                                // 4
      "deployment: {name: checkout, stage: prod, strategy: rolling}\n"  // 5
      "rules:\n"                                                 // 6
      "  - name: error-rate\n"                                   // 7
      "    query: 'x{v=\"{{canary}}\"}'\n"                       // 8
      "    above: high\n"                                        // 9
      "    for: 5 minutes\n"                                     // 10
      "    missing: maybe\n"                                     // 11
      "  - name: error-rate\n"                                   // 12
      "    query: y\n"                                           // 13
      "    below: 1\n"                                           // 14
      "    stages: {prod: {below: 2, fro: 1m}}\n"                // 15
      "actuators:\n"                                             // 16
      "  - type: f5\n");                                         // 17
  for (const char* expected :
       {"c.yml:3: prometheus.timout: unknown key (known here: bearer_token_file, headers, max_response_bytes, timeout, url)",
        "c.yml:4: evaluation_interval: '5x' is not a duration",
        "c.yml:5: deployment.strategy: 'rolling' is not a strategy (canary or blue-green)",
        "c.yml:9: rules[0].above: 'high' is not a finite number",
        "c.yml:10: rules[0].for: '5 minutes' is not a duration",
        "c.yml:11: rules[0].missing: 'maybe' is not one of hold, breach, ok",
        "c.yml:8: rules[0].query: unknown variable '{{canary}}' (known: deployment, stage, strategy)",
        "c.yml:15: rules[1].stages.prod.fro: unknown key (known here: above, action, below, delay, for, missing, severity)",
        "c.yml:12: rules: rule name 'error-rate' is used twice",
        "c.yml:17: actuators[0].type: unknown actuator type 'f5' (known: exec, file, haproxy, nginx, webhook)"}) {
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
  EXPECT_TRUE(has_error(errors, "c.yml:6: notifiers[0].type: unknown notifier type 'pagerduty' (known: alertmanager, slack, webhook)"))
      << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:7: notifiers[1].messages: unknown message 'RollbackDone'")) << joined(errors);
  EXPECT_TRUE(has_error(errors, "c.yml:7: notifiers[1].give_up_after: must be greater than 0")) << joined(errors);
}

}  // namespace
}  // namespace rs::sidecar
