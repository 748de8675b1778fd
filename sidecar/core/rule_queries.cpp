#include "sidecar/core/rule_queries.h"

#include "common/duration.h"

namespace rs::sidecar {

RuleQueries::RuleQueries(const std::vector<RuleConfig>& rules, QuerySource source, const std::string& deployment)
    : source_(source), deployment_(deployment) {
  // An slo window's query is the rule's with {{window}} set to the window's length: the length
  // names it (two pairs sharing a length share the query and its recorded series).
  auto slo_key = [](Duration window) { return "slo_" + common::format_duration(window); };
  slots_.resize(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const RuleConfig& r = rules[i];
    const auto& test = r.test;
    const auto& slo = r.slo;
    slots_[i].query = test  ? add(test->queries[0], i, r.name, Kind::kTestCounter, test_counter_key(test->type, 0),
                                  test_counter_key(test->type, 0))
                      : slo ? add(slo->windows.front().long_query, i, r.name, Kind::kSloWindow, "slo long window",
                                  slo_key(slo->windows.front().long_window))
                            : add(r.query, i, r.name, Kind::kRule, "query", "query");
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const RuleConfig& r = rules[i];
    if (r.baseline) slots_[i].baseline = add(r.baseline->query, i, r.name, Kind::kBaseline, "baseline", "baseline");
    if (r.min_samples) {
      slots_[i].min_samples = add(r.min_samples->query, i, r.name, Kind::kMinSamples, "min_samples", "min_samples");
    }
    if (const auto& test = r.test) {
      std::array<std::size_t, 4> counters{slots_[i].query, 0, 0, 0};
      for (int c = 1; c < 4; ++c) {
        counters[c] = add(test->queries[c], i, r.name, Kind::kTestCounter, test_counter_key(test->type, c),
                          test_counter_key(test->type, c));
      }
      slots_[i].test = counters;
    }
    if (const auto& slo = r.slo) {
      for (std::size_t w = 0; w < slo->windows.size(); ++w) {
        const SloWindow& window = slo->windows[w];
        const std::size_t long_slot = w == 0 ? slots_[i].query
                                             : add(window.long_query, i, r.name, Kind::kSloWindow, "slo long window",
                                                   slo_key(window.long_window));
        slots_[i].slo.emplace_back(long_slot, add(window.short_query, i, r.name, Kind::kSloWindow, "slo short window",
                                                  slo_key(window.short_window)));
      }
    }
  }
}

std::size_t RuleQueries::add(std::string query, std::size_t rule, const std::string& rule_name, Kind kind,
                             const char* name, std::string key) {
  const auto [first, added] = recorded_as_.emplace(query, recorded_selector(deployment_, rule_name, key));
  records_.push_back(added);
  queries_.push_back(source_ == QuerySource::kRecordedSeries ? first->second : query);
  expressions_.push_back(std::move(query));
  keys_.push_back(std::move(key));
  rule_.push_back(rule);
  kind_.push_back(kind);
  name_.push_back(name);
  return queries_.size() - 1;
}

RuleQueries rule_queries_for(const Config& config) {
  return RuleQueries(config.rules,
                     config.use_recording_rules ? QuerySource::kRecordedSeries : QuerySource::kExpressions,
                     config.deployment.name);
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
