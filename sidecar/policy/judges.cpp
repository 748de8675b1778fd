#include "sidecar/policy/judges.h"

#include <cmath>

#include "common/duration.h"
#include "sidecar/policy/decision.h"

namespace rs::sidecar {

namespace {

nlohmann::json num(double v) {
  if (std::isfinite(v)) return v;
  return format_value(v);  // "+Inf", "-Inf", "NaN": JSON has no such numbers
}

Judgement make(Judgement::Kind kind, std::string reason, nlohmann::json evidence = nlohmann::json::object()) {
  Judgement j;
  j.kind = kind;
  j.reason = std::move(reason);
  j.evidence = std::move(evidence);
  return j;
}

Judgement from_problem(const Observation& o, const std::string& what) {
  if (o.kind == Observation::Kind::kError) {
    Judgement j = make(Judgement::Kind::kError, what + " query failed: " + o.error_reason + ": " + o.error_message);
    j.error_reason = o.error_reason;
    return j;
  }
  return make(Judgement::Kind::kNoData,
              what + " query: " + (o.error_message.empty() ? std::string("no data") : o.error_message));
}

}  // namespace

const char* judgement_name(Judgement::Kind k) {
  switch (k) {
    case Judgement::Kind::kOk: return "ok";
    case Judgement::Kind::kBreach: return "breach";
    case Judgement::Kind::kNoData: return "nodata";
    case Judgement::Kind::kInsufficient: return "insufficient";
    case Judgement::Kind::kError: return "error";
  }
  return "?";
}

Observation Judgement::to_observation() const {
  nlohmann::json ev = evidence;
  if (ev.is_object()) {
    if (!ev.contains("verdict")) ev["verdict"] = judgement_name(kind);
    ev["reason"] = reason;
  }
  switch (kind) {
    case Kind::kOk:
    case Kind::kBreach: return Observation::judged(value.value_or(std::nan("")), kind == Kind::kBreach, std::move(ev));
    case Kind::kNoData: {
      Observation o = Observation::no_data(reason);
      o.evidence = std::move(ev);
      return o;
    }
    case Kind::kInsufficient: return Observation::insufficient(reason, std::move(ev));
    case Kind::kError: {
      Observation o = Observation::error(error_reason.empty() ? "judge" : error_reason, reason);
      o.evidence = std::move(ev);
      return o;
    }
  }
  return Observation::no_data(reason);
}

Judgement judge_threshold(const Observation& value, Comparison comparison, double threshold) {
  if (value.kind == Observation::Kind::kInsufficient) return make(Judgement::Kind::kInsufficient, value.error_message);
  if (value.kind != Observation::Kind::kValue) return from_problem(value, "value");
  const bool breach = breaches(comparison, value.value, threshold);
  Judgement j =
      make(breach ? Judgement::Kind::kBreach : Judgement::Kind::kOk,
           format_value(value.value) + (breach ? " is " : " is not ") + comparison_name(comparison) + " " +
               format_value(threshold),
           {{"value", num(value.value)}, {"threshold", num(threshold)}, {"comparison", comparison_name(comparison)}});
  j.value = value.value;
  return j;
}

Judgement judge_min_samples(const Observation& samples, const MinSamplesSpec& spec) {
  if (samples.kind == Observation::Kind::kError) return from_problem(samples, "min_samples");
  double n = samples.kind == Observation::Kind::kValue && !std::isnan(samples.value) ? samples.value : 0.0;
  nlohmann::json ev = {{"samples", num(n)}, {"at_least", num(spec.at_least)}};
  if (samples.kind != Observation::Kind::kValue) ev["samples_query"] = "no data (counted as 0)";
  if (n >= spec.at_least) return make(Judgement::Kind::kOk, "enough samples", std::move(ev));
  return make(Judgement::Kind::kInsufficient,
              "insufficient: " + format_value(n) + " samples, fewer than min_samples " + format_value(spec.at_least),
              std::move(ev));
}

Judgement judge_baseline(const Observation& canary, const Observation& baseline, Comparison comparison,
                         const BaselineSpec& spec, std::optional<double> threshold) {
  // Errors first (never healthy), then no data: either side missing means no comparison.
  if (canary.kind == Observation::Kind::kError) return from_problem(canary, "canary");
  if (baseline.kind == Observation::Kind::kError) return from_problem(baseline, "baseline");
  if (canary.kind != Observation::Kind::kValue) return from_problem(canary, "canary");
  if (baseline.kind != Observation::Kind::kValue) return from_problem(baseline, "baseline");
  const double c = canary.value, b = baseline.value;
  if (c < 0 || b < 0) {
    Judgement j = make(Judgement::Kind::kError, std::string(c < 0 ? "canary" : "baseline") + " value " +
                                                    format_value(c < 0 ? c : b) +
                                                    " is negative; a baseline comparison needs values >= 0");
    j.error_reason = "bad_value";
    return j;
  }
  const bool above = comparison == Comparison::kAbove;
  const bool ratio_held = above ? c > b * spec.max_ratio : c * spec.max_ratio < b;
  const double difference = above ? c - b : b - c;  // how much worse the canary is
  const bool difference_held = difference > spec.min_difference;
  const bool threshold_held = !threshold || (above ? c > *threshold : c < *threshold);
  const bool breach = ratio_held && difference_held && threshold_held;
  nlohmann::json ev = {{"canary", num(c)},
                       {"baseline", num(b)},
                       {"ratio", b > 0 ? num(c / b) : nlohmann::json(nullptr)},
                       {"difference", num(difference)},
                       {"comparison", comparison_name(comparison)},
                       {"max_ratio", num(spec.max_ratio)},
                       {"min_difference", num(spec.min_difference)},
                       {"ratio_exceeded", ratio_held},
                       {"difference_exceeded", difference_held}};
  if (threshold) {
    ev["threshold"] = num(*threshold);
    ev["threshold_crossed"] = threshold_held;
  }
  std::string reason = "canary " + format_value(c) + " vs baseline " + format_value(b) + ": ";
  if (breach)
    reason += std::string("worse by more than x") + format_value(spec.max_ratio) + " and " +
              format_value(spec.min_difference);
  else if (!ratio_held)
    reason += "within x" + format_value(spec.max_ratio);
  else if (!difference_held)
    reason += "within " + format_value(spec.min_difference);
  else
    reason += "threshold " + format_value(*threshold) + " not crossed";
  Judgement j = make(breach ? Judgement::Kind::kBreach : Judgement::Kind::kOk, std::move(reason), std::move(ev));
  j.value = c;
  return j;
}

Judgement judge_burn_rate(const std::vector<std::pair<Observation, Observation>>& windows, const SloSpec& spec) {
  const double budget = spec.budget();
  nlohmann::json pairs = nlohmann::json::array();
  std::optional<double> first_burn;
  bool any_data = false, burning = false;
  std::string burning_text;
  for (std::size_t i = 0; i < spec.windows.size() && i < windows.size(); ++i) {
    const SloWindow& w = spec.windows[i];
    const Observation& lo = windows[i].first;
    const Observation& sh = windows[i].second;
    const std::string names[2] = {common::format_duration(w.long_window), common::format_duration(w.short_window)};
    int k = 0;
    for (const Observation* o : {&lo, &sh}) {
      if (o->kind == Observation::Kind::kError) return from_problem(*o, "slo " + names[k] + " window");
      if (o->kind == Observation::Kind::kValue && o->value < 0) {
        Judgement j = make(Judgement::Kind::kError,
                           "slo " + names[k] + " window: error ratio " + format_value(o->value) + " is negative");
        j.error_reason = "bad_value";
        return j;
      }
      ++k;
    }
    const bool has_long = lo.kind == Observation::Kind::kValue, has_short = sh.kind == Observation::Kind::kValue;
    any_data |= has_long || has_short;
    const double limit = w.burn_rate * budget;
    const bool pair_burns = has_long && has_short && lo.value > limit && sh.value > limit;
    if (i == 0 && has_long) first_burn = lo.value / budget;
    if (pair_burns && !burning) {
      burning_text = "burning the error budget " + format_value(lo.value / budget) + "x over " + names[0] + " and " +
                     format_value(sh.value / budget) + "x over " + names[1] + " (limit " + format_value(w.burn_rate) +
                     "x: " + format_value(w.budget_share * 100) + "% of the " + common::format_duration(spec.period) +
                     " budget in " + names[0] + ")";
    }
    burning |= pair_burns;
    pairs.push_back({{"long", names[0]},
                     {"short", names[1]},
                     {"budget_share", w.budget_share},
                     {"burn_rate", w.burn_rate},
                     {"long_ratio", has_long ? num(lo.value) : nlohmann::json(nullptr)},
                     {"short_ratio", has_short ? num(sh.value) : nlohmann::json(nullptr)},
                     {"long_burn", has_long ? num(lo.value / budget) : nlohmann::json(nullptr)},
                     {"short_burn", has_short ? num(sh.value / budget) : nlohmann::json(nullptr)},
                     {"burning", pair_burns}});
  }
  nlohmann::json ev = {{"objective", spec.objective},
                       {"period", common::format_duration(spec.period)},
                       {"budget", budget},
                       {"windows", std::move(pairs)}};
  if (!any_data) return make(Judgement::Kind::kNoData, "slo: no data in any window", std::move(ev));
  Judgement j =
      make(burning ? Judgement::Kind::kBreach : Judgement::Kind::kOk,
           burning ? burning_text
                   : "error budget burn " + (first_burn ? format_value(*first_burn) + "x" : std::string("unknown")) +
                         " over " + common::format_duration(spec.windows.front().long_window) +
                         ": no window pair above its burn rate",
           std::move(ev));
  j.value = first_burn.value_or(std::nan(""));
  return j;
}

Judgement apply_min_samples(const Judgement& guard, Judgement main) {
  if (guard.kind == Judgement::Kind::kError || guard.kind == Judgement::Kind::kInsufficient ||
      guard.kind == Judgement::Kind::kNoData) {
    Judgement j = guard;
    if (j.kind == Judgement::Kind::kNoData) j.kind = Judgement::Kind::kInsufficient;
    j.value = main.value;
    j.evidence = {{"min_samples", guard.evidence}, {"would_have_been", judgement_name(main.kind)}};
    return j;
  }
  if (!main.evidence.is_object()) main.evidence = nlohmann::json::object();
  main.evidence["min_samples"] = guard.evidence;
  return main;
}

}  // namespace rs::sidecar
