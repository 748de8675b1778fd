#include "sidecar/policy/rule_judge.h"

#include <cmath>

#include "sidecar/policy/decision.h"  // format_value
#include "sidecar/policy/worst_series.h"

namespace rs::sidecar {

namespace {

Observation bad_value(std::string message) { return Observation::error("bad_value", std::move(message)); }

// A ratio for humans: "1.84", "+Inf" for an unbounded end.
std::string ratio_text(const nlohmann::json& v) {
  return v.is_number() ? format_value(v.get<double>()) : std::string("unbounded");
}

}  // namespace

Observation observe_series(const std::vector<double>& values, SeriesReduction reduction, Comparison comparison) {
  const std::size_t n = values.size();
  switch (reduction) {
    case SeriesReduction::kWorst:
    case SeriesReduction::kSum: {
      const std::optional<double> v =
          reduction == SeriesReduction::kSum ? sum_series(values) : worst_series(values, comparison);
      if (!v) return Observation::no_data(n == 0 ? "query returned an empty result" : "query returned NaN");
      return Observation::of_value(*v);
    }
    case SeriesReduction::kSingle:
      if (n == 0) return Observation::no_data("query returned an empty result");
      if (n > 1) {
        return bad_value("query returned " + std::to_string(n) +
                         " series; it must return one (aggregate it, e.g. with sum() or max())");
      }
      if (std::isnan(values[0])) return Observation::no_data("query returned NaN");
      return Observation::of_value(values[0]);
    case SeriesReduction::kCounter:
      if (n == 0) return Observation::of_value(0);  // no series yet: nothing counted
      if (n > 1) {
        return bad_value("counter query returned " + std::to_string(n) +
                         " series; a test counter must be one series: wrap it in sum()");
      }
      if (std::isnan(values[0])) return bad_value("counter query returned NaN");
      return Observation::of_value(values[0]);
  }
  return Observation::no_data("unknown reduction");
}

bool RuleAnswers::any_error() const {
  const auto failed = [](const Observation& o) { return o.kind == Observation::Kind::kError; };
  if (failed(value) || (baseline && failed(*baseline)) || (min_samples && failed(*min_samples))) return true;
  for (const auto& c : counters)
    if (failed(c)) return true;
  for (const auto& [long_window, short_window] : windows)
    if (failed(long_window) || failed(short_window)) return true;
  return false;
}

RuleJudge::RuleJudge(const RuleConfig& rule) : rule_(rule) {
  if (!rule_.test) return;
  if (rule_.test->type == TestType::kSequentialBinomial) {
    binomial_ = std::make_unique<SequentialBinomialTest>(rule_.test->spec);
  } else {
    histogram_ = std::make_unique<SequentialHistogramTest>(rule_.test->spec);
  }
}
RuleJudge::RuleJudge(RuleJudge&&) noexcept = default;
RuleJudge& RuleJudge::operator=(RuleJudge&&) noexcept = default;
RuleJudge::~RuleJudge() = default;

Observation RuleJudge::judge(const RuleAnswers& a) {
  if (rule_.test) return judge_test(a.counters);
  if (!rule_.baseline && !rule_.min_samples && !rule_.slo) return a.value;  // the tracker compares it
  // With a baseline the rule's threshold is an absolute floor the canary must cross too.
  Judgement verdict =
      rule_.slo ? judge_burn_rate(a.windows, *rule_.slo)
      : rule_.baseline
          ? judge_baseline(a.value, a.baseline.value_or(Observation::error("judge", "no baseline answer given")),
                           rule_.comparison, *rule_.baseline, rule_.threshold)
          : judge_threshold(a.value, rule_.comparison, rule_.threshold);
  if (rule_.min_samples) {
    const Observation samples = a.min_samples.value_or(Observation::error("judge", "no min_samples answer given"));
    verdict = apply_min_samples(judge_min_samples(samples, *rule_.min_samples), std::move(verdict));
  }
  return verdict.to_observation();
}

Observation RuleJudge::judge_test(const std::array<Observation, 4>& counters) {
  const TestConfig& test = *rule_.test;
  std::array<double, 4> v{};
  for (int i = 0; i < 4; ++i) {
    const Observation& c = counters[i];
    const std::string key = test_counter_key(test.type, i);
    if (c.kind == Observation::Kind::kError) {
      Observation o = Observation::error(c.error_reason, key + " query failed: " + c.error_message);
      o.evidence = binomial_ ? binomial_->evidence() : histogram_->evidence();
      return o;
    }
    // No data is a counter that has counted nothing yet (a healthy canary has no 5xx series).
    v[i] = c.kind == Observation::Kind::kValue ? c.value : 0.0;
  }
  const SequentialOutcome out = binomial_ ? binomial_->update(BinomialCounters{v[0], v[1], v[2], v[3]})
                                          : histogram_->update(HistogramCounters{v[0], v[1], v[2], v[3]});
  nlohmann::json ev = binomial_ ? binomial_->evidence() : histogram_->evidence();
  if (!out.error.empty()) {
    // Bad data never decides: the test's state is unchanged and the rule holds.
    Observation o = Observation::error("bad_data", test_type_name(test.type) + std::string(": ") + out.error);
    ev["reason"] = o.error_message;
    o.evidence = std::move(ev);
    return o;
  }
  const std::string what = histogram_ ? "slow-request rate (over " + format_value(test.spec.latency_bound) + " s)"
                                      : std::string("error rate");
  const std::string interval = ratio_text(ev["ci_low"]) + "-" + ratio_text(ev["ci_high"]);
  const nlohmann::json& ratio = ev["ratio"].is_number() ? ev["ratio"] : ev["ratio_mle"];
  const std::string e_value = format_value(ev["e_value"].get<double>());
  const std::string needed = format_value(ev["threshold"].get<double>());
  std::string reason;
  switch (out.verdict) {
    case SequentialVerdict::kInsufficient:
      reason = "sequential test has " + format_value(ev["events"].get<double>()) + " events, needs " +
               (ev["events_needed"].is_number() ? std::to_string(ev["events_needed"].get<long>())
                                                : std::string("traffic on both sides"));
      ev["reason"] = reason;
      return Observation::insufficient(reason, std::move(ev));
    case SequentialVerdict::kFail:
      reason = "canary " + what + " " + ratio_text(ratio) + "x the baseline's (anytime-valid interval " + interval +
               "); e-value " + e_value + " >= " + needed + ": worse than max_ratio " +
               format_value(test.spec.max_ratio);
      break;
    case SequentialVerdict::kPass:
      reason = "canary " + what + " " + ratio_text(ratio) + "x the baseline's (interval " + interval +
               "): passed, below pass_ratio " + format_value(test.spec.pass_ratio);
      break;
    case SequentialVerdict::kUndecided:
      reason = "canary " + what + " " + ratio_text(ratio) + "x the baseline's (interval " + interval + "); e-value " +
               e_value + " of " + needed;
      break;
  }
  ev["reason"] = reason;
  const double value = ratio.is_number() ? ratio.get<double>() : std::nan("");
  return Observation::judged(value, out.verdict == SequentialVerdict::kFail, std::move(ev));
}

nlohmann::json RuleJudge::test_state() const {
  if (binomial_) return to_json(binomial_->state());
  if (histogram_) return to_json(histogram_->state());
  return nullptr;
}

bool RuleJudge::restore_test(const nlohmann::json& state, std::string* error) {
  if (!rule_.test) {
    if (error) *error = "rule has no test";
    return false;
  }
  SequentialTestState s;
  if (!sequential_state_from_json(state, &s, error)) return false;
  return binomial_ ? binomial_->restore(s, error) : histogram_->restore(s, error);
}

SequentialVerdict RuleJudge::test_verdict() const {
  if (binomial_) return binomial_->verdict();
  if (histogram_) return histogram_->verdict();
  return SequentialVerdict::kInsufficient;
}

}  // namespace rs::sidecar
