#include "sidecar/core/rule_queries.h"

namespace rs::sidecar {

RuleQueries::RuleQueries(const std::vector<RuleConfig>& rules) {
  slots_.resize(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& test = rules[i].test;
    slots_[i].query = test ? add(test->queries[0], i, Kind::kTestCounter, test_counter_key(test->type, 0))
                           : add(rules[i].query, i, Kind::kRule, "query");
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].baseline) slots_[i].baseline = add(rules[i].baseline->query, i, Kind::kBaseline, "baseline");
    if (rules[i].min_samples) {
      slots_[i].min_samples = add(rules[i].min_samples->query, i, Kind::kMinSamples, "min_samples");
    }
    if (const auto& test = rules[i].test) {
      std::array<std::size_t, 4> counters{slots_[i].query, 0, 0, 0};
      for (int c = 1; c < 4; ++c)
        counters[c] = add(test->queries[c], i, Kind::kTestCounter, test_counter_key(test->type, c));
      slots_[i].test = counters;
    }
  }
}

std::size_t RuleQueries::add(std::string query, std::size_t rule, Kind kind, const char* name) {
  queries_.push_back(std::move(query));
  rule_.push_back(rule);
  kind_.push_back(kind);
  name_.push_back(name);
  return queries_.size() - 1;
}

SeriesReduction RuleQueries::reduction_of(std::size_t slot) const {
  switch (kind_[slot]) {
    case Kind::kRule: return SeriesReduction::kWorst;
    case Kind::kBaseline: return SeriesReduction::kSingle;
    case Kind::kMinSamples: return SeriesReduction::kSum;
    case Kind::kTestCounter: return SeriesReduction::kCounter;
  }
  return SeriesReduction::kWorst;
}

}  // namespace rs::sidecar
