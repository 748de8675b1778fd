#include "sidecar/app/prometheus_rules.h"

#include <yaml-cpp/yaml.h>

#include <cctype>

#include "common/duration.h"
#include "sidecar/core/rule_queries.h"
#include "sidecar/policy/breach_window.h"
#include "sidecar/policy/decision.h"

namespace rs::sidecar {

std::string alert_name_for(const std::string& rule_name) {
  std::string out;
  bool upper = true;
  for (char c : rule_name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {  // - . : _ separate words
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out.front()))) out = "Rule" + out;
  return out;
}

// The rule's condition as PromQL: what the engine judges each evaluation, as far as PromQL can say
// it. `slo`: any window pair whose long and short error ratios both exceed burn_rate x budget. `baseline`: the stable
// query must be one series (as the engine requires), so scalar() of it is the baseline's value, and NaN (none or
// several series) compares false: no breach, as the engine holds. `min_samples`: the summed count must reach at_least.
// `breaches: "M of N"`: at least M of the last N evaluations breached (a subquery at the evaluation interval), with
// `for: 0`.
std::string condition_expr(const RuleConfig& rule, Duration interval) {
  const char* op = rule.comparison == Comparison::kAbove ? ">" : "<";
  const std::string value = "(" + rule.query + ")";
  std::string expr;
  if (rule.slo) {  // multi-window, multi-burn-rate: any pair whose long and short windows both burn
    for (const auto& w : rule.slo->windows) {
      const std::string limit = format_value(w.burn_rate * rule.slo->budget());
      // max(): each window's worst series, as the engine reduces them (they may be different series).
      expr += std::string(expr.empty() ? "" : " or ") + "(max(" + w.long_query + ") > " + limit + " and on() max(" +
              w.short_query + ") > " + limit + ")";
    }
  } else if (rule.baseline) {
    const std::string base = "scalar(" + rule.baseline->query + ")";
    const std::string ratio = format_value(rule.baseline->max_ratio);
    const std::string diff = format_value(rule.baseline->min_difference);
    const std::string floor = value + " " + op + " " + format_value(rule.threshold);
    expr = rule.comparison == Comparison::kAbove ? "(" + floor + ") and (" + value + " > " + base + " * " + ratio +
                                                       ") and (" + value + " - " + base + " > " + diff + ")"
                                                 : "(" + floor + ") and (" + value + " * " + ratio + " < " + base +
                                                       ") and (" + base + " - " + value + " > " + diff + ")";
  } else {
    expr = value + " " + op + " " + format_value(rule.threshold);
  }
  if (rule.missing == Missing::kBreach && !rule.slo) expr = "(" + expr + ") or on() absent(" + rule.query + ")";
  if (rule.min_samples) {
    expr = "(" + expr + ") and on() (sum(" + rule.min_samples->query +
           ") >= " + format_value(rule.min_samples->at_least) + ")";
  }
  if (rule.breaches) {
    expr = "count_over_time((" + expr + ")[" + common::format_duration(interval * rule.breaches->n) + ":" +
           common::format_duration(interval) + "]) >= " + std::to_string(rule.breaches->m);
  }
  return expr;
}

namespace {

// The recording rules `use_recording_rules: true` reads (recorded_series.h): one per distinct
// query expression of the rules, in slot order, recorded under the labels of the first slot that
// holds it (RuleQueries::records: the slots sharing it read that series). Evaluated every
// evaluation_interval, so a recorded value is at most one interval older than the expression's.
void render_recording_group(const Config& config, YAML::Emitter& out) {
  const RuleQueries slots(config.rules);
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "rollback-sidecar-" + config.deployment.name + "-queries";
  out << YAML::Key << "interval" << YAML::Value << common::format_duration(config.evaluation_interval);
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (std::size_t slot = 0; slot < slots.size(); ++slot) {
    if (!slots.records(slot)) continue;
    out << YAML::BeginMap;
    out << YAML::Key << "record" << YAML::Value << kRecordedMetric;
    out << YAML::Key << "expr" << YAML::Value << slots.expression_of(slot);
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << kDeploymentLabel << YAML::Value << config.deployment.name;
    out << YAML::Key << kRuleLabel << YAML::Value << config.rules[slots.rule_of(slot)].name;
    out << YAML::Key << kSlotLabel << YAML::Value << slots.key_of(slot);
    out << YAML::EndMap;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
}

}  // namespace

std::string render_prometheus_rules(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "rollback-sidecar-" + config.deployment.name;
  out << YAML::Key << "interval" << YAML::Value << common::format_duration(config.evaluation_interval);
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  std::string skipped;
  for (const auto& rule : config.rules) {
    if (rule.test) {  // a sequential test keeps state across evaluations: no PromQL expression says it
      skipped += "# rule " + rule.name + ": " + test_type_name(rule.test->type) +
                 " test not exported (its anytime-valid statistic is not a PromQL expression)\n";
      continue;
    }
    const std::string expr = condition_expr(rule, config.evaluation_interval);
    out << YAML::BeginMap;
    out << YAML::Key << "alert" << YAML::Value << alert_name_for(rule.name);
    out << YAML::Key << "expr" << YAML::Value << expr;
    out << YAML::Key << "for" << YAML::Value
        << common::format_duration(rule.breaches ? Duration{0} : rule.for_duration);
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "severity" << YAML::Value << rule.severity;
    out << YAML::Key << "rule" << YAML::Value << rule.name;
    out << YAML::Key << "deployment" << YAML::Value << config.deployment.name;
    out << YAML::Key << "stage" << YAML::Value << config.deployment.stage;
    out << YAML::Key << "action" << YAML::Value << action_name(rule.action);
    out << YAML::EndMap;
    out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "summary" << YAML::Value
        << config.deployment.name + ": " + rule.name + " " + comparison_name(rule.comparison) + " " +
               format_value(rule.threshold) + (rule.baseline ? " and worse than the baseline" : "") + " " +
               format_timing(rule);
    out << YAML::Key << "description" << YAML::Value
        << (rule.slo ? "the error ratio {{ $value }} burns the " + common::format_duration(rule.slo->period) +
                           " error budget of SLO " + format_value(rule.slo->objective) + " too fast"
            : rule.breaches
                ? "{{ $value }} of the last " + std::to_string(rule.breaches->n) + " evaluations breached " +
                      comparison_name(rule.comparison) + " " + format_value(rule.threshold)
                : std::string("{{ $value }} is ") + comparison_name(rule.comparison) + " the threshold " +
                      format_value(rule.threshold)) +
               "; rollback-sidecar " + (rule.action == RuleAction::kRollback ? "rolls back" : "notifies") +
               " when this fires.";
    out << YAML::Key << "query" << YAML::Value << rule.query;
    out << YAML::EndMap;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  if (config.use_recording_rules) render_recording_group(config, out);
  out << YAML::EndSeq << YAML::EndMap;
  return std::string("# Generated by rollback-sidecar rules --config ") + config.source_path +
         "; regenerate instead of editing.\n" + skipped + out.c_str() + "\n";
}

}  // namespace rs::sidecar
