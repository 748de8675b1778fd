#include "sidecar/core/rule_queries.h"

namespace rs::sidecar {

RuleQueries::RuleQueries(const std::vector<RuleConfig>& rules) {
  slots_.resize(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& test = rules[i].test;
    const auto& slo = rules[i].slo;
    slots_[i].query = test  ? add(test->queries[0], i, Kind::kTestCounter, test_counter_key(test->type, 0))
                      : slo ? add(slo->windows.front().long_query, i, Kind::kSloWindow, "slo long window")
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
    if (const auto& slo = rules[i].slo) {
      for (std::size_t w = 0; w < slo->windows.size(); ++w) {
        const std::size_t long_slot =
            w == 0 ? slots_[i].query : add(slo->windows[w].long_query, i, Kind::kSloWindow, "slo long window");
        slots_[i].slo.emplace_back(long_slot,
                                   add(slo->windows[w].short_query, i, Kind::kSloWindow, "slo short window"));
      }
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
    case Kind::kSloWindow: return SeriesReduction::kWorst;  // an error ratio, like the rule's query
  }
  return SeriesReduction::kWorst;
}

}  // namespace rs::sidecar
