// The queries one evaluation sends for the rules, as one flat list for Client::query_all (one
// concurrent batch), and where each rule's answers sit in it: every rule's own query first, in
// config order (rule i's at index i; for a rule with `test`, its first counter query), then each
// `baseline`, `min_samples` and remaining test counter query after them. Several slots may hold
// the same query (rules sharing a baseline): Client::query_all sends it once per batch.
//
// With `use_recording_rules: true` each slot's query is the series `rollback-sidecar rules`
// records for it (recorded_series.h) instead of the expression; the slots, their order and
// how their answers reduce stay the same, so the judges cannot tell the two apart (the
// recorded series keep the expression's own labels, so several series still reduce as before).
// An expression several slots hold is recorded once, under the labels of the first slot (in slot
// order) that holds it, and every slot holding it reads that series: Prometheus evaluates it once
// per interval and the sidecar's batch still merges it.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/config/config.h"
#include "sidecar/config/recorded_series.h"
#include "sidecar/policy/rule.h"
#include "sidecar/policy/rule_judge.h"

namespace rs::sidecar {

// Where a slot's answer comes from.
enum class QuerySource {
  kExpressions,     // the rule's PromQL, evaluated by Prometheus at every tick
  kRecordedSeries,  // the series a Prometheus recording rule writes for that PromQL (use_recording_rules)
};

class RuleQueries {
 public:
  // Which query of its rule a slot holds: names it in logs ("baseline query failed").
  enum class Kind { kRule, kBaseline, kMinSamples, kTestCounter, kSloWindow };

  struct Slots {
    std::size_t query = 0;  // the rule's own query, or its test's first counter (== the rule's index)
    std::optional<std::size_t> baseline;
    std::optional<std::size_t> min_samples;
    std::optional<std::array<std::size_t, 4>> test;        // the test's counters, in TestConfig::queries order
    std::vector<std::pair<std::size_t, std::size_t>> slo;  // per SloSpec::windows entry: long, short
  };

  // `deployment` names the recorded series (kRecordedSeries only).
  explicit RuleQueries(const std::vector<RuleConfig>& rules, QuerySource source = QuerySource::kExpressions,
                       const std::string& deployment = "");

  // Every rule query as sent, in slot order; the caller may append its own after them.
  const std::vector<std::string>& queries() const { return queries_; }
  // The slot's PromQL expression (what a recording rule records; == queries()[slot] with kExpressions).
  const std::string& expression_of(std::size_t slot) const { return expressions_[slot]; }
  // The slot's rollback_sidecar_slot label value, unique within its rule unless two slots hold the
  // same expression: "query", "baseline", "min_samples", "canary_errors", ..., "slo_1h" (an slo
  // window's query depends only on the window's length, so two pairs sharing a length share it).
  const std::string& key_of(std::size_t slot) const { return keys_[slot]; }
  // True for the first slot holding its expression: the rule file records the expression under
  // this slot's rule and key, and the later slots holding it read that series.
  bool records(std::size_t slot) const { return records_[slot]; }
  QuerySource source() const { return source_; }
  const Slots& of_rule(std::size_t rule) const { return slots_[rule]; }
  std::size_t rule_of(std::size_t slot) const { return rule_[slot]; }
  Kind kind_of(std::size_t slot) const { return kind_[slot]; }
  // What the slot's answer is called in logs: "query", "baseline", "min_samples", "canary_errors", ...
  const char* name_of(std::size_t slot) const { return name_[slot]; }
  // The slot's query as logs and problems name it: "query", "baseline query", "canary_errors query".
  std::string label_of(std::size_t slot) const {
    return kind_[slot] == Kind::kRule ? std::string("query") : std::string(name_[slot]) + " query";
  }
  // How the slot's series reduce to one value (rule_judge.h).
  SeriesReduction reduction_of(std::size_t slot) const;
  // The slot's answer (one number per series) as one observation, reduced per reduction_of(); an
  // error's message names the slot ("baseline query: query returned 3 series; ..."). The engine
  // and the backtest both read answers through this.
  Observation observe(std::size_t slot, const std::vector<double>& values, Comparison comparison) const {
    Observation o = observe_series(values, reduction_of(slot), comparison);
    if (o.kind == Observation::Kind::kError) o.error_message = label_of(slot) + ": " + o.error_message;
    return o;
  }
  // Rule `rule`'s answers for RuleJudge, each slot's observation made by `read(slot)` (the engine
  // logs and counts there; a backtest reads its range answers): the one place that knows which
  // slot feeds which judge.
  template <typename Read>
  RuleAnswers answers(std::size_t rule, Read&& read) const {
    const Slots& s = slots_[rule];
    RuleAnswers a;
    if (s.test) {
      for (int c = 0; c < 4; ++c) a.counters[c] = read((*s.test)[c]);
    } else if (!s.slo.empty()) {
      for (const auto& [long_slot, short_slot] : s.slo) a.windows.emplace_back(read(long_slot), read(short_slot));
    } else {
      a.value = read(s.query);
    }
    if (s.baseline) a.baseline = read(*s.baseline);
    if (s.min_samples) a.min_samples = read(*s.min_samples);
    return a;
  }
  std::size_t size() const { return queries_.size(); }

 private:
  std::size_t add(std::string query, std::size_t rule, const std::string& rule_name, Kind kind, const char* name,
                  std::string key);

  QuerySource source_;
  std::string deployment_;
  std::vector<std::string> queries_;
  std::vector<std::string> expressions_;            // per slot
  std::vector<std::string> keys_;                   // per slot
  std::vector<bool> records_;                       // per slot
  std::map<std::string, std::string> recorded_as_;  // expression -> the selector of its first slot
  std::vector<std::size_t> rule_;                   // per slot: the rule it belongs to
  std::vector<Kind> kind_;                          // per slot
  std::vector<const char*> name_;                   // per slot
  std::vector<Slots> slots_;                        // per rule
};

// The slots of the config's rules, from the source its `use_recording_rules` picks: what the
// engine, `check --online`, `gate` and `backtest` query.
RuleQueries rule_queries_for(const Config& config);

}  // namespace rs::sidecar
