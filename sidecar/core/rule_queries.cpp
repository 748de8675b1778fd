#include "sidecar/core/rule_queries.h"

namespace rs::sidecar {

RuleQueries::RuleQueries(const std::vector<RuleConfig>& rules) {
  slots_.resize(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) slots_[i].query = add(rules[i].query, i, Kind::kRule);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].baseline) slots_[i].baseline = add(rules[i].baseline->query, i, Kind::kBaseline);
    if (rules[i].min_samples) slots_[i].min_samples = add(rules[i].min_samples->query, i, Kind::kMinSamples);
  }
}

std::size_t RuleQueries::add(std::string query, std::size_t rule, Kind kind) {
  queries_.push_back(std::move(query));
  rule_.push_back(rule);
  kind_.push_back(kind);
  return queries_.size() - 1;
}

const char* query_kind_name(RuleQueries::Kind k) {
  switch (k) {
    case RuleQueries::Kind::kRule: return "query";
    case RuleQueries::Kind::kBaseline: return "baseline";
    case RuleQueries::Kind::kMinSamples: return "min_samples";
  }
  return "?";
}

}  // namespace rs::sidecar
